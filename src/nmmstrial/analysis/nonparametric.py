"""Wilcoxon signed-rank and Mann-Whitney (Wilcoxon rank sum) tests, as R computes them.

Policies, the same in both tests:

- Ranks are mid-ranks of exactly equal values (R's `rank`, `digits.rank = Inf`).
- Signed rank: d = x - y; zero differences are dropped before ranking (R's
  Wilcoxon method, not Pratt's), V = sum of the ranks of the positive d.
- Rank sum: W = U of x = rank sum of x minus n_x (n_x + 1) / 2.
- `mode=None` is R's default: the exact null distribution when n < 50 (after
  dropping zeros; both groups < 50) and there are no ties or zeros, otherwise
  the normal approximation with tie-corrected variance and, unless
  `continuity=False`, continuity correction. `mode="exact"` always gives an exact
  p: with ties or zeros that of the permutation distribution of the mid-ranks
  given the data, zeros dropped (exactRankTests::wilcox.exact, coin), two-sided
  as P(|T - E T| >= |t - E T|), capped at 1. `mode="approx"` is the normal
  approximation. `method` says which was done and how zeros and ties were handled.
- Exact distributions are built by the shift algorithm on doubled mid-ranks
  (integers), so they are exact up to rounding and fast for a few hundred values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from ..errors import InvalidValueError
from .results import ALTERNATIVE, CONF_LEVEL, TestResult, paired_values, two_sample_values

MODES = (None, "exact", "approx")
EXACT_BELOW = 50  # R's wilcox.test: exact by default when n < 50


def wilcoxon_paired(
    x: Sequence[float],
    y: Sequence[float],
    *,
    mode: str | None = None,
    continuity: bool = True,
) -> TestResult:
    """Wilcoxon signed-rank test of the pairs (x, y), as R's wilcox.test(paired = TRUE).

    Zeros of d = x - y are dropped for V, p and the rank-biserial correlation
    r = (2 V - S) / S, S = n'(n' + 1) / 2 over the n' non-zero d, whose Fisher-z
    interval uses SE = sqrt((2n'^3 + 3n'^2 + n') / 6) / S: effectsize's
    rank_biserial(x - y). (effectsize 0.8.3's rank_biserial(x, y, paired = TRUE)
    counts the non-zero x instead of d in that SE, and returns +1 when every
    difference is the same negative number; here r keeps the sign: -1.) The
    Hodges-Lehmann estimate, the median of the Walsh averages of d, keeps the
    zeros, and so does its interval `ci` (order statistics of the Walsh averages
    at the exact quantiles without ties, as R's wilcox.test(conf.int = TRUE) when
    it computes an exact p; R's asymptotic root-finding interval is not used).

    Returns a TestResult: statistic V, p, n (pairs), estimate and hodges_lehmann
    (the same number), ci, rank_biserial and rank_biserial_ci.

    Example:
        >>> r = wilcoxon_paired([1.83, 0.50, 1.62, 2.48, 1.68], [0.88, 0.65, 0.60, 2.05, 1.06])
        >>> r.statistic, round(r.p, 4), r.method
        (14.0, 0.125, 'Wilcoxon signed rank exact test')
    """
    _check_mode(mode)
    x, y = paired_values(x, y)
    d = x - y
    nonzero = d[d != 0]
    zeros = len(d) - len(nonzero)
    if len(nonzero) == 0:
        raise InvalidValueError(
            "Wilcoxon signed-rank test: every difference x - y is 0; there is nothing to rank"
        )
    ranks = stats.rankdata(np.abs(nonzero))
    v = float(ranks[nonzero > 0].sum())
    n = len(nonzero)
    ties = _tie_sizes(ranks)
    exact = _use_exact(mode, n < EXACT_BELOW and not ties.size and not zeros)
    if exact:
        p = _signed_rank_exact_p(ranks, v)
    else:
        mean = n * (n + 1) / 4
        var = n * (n + 1) * (2 * n + 1) / 24 - np.sum(ties**3 - ties) / 48
        p = _normal_p(v - mean, var, continuity)
    method = _method(
        "Wilcoxon signed rank",
        exact=exact,
        continuity=continuity,
        mode=mode,
        reasons=_fallback(n >= EXACT_BELOW, ties, zeros),
        zeros=zeros,
        ties=ties,
    )
    hl = _median_walsh(d)
    s = n * (n + 1) / 2
    r = (2 * v - s) / s
    se = np.sqrt((2 * n**3 + 3 * n**2 + n) / 6) / s
    return TestResult(
        test="wilcoxon",
        method=method,
        statistic=v,
        p=p,
        n=len(d),
        options=_options(mode, continuity),
        estimate=hl,
        ci=_walsh_interval(d),
        rank_biserial=r,
        rank_biserial_ci=_fisher_interval(r, se),
        hodges_lehmann=hl,
    )


def mann_whitney(
    x: Sequence[float],
    y: Sequence[float],
    *,
    mode: str | None = None,
    continuity: bool = True,
) -> TestResult:
    """Mann-Whitney U (Wilcoxon rank sum) test of x against y, as R's wilcox.test(x, y).

    The Hodges-Lehmann estimate is the median of all x_i - y_j; its interval `ci`
    takes order statistics of those differences at the exact quantiles without
    ties (R's wilcox.test(conf.int = TRUE) when it computes an exact p; R's
    asymptotic root-finding interval is not used). The
    rank-biserial correlation is 2 W / (n_x n_y) - 1, positive when x tends to
    be larger, with effectsize's Fisher-z interval.

    Returns a TestResult: statistic W, p, n = n_x + n_y, n_x, n_y, estimate and
    hodges_lehmann, ci, rank_biserial and rank_biserial_ci.
    """
    _check_mode(mode)
    x, y = two_sample_values(x, y)
    n_x, n_y = len(x), len(y)
    ranks = stats.rankdata(np.concatenate([x, y]))
    w = float(ranks[:n_x].sum() - n_x * (n_x + 1) / 2)
    ties = _tie_sizes(ranks)
    large = n_x >= EXACT_BELOW or n_y >= EXACT_BELOW
    exact = _use_exact(mode, not large and not ties.size)
    if exact:
        p = _rank_sum_exact_p(ranks, n_x)
    else:
        total = n_x + n_y
        var = (n_x * n_y / 12) * ((total + 1) - np.sum(ties**3 - ties) / (total * (total - 1)))
        p = _normal_p(w - n_x * n_y / 2, var, continuity)
    method = _method(
        "Wilcoxon rank sum",
        exact=exact,
        continuity=continuity,
        mode=mode,
        reasons=_fallback(large, ties, 0),
        zeros=0,
        ties=ties,
    )
    differences = np.subtract.outer(x, y).ravel()
    hl = float(np.median(differences))
    r = 2 * w / (n_x * n_y) - 1
    se = np.sqrt((n_x + n_y + 1) / (3 * n_x * n_y))
    return TestResult(
        test="mann-whitney",
        method=method,
        statistic=w,
        p=p,
        n=n_x + n_y,
        n_x=n_x,
        n_y=n_y,
        options=_options(mode, continuity),
        estimate=hl,
        ci=_difference_interval(differences, n_x, n_y),
        rank_biserial=r,
        rank_biserial_ci=_fisher_interval(r, se),
        hodges_lehmann=hl,
    )


def signed_rank_distribution(scores: Sequence[int]) -> np.ndarray:
    """P(T = t), t = 0..sum(scores), T the sum of the scores given a + sign by fair coins.

    Scores must be non-negative integers (doubled mid-ranks are); the shift
    algorithm adds one score at a time.
    """
    scores = np.sort(np.asarray(scores, dtype=np.int64))
    prob = np.zeros(int(scores.sum()) + 1)
    prob[0] = 1.0
    top = 0
    for score in scores:
        # new[t] = (old[t] + old[t - score]) / 2; numpy buffers the overlap.
        prob[score : top + score + 1] += prob[: top + 1]
        prob[: top + score + 1] *= 0.5
        top += score
    return prob


def rank_sum_distribution(scores: Sequence[int], m: int) -> np.ndarray:
    """P(T = t), t = 0..sum(scores), T the sum of m scores drawn without replacement.

    Scores must be non-negative integers; every one of the C(N, m) subsets is
    equally likely (the permutation distribution given the data). The shift
    algorithm adds the scores in increasing order, keeping for each j <= m the
    distribution of the sum of a random j-subset of those seen, over the band of
    sums it can reach; j-subsets that can no longer grow to m are dropped.
    """
    scores = np.sort(np.asarray(scores, dtype=np.int64))
    n = len(scores)
    total = int(scores.sum())
    if m > n - m:  # the complement's sum is total - T
        return rank_sum_distribution(scores, n - m)[::-1].copy()
    prefix = np.concatenate([[0], np.cumsum(scores)])  # prefix[j]: the j smallest
    # Row j holds sums prefix[j] .. prefix[n] - prefix[n - j]; `used[j]` of them so far.
    rows = [np.zeros(int(prefix[n] - prefix[n - j] - prefix[j]) + 1) for j in range(m + 1)]
    used = np.zeros(m + 1, dtype=np.int64)
    rows[0][0], used[0] = 1.0, 1
    for i, score in enumerate(scores, start=1):
        for j in range(min(i, m), max(m - (n - i), 1) - 1, -1):
            # p_i(j, s) = (i - j)/i p_(i-1)(j, s) + j/i p_(i-1)(j - 1, s - score)
            row, below = rows[j], rows[j - 1][: used[j - 1]]
            row[: used[j]] *= (i - j) / i
            shift = int(score - scores[j - 1])
            row[shift : shift + len(below)] += below * (j / i)
            used[j] = max(used[j], shift + len(below))
    out = np.zeros(total + 1)
    out[prefix[m] : prefix[m] + len(rows[m])] = rows[m]
    return out


def _signed_rank_exact_p(ranks: np.ndarray, v: float) -> float:
    doubled = np.rint(2 * ranks).astype(np.int64)
    return _two_sided(signed_rank_distribution(doubled), round(2 * v), int(doubled.sum()) / 2)


def _rank_sum_exact_p(ranks: np.ndarray, n_x: int) -> float:
    doubled = np.rint(2 * ranks).astype(np.int64)
    t = int(doubled[:n_x].sum())
    expected = n_x * int(doubled.sum()) / len(doubled)
    return _two_sided(rank_sum_distribution(doubled, n_x), t, expected)


def _two_sided(prob: np.ndarray, t: int, expected: float) -> float:
    """P(|T - E| >= |t - E|) on the integer grid of T, capped at 1."""
    deviation = abs(t - expected)
    grid = np.arange(len(prob))
    extreme = np.abs(grid - expected) >= deviation - 1e-9
    return float(min(1.0, prob[extreme].sum()))


def _normal_p(z: float, var: float, continuity: bool) -> float:
    # var > 0: signed rank always; rank sum unless every value is tied (refused).
    correction = 0.5 * np.sign(z) if continuity else 0.0
    return float(2 * stats.norm.sf(abs((z - correction) / np.sqrt(var))))


def _tie_sizes(ranks: np.ndarray) -> np.ndarray:
    """Sizes of the groups of tied ranks (groups of one left out)."""
    _, counts = np.unique(ranks, return_counts=True)
    return counts[counts > 1].astype(float)


def _use_exact(mode: str | None, by_default: bool) -> bool:
    return by_default if mode is None else mode == "exact"


def _check_mode(mode: str | None) -> None:
    if mode not in MODES:
        raise InvalidValueError(
            f"mode {mode!r} is not known; use None (R's default), 'exact' or 'approx'"
        )


def _fallback(large: bool, ties: np.ndarray, zeros: int) -> list[str]:
    """Why R's default would not be exact."""
    return [
        reason
        for reason, applies in (("n >= 50", large), ("ties", ties.size), ("zeros", zeros))
        if applies
    ]


def _method(
    name: str,
    *,
    exact: bool,
    continuity: bool,
    mode: str | None,
    reasons: list[str],
    zeros: int,
    ties: np.ndarray,
) -> str:
    notes = []
    if not exact:
        because = f" because of {' and '.join(reasons)}" if mode is None and reasons else ""
        notes.append(f"normal approximation{because}")
        if not continuity:
            notes.append("no continuity correction")
    if zeros:
        notes.append(f"{zeros} zero difference{'s' if zeros > 1 else ''} dropped")
    if ties.size:
        notes.append(
            f"ties: {int(ties.sum())} values in {ties.size} group{'s' if ties.size > 1 else ''}, "
            f"mid-ranks, {'exact conditional distribution' if exact else 'tie-corrected variance'}"
        )
    head = f"{name} {'exact test' if exact else 'test'}"
    if not exact and continuity:
        head += " with continuity correction"
    return f"{head} ({'; '.join(notes)})" if notes else head


def _options(mode: str | None, continuity: bool) -> dict:
    return {
        "mode": mode,
        "continuity": continuity,
        "alternative": ALTERNATIVE,
        "conf_level": CONF_LEVEL,
    }


def _median_walsh(d: np.ndarray) -> float:
    upper = np.triu_indices(len(d))
    return float(np.median((d[upper[0]] + d[upper[1]]) / 2))


def _walsh_interval(d: np.ndarray) -> tuple[float, float]:
    """R's exact wilcox.test interval: Walsh averages at qsignrank order statistics."""
    n = len(d)
    upper = np.triu_indices(n)
    walsh = np.sort((d[upper[0]] + d[upper[1]]) / 2)
    cdf = np.cumsum(signed_rank_distribution(np.arange(1, n + 1)))
    lower = max(_quantile(cdf, (1 - CONF_LEVEL) / 2), 1)
    upper_index = n * (n + 1) // 2 - lower
    return float(walsh[lower - 1]), float(walsh[upper_index])


def _difference_interval(differences: np.ndarray, n_x: int, n_y: int) -> tuple[float, float]:
    """R's exact wilcox.test interval: x_i - y_j at qwilcox order statistics."""
    diffs = np.sort(differences)
    scores = np.arange(1, n_x + n_y + 1)
    # Rank sums of x run from n_x (n_x + 1) / 2; shift to U = 0..n_x n_y.
    prob = rank_sum_distribution(scores, n_x)[n_x * (n_x + 1) // 2 :]
    lower = max(_quantile(np.cumsum(prob), (1 - CONF_LEVEL) / 2), 1)
    upper_index = n_x * n_y - lower
    return float(diffs[lower - 1]), float(diffs[upper_index])


def _quantile(cdf: np.ndarray, p: float) -> int:
    """R's qsignrank/qwilcox for p <= 0.5: the first q with P(T <= q) >= p (with R's slack)."""
    return int(np.argmax(cdf >= p - 10 * np.finfo(float).eps))


def _fisher_interval(r: float, se: float) -> tuple[float, float]:
    """effectsize's interval: tanh(atanh(r) -/+ z se); |r| = 1 gives [r, r]."""
    if abs(r) >= 1:
        return float(r), float(r)
    z = stats.norm.ppf(1 - (1 - CONF_LEVEL) / 2)
    centre = np.arctanh(r)
    return float(np.tanh(centre - z * se)), float(np.tanh(centre + z * se))
