"""The report's figures: patient flow, strength over time, CMAP, qPCR folds, oocytes.

Each function takes tidy frames and returns a matplotlib `Figure` drawn on the Agg
canvas, never through pyplot, so no global backend or figure registry is touched.
`figure_bytes` renders one reproducibly: the same figure gives the same bytes.
"""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import FuncFormatter

from ..errors import InvalidValueError
from ..protocol import Protocol
from .tables import display_arms, measure_label, plural

PNG_DPI = 110
# The paper draws the real arm in red and the sham arm in black.
ARM_COLOURS = {"real": "#c0392b", "sham": "#2f3640"}
# Colours and markers go with the position on the page, not the arm, so a blinded page
# (X first) colours X red whichever arm it is.
POSITION_STYLE = (("#c0392b", "o"), ("#2f3640", "s"))
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}
# Fixed salt and no date: SVG ids and metadata then depend only on the figure.
SAVE_RC = {"svg.hashsalt": "nmmstrial", "svg.fonttype": "path"}
SAVE_METADATA = {"png": {"Software": None}, "svg": {"Date": None}}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """Render `fig` as PNG (at PNG_DPI) or SVG, byte-identical for the same figure."""
    if fmt not in SAVE_METADATA:
        raise InvalidValueError(f"figure format {fmt!r} is not one of {', '.join(SAVE_METADATA)}")
    buffer = io.BytesIO()
    with matplotlib.rc_context(SAVE_RC):
        fig.savefig(buffer, format=fmt, dpi=PNG_DPI, metadata=SAVE_METADATA[fmt])
    return buffer.getvalue()


def strength_figure(summary: pd.DataFrame, protocol: Protocol, labels: dict[str, str]) -> Figure:
    """Mean ± SEM by arm at each visit, one panel per measure (the paper's Figure 3a/b).

    `summary` is `summary_by_arm`'s frame; visits keep its order. The arms are drawn
    slightly apart so that their error bars do not hide each other.
    """
    measures = list(dict.fromkeys(summary["measure"]))
    times = list(dict.fromkeys(summary["time"]))
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.0 * len(measures), 3.1)
        axes = fig.subplots(1, len(measures), squeeze=False)[0]
        x = np.arange(len(times))
        for ax, measure in zip(axes, measures, strict=True):
            order = display_arms(labels)
            for (offset, (colour, marker)), arm in zip(
                zip((-0.08, 0.08), POSITION_STYLE, strict=True), order, strict=True
            ):
                rows = summary.loc[(summary["measure"] == measure) & (summary["arm"] == arm)]
                rows = rows.set_index("time").reindex(times)
                ax.errorbar(
                    x + offset,
                    rows["mean"],
                    yerr=rows["sem"].fillna(0.0),
                    color=colour,
                    marker=marker,
                    markersize=4,
                    capsize=3,
                    linewidth=1.4,
                    label=labels[arm],
                )
            ax.set_xticks(x, times)
            ax.set_title(measure_label(protocol, measure), loc="left")
            ax.set_ylabel(protocol.measure(measure).unit)
            ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside upper right", ncols=len(names))
    return fig


def before_after_figure(
    summary: pd.DataFrame, protocol: Protocol, labels: dict[str, str]
) -> Figure:
    """Mean ± SEM before and after stimulation, by arm, one panel per measure (Figure 3c/d).

    `summary` holds two visits (first = before, second = after) for each measure.
    """
    measures = list(dict.fromkeys(summary["measure"]))
    times = list(dict.fromkeys(summary["time"]))
    if len(times) != 2:
        raise InvalidValueError(f"a before/after figure needs two visits, got {', '.join(times)}")
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.0 * len(measures), 3.0)
        axes = fig.subplots(1, len(measures), squeeze=False)[0]
        # Bars grouped by arm: before (light), after (solid).
        order = display_arms(labels)
        slots = [(arm, time) for arm in order for time in times]
        x = np.array([i + 0.4 * (i // 2) for i in range(len(slots))], dtype=float)
        for ax, measure in zip(axes, measures, strict=True):
            rows = summary.loc[summary["measure"] == measure].set_index(["arm", "time"])
            rows = rows.reindex(slots)
            colours = [POSITION_STYLE[order.index(arm)][0] for arm, _ in slots]
            ax.bar(
                x,
                rows["mean"].fillna(0.0),
                0.8,
                yerr=rows["sem"].fillna(0.0),
                color=[
                    (c, 0.35 if time == times[0] else 0.9)
                    for c, (_, time) in zip(colours, slots, strict=True)
                ],
                edgecolor=colours,
                capsize=3,
                error_kw={"linewidth": 1.0},
            )
            ax.set_xticks(x, [f"{time}\n{labels[arm]}" for arm, time in slots])
            ax.set_title(measure_label(protocol, measure), loc="left")
            ax.set_ylabel(protocol.measure(measure).unit)
            ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
            ax.set_axisbelow(True)
    return fig


def _box(ax, x: float, y: float, w: float, h: float, text: str, *, side: bool = False) -> None:
    face, edge = ("#fbf3ec", "#b9770e") if side else ("#eef3f8", "#34495e")
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0,rounding_size=0.012",
            facecolor=face,
            edgecolor=edge,
            linewidth=1.0,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5, linespacing=1.35)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops={
            "arrowstyle": "-|>",
            "color": "#34495e",
            "linewidth": 1.0,
            "shrinkA": 0,
            "shrinkB": 0,
        },
    )


def flow_figure(flow: pd.DataFrame) -> Figure:
    """The patient-flow diagram (the paper's Figure 2), counting patients and arms.

    `flow` is `tables.flow`'s frame; the main path runs down the middle, withdrawals
    and refused biopsies branch to the right, the assays share the bottom row.
    """
    stages = flow.set_index("stage")

    def count(stage: str) -> str:
        row = stages.loc[stage]
        return f"{plural(row['patients'], 'patient')} · {plural(row['arms'], 'arm')}"

    def entry(stage: str) -> str:
        return f"{stages.loc[stage, 'label']}\n{count(stage)}"

    assessed = [s for s in stages.index if s.startswith("assessed_")]
    assays = [s for s in stages.index if s.startswith("assay_")]
    with matplotlib.rc_context(STYLE):
        fig = _figure(7.6, 7.4)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        centre, w, h = 0.4, 0.36, 0.075
        levels = {
            "randomized": 0.94,
            "allocated": 0.80,
            "treated": 0.66,
            "assessed": 0.46,
            "biopsied": 0.26,
        }
        _box(ax, centre, levels["randomized"], w, h, entry("randomized"))
        for x, stage in ((0.2, "allocated_real_left"), (0.6, "allocated_real_right")):
            _box(ax, x, levels["allocated"], w * 0.95, h, entry(stage))
            _arrow(ax, (centre, levels["randomized"] - h / 2), (x, levels["allocated"] + h / 2))
            _arrow(ax, (x, levels["allocated"] - h / 2), (centre, levels["treated"] + h / 2))
        _box(ax, centre, levels["treated"], w, h, entry("treated"))
        _box(ax, 0.84, levels["treated"], 0.28, h, entry("withdrawn"), side=True)
        _arrow(ax, (centre + w / 2, levels["treated"]), (0.84 - 0.14, levels["treated"]))

        lines = [
            f"{stages.loc[s, 'label'].removeprefix('Assessed at ')}: {count(s)}" for s in assessed
        ]
        tall = h * (0.75 + 0.3 * len(lines))
        _box(ax, centre, levels["assessed"], w, tall, "Assessed\n" + "\n".join(lines))
        _arrow(ax, (centre, levels["treated"] - h / 2), (centre, levels["assessed"] + tall / 2))

        _box(ax, centre, levels["biopsied"], w, h, entry("biopsied"))
        _box(ax, 0.84, levels["biopsied"], 0.28, h, entry("biopsy_refused"), side=True)
        _arrow(ax, (centre, levels["assessed"] - tall / 2), (centre, levels["biopsied"] + h / 2))
        _arrow(ax, (centre + w / 2, levels["biopsied"]), (0.84 - 0.14, levels["biopsied"]))

        xs = np.linspace(0.125, 0.875, len(assays))
        for x, stage in zip(xs, assays, strict=True):
            label = stages.loc[stage, "label"].removeprefix("Assay: ")
            row = stages.loc[stage]
            text = f"{label}\n{plural(row['patients'], 'patient')}\n{plural(row['arms'], 'arm')}"
            _box(ax, x, 0.07, 0.22, 0.11, text)
            _arrow(ax, (centre, levels["biopsied"] - h / 2), (x, 0.07 + 0.055))
    return fig


def qpcr_figure(
    per_patient: pd.DataFrame, genes: pd.DataFrame, paper: dict[str, float] | None
) -> Figure:
    """Fold change per gene (the paper's Figures 6/7): one point per patient, the
    geometric mean with its 95 % CI, and the paper's mean fold where given.

    `per_patient` and `genes` are `compare_arms`' frames (fold = 2^-ddCt of the contrast);
    `paper` maps gene -> the paper's fold, None to leave it out (a blinded page). The
    fold axis is logarithmic (base 2), so halving and doubling are the same distance.
    """
    names = list(genes["gene"])
    with matplotlib.rc_context(STYLE):
        fig = _figure(max(6.0, 0.55 * len(names) + 1.5), 3.6)
        ax = fig.add_subplot()
        offsets = np.linspace(-0.18, 0.18, max(per_patient.groupby("gene").size().max(), 1))
        for i, gene in enumerate(names):
            folds = per_patient.loc[per_patient["gene"] == gene, "fold"].to_numpy(float)
            ax.scatter(
                i + offsets[: len(folds)],
                folds,
                s=12,
                color="#7f8c8d",
                alpha=0.8,
                zorder=2,
                label="patient" if i == 0 else None,
            )
        row = genes.set_index("gene").loc[names]
        x = np.arange(len(names))
        centre = row["geomean_fold"].to_numpy(float)
        ax.errorbar(
            x,
            centre,
            yerr=[centre - row["ci_low"].to_numpy(float), row["ci_high"].to_numpy(float) - centre],
            fmt="_",
            markersize=14,
            color="#2f3640",
            capsize=4,
            linewidth=1.4,
            zorder=3,
            label="geometric mean, 95% CI",
        )
        if paper:
            shown = [(i, paper[g]) for i, g in enumerate(names) if g in paper]
            ax.scatter(
                [i + 0.3 for i, _ in shown],
                [f for _, f in shown],
                marker="D",
                s=22,
                color=ARM_COLOURS["real"],
                zorder=4,
                label="paper (mean fold)",
            )
        ax.axhline(1.0, color="#95a5a6", linewidth=0.8, linestyle="--", zorder=1)
        ax.set_yscale("log", base=2)
        ax.set_xticks(x, names, rotation=45, ha="right")
        ax.set_ylabel("fold change, 2^-ddCt")
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        fig.legend(loc="outside upper right", ncols=3)
    return fig


def ephys_figure(
    oocytes: pd.DataFrame,
    arms: list[str],
    measures: tuple[tuple[str, str, str], ...],
    paper: dict[str, dict[str, tuple[float, float]]] | None,
) -> Figure:
    """Oocyte measures per arm (the paper's Figure 5), one panel per measure.

    Points are oocytes, in one column per patient within an arm (same order in both
    arms), so the patients show; a patient's mean is joined across arms by a line;
    black bars are the arm's mean ± SEM over oocytes, as the paper plots them; red
    diamonds the paper's mean ± SEM (`paper`: measure -> arm -> (mean, sem), None on a
    blinded page). Open points are censored T0.5s (at their censoring time).
    `measures` are (column, label, unit). The value axis is logarithmic.
    """
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.2 * len(measures), 3.6)
        axes = fig.subplots(1, len(measures), squeeze=False)[0]
        for ax, (column, label, unit) in zip(axes, measures, strict=True):
            values = oocytes.dropna(subset=[column, "arm"])
            patients = sorted(set(values["patient"]))
            slots = np.linspace(-0.3, 0.3, len(patients)) if len(patients) > 1 else [0.0]
            means: dict[str, list[float]] = {}
            for i, arm in enumerate(arms):
                rows = values.loc[values["arm"] == arm]
                for slot, patient in zip(slots, patients, strict=True):
                    own = rows.loc[rows["patient"] == patient]
                    y = own[column].to_numpy(float)
                    censored = own["t05_censored"].fillna(False).to_numpy(bool)
                    x = np.full(y.size, i + slot)
                    ax.scatter(x[~censored], y[~censored], s=9, color="#7f8c8d", alpha=0.7)
                    if censored.any():
                        ax.scatter(
                            x[censored], y[censored], s=12, facecolors="none", edgecolors="#7f8c8d"
                        )
                    means.setdefault(patient, []).append(
                        float(np.exp(np.log(y).mean())) if y.size else np.nan
                    )
                y = rows[column].to_numpy(float)
                if y.size:
                    sem = y.std(ddof=1) / np.sqrt(y.size) if y.size > 1 else 0.0
                    ax.errorbar(
                        i + 0.42, y.mean(), yerr=sem, fmt="_", markersize=14, color="#2f3640",
                        capsize=4, linewidth=1.4, zorder=3,
                    )  # fmt: skip
                if paper and arm in paper.get(column, {}):
                    mean, sem = paper[column][arm]
                    ax.errorbar(
                        i + 0.52, mean, yerr=sem, fmt="D", markersize=4,
                        color=ARM_COLOURS["real"], capsize=3, linewidth=1.0, zorder=4,
                    )  # fmt: skip
            for slot, patient in zip(slots, patients, strict=True):
                ys = means[patient]
                ax.plot(
                    [i + slot for i in range(len(ys))], ys, color="#bdc3c7", linewidth=0.7,
                    zorder=1,
                )  # fmt: skip
            ax.set_yscale("log")
            plain = FuncFormatter(lambda value, _: f"{value:g}")
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain)
            ax.set_xticks(range(len(arms)), arms)
            ax.set_xlim(-0.6, len(arms) - 0.3)
            ax.set_title(label, loc="left")
            ax.set_ylabel(unit)
            ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    return fig


def log_logistic(x: np.ndarray, b: float, c: float, d: float, e: float) -> np.ndarray:
    """drc's LL.4: c + (d - c) / (1 + (x / e)^b); LL.3 is c = 0."""
    return c + (d - c) / (1 + (np.asarray(x, dtype=float) / e) ** b)


def ephys_examples_figure(
    traces: dict[str, dict | None],
    curves: pd.DataFrame,
    arms: list[str],
    pooled: dict | None = None,
) -> Figure:
    """Example recordings and dose-response curves per arm (the paper's Figures 5 and 6).

    `traces`: arm -> {time_s, current_na, window (start, end), title} or None when the
    recording could not be read (the panel says so); the application window is shaded.
    `curves` (`tables.ephys_curves`): each oocyte's points (dose > 0; a log axis has no
    zero) and its fitted curve, the EC50 marked on it (a diamond at (e, f(e))); with
    `pooled` (`tables.ephys_global_fit`), each arm's global-fit curve dashed. Colours
    and markers follow the position on the page, not the arm.
    """
    with matplotlib.rc_context(STYLE):
        fig = _figure(10.0, 3.4)
        axes = fig.subplots(1, len(arms) + 1, squeeze=False)[0]
        shared = None
        for i, (ax, arm) in enumerate(zip(axes, arms, strict=False)):
            colour = POSITION_STYLE[i % 2][0]
            example = traces.get(arm)
            ax.set_title(f"{arm}: example recording", loc="left")
            ax.set_xlabel("time from sweep start (s)")
            if example is None:
                ax.text(0.5, 0.5, "no recording available", ha="center", va="center",
                        transform=ax.transAxes, color="#7f8c8d")  # fmt: skip
                ax.set_yticks([])
                continue
            start, end = example["window"]
            ax.axvspan(start, end, color="#f1c40f", alpha=0.2, linewidth=0, label="ACh")
            ax.plot(example["time_s"], example["current_na"], color=colour, linewidth=0.6)
            ax.text(0.98, 0.04, example["title"], ha="right", va="bottom",
                    transform=ax.transAxes, fontsize=7, color="#555555")  # fmt: skip
            ax.set_ylabel("current (nA)")
            ax.legend(loc="lower left", fontsize=7)
            if shared is None:
                shared = ax
            else:
                ax.sharey(shared)
        ax = axes[-1]
        ax.set_title("Dose-response per oocyte", loc="left")
        if curves.empty:
            ax.text(0.5, 0.5, "no dose-response fits stored", ha="center", va="center",
                    transform=ax.transAxes, color="#7f8c8d")  # fmt: skip
            ax.set_yticks([])
            return fig
        positive = [x for points in curves["points"] for x, _ in points if x > 0]
        grid = np.geomspace(min(positive), max(positive), 200)
        for i, arm in enumerate(arms):
            colour, marker = POSITION_STYLE[i % 2]
            rows = curves.loc[curves["arm"] == arm]
            for k, row in enumerate(rows.itertuples(index=False)):
                points = np.asarray(row.points, dtype=float).reshape(-1, 2)
                points = points[points[:, 0] > 0]
                label = f"{arm} ({plural(len(rows), 'oocyte')})" if k == 0 else None
                ax.scatter(points[:, 0], points[:, 1], s=8, marker=marker, color=colour,
                           alpha=0.45, linewidths=0)  # fmt: skip
                ax.plot(grid, log_logistic(grid, row.b, row.c, row.d, row.e), color=colour,
                        linewidth=0.7, alpha=0.7, label=label)  # fmt: skip
                ax.plot([row.e], log_logistic(np.array([row.e]), row.b, row.c, row.d, row.e),
                        marker="D", markersize=3.5, color=colour, markeredgecolor="white",
                        markeredgewidth=0.4, linestyle="none", zorder=3)  # fmt: skip
            if pooled and "ec50" in pooled and arm in pooled["ec50"]:
                ax.plot(grid, log_logistic(grid, pooled["b"], pooled["c"], pooled["d"],
                                           pooled["ec50"][arm]),
                        color=colour, linewidth=1.8, linestyle="--", zorder=4,
                        label=f"{arm}: global fit")  # fmt: skip
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.set_xlabel("ACh (µM)")
        ax.set_ylabel("response (I / I max)")
        ax.legend(loc="upper left", fontsize=7)
        ax.grid(color="#e5e5e5", linewidth=0.6)
    return fig
