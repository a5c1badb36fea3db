"""The analysis plans: the paper's tests in its words, and the plan we recommend.

Both take a `Study` and return a `PlanResult`: one tidy table, a row per test or
contrast, with the same columns whatever the test (NaN where moot) and the
provenance every row needs (test, options, correction, n, df). Where the paper
reports a statistic for the same test, it is printed beside ours (`paper`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidValueError
from ..protocol import paper_targets
from ..study import Study, with_arm
from ..tidy import ARM_CODES, ARMS
from .anova import rm_anova
from .mixed import mixed_model
from .multiplicity import adjust_p
from .nonparametric import mann_whitney, wilcoxon_paired
from .parametric import paired_t

PLANS = ("paper", "recommended")
CLINICAL_VISITS = ("T0", "T1", "T2", "T3")
STRENGTH = ("mrc_fcr", "dynamometer_kg", "mrc_sum")
CMAP = ("cmap_apb_mv", "cmap_fcr_mv")
PRIMARY = "mrc_fcr"
PRIMARY_VISIT = "T2"  # end of stimulation
COLUMNS = (
    "section",
    "outcome",
    "comparison",
    "test",
    "options",
    "correction",
    "n",
    "df1",
    "df2",
    "statistic",
    "estimate",
    "ci_low",
    "ci_high",
    "effect_size",
    "effect_size_ci_low",
    "effect_size_ci_high",
    "effect_size_name",
    "p",
    "p_adjusted",
    "adjustment",
    "paper",
)
# targets.yaml keys of the outcomes the paper reports on.
TARGET_KEY = {
    "mrc_fcr": "mrc_fcr",
    "dynamometer_kg": "dynamometer_kg",
    "mrc_sum": "mrc_upper_limb_sum",
    "cmap_apb_mv": "cmap_apb_mv",
    "cmap_fcr_mv": "cmap_fcr_mv",
}


@dataclass(frozen=True)
class PlanResult:
    """One plan's results: `table` (COLUMNS) and the notes that say what was decided."""

    plan: str
    table: pd.DataFrame
    notes: tuple[str, ...] = field(default=())
    arms: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        rows = self.table.astype(object).where(self.table.notna(), None)
        return {
            "plan": self.plan,
            "arms": self.arms,
            "notes": list(self.notes),
            "results": rows.to_dict(orient="records"),
        }


def run_plan(study: Study, plan: str) -> PlanResult:
    """Run the `paper` or `recommended` plan on a study's clinical outcomes."""
    if plan not in PLANS:
        raise InvalidValueError(f"plan {plan!r} is not one of {', '.join(PLANS)}")
    blinded = bool(study.meta.get("blinded"))
    arms = ARM_CODES if blinded else ARMS
    obs = _clinical(study, coded=blinded)
    build: Callable[[pd.DataFrame, tuple[str, ...]], tuple[list[dict], list[str]]] = (
        _paper_plan if plan == "paper" else _recommended_plan
    )
    rows, notes = build(obs, arms)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    # Blinded: the codes in their own order (X - Y), so no order or wording tells which
    # is real, and the paper's per-arm values are not printed beside them.
    notes = [_relabel(note, dict(zip(ARMS, arms, strict=True))) for note in notes]
    return PlanResult(plan=plan, table=table, notes=tuple(notes), arms=arms)


def _relabel(text: str, labels: dict[str, str]) -> str:
    for arm, code in labels.items():
        text = text.replace(arm, code)
    return text


def _clinical(study: Study, *, coded: bool) -> pd.DataFrame:
    obs = with_arm(study.observations, study.allocation, coded=coded)
    obs = obs[obs["arm"].notna() & obs["time"].isin(CLINICAL_VISITS)]
    return obs.loc[:, ["patient", "arm", "time", "measure", "value"]].reset_index(drop=True)


def _wide(obs: pd.DataFrame, measure: str, arm: str) -> pd.DataFrame:
    """patient x time values of one measure in one arm."""
    rows = obs[(obs["measure"] == measure) & (obs["arm"] == arm)]
    wide = rows.pivot(index="patient", columns="time", values="value")
    # Every clinical visit is a column, empty before it is entered (a study in progress).
    return wide.reindex(columns=wide.columns.union(CLINICAL_VISITS, sort=False))


def _row(**values: Any) -> dict[str, Any]:
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise KeyError(unknown)
    return {column: values.get(column, np.nan) for column in COLUMNS}


class _Rows(list):
    """A plan's rows. A test the data cannot support (too few pairs, no variation, an
    exact fit) becomes a row that says why, so one outcome never hides the others."""

    @contextmanager
    def unit(self, **identity: Any) -> Iterator[None]:
        try:
            yield
        except InvalidValueError as error:
            self.append(_row(**identity, options=f"not estimable: {error}"))


def _paper_p(reported: dict | None) -> str:
    """The paper's p as it printed it: `p = 0.004`, `p < 0.01`, `p > 0.05 at ...`."""
    if not reported:
        return ""
    text = str(reported["p"])
    return f"p {text}" if text[:1] in "<>" else f"p = {text}"


def _excluded(fit: Any) -> str:
    """Listwise exclusions, said in the row they affect (never a silent drop)."""
    if not fit.excluded_subjects:
        return ""
    return f"; listwise: excluded {', '.join(map(str, fit.excluded_subjects))} (incomplete)"


def _ci(interval: Any) -> tuple[float, float]:
    if interval is None:
        return np.nan, np.nan
    return float(interval[0]), float(interval[1])


def _wilcoxon_row(identity: dict[str, str], result: Any, **extra: Any) -> dict[str, Any]:
    """A signed-rank test's row: V, p, Hodges-Lehmann with its CI, rank-biserial r."""
    low, high = _ci(result.ci)
    r_low, r_high = _ci(result.rank_biserial_ci)
    return _row(
        **identity,
        test="Wilcoxon signed-rank",
        options=f"{result.method}; estimate: Hodges-Lehmann with its 95% CI",
        correction="none",
        n=result.n,
        statistic=result.statistic,
        estimate=result.hodges_lehmann,
        ci_low=low,
        ci_high=high,
        effect_size=result.rank_biserial,
        effect_size_ci_low=r_low,
        effect_size_ci_high=r_high,
        effect_size_name="rank-biserial r",
        p=result.p,
        **extra,
    )


# -- the paper's plan -------------------------------------------------------------------
def _paper_plan(obs: pd.DataFrame, arms: tuple[str, ...]) -> tuple[list[dict], list[str]]:
    first, second = arms
    targets = paper_targets()
    over_time = targets["clinical_over_time"]
    rows = _Rows()
    baseline = targets["baseline_T0"]
    section = "baseline"
    for measure in (*STRENGTH, *CMAP):
        comparison = f"{first} vs {second} at T0"
        identity = {"section": section, "outcome": measure, "comparison": comparison}
        with rows.unit(**identity, test="Mann-Whitney U"):
            x = _wide(obs, measure, first)["T0"].dropna()
            y = _wide(obs, measure, second)["T0"].dropna()
            result = mann_whitney(x, y)
            rows.append(
                _row(
                    **identity,
                    test="Mann-Whitney U",
                    options=f"{result.method}; arms as independent groups, as the paper",
                    correction="none",
                    n=result.n,
                    statistic=result.statistic,
                    effect_size=result.rank_biserial,
                    effect_size_name="rank-biserial r",
                    p=result.p,
                    paper=_paper_p(baseline[TARGET_KEY[measure]].get("test")),
                )
            )
    reported_anova = {
        ("dynamometer_kg", "real"): over_time["dynamometer_real_arm"]["rm_anova"],
        ("mrc_fcr", "real"): over_time["mrc_fcr_real_arm"]["rm_anova"],
    }
    section = "one-way RM ANOVA over T0-T3, per arm"
    for measure in ("dynamometer_kg", "mrc_fcr"):
        for arm in arms:
            identity = {"section": section, "outcome": measure, "comparison": f"time, {arm} arm"}
            with rows.unit(**identity, test="repeated-measures ANOVA"):
                long = obs[(obs["measure"] == measure) & (obs["arm"] == arm)]
                fit = rm_anova(long, "value", "patient", ["time"], listwise=True)
                effect = fit.effects.iloc[0]
                reported = reported_anova.get((measure, arm))
                paper = (
                    f"F({reported['df1']}, {reported['df2']}) = {reported['F']}, "
                    f"p {reported['p']} ({reported['correction']})"
                    if reported
                    else ""
                )
                for correction, eps, p in (
                    ("none (sphericity assumed)", 1.0, effect["p"]),
                    ("Greenhouse-Geisser", effect["eps_gg"], effect["p_gg"]),
                ):
                    rows.append(
                        _row(
                            **identity,
                            test="repeated-measures ANOVA",
                            options=f"type 3; Mauchly W = {effect['mauchly_w']:.3f}, "
                            f"p = {effect['mauchly_p']:.3g}; GG epsilon = "
                            f"{effect['eps_gg']:.3f}{_excluded(fit)}",
                            correction=correction,
                            n=fit.n_subjects,
                            df1=effect["df1"] * eps,
                            df2=effect["df2"] * eps,
                            statistic=effect["F"],
                            effect_size=effect["ges"],
                            effect_size_name="generalized eta squared",
                            p=p,
                            paper=paper,
                        )
                    )
    reported_vs_t0 = {
        ("dynamometer_kg", "real"): over_time["dynamometer_real_arm"]["vs_T0"],
        ("dynamometer_kg", "sham"): over_time["dynamometer_sham_arm"]["vs_T0"],
        ("mrc_fcr", "real"): over_time["mrc_fcr_real_arm"]["vs_T0"],
    }
    section = "post hoc vs T0, per arm"
    for measure in ("dynamometer_kg", "mrc_fcr"):
        for arm in arms:
            for visit in CLINICAL_VISITS[1:]:
                identity = {
                    "section": section,
                    "outcome": measure,
                    "comparison": f"{visit} - T0, {arm} arm",
                }
                with rows.unit(**identity, test="paired t"):
                    wide = _wide(obs, measure, arm).loc[:, ["T0", visit]].dropna()
                    result = paired_t(wide[visit], wide["T0"])
                    low, high = _ci(result.ci)
                    rows.append(
                        _row(
                            **identity,
                            test="paired t",
                            options="unadjusted (LSD), as SPSS pairwise comparisons",
                            correction="none",
                            n=result.n,
                            df1=result.df,
                            statistic=result.statistic,
                            estimate=result.estimate,
                            ci_low=low,
                            ci_high=high,
                            p=result.p,
                            paper=_paper_p(reported_vs_t0.get((measure, arm), {}).get(visit)),
                        )
                    )
    reported_interaction = {
        ("dynamometer_kg", "T2"): over_time["dynamometer_real_arm"]["arm_by_time_interaction"],
    }
    section = "arm x time interaction (arm as a between-subject group)"
    test = "mixed ANOVA (arm between, time within)"
    for measure in ("dynamometer_kg", "mrc_fcr"):
        for visit in CLINICAL_VISITS[1:]:
            identity = {
                "section": section,
                "outcome": measure,
                "comparison": f"arm x time, T0 and {visit}",
            }
            with rows.unit(**identity, test=test):
                two = obs[(obs["measure"] == measure) & obs["time"].isin(["T0", visit])].copy()
                two["unit"] = two["patient"] + ":" + two["arm"]
                fit = rm_anova(two, "value", "unit", ["time"], ["arm"], listwise=True)
                effect = fit.effects.set_index("effect").loc["arm:time"]
                reported = reported_interaction.get((measure, visit))
                if measure == "mrc_fcr":
                    reported = over_time["mrc_fcr_real_arm"]["arm_by_time_interaction"]
                rows.append(
                    _row(
                        **identity,
                        test=test,
                        options="type 3; each arm of a patient counted as a separate subject, "
                        f"as the paper's 'group of treatment'{_excluded(fit)}",
                        correction="none (1 df)",
                        n=fit.n_subjects,
                        df1=effect["df1"],
                        df2=effect["df2"],
                        statistic=effect["F"],
                        effect_size=effect["ges"],
                        effect_size_name="generalized eta squared",
                        p=effect["p"],
                        paper=_paper_p(reported),
                    )
                )
    section = "CMAP before and after"
    for measure in CMAP:
        for arm in arms:
            identity = {"section": section, "outcome": measure, "comparison": f"T2 - T0, {arm} arm"}
            with rows.unit(**identity, test="Wilcoxon signed-rank"):
                wide = _wide(obs, measure, arm).loc[:, ["T0", "T2"]].dropna()
                result = wilcoxon_paired(wide["T2"], wide["T0"])
                rows.append(_wilcoxon_row(identity, result, paper="no significant change"))
    notes = [
        "The paper's tests, as it describes them: baseline Mann-Whitney between arms, one-way "
        "RM ANOVA over T0-T3 per arm (its dynamometer result Greenhouse-Geisser corrected, its "
        "MRC result with sphericity assumed; both are shown), unadjusted paired comparisons "
        "with T0, and the arm x time interaction with arm as a between-subject group.",
        "The paper does not name the test for CMAP before and after; Wilcoxon signed-rank "
        "per arm is used here.",
        "Weaknesses kept on purpose to reproduce it: the two arms of one patient are treated "
        "as independent groups, and nothing is adjusted for multiplicity.",
    ]
    return rows, notes


# -- the recommended plan -----------------------------------------------------------------
def _changes(obs: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Change from T0 per patient, arm and later visit (rows without T0 are dropped)."""
    rows = obs[obs["measure"] == measure]
    base = rows[rows["time"] == "T0"].set_index(["patient", "arm"])["value"]
    later = rows[rows["time"] != "T0"].copy()
    later["change"] = later["value"] - later.set_index(["patient", "arm"]).index.map(base)
    return later.dropna(subset=["change"]).reset_index(drop=True)


def _model_rows(rows: _Rows, measure: str, change: pd.DataFrame, arms: tuple[str, ...]) -> None:
    """Real minus sham in change from T0 at each visit, from one mixed model."""
    visits = sorted(change["time"].unique())
    section = "primary outcome" if measure == PRIMARY else "secondary outcomes"
    test = "linear mixed model (REML)"
    first, second = arms
    levels: dict[str, list] = {"arm": [second, first]}
    if len(visits) > 1:
        formula, group, by = "change ~ arm * time", "patient/arm", "time"
        model = "change ~ arm * time + (1 | patient) + (1 | patient:arm)"
        levels["time"] = visits
    else:
        formula, group, by = "change ~ arm", "patient", None
        model = "change ~ arm + (1 | patient)"
    identity = {"section": section, "outcome": measure, "comparison": f"{first} - {second}, change"}
    with rows.unit(**identity, test=test):
        fit = mixed_model(change, formula, group, levels=levels, contrast="arm", by=by)
        for contrast in fit.contrasts.itertuples(index=False):
            if contrast.contrast.count(" - ") > 1:  # interaction contrasts: in the model table
                continue
            visit = contrast.contrast.split("| ")[-1] if "|" in contrast.contrast else visits[0]
            rows.append(
                _row(
                    section=section,
                    outcome=measure,
                    comparison=f"{first} - {second}, change from T0 at {visit}",
                    test=test,
                    options=model,
                    correction="Satterthwaite df",
                    n=change["patient"].nunique(),
                    df1=contrast.df,
                    statistic=contrast.t,
                    estimate=contrast.estimate,
                    ci_low=contrast.ci_low,
                    ci_high=contrast.ci_high,
                    p=contrast.p,
                )
            )


def _holm_at_primary_visit(rows: _Rows) -> None:
    """Holm across the secondary outcomes' contrasts at the primary visit."""
    family = [
        i
        for i, row in enumerate(rows)
        if row["section"] == "secondary outcomes"
        and row["comparison"].endswith(f"at {PRIMARY_VISIT}")
        and not np.isnan(row["p"])
    ]
    adjusted = adjust_p([rows[i]["p"] for i in family], "holm")
    for i, p in zip(family, adjusted, strict=True):
        rows[i]["p_adjusted"] = p
        rows[i]["adjustment"] = f"Holm over {len(family)} secondary outcomes at {PRIMARY_VISIT}"


def _recommended_plan(obs: pd.DataFrame, arms: tuple[str, ...]) -> tuple[list[dict], list[str]]:
    first, second = arms
    rows = _Rows()
    for measure in (*STRENGTH, *CMAP):
        _model_rows(rows, measure, _changes(obs, measure), arms)
    _holm_at_primary_visit(rows)
    section = "effect sizes"
    for measure in (*STRENGTH, *CMAP):
        comparison = f"{first} - {second}, change from T0 at {PRIMARY_VISIT}"
        identity = {"section": section, "outcome": measure, "comparison": comparison}
        with rows.unit(**identity, test="paired t"):
            change = _changes(obs, measure)
            at = change[change["time"] == PRIMARY_VISIT].pivot(
                index="patient", columns="arm", values="change"
            )
            at = at.reindex(columns=[first, second]).dropna()
            result = paired_t(at[first], at[second])
            low, high = _ci(result.ci)
            g_low, g_high = _ci(result.hedges_g_ci)
            rows.append(
                _row(
                    **identity,
                    test="paired t",
                    options="mean difference with its 95% CI; Hedges' g_z of the paired "
                    "differences with a noncentral-t 95% CI",
                    correction="none",
                    n=result.n,
                    df1=result.df,
                    statistic=result.statistic,
                    estimate=result.estimate,
                    ci_low=low,
                    ci_high=high,
                    effect_size=result.hedges_g,
                    effect_size_ci_low=g_low,
                    effect_size_ci_high=g_high,
                    effect_size_name="Hedges' g_z",
                    p=result.p,
                )
            )
    section = "baseline balance (paired)"
    for measure in (*STRENGTH, *CMAP):
        comparison = f"{first} - {second} at T0"
        identity = {"section": section, "outcome": measure, "comparison": comparison}
        with rows.unit(**identity, test="Wilcoxon signed-rank"):
            x = _wide(obs, measure, first)["T0"]
            y = _wide(obs, measure, second)["T0"]
            pairs = pd.concat([x, y], axis=1, keys=["x", "y"]).dropna()
            result = wilcoxon_paired(pairs["x"], pairs["y"])
            rows.append(_wilcoxon_row(identity, result))
    section = "sensitivity: arm x time RM ANOVA (both arms within patient)"
    for measure in STRENGTH:
        identity = {"section": section, "outcome": measure, "comparison": "arm x time"}
        with rows.unit(**identity, test="repeated-measures ANOVA"):
            long = obs[obs["measure"] == measure]
            fit = rm_anova(long, "value", "patient", ["arm", "time"], listwise=True)
            for effect in fit.effects.itertuples(index=False):
                rows.append(
                    _row(
                        section=section,
                        outcome=measure,
                        comparison=effect.effect,
                        test="repeated-measures ANOVA",
                        options=f"type 3; arm and time within patient{_excluded(fit)}",
                        correction="Greenhouse-Geisser" if effect.df1 > 1 else "none (1 df)",
                        n=fit.n_subjects,
                        df1=effect.df1 * effect.eps_gg,
                        df2=effect.df2 * effect.eps_gg,
                        statistic=effect.F,
                        effect_size=effect.ges,
                        effect_size_name="generalized eta squared",
                        p=effect.p_gg,
                    )
                )
    notes = [
        f"Primary: change from T0 in MRC FCR grade, real minus sham, at {PRIMARY_VISIT} (end "
        "of stimulation), from a linear mixed model of change with arm x visit and random "
        "intercepts for patient and arm within patient (REML, Satterthwaite df); T1 and T3 "
        "are supportive.",
        f"Secondary outcomes (handgrip, MRC sum, CMAP APB and FCR): the same model; Holm "
        f"across the four at {PRIMARY_VISIT}.",
        "Arms are compared within patient throughout (paired), where the paper compared them "
        "as independent groups. Baseline tests are shown as a balance check only: CONSORT "
        "advises against reading them as tests of randomization.",
        "Effect sizes: Hedges' g_z of the within-patient difference in change.",
    ]
    return rows, notes
