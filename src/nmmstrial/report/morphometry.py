"""The report's morphometry section: fibre-size densities (the paper's Figure 4d), % fast
fibres per arm with the paired t, and per fibre type the fibre-level mixed model beside
the paired t on per-patient means, with the paper's claims beside ours.

Arms are real / sham, or the sealed X / Y codes for a blinded page, always in the
page's display order (`tables.display_arms`), and the contrast is first - second in
that order. A blinded page shows none of the paper's values by arm (they would tell
which code is real), as for qPCR and electrophysiology.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..assays.morphometry import SplitBody, split_body
from ..errors import NmmstrialError
from ..protocol import paper_targets
from ..study import Study, with_arm
from .figures import POSITION_STYLE, STYLE, _figure
from .tables import display_arms

TYPES = ("slow", "fast")
DASH = "—"


def fibre_table(study: Study) -> pd.DataFrame | None:
    """The stored fibres as `split_body` takes them, arms as the page names them (real /
    sham, or X / Y when `meta["blinded"]`); None when the study has no fibres."""
    if study.fibres.empty:
        return None
    fibres = with_arm(study.fibres, study.allocation, coded=bool(study.meta.get("blinded")))
    fibres = fibres.dropna(subset=["arm", "min_feret_um"])
    return pd.DataFrame(
        {
            "patient": fibres["patient"].astype(str),
            "side": fibres["side"].astype(str),
            "arm": fibres["arm"].astype(str),
            "fibre": fibres["fibre"].astype(str),
            "diameter_um": fibres["min_feret_um"].astype(float),
            "type": fibres["fibre_type"].fillna("none").astype(str),
        }
    )


def fibre_analysis(table: pd.DataFrame | None, labels: dict[str, str]) -> SplitBody | None:
    """`split_body` on `fibre_table`'s frame, contrast first - second in display order."""
    if table is None:
        return None
    first, second = (labels[arm] for arm in display_arms(labels))
    return split_body(table, arms=(first, second), source="the study's fibres table")


def density_figure(result: SplitBody) -> Figure:
    """Figure 4d: minimum-Feret density per fibre type, the two arms overlaid (first arm
    red and solid, second dark and dashed: by page position, not by arm), Gaussian KDE
    with R's bw.nrd0 bandwidth, its value and n in the legend."""
    present = {kind for kind, _ in result.curves}
    kinds = [k for k in TYPES if k in present] or [k for k in ("all",) if k in present]
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.4 * max(len(kinds), 1), 3.1)
        axes = fig.subplots(1, max(len(kinds), 1), squeeze=False)[0]
        for ax, kind in zip(axes, kinds, strict=False):
            for (colour, _), style, arm in zip(
                POSITION_STYLE, ("-", "--"), result.arms, strict=True
            ):
                curve = result.curves.get((kind, arm))
                if curve is None:
                    continue
                row = result.densities.set_index(["type", "arm"]).loc[(kind, arm)]
                ax.plot(
                    curve["x"],
                    curve["density"],
                    color=colour,
                    linestyle=style,
                    linewidth=1.4,
                    label=f"{arm}: n = {int(row['n'])}, bw = {row['bandwidth']:.2f} µm",
                )
            ax.set_title(f"{kind} fibres", loc="left")
            ax.set_xlabel("minimum Feret diameter (µm)")
            ax.set_ylabel("density")
            ax.set_xlim(left=0)
            ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
            ax.legend(title=f"Gaussian KDE, {result.bandwidth_rule}", fontsize="small")
    return fig


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:,.{digits}f}"


def _p(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def section(study: Study, labels: dict[str, str]) -> tuple[dict[str, Any], Figure | None]:
    """The section's cells and its figure (None without fibres, or when the analysis
    cannot run: the reason is then shown)."""
    empty: dict[str, Any] = {
        "shown": False, "error": "", "sections": [], "pct": [], "models": [], "notes": [],
        "pct_arms": [],
    }  # fmt: skip
    table = fibre_table(study)
    try:
        result = fibre_analysis(table, labels)
    except NmmstrialError as error:
        return {**empty, "error": str(error)}, None
    if result is None:
        return {**empty, "error": "no fibres recorded"}, None
    coded = labels["real"] != "real"
    paper = paper_targets()["histology"]
    first, second = result.arms
    by_key = result.sections.set_index(["patient", "arm"])
    pct = result.pct_fast.set_index("patient")
    sections = []
    for patient in sorted(set(result.sections["patient"])):
        line = [patient]
        for arm in result.arms:
            n = by_key["n_fibres"].get((patient, arm))
            ok = by_key["countable"].get((patient, arm))
            cell = DASH if n is None else str(int(n)) + ("" if ok else " (below minimum)")
            line += [cell, _num(pct[arm].get(patient, math.nan), 1) if arm in pct else DASH]
        sections.append(line)
    pct_arms = []
    for arm in result.arms:
        values = pct[arm].dropna().to_numpy(float) if arm in pct else np.array([])
        sd = float(values.std(ddof=1)) if values.size > 1 else math.nan
        ours = (
            f"{_num(values.mean(), 2)} ± {_num(sd, 2)} (n = {values.size})" if values.size else DASH
        )
        target = paper["fast_fibre_pct"].get(_arm_of(labels, arm), {})
        theirs = DASH if coded else f"{target['mean']:.2f} ± {target['sd']:.2f} (n = 4)"
        pct_arms.append([arm, ours, theirs])
    test = result.pct_fast_test
    pct_test = {
        "ours": DASH
        if test is None
        else (
            f"{_num(test.estimate)} points [{_num(test.ci[0])}, {_num(test.ci[1])}], "
            f"t({test.df:g}) = {_num(test.statistic)}, p = {_p(test.p)}, n = {test.n}"
        ),
        "paper": DASH
        if coded
        else f"{paper['fast_fibre_pct']['test']['name']}, p {paper['fast_fibre_pct']['test']['p']}",
    }
    claims = paper["morphometry"]
    comparison = result.comparison().set_index("type")
    models = []
    for kind in TYPES:
        claim = claims.get(f"{kind}_fibres", {})
        theirs = DASH if coded else f"{claim['effect']}; {claim['test']}, p {claim['p']}"
        if kind not in comparison.index:
            reason = next((n for n in result.notes if n.startswith(f"{kind} fibres")), "no fibres")
            models.append([kind, DASH, DASH, DASH, DASH, DASH, DASH, DASH, reason, theirs])
            continue
        row = comparison.loc[kind]
        models.append(
            [kind, str(int(row["n_fibres"])), str(int(row["n_patients"])),
             f"{_num(row['mixed_estimate'])} ± {_num(row['mixed_se'])}", _num(row["mixed_df"], 1),
             _p(row["mixed_p"]), _num(row["means_estimate"]), _num(row["means_df"], 0),
             _p(row["means_p"]), theirs]
        )  # fmt: skip
    measured = study.meta.get("morphometry", {}).get("sections", [])
    context = {
        "shown": True,
        "error": "",
        "x": first,
        "y": second,
        "contrast": result.contrast,
        "n_fibres": int(result.sections["n_fibres"].sum()),
        "n_sections": len(result.sections),
        "n_patients": result.sections["patient"].nunique(),
        "min_fibres": result.min_fibres,
        "bandwidth_rule": result.bandwidth_rule,
        "sections": sections,
        "pct_arms": pct_arms,
        "pct_test": pct_test,
        "models": models,
        "notes": [n for n in result.notes if not n.startswith(("slow fibres", "fast fibres"))],
        "measured": len(measured),
        "files": ", ".join(s["mask"] for s in measured),
        "pixel": _num(measured[0]["um_per_px"], 2) if measured else "",
        "range": DASH
        if coded
        else ", ".join(
            f"{arm} {low}-{high} µm"
            for arm, (low, high) in paper["fibre_diameter_range_um"].items()
        ),
        "ours_range": ", ".join(
            f"{arm} {_num(v.min(), 1)}-{_num(v.max(), 1)} µm"
            for arm in result.arms
            for v in [table.loc[table["arm"] == arm, "diameter_um"]]
            if len(v)
        ),
    }
    return context, density_figure(result)


def _arm_of(labels: dict[str, str], shown: str) -> str:
    """The arm (real / sham) a page label stands for."""
    return next(arm for arm, label in labels.items() if label == shown)
