"""Post hoc comparisons of the levels of one within-subject factor, one family.

Each level is compared with a reference (default: the first level) or every pair
is compared; labels read "T1 - T0", the later level (in level order) minus the
earlier one, or the level minus the reference. The comparisons of one call are
one family for the Holm, Bonferroni, Hochberg and Benjamini-Hochberg adjustments.

- test="t": a paired t test per comparison, which is what emmeans gives on an afex
  fit with model = "multivariate" (SE of the paired differences, df = n - 1).
- test="t", pooled_error=True: the one-way RM ANOVA's pooled error, emmeans'
  model = "univariate": MSE of the subject x within residual, SE = sqrt(2 MSE / n),
  df = (n - 1)(k - 1).
- test="wilcoxon": a Wilcoxon signed-rank test per comparison (V, p; `mode` and
  `continuity` as `wilcoxon_paired`), estimate = Hodges-Lehmann median of the
  Walsh averages with its distribution-free interval; se and df are NaN.

Subjects missing a level are an error, or with `listwise=True` are dropped and
listed in `excluded_subjects` (`data.complete_subjects`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InvalidValueError
from .data import complete_subjects, levels
from .multiplicity import adjust_p
from .nonparametric import wilcoxon_paired
from .parametric import paired_t
from .results import ALTERNATIVE, CONF_LEVEL, plain

TESTS = ("t", "wilcoxon")
COLUMNS = [
    "contrast",
    "estimate",
    "se",
    "df",
    "statistic",
    "ci",
    "p",
    "p_holm",
    "p_bonferroni",
    "p_hochberg",
    "p_bh",
    "test",
    "method",
]
ADJUSTMENTS = {
    "p_holm": "holm",
    "p_bonferroni": "bonferroni",
    "p_hochberg": "hochberg",
    "p_bh": "bh",
}


@dataclass(frozen=True, eq=False)
class PostHoc:
    """The comparisons of one family, one row each (columns COLUMNS).

    `n_subjects` counts the subjects analysed, `excluded_subjects` those dropped
    by `listwise` ([] when none); `options` records ref, all_pairs, mode,
    continuity, listwise, alternative and conf_level.
    """

    comparisons: pd.DataFrame
    test: str
    n_subjects: int
    excluded_subjects: list
    pooled_error: bool
    options: dict = field(default_factory=dict)

    @property
    def family_size(self) -> int:
        """The number of comparisons the p values are adjusted over."""
        return len(self.comparisons)

    def to_dict(self) -> dict:
        """JSON-ready: NaN becomes None, each ci a 2-element list (or None)."""
        rows = []
        for row in self.comparisons.to_dict("records"):
            record = {k: plain(v) for k, v in row.items() if k != "ci"}
            low, high = (plain(v) for v in row["ci"])
            record["ci"] = None if low is None or high is None else [low, high]
            rows.append({k: record[k] for k in COLUMNS})
        return {
            "comparisons": rows,
            "test": self.test,
            "n_subjects": self.n_subjects,
            "excluded_subjects": [plain(s) for s in self.excluded_subjects],
            "family_size": self.family_size,
            "pooled_error": self.pooled_error,
            "options": {k: plain(v) for k, v in self.options.items()},
        }


def posthoc(
    data: pd.DataFrame,
    dv: str,
    subject: str,
    within: str,
    *,
    ref=None,
    all_pairs: bool = False,
    test: str = "t",
    mode: str | None = None,
    continuity: bool = True,
    pooled_error: bool = False,
    listwise: bool = False,
) -> PostHoc:
    """Compare the levels of `within` (see the module docstring for each test).

    Returns a PostHoc whose `comparisons` has the columns contrast, estimate, se,
    df, statistic, ci, p, p_holm, p_bonferroni, p_hochberg, p_bh, test, method.
    """
    _check_options(test, ref, all_pairs, mode, continuity, pooled_error)
    kept, excluded = complete_subjects(data, dv, subject, [within], listwise=listwise)
    order = levels(kept[within])
    if len(order) < 2:
        raise InvalidValueError(f"{within} has one level ({order[0]}); nothing to compare")
    wide = kept.pivot(index=subject, columns=within, values=dv).loc[:, order]
    base = None if all_pairs else order[0] if ref is None else _match(ref, order, within)
    pairs = _pairs(order, base)
    if test == "wilcoxon":
        rows = [_wilcoxon_row(wide, a, b, mode, continuity) for a, b in pairs]
    elif pooled_error:
        rows = _pooled_rows(wide, pairs, within)
    else:
        rows = [_t_row(wide, a, b) for a, b in pairs]
    comparisons = pd.DataFrame(rows)
    for column, method in ADJUSTMENTS.items():
        comparisons[column] = adjust_p(comparisons["p"].tolist(), method)
    comparisons["test"] = test
    return PostHoc(
        comparisons=comparisons.loc[:, COLUMNS],
        test=test,
        n_subjects=len(wide),
        excluded_subjects=list(excluded),
        pooled_error=pooled_error,
        options={
            "ref": base,
            "all_pairs": all_pairs,
            "mode": mode,
            "continuity": continuity if test == "wilcoxon" else None,
            "listwise": listwise,
            "alternative": ALTERNATIVE,
            "conf_level": CONF_LEVEL,
        },
    )


def _check_options(test, ref, all_pairs, mode, continuity, pooled_error) -> None:
    if test not in TESTS:
        raise InvalidValueError(f"post hoc test {test!r} is not known; use 't' or 'wilcoxon'")
    if ref is not None and all_pairs:
        raise InvalidValueError("give a reference level or all pairs, not both")
    if test == "t" and (mode is not None or not continuity):
        raise InvalidValueError(
            "exact/approx and continuity apply to the Wilcoxon test; drop them or use wilcoxon"
        )
    if test == "wilcoxon" and pooled_error:
        raise InvalidValueError("the pooled error applies to t tests; drop it or use t")


def _match(ref, order: list, within: str):
    for level in order:
        if str(level) == str(ref):
            return level
    raise InvalidValueError(
        f"reference {ref!r} is not a level of {within}; levels: {', '.join(map(str, order))}"
    )


def _pairs(order: list, base) -> list[tuple]:
    """(level, base) pairs, or without a base all (later, earlier) pairs in emmeans'
    revpairwise order: T1 - T0, T2 - T0, T2 - T1, T3 - T0, ..."""
    if base is None:
        return [(order[j], order[i]) for j in range(1, len(order)) for i in range(j)]
    return [(level, base) for level in order if level != base]


def _label(a, b) -> str:
    return f"{a} - {b}"


def _t_row(wide: pd.DataFrame, a, b) -> dict:
    try:
        result = paired_t(wide[a].to_numpy(), wide[b].to_numpy())
    except InvalidValueError as error:
        raise InvalidValueError(f"{_label(a, b)}: {error}") from error
    d = wide[a].to_numpy() - wide[b].to_numpy()
    return {
        "contrast": _label(a, b),
        "estimate": result.estimate,
        "se": float(np.std(d, ddof=1) / np.sqrt(len(d))),
        "df": result.df,
        "statistic": result.statistic,
        "ci": result.ci,
        "p": result.p,
        "method": "Paired t-test (emmeans on afex, model = multivariate)",
    }


def _pooled_rows(wide: pd.DataFrame, pairs: list[tuple], within: str) -> list[dict]:
    values = wide.to_numpy()
    n, k = values.shape
    residual = values - values.mean(axis=1, keepdims=True) - values.mean(axis=0) + values.mean()
    df = (n - 1) * (k - 1)
    mse = float(np.sum(residual**2) / df)
    if mse == 0:
        raise InvalidValueError(
            f"the subject x {within} residual is 0 (every subject changes alike); "
            "the pooled error is undefined, use the paired t tests"
        )
    se = np.sqrt(2 * mse / n)
    half = stats.t.ppf(1 - (1 - CONF_LEVEL) / 2, df) * se
    method = (
        f"t test with the pooled error of the one-way RM ANOVA: MSE of subject x {within}, "
        "SE = sqrt(2 MSE / n), df = (n - 1)(k - 1) (emmeans on afex, model = univariate)"
    )
    rows = []
    for a, b in pairs:
        estimate = float(np.mean(wide[a].to_numpy() - wide[b].to_numpy()))
        statistic = estimate / se
        rows.append(
            {
                "contrast": _label(a, b),
                "estimate": estimate,
                "se": float(se),
                "df": float(df),
                "statistic": float(statistic),
                "ci": (float(estimate - half), float(estimate + half)),
                "p": float(2 * stats.t.sf(abs(statistic), df)),
                "method": method,
            }
        )
    return rows


def _wilcoxon_row(wide: pd.DataFrame, a, b, mode: str | None, continuity: bool) -> dict:
    try:
        result = wilcoxon_paired(
            wide[a].to_numpy(), wide[b].to_numpy(), mode=mode, continuity=continuity
        )
    except InvalidValueError as error:
        raise InvalidValueError(f"{_label(a, b)}: {error}") from error
    return {
        "contrast": _label(a, b),
        "estimate": result.hodges_lehmann,
        "se": np.nan,
        "df": np.nan,
        "statistic": result.statistic,
        "ci": result.ci,
        "p": result.p,
        "method": f"{result.method}; estimate: Hodges-Lehmann (median of Walsh averages)",
    }
