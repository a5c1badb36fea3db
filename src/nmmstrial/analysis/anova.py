"""Repeated-measures ANOVA that reproduces afex::aov_ez (car::Anova underneath).

The multivariate route car takes: one row of within-cell values per subject, a
multivariate linear model on the between-subject design (sum-to-zero contrasts,
as afex sets them), and for each within-subject term an orthonormal contrast
basis P. The hypothesis and error SSP matrices of the transformed responses
give the univariate F (their traces), Greenhouse-Geisser and Huynh-Feldt
epsilons and Mauchly's test (the error matrix's eigen-structure).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InvalidValueError
from .data import complete_subjects, levels

__all__ = ["RmAnova", "rm_anova"]

TEST = "repeated-measures ANOVA"
STAT_COLUMNS = [
    "effect",
    "F",
    "df1",
    "df2",
    "p",
    "eps_gg",
    "p_gg",
    "eps_hf",
    "p_hf",
    "mauchly_w",
    "mauchly_p",
    "ges",
    "pes",
]
COLUMNS = [*STAT_COLUMNS, "test", "ss_type", "correction_note"]

NOTE_BETWEEN = "between-subjects effect: sphericity does not apply"
NOTE_ONE_DF = "1 within-subject df: sphericity holds, no correction needed"
NOTE_SINGULAR = (
    "error SSP matrix singular (fewer residual df than within df): "
    "no epsilon or Mauchly test, as car"
)
NOTE_CORRECTED = (
    "Greenhouse-Geisser and Huynh-Feldt as car (HF uncapped; p_hf uses min(1, eps_hf)); "
    "Mauchly as stats::mauchly.test"
)


@dataclass(frozen=True, eq=False)
class RmAnova:
    """One row per effect (`effects`, columns COLUMNS) and what was analysed.

    `result["p_gg"]` is `result.effects["p_gg"]`.
    """

    effects: pd.DataFrame
    n_subjects: int
    excluded_subjects: list
    dv: str
    subject: str
    within: tuple[str, ...]
    between: tuple[str, ...]
    type: int
    listwise: bool

    def __getitem__(self, column: str) -> pd.Series:
        return self.effects[column]

    def effect(self, name: str) -> dict:
        """The row of effect `name` (e.g. "arm:time") as a dict."""
        rows = self.effects[self.effects["effect"] == name]
        if rows.empty:
            known = ", ".join(self.effects["effect"])
            raise InvalidValueError(f"no effect {name!r}; effects: {known}")
        return rows.iloc[0].to_dict()

    def to_dict(self) -> dict:
        """The `stats rm-anova --json` shape; NaN (a field that does not apply) is None."""
        return {
            "effects": [
                {column: _plain(row[column]) for column in STAT_COLUMNS}
                for _, row in self.effects.iterrows()
            ],
            "n_subjects": self.n_subjects,
            "excluded_subjects": [_plain(s) for s in self.excluded_subjects],
            "test": TEST,
            "type": self.type,
            "dv": self.dv,
            "subject": self.subject,
            "within": list(self.within),
            "between": list(self.between),
            "listwise": self.listwise,
        }


def rm_anova(
    data: pd.DataFrame,
    dv: str,
    subject: str,
    within: str | Sequence[str],
    between: str | Sequence[str] = (),
    *,
    type: int = 3,
    listwise: bool = False,
    source: str = "data",
) -> RmAnova:
    """Univariate repeated-measures ANOVA with sphericity corrections, as afex::aov_ez.

    `data` is long: one `dv` per subject and within cell. A subject missing a cell
    is an error naming it, unless `listwise` drops such subjects (listed in
    `excluded_subjects`). Sums of squares are type 3 with sum-to-zero contrasts
    (afex's default) or type 2; they differ only for unbalanced between groups.
    Effects are named and ordered as afex: between terms first, then each within
    term with its between interactions (`treatment:phase`).

    Greenhouse-Geisser and Huynh-Feldt epsilons and Mauchly's test are car's:
    HF = ((n - g + 1) q GG - 2) / (q (n - g - q GG)) with g between-subject groups
    and q the term's within df, uncapped (p_hf uses min(1, HF)). Within terms with
    q = 1 get epsilon 1 and uncorrected p; between terms and singular error
    matrices get NaN. ges is afex's generalized eta squared, no observed factors.

    Returns an RmAnova; its `effects` frame has columns effect, F, df1, df2, p,
    eps_gg, p_gg, eps_hf, p_hf, mauchly_w, mauchly_p, ges, pes, test, ss_type,
    correction_note.

    Example:
    >>> data = pd.DataFrame({
    ...     "patient": np.repeat(["P1", "P2", "P3", "P4"], 3),
    ...     "time": ["T0", "T1", "T2"] * 4,
    ...     "value": [3.0, 4.0, 6.0, 2.0, 4.0, 5.0, 4.0, 4.0, 7.0, 3.0, 5.0, 5.0],
    ... })
    >>> result = rm_anova(data, dv="value", subject="patient", within="time")
    >>> result.effect("time")["df1"], result.effect("time")["df2"]
    (2, 6)
    """
    within, between = _names(within), _names(between)
    if type not in (2, 3):
        raise InvalidValueError(f"type must be 2 or 3, not {type!r}")
    if not within:
        raise InvalidValueError(f"{source}: give at least one within-subject factor")
    named = [dv, subject, *within, *between]
    repeated = sorted({n for n in named if named.count(n) > 1})
    if repeated:
        raise InvalidValueError(f"{source}: column {', '.join(repeated)} is given twice")
    kept, excluded = complete_subjects(
        data, dv, subject, within, between, listwise=listwise, source=source
    )
    subjects = levels(kept[subject])
    per_subject = kept.groupby(subject, sort=False)[list(between)].first().reindex(subjects)
    y = _wide(kept, dv, subject, subjects, within)
    x, between_terms = _between_design(per_subject, between, source)
    error_df = len(subjects) - x.shape[1]
    if error_df < 1:
        raise InvalidValueError(
            f"{source}: {len(subjects)} subjects for {x.shape[1]} between-subject groups; "
            "each effect needs more subjects than groups"
        )
    bases = [_basis(levels(kept[w]), w, source) for w in within]
    strata = _strata(y, x, between_terms, bases, type)
    total_ss = float(np.sum((y - y.mean()) ** 2))
    rows = _effects(strata, between, within, error_df, y.shape[1], total_ss, dv, source)
    effects = pd.DataFrame(rows, columns=[*STAT_COLUMNS, "correction_note"])
    effects = effects.assign(test=TEST, ss_type=type)[COLUMNS]
    return RmAnova(
        effects=effects,
        n_subjects=len(subjects),
        excluded_subjects=list(excluded),
        dv=dv,
        subject=subject,
        within=within,
        between=between,
        type=type,
        listwise=listwise,
    )


def _names(factors: str | Sequence[str]) -> tuple[str, ...]:
    return (factors,) if isinstance(factors, str) else tuple(factors)


def _plain(value):
    """A JSON-ready Python scalar: numpy scalars unwrapped, NaN as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _wide(data, dv, subject, subjects, within) -> np.ndarray:
    """Subjects x within cells; cells in C order of the within factors (first slowest)."""
    rows = pd.Categorical(data[subject], categories=subjects).codes
    codes = [pd.Categorical(data[w], categories=levels(data[w])).codes for w in within]
    shape = tuple(len(levels(data[w])) for w in within)
    y = np.empty((len(subjects), math.prod(shape)))
    y[rows, np.ravel_multi_index(codes, shape)] = data[dv].to_numpy()
    return y


def _terms(n_factors: int) -> list[tuple[int, ...]]:
    """Intercept, then main effects, then interactions by order: R's term order."""
    return [
        term
        for size in range(n_factors + 1)
        for term in itertools.combinations(range(n_factors), size)
    ]


def _between_design(per_subject, between, source):
    """Sum-to-zero model matrix of the full between factorial, and its terms' columns."""
    n = len(per_subject)
    coded = []
    for factor in between:
        factor_levels = levels(per_subject[factor])
        if len(factor_levels) < 2:
            raise InvalidValueError(
                f"{source}: between factor {factor} has one level ({factor_levels[0]}); "
                "it needs at least 2"
            )
        contrast = np.vstack([np.eye(len(factor_levels) - 1), -np.ones(len(factor_levels) - 1)])
        codes = pd.Categorical(per_subject[factor], categories=factor_levels).codes
        coded.append(contrast[codes])
    if between:
        cells = pd.MultiIndex.from_product([levels(per_subject[f]) for f in between])
        empty = cells.difference(pd.MultiIndex.from_frame(per_subject[list(between)]))
        if len(empty):
            cell = ", ".join(f"{f}={v}" for f, v in zip(between, empty[0], strict=True))
            raise InvalidValueError(
                f"{source}: no subject with {cell}; every combination of between factors "
                "needs subjects"
            )
    columns, terms = [], []
    start = 0
    for term in _terms(len(between)):
        block = np.ones((n, 1))
        for f in term:
            block = (block[:, :, None] * coded[f][:, None, :]).reshape(n, -1)
        columns.append(block)
        terms.append((term, np.arange(start, start + block.shape[1])))
        start += block.shape[1]
    return np.hstack(columns), terms


def _basis(factor_levels, factor, source) -> np.ndarray:
    """Orthonormal contrasts (levels x levels-1), orthogonal to the constant."""
    k = len(factor_levels)
    if k < 2:
        raise InvalidValueError(
            f"{source}: within factor {factor} has one level ({factor_levels[0]}); "
            "it needs at least 2"
        )
    contrast = np.vstack([np.eye(k - 1), -np.ones(k - 1)])
    return np.linalg.qr(contrast)[0]


def _within_transform(term, bases) -> np.ndarray:
    """Kronecker product: the term's factors contrasted, the others averaged."""
    p = np.ones((1, 1))
    for f, basis in enumerate(bases):
        k = basis.shape[0]
        p = np.kron(p, basis if f in term else np.full((k, 1), 1 / math.sqrt(k)))
    return p


def _strata(y, x, between_terms, bases, ss_type):
    """Per within term: (term, error SSP matrix, [(between term, hypothesis SS, df)]).

    Each within term is one stratum: the responses transformed by its contrasts,
    regressed on the between design; every between term is tested against that
    stratum's error. The between-subject stratum is the within intercept.
    """
    xtx_inv = np.linalg.inv(x.T @ x)
    strata = []
    for w_term in _terms(len(bases)):
        yw = y @ _within_transform(w_term, bases)
        coef = xtx_inv @ x.T @ yw
        resid = yw - x @ coef
        tests = [
            (b_term, _term_ss(coef, xtx_inv, b_term, columns, between_terms, ss_type), len(columns))
            for b_term, columns in between_terms
            if b_term or w_term
        ]
        strata.append((w_term, resid.T @ resid, tests))
    return strata


def _term_ss(coef, xtx_inv, term, columns, between_terms, ss_type) -> float:
    """Hypothesis sum of squares of a between term (the trace of its SSP matrix).

    Type 3: its coefficients are zero. Type 2, as car: the term after all terms
    that do not contain it, i.e. Wald(term and the terms containing it) minus
    Wald(the terms containing it); for the intercept, every other term contains it.
    """
    if ss_type == 3:
        return _wald_ss(coef, xtx_inv, columns)
    containing = [c for t, c in between_terms if set(term) < set(t)]
    containing = np.concatenate(containing) if containing else np.arange(0)
    both = np.concatenate([containing, columns])
    return _wald_ss(coef, xtx_inv, both) - _wald_ss(coef, xtx_inv, containing)


def _wald_ss(coef, xtx_inv, columns) -> float:
    """tr((L B)' (L (X'X)^-1 L')^-1 (L B)) for L selecting `columns` of the coefficients."""
    if len(columns) == 0:
        return 0.0
    lb = coef[columns]
    return float(np.sum(lb * np.linalg.solve(xtx_inv[np.ix_(columns, columns)], lb)))


def _effects(strata, between, within, error_df, n_cells, total_ss, dv, source):
    """The effect rows (STAT_COLUMNS + correction_note), in afex's order."""
    # afex's ges denominator: every stratum's error SS, the between-subject one included.
    total_error = sum(float(np.trace(error)) for _, error, _ in strata)
    rows = []
    for w_term, error, tests in strata:
        q = error.shape[0]
        error_ss = float(np.trace(error))
        sphericity = _sphericity(error, error_df, n_cells) if w_term and q > 1 else None
        for b_term, ss, term_df in tests:
            name = ":".join([*(between[f] for f in b_term), *(within[f] for f in w_term)])
            # Exactly additive data leave only rounding residue, not variation to test against.
            if error_ss <= 1e-12 * total_ss:
                raise InvalidValueError(
                    f"{source}: {dv} has no residual variation for {name}; F is undefined"
                )
            df1, df2 = term_df * q, error_df * q
            f_value = (ss / df1) / (error_ss / df2)
            p = float(stats.f.sf(f_value, df1, df2))
            if not w_term:
                corrections = (np.nan,) * 6 + (NOTE_BETWEEN,)
            elif q == 1:
                corrections = (1.0, p, 1.0, p, np.nan, np.nan, NOTE_ONE_DF)
            elif sphericity is None:
                corrections = (np.nan,) * 6 + (NOTE_SINGULAR,)
            else:
                gg, hf, w, w_p = sphericity
                hf_used = min(1.0, hf)
                p_gg = float(stats.f.sf(f_value, gg * df1, gg * df2))
                p_hf = float(stats.f.sf(f_value, hf_used * df1, hf_used * df2))
                corrections = (gg, p_gg, hf, p_hf, w, w_p, NOTE_CORRECTED)
            ges, pes = ss / (ss + total_error), ss / (ss + error_ss)
            rows.append((name, f_value, df1, df2, p, *corrections[:-1], ges, pes, corrections[-1]))
    return rows


def _sphericity(error, error_df, n_cells):
    """(GG, HF, Mauchly W, Mauchly p) from an error SSP matrix in orthonormal contrasts.

    None when the matrix is singular (car reports no corrections then). Mauchly's
    p is stats::mauchly.test's, whose second-order term uses `n_cells`, the whole
    within design's column count, not the term's df.
    """
    q = error.shape[0]
    if np.linalg.matrix_rank(error, hermitian=True) < q:
        return None
    trace = np.trace(error)
    gg = float(trace**2 / (q * np.sum(error * error)))
    hf = ((error_df + 1) * q * gg - 2) / (q * (error_df - q * gg))
    log_w = np.linalg.slogdet(error)[1] - q * math.log(trace / q)
    rho = 1 - (2 * q**2 + q + 2) / (6 * q * error_df)
    w2 = (
        (q + 2)
        * (q - 1)
        * (q - 2)
        * (2 * q**3 + 6 * q**2 + 3 * n_cells + 2)
        / (288 * (error_df * q * rho) ** 2)
    )
    z = -error_df * rho * log_w
    chi_df = q * (q + 1) / 2 - 1
    pr1, pr2 = stats.chi2.sf(z, chi_df), stats.chi2.sf(z, chi_df + 4)
    return gg, float(hf), float(math.exp(log_w)), float(pr1 + w2 * (pr2 - pr1))
