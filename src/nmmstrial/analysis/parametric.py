"""Paired, Welch and Student t tests with Hedges' g, as R's t.test and effectsize.

Hedges' g follows effectsize::hedges_g: paired, g_z = mean(d) / sd(d) on the
differences d = x - y (`hedges_g(x, y, paired = TRUE)`); two samples, the mean
difference over the pooled SD, for Welch's test too (`pooled_sd = TRUE`). The
small-sample factor is the exact gamma one, J = Γ(df/2) / (√(df/2) Γ((df-1)/2)),
and the 95 % interval is the noncentral-t one: the noncentrality parameters that
put the observed t at the 97.5 % and 2.5 % quantiles, scaled by √(1/n) (paired)
or √(1/n_x + 1/n_y), times J. effectsize finds them with optim to about 1e-9;
here they are roots found to machine precision (NaN where scipy's noncentral t
fails, |t| in the millions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import optimize, special, stats

from ..errors import InvalidValueError
from .results import ALTERNATIVE, CONF_LEVEL, TestResult, paired_values, two_sample_values

OPTIONS = {"mode": None, "continuity": None, "alternative": ALTERNATIVE, "conf_level": CONF_LEVEL}


def paired_t(x: Sequence[float], y: Sequence[float]) -> TestResult:
    """Paired t test of d = x - y, as R's t.test(x, y, paired = TRUE).

    Returns a TestResult: statistic t, df = n - 1, p, n (pairs), estimate mean(d),
    its 95 % ci, hedges_g (g_z) and hedges_g_ci.

    Example:
        >>> r = paired_t([1.9, 0.8, 1.1, 0.1, -0.1], [0.7, -1.6, -0.2, -1.2, -0.1])
        >>> round(r.statistic, 4), r.df, round(r.estimate, 2)
        (3.2609, 4.0, 1.24)
    """
    x, y = paired_values(x, y)
    d = x - y
    n = len(d)
    sd = float(np.std(d, ddof=1))
    if sd == 0:
        raise InvalidValueError(
            f"paired t test: every difference x - y is {d[0]:g}; the differences must vary"
        )
    estimate = float(d.mean())
    se = sd / np.sqrt(n)
    g, g_ci = _hedges_g(estimate / se, estimate / sd, n - 1, 1 / n)
    return _t_result("paired-t", "Paired t-test", estimate, se, n - 1, n, g, g_ci)


def welch_t(x: Sequence[float], y: Sequence[float]) -> TestResult:
    """Welch's t test of x against y, as R's t.test(x, y) (unequal variances).

    df is Welch-Satterthwaite's; hedges_g uses the pooled SD (effectsize's default).
    """
    x, y = two_sample_values(x, y)
    vx, vy = np.var(x, ddof=1) / len(x), np.var(y, ddof=1) / len(y)
    se = float(np.sqrt(vx + vy))
    if se == 0:
        raise InvalidValueError(
            "Welch t test: both groups are constant; the values must vary within a group"
        )
    df = float((vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1)))
    estimate = float(x.mean() - y.mean())
    g, g_ci = _pooled_g(x, y, estimate)
    return _t_result(
        "welch", "Welch Two Sample t-test", estimate, se, df, len(x) + len(y), g, g_ci, x, y
    )


def student_t(x: Sequence[float], y: Sequence[float]) -> TestResult:
    """Student's t test of x against y with pooled variance, as R's t.test(var.equal = TRUE)."""
    x, y = two_sample_values(x, y)
    estimate = float(x.mean() - y.mean())
    g, g_ci = _pooled_g(x, y, estimate)
    se = _pooled_sd(x, y) * np.sqrt(1 / len(x) + 1 / len(y))
    df = len(x) + len(y) - 2
    return _t_result(
        "student", "Two Sample t-test", estimate, se, df, len(x) + len(y), g, g_ci, x, y
    )


def _pooled_sd(x: np.ndarray, y: np.ndarray) -> float:
    ss = np.sum((x - x.mean()) ** 2) + np.sum((y - y.mean()) ** 2)
    sd = float(np.sqrt(ss / (len(x) + len(y) - 2)))
    if sd == 0:
        raise InvalidValueError(
            "t test: both groups are constant; the values must vary within a group"
        )
    return sd


def _pooled_g(x: np.ndarray, y: np.ndarray, estimate: float) -> tuple[float, tuple]:
    sd = _pooled_sd(x, y)
    scale = 1 / len(x) + 1 / len(y)
    return _hedges_g(estimate / (sd * np.sqrt(scale)), estimate / sd, len(x) + len(y) - 2, scale)


def _hedges_g(t: float, d: float, df: float, scale: float) -> tuple[float, tuple[float, float]]:
    """g = J d and its noncentral-t interval, as effectsize (see the module docstring)."""
    half_df = df / 2
    j = float(
        np.exp(special.gammaln(half_df) - np.log(np.sqrt(half_df)) - special.gammaln(half_df - 0.5))
    )
    alpha = 1 - CONF_LEVEL
    low, high = (_ncp_for(t, df, q) for q in (1 - alpha / 2, alpha / 2))
    root = np.sqrt(scale)
    return j * d, (j * low * root, j * high * root)


def _ncp_for(t: float, df: float, prob: float) -> float:
    """The noncentrality parameter at which P(T <= t) = prob (decreasing in it).

    NaN when scipy cannot evaluate the noncentral t there (|t| in the millions,
    differences that barely vary).
    """

    def gap(ncp: float) -> float:
        return float(stats.nct.cdf(t, df, ncp)) - prob

    step = 1.0
    while not (gap(t - step) >= 0 >= gap(t + step)):
        if np.isnan(gap(t - step)) or np.isnan(gap(t + step)):
            return np.nan
        step *= 2
    try:
        return float(optimize.brentq(gap, t - step, t + step, xtol=1e-14, rtol=1e-14, maxiter=500))
    except ValueError:  # scipy's noncentral t gave NaN inside the bracket
        return np.nan


def _t_result(
    test: str,
    method: str,
    estimate: float,
    se: float,
    df: float,
    n: int,
    g: float,
    g_ci: tuple[float, float],
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
) -> TestResult:
    statistic = estimate / se
    half = stats.t.ppf(1 - (1 - CONF_LEVEL) / 2, df) * se
    return TestResult(
        test=test,
        method=method,
        statistic=float(statistic),
        df=float(df),
        p=float(2 * stats.t.sf(abs(statistic), df)),
        n=n,
        n_x=None if x is None else len(x),
        n_y=None if y is None else len(y),
        options=dict(OPTIONS),
        estimate=estimate,
        ci=(float(estimate - half), float(estimate + half)),
        hedges_g=float(g),
        hedges_g_ci=(float(g_ci[0]), float(g_ci[1])),
    )
