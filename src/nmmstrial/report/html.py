"""The HTML report: one self-contained page, figures embedded, also saved beside it.

`write_report` is the only function here that touches files; everything else builds
strings from the tidy frames of `tables` and the figures of `figures`. The page loads
nothing from anywhere (no scripts, stylesheets, fonts or remote images), so it opens
offline and can be archived as it is. The same study gives byte-identical files.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from ..analysis.plans import PLANS, run_plan
from ..errors import NmmstrialError, ReportError
from ..protocol import paper_targets
from ..study import Study
from ..tidy import ARMS
from . import figures, morphometry, tables

STRENGTH_MEASURES = ("mrc_fcr", "mrc_sum", "dynamometer_kg")
CMAP_MEASURES = ("cmap_apb_mv", "cmap_fcr_mv")
BEFORE_AFTER = ("T0", "T2")
DASH = "—"


@dataclass(frozen=True)
class _Figure:
    name: str
    title: str
    caption: str
    png: bytes
    svg: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg).decode("ascii")


def _num(value: float, digits: int = 2) -> str:
    return DASH if math.isnan(value) else f"{value:,.{digits}f}"


def _mean_sd(mean: float, sd: float) -> str:
    if math.isnan(mean):
        return DASH
    return f"{_num(mean)} ({_num(sd)})" if not math.isnan(sd) else _num(mean)


def _n_range(counts: pd.Series) -> str:
    low, high = int(counts.min()), int(counts.max())
    return f"n = {low}" if low == high else f"n = {low}-{high}"


def _table1_rows(frame: pd.DataFrame, labels: dict[str, str], total: int) -> list[list[str]]:
    """Table 1 as display cells; paper values by arm are hidden once arms are coded."""
    coded = labels["real"] != "real"
    paper_total = paper_targets()["design"]["patients_randomized"]
    rows = []
    for row in frame.itertuples(index=False):
        arm = labels.get(row.arm, row.arm)
        if row.unit == "patients":  # a count, against the paper's count
            study = f"{row.n} of {total}"
            paper = f"{row.paper_n} of {paper_total}"
            n = str(total)
        else:
            study, n = _mean_sd(row.mean, row.sd), str(row.n)
            paper = _mean_sd(row.paper_mean, row.paper_sd)
        if coded and row.arm != "all":
            paper = DASH
        rows.append([row.characteristic, row.unit, arm, n, study, paper])
    return rows


def _summary_groups(summary: pd.DataFrame, study: Study) -> list[dict[str, Any]]:
    """One group of rows per measure, one row per visit, the two arms side by side."""
    groups = []
    for measure, rows in summary.groupby("measure", sort=False):
        unit = study.protocol.measure(measure).unit
        cells = []
        for time, at_time in rows.groupby("time", sort=False):
            by_arm = at_time.set_index("arm")
            line = [time]
            for arm in tables.display_arms(tables.arm_labels(study)):
                r = by_arm.loc[arm]
                line += [_num(r["mean"]), _num(r["sem"]), str(r["n"])]
            cells.append(line)
        groups.append(
            {"title": f"{tables.measure_label(study.protocol, measure)}, {unit}", "rows": cells}
        )
    return groups


def _dose(study: Study) -> list[tuple[str, str]]:
    stim = study.protocol.stimulation
    dose = stim.dose()
    minutes = dose["session_duration_s"] / 60
    return [
        ("Device", stim.device),
        ("Site", stim.site),
        ("Sham", stim.sham or DASH),
        (
            "Frequency and intensity",
            f"{stim.frequency_hz:g} Hz at {stim.intensity_pct_mso:g}% of maximum output",
        ),
        (
            "One session",
            f"{stim.trains} trains of {stim.pulses_per_train} pulses "
            f"({dose['train_duration_s']:g} s each, {stim.inter_train_interval_s:g} s apart) "
            f"= {dose['pulses_per_session']:,} pulses in "
            f"{dose['session_duration_s']:,.0f} s (about {minutes:.0f} min)",
        ),
        (
            "Course",
            f"{dose['sessions']} sessions ({stim.sessions_per_week} a week for {stim.weeks} weeks) "
            f"= {dose['pulses_per_course']:,} pulses to the real arm",
        ),
    ]


def _data_source(meta: dict[str, Any]) -> tuple[str, str]:
    """The banner (empty for recorded data) and the one-line data description."""
    if not meta.get("simulated"):
        return "", "recorded trial data"
    seed = meta.get("seed")
    seed_text = f"seed {seed}" if seed is not None else "no seed recorded"
    return f"Simulated data — {seed_text} — not real patients", f"simulated, {seed_text}"


def _arm_note(meta: dict[str, Any]) -> str:
    if meta.get("blinded"):
        return (
            "Arms are coded X and Y; the same code means the same arm for every patient. "
            "The key is not printed, and the paper's values by arm are hidden beside the codes."
        )
    if meta.get("simulated"):
        return "Arms are shown as real / sham: simulated data are unblinded by construction."
    return "Arms are shown as real / sham: this is an unblinded report."


PLAN_TITLES = {
    "paper": "The paper's analysis, reproduced",
    "recommended": "The recommended analysis",
}


def _p(value: float) -> str:
    if math.isnan(value):
        return DASH
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _df(row: Any) -> str:
    values = [v for v in (row.df1, row.df2) if not math.isnan(v)]
    return ", ".join(f"{v:g}" if float(v).is_integer() else f"{v:.2f}" for v in values) or DASH


def _estimate(row: Any) -> str:
    if math.isnan(row.estimate):
        return DASH
    if math.isnan(row.ci_low):
        return _num(row.estimate)
    return f"{_num(row.estimate)} [{_num(row.ci_low)}, {_num(row.ci_high)}]"


def _plan_groups(table: pd.DataFrame, study: Study) -> list[dict[str, Any]]:
    """Rows of one plan's table, grouped by section, formatted for the page."""
    groups: list[dict[str, Any]] = []
    for section, rows in table.groupby("section", sort=False):
        formatted = []
        for row in rows.itertuples(index=False):
            effect = DASH
            if not math.isnan(row.effect_size):
                effect = f"{row.effect_size_name} {_num(row.effect_size)}"
                if not math.isnan(row.effect_size_ci_low):
                    effect += f" [{_num(row.effect_size_ci_low)}, {_num(row.effect_size_ci_high)}]"
            formatted.append(
                {
                    "outcome": tables.measure_label(study.protocol, row.outcome),
                    "comparison": row.comparison,
                    "test": row.test,
                    "options": row.options,
                    "correction": row.correction,
                    "n": str(int(row.n)) if not math.isnan(row.n) else DASH,
                    "df": _df(row),
                    "statistic": _num(row.statistic),
                    "estimate": _estimate(row),
                    "effect": effect,
                    "p": _p(row.p),
                    "p_adjusted": _p(row.p_adjusted),
                    "adjustment": row.adjustment if isinstance(row.adjustment, str) else "",
                    "paper": row.paper if isinstance(row.paper, str) else "",
                }
            )
        groups.append({"title": section, "rows": formatted})
    return groups


def _analysis(study: Study) -> list[dict[str, Any]]:
    """Both plans; a plan the data cannot support is reported with its reason."""
    out = []
    for plan in PLANS:
        entry: dict[str, Any] = {"plan": plan, "title": PLAN_TITLES[plan], "error": ""}
        try:
            result = run_plan(study, plan)
        except NmmstrialError as error:
            out.append({**entry, "error": str(error), "notes": [], "groups": []})
            continue
        out.append(
            {**entry, "notes": list(result.notes), "groups": _plan_groups(result.table, study)}
        )
    return out


def _fold_ci(row: Any) -> str:
    return f"{_num(row.geomean_fold)} [{_num(row.ci_low)}, {_num(row.ci_high)}]"


def _qpcr(study: Study, labels: dict[str, str]) -> tuple[dict[str, Any], figures.Figure | None]:
    """The qPCR section's cells and its figure (None without qPCR wells or when the
    comparison cannot run; the reason is then shown). The paper's values are by real
    vs sham, so a page with coded arms shows none of them."""
    empty = {"shown": False, "error": "", "genes": [], "patients": [], "folds": []}
    try:
        result = tables.qpcr_comparison(study)
    except NmmstrialError as error:
        return {**empty, "error": str(error)}, None
    if result is None:
        return {**empty, "error": "no qPCR wells recorded"}, None
    coded = labels["real"] != "real"
    table = tables.qpcr_table(result)
    genes = []
    for row in table.itertuples(index=False):
        paper = DASH
        if not coded and not math.isnan(row.paper_fold):
            paper = f"{_num(row.paper_fold)} ± {_num(row.paper_sem)}, "
            paper += f"p = {row.paper_p:g} ({row.paper_test})"
        genes.append(
            [
                row.gene,
                row.reference,
                str(row.n),
                _num(row.mean_ddct),
                _fold_ci(row),
                _p(row.wilcoxon_p) + ("" if "exact" in row.wilcoxon_method else " (approx.)"),
                _p(row.t_p),
                f"{_num(row.mean_fold)} ± {_num(row.sem_fold)}",
                paper,
            ]
        )
    per_patient = result.patients
    patients = sorted(set(per_patient["patient"]))
    folds = per_patient.pivot(index="gene", columns="patient", values="fold")
    fold_rows = [
        [gene, *(_num(folds.loc[gene].get(p, math.nan)) for p in patients)]
        for gene in table["gene"]
    ]
    paper_folds = None if coded else dict(zip(table["gene"], table["paper_fold"], strict=True))
    figure = figures.qpcr_figure(per_patient, result.genes, paper_folds)
    context = {
        "shown": True,
        "error": "",
        "contrast": result.contrast,
        "x": result.contrast.split(" - ")[0],
        "y": result.contrast.split(" - ")[1],
        "genes": genes,
        "patients": patients,
        "folds": fold_rows,
        "n_patients": len(patients),
    }
    return context, figure


def _sem_cell(mean: float, sem: float, n: float) -> str:
    if math.isnan(mean):
        return DASH
    return f"{_num(mean)} ± {_num(sem)} (n = {int(n)})"


def _ephys(study: Study, labels: dict[str, str]) -> tuple[dict[str, Any], figures.Figure | None]:
    """The electrophysiology section's cells and figure (None without oocytes). As for
    qPCR, the paper's values are by real vs sham, so a page with coded arms shows none;
    the arms are then X and Y in that order, whichever is real."""
    empty = {"shown": False, "error": "", "summary": [], "tests": []}
    oocytes = tables.ephys_oocytes(study)
    if oocytes is None:
        return {**empty, "error": "no oocytes recorded"}, None
    coded = labels["real"] != "real"
    arms = tables.ephys_arms(oocytes)
    names = {column: (label, unit) for column, label, unit, _ in tables.EPHYS_MEASURES}
    summary = []
    for row in tables.ephys_summary(oocytes).itertuples(index=False):
        label, unit = names[row.measure]
        ours = _sem_cell(row.mean, row.sem, row.n) if row.n else DASH
        if row.censored:
            ours += f", {row.censored} censored"
        paper = DASH if coded else _sem_cell(row.paper_mean, row.paper_sem, row.paper_n)
        summary.append([label, unit, row.arm, str(row.patients), ours, paper])
    tests = []
    for row in tables.ephys_tests(oocytes).itertuples(index=False):
        label, _ = names[row.measure]
        if row.mixed_error:
            ratio, mixed_p, df = f"not fitted: {row.mixed_error}", DASH, DASH
        else:
            ratio = f"{_num(row.ratio)} [{_num(row.ratio_ci_low)}, {_num(row.ratio_ci_high)}]"
            mixed_p, df = _p(row.mixed_p), f"{row.mixed_df:.1f}"
        paper = DASH if coded else f"p = {row.paper_p:g} ({row.paper_test})"
        tests.append(
            [label, str(row.n_oocytes), _p(row.mw_p), paper, str(row.n_patients), ratio, df,
             mixed_p]
        )  # fmt: skip
    paper_values = None
    if not coded:
        targets = paper_targets()["electrophysiology"]
        paper_values = {
            column: {arm: (targets[key][arm]["mean"], targets[key][arm]["sem"]) for arm in ARMS}
            for column, _, _, key in tables.EPHYS_MEASURES
        }
    figure = figures.ephys_figure(
        oocytes,
        arms,
        tuple((column, label, unit) for column, label, unit, _ in tables.EPHYS_MEASURES),
        paper_values,
    )
    recorded = study.meta.get("ephys", {})
    context = {
        "shown": True,
        "error": "",
        "x": arms[0],
        "y": arms[1],
        "n_oocytes": len(oocytes),
        "n_patients": oocytes["patient"].nunique(),
        "summary": summary,
        "tests": tests,
        **_recorded_counts(oocytes),
        "windows": ", ".join(recorded.get("windows", [])),
    }
    return context, figure


def _recorded_counts(oocytes: pd.DataFrame) -> dict[str, int]:
    """How many stored T0.5s, peaks and EC50s were measured from ABF recordings (their
    `params` entries name a file)."""
    entries = [tables._params(text) for text in oocytes["params"]]
    return {
        "recordings": sum("t05" in entry for entry in entries),
        "peak_recordings": sum("peak" in entry for entry in entries),
        "ec50_recordings": sum("recording" in entry.get("ec50", {}) for entry in entries),
    }


def _example_caption(examples: dict[str, dict], traces: dict[str, dict | None]) -> str:
    """Which recording each arm shows, and why an arm shows none."""
    parts = []
    for arm, example in examples.items():
        what = "T0.5" if example["measure"] == "t05" else "peak"
        trace = traces.get(arm) or {"unavailable": "no recordings folder given"}
        parts.append(
            f"{arm}: {example['file']} (sample {example['sample']}, oocyte "
            f"{example['oocyte']}), the median {what} of "
            f"{tables.plural(example['n'], 'recording')}"
            + ("" if "time_s" in trace else f", not shown: {trace['unavailable']}")
        )
    return "; ".join(parts)


def _pooled_caption(pooled: dict | None) -> str:
    if pooled is None:
        return ""
    if "error" in pooled:
        return f"Global fit not shown: {pooled['error']}. "
    x, y = pooled["arms"]
    ratio = pooled["ratio"]
    p_text = _p(pooled["p"])
    p_text = p_text if p_text.startswith("<") else f"= {p_text}"
    return (
        f"Dashed, the global fit of all points (shared slope and plateaus, one EC50 per "
        f"arm): EC50 {_num(pooled['ec50'][x])} µM ({x}) and {_num(pooled['ec50'][y])} µM "
        f"({y}), ratio {x} / {y} {_num(ratio['ratio'])} [{_num(ratio['ci'][0])}, "
        f"{_num(ratio['ci'][1])}], extra-sum-of-squares F({pooled['df1']}, "
        f"{pooled['df2']}) = {_num(pooled['f'])}, p {p_text}; it counts "
        "oocytes' points as independent, so the mixed model on log EC50 in the table "
        "below is the patient-level comparison. "
    )


def _ephys_examples(
    study: Study, labels: dict[str, str], traces: dict[str, dict | None]
) -> tuple[str, figures.Figure | None]:
    """The example recordings and dose-response curves figure, and its caption; None
    when the study has neither stored recordings nor stored dose-response fits."""
    oocytes = tables.ephys_oocytes(study)
    if oocytes is None:
        return "", None
    examples = tables.ephys_examples(oocytes)
    curves = tables.ephys_curves(oocytes)
    if not examples and curves.empty:
        return "", None
    arms = tables.ephys_arms(oocytes)
    shown = {arm: t if t and "time_s" in t else None for arm, t in traces.items()}
    pooled = tables.ephys_global_fit(curves, arms) if not curves.empty else None
    fig = figures.ephys_examples_figure({arm: shown.get(arm) for arm in arms}, curves, arms, pooled)
    caption = (
        "Left, a representative recording per arm: the oocyte whose stored measure is the "
        "arm's median, its current (nA, inward down) over the sweep, the application "
        "window shaded ("
        + (_example_caption(examples, traces) or "no recordings stored")
        + "). Right, each oocyte's dose-response points (normalised current; doses above "
        "0, on a log axis) and its fitted log-logistic curve (LL.4, or LL.3 with the lower "
        "plateau at 0), the EC50 marked by a diamond"
        + ("" if not curves.empty else ": none stored")
        + ". "
        + _pooled_caption(pooled)
        + "As the paper's Figures 5 and 6."
    )
    return caption, fig


def example_traces(study: Study, recordings: Path | str | None) -> dict[str, dict | None]:
    """Per arm, the representative recording (`tables.ephys_examples`) read from its ABF
    file in `recordings`: {time_s, current_na, window, title}; None when it is not there,
    cannot be read, or its SHA-256 is not the one stored (the reason is kept in the
    example for the caption)."""
    from ..assays.ephys import CURRENT_TO_NA, read_abf

    oocytes = tables.ephys_oocytes(study)
    if oocytes is None:
        return {}
    out: dict[str, dict] = {}
    for arm, example in tables.ephys_examples(oocytes).items():
        path = Path(recordings) / example["file"] if recordings is not None else None
        if path is None:
            out[arm] = {"unavailable": "no recordings folder given"}
            continue
        if not path.is_file():
            out[arm] = {"unavailable": f"recording not found in {Path(recordings).name}/"}
            continue
        overrides = {
            o["channel"]: (o["units"], o["scale"])
            for o in example.get("reader", {}).get("overrides", [])
        }
        try:
            rec = read_abf(path, overrides=overrides)
        except NmmstrialError as error:
            out[arm] = {"unavailable": str(error)}
            continue
        if rec.sha256 != example["sha256"]:
            out[arm] = {"unavailable": f"{path.name} is not the file measured (SHA-256 differs)"}
            continue
        channel, sweep = example["current_channel"], example["sweep"]
        factor = CURRENT_TO_NA.get(rec.channels[channel].units, 1.0)
        value = (
            f"T0.5 {example['value']:.3g} s" + (" (not reached)" if example["censored"] else "")
            if example["measure"] == "t05"
            else f"peak {example['value']:.3g} nA"
        )
        out[arm] = {
            "time_s": rec.time,
            "current_na": rec.data[channel, sweep] * factor,
            "window": (example["window"]["start_s"], example["window"]["end_s"]),
            "title": f"{example['sample']} oocyte {example['oocyte']}, sweep {sweep}: {value}",
        }
    return out


def _render(
    study: Study, traces: dict[str, dict | None] | None = None
) -> tuple[str, list[_Figure]]:
    """The page and its figures, built in memory; `traces` are `example_traces`'."""
    if study.patients.empty:
        raise ReportError(
            "the study has no patients: nothing to report; simulate or import data first"
        )
    meta, protocol = study.meta, study.protocol
    labels = tables.arm_labels(study)
    n_patients = len(study.patients)

    t1 = tables.table1(study)
    flow = tables.flow(study)
    strength = tables.summary_by_arm(study, STRENGTH_MEASURES, tables.CLINICAL_VISITS)
    cmap = tables.summary_by_arm(study, CMAP_MEASURES, BEFORE_AFTER)
    events = tables.adverse_event_counts(study)

    made = [
        (
            "flow",
            "Figure 1. Patient flow",
            # The arms in display order (X before Y): real-then-sham would tell the code.
            "Patients and arms at each stage (each patient contributes one "
            f"{' and one '.join(labels[arm] for arm in tables.display_arms(labels))} arm); "
            "assessed = visit done with data recorded. "
            "Drawn as the paper's Figure 2.",
            figures.flow_figure(flow),
        ),
        (
            "strength",
            "Figure 2. Strength over time",
            f"Mean ± SEM by arm at {', '.join(tables.CLINICAL_VISITS)}; "
            f"{_n_range(strength['n'])} arms per point. As the paper's Figure 3a/b.",
            figures.strength_figure(strength, protocol, labels),
        ),
        (
            "cmap",
            "Figure 3. CMAP amplitude before and after stimulation",
            f"Mean ± SEM by arm, {BEFORE_AFTER[0]} (light) and {BEFORE_AFTER[1]} (solid); "
            f"{_n_range(cmap['n'])} arms per bar. As the paper's Figure 3c/d.",
            figures.before_after_figure(cmap, protocol, labels),
        ),
    ]
    qpcr, qpcr_fig = _qpcr(study, labels)
    if qpcr_fig is not None:
        made.append(
            (
                "qpcr",
                "Figure 4. qPCR: fold change per gene",
                f"Fold change 2^-ddCt ({qpcr['contrast']}) per gene: grey points are patients, "
                "black bars the geometric mean with its 95% CI (paired t on ddCt, "
                "back-transformed)"
                + ("" if labels["real"] != "real" else "; red diamonds the paper's mean fold")
                + ". Log scale; dashed line = no change. As the paper's Figures 6 and 7.",
                qpcr_fig,
            )
        )
    ephys, ephys_fig = _ephys(study, labels)
    if ephys_fig is not None:
        made.append(
            (
                "ephys",
                f"Figure {len(made) + 1}. Electrophysiology: oocytes per arm",
                "Peak ACh current, T0.5 and EC50 per arm: grey points are oocytes, one column "
                "per patient (open: T0.5 not reached, at the censoring time), grey lines join "
                "a patient's geometric means across arms, black bars the arm's mean ± SEM "
                "over oocytes"
                + ("" if labels["real"] != "real" else "; red diamonds the paper's mean ± SEM")
                + ". Log scale. As the paper's Figure 5.",
                ephys_fig,
            )
        )
    examples_caption, examples_fig = _ephys_examples(study, labels, traces or {})
    if examples_fig is not None:
        made.append(
            (
                "ephys_examples",
                f"Figure {len(made) + 1}. Electrophysiology: example recordings and "
                "dose-response curves",
                examples_caption,
                examples_fig,
            )
        )
    fibres, fibres_fig = morphometry.section(study, labels)
    if fibres_fig is not None:
        made.append(
            (
                "morphometry",
                f"Figure {len(made) + 1}. Morphometry: fibre size by type and arm",
                f"Density of the minimum Feret diameter of slow and fast fibres over "
                f"{fibres['n_patients']} patients, {fibres['x']} (red, solid) and "
                f"{fibres['y']} (dark, dashed): Gaussian kernel density estimates, bandwidth "
                f"by R's {fibres['bandwidth_rule']} (0.9 min(SD, IQR / 1.34) n^-1/5), given "
                "in the legend. As the paper's Figure 4d.",
                fibres_fig,
            )
        )
    rendered = [
        _Figure(
            name, title, caption, figures.figure_bytes(fig, "png"), figures.figure_bytes(fig, "svg")
        )
        for name, title, caption, fig in made
    ]
    banner, source = _data_source(meta)
    context = {
        "protocol": protocol,
        "banner": banner,
        "source": source,
        "n_patients": meta.get("n_patients", n_patients),
        "dose": _dose(study),
        "labels": labels,
        "figures": {f.name: f for f in rendered},
        "table1": _table1_rows(t1, labels, n_patients),
        "flow": [
            [row.label, str(row.patients), str(row.arms)] for row in flow.itertuples(index=False)
        ],
        "strength": _summary_groups(strength, study),
        "cmap": _summary_groups(cmap, study),
        "events": [
            [
                r.term,
                r.severity,
                r.related_to,
                r.relatedness if isinstance(r.relatedness, str) else DASH,
                labels.get(r.arm, r.arm),
                str(r.events),
                str(r.patients),
            ]
            for r in events.itertuples(index=False)
        ],
        "analysis": _analysis(study),
        "qpcr": qpcr,
        "ephys": ephys,
        "morphometry": fibres,
        "arm_order": tables.display_arms(labels),
        "arm_note": _arm_note(meta),
        "generator": meta.get("generator", DASH),
    }
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nmmstrial.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("report.html").render(context), rendered


def write_report(
    study: Study, out_dir: Path | str, *, recordings: Path | str | None = None
) -> Path:
    """Write `out_dir/index.html` and each figure as PNG and SVG in `out_dir/figures/`.

    The page embeds its figures, so it can be moved or mailed on its own; the files in
    `figures/` are for slides and manuscripts. Existing files of the same name are
    replaced. `recordings` is the folder of the study's ABF files, for the example
    recordings (a file is used only when its SHA-256 is the one stored). Returns the
    path of index.html.
    """
    page, rendered = _render(study, example_traces(study, recordings))
    out_dir = Path(out_dir)
    try:
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
        for fig in rendered:
            (out_dir / "figures" / f"{fig.name}.png").write_bytes(fig.png)
            (out_dir / "figures" / f"{fig.name}.svg").write_bytes(fig.svg)
        index = out_dir / "index.html"
        index.write_text(page, encoding="utf-8")
    except OSError as error:
        raise ReportError(f"{out_dir}: cannot write the report: {error.strerror}") from error
    return index
