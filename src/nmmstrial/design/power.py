"""Analytic sample size and power by the noncentral t and F distributions, as G*Power.

Effect sizes and noncentrality parameters follow G*Power 3.1 (and R's `pwr`):

- `paired-t` (one-sample t on the paired differences): d = d_z = delta / sd with `sd`
  the SD of the differences; df = n - 1, ncp = d sqrt(n); n counts pairs.
- `two-sample-t`: d = delta / sd (common SD); n per group, df = 2n - 2,
  ncp = d sqrt(n / 2).
- `rm-anova` (one group, k repeated measures): Cohen's f = delta / sd with `delta` the
  SD of the k visit means (divided by k); lambda = n k f^2 eps / (1 - rho),
  df1 = (k - 1) eps, df2 = (n - 1)(k - 1) eps (G*Power's "ANOVA: repeated measures,
  within factors" with its nonsphericity correction eps).
- `interaction` (2 x k within x within, e.g. arm x visit in a split-body trial):
  f = delta / sd with `delta` the SD of the 2k interaction effects
  (mu_ij - mu_i. - mu_.j + mu_..); lambda = n 2k f^2 eps / (1 - rho),
  df1 = (k - 1) eps, df2 = (n - 1)(k - 1) eps: the same univariate F, with the
  compound-symmetry correlation rho between all 2k cells.

t tests are two-sided and count both rejection tails (as `pwr` and G*Power); F tests
are upper-tailed. Give all but one of n, power and the effect; the missing one is
solved by Brent's method, so `n` is the exact real root before rounding up.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy import optimize, stats

from ..errors import InvalidValueError

__all__ = [
    "INFLATE",
    "TESTS",
    "PowerResult",
    "enrolment",
    "power_analysis",
    "power_of",
]

TESTS = ("paired-t", "two-sample-t", "rm-anova", "interaction")
INFLATE = ("divide", "multiply")
METHOD = {
    "paired-t": "noncentral t, df = n - 1, ncp = d sqrt(n); d = d_z (SD of differences)",
    "two-sample-t": "noncentral t, df = 2n - 2, ncp = d sqrt(n/2); n per group",
    "rm-anova": (
        "noncentral F, lambda = n k f^2 eps / (1 - rho), df1 = (k - 1) eps, "
        "df2 = (n - 1)(k - 1) eps; d is Cohen's f (G*Power, within factors)"
    ),
    "interaction": (
        "noncentral F, lambda = n 2k f^2 eps / (1 - rho), df1 = (k - 1) eps, "
        "df2 = (n - 1)(k - 1) eps; d is Cohen's f of the 2 x k within x within interaction"
    ),
}
N_MIN = 2.0 + 1e-9  # one df at least
N_MAX = 1e7
D_MAX = 1e3


@dataclass(frozen=True)
class PowerResult:
    """One solved design: the `design power --json` fields (dropout ones when asked)."""

    test: str
    n: float
    n_ceiling: int
    power: float
    d: float
    delta: float
    alpha: float
    method: str
    sd: float
    k: int | None = None
    eps: float | None = None
    rho: float | None = None
    dropout: float | None = None
    inflate: str | None = None
    n_enrol: int | None = None

    def to_dict(self) -> dict:
        """JSON-ready; the dropout fields only when a dropout rate was given."""
        out = asdict(self)
        for key in ("dropout", "inflate", "n_enrol", "k", "eps", "rho"):
            if out[key] is None:
                del out[key]
        return out


def power_of(
    test: str,
    d: float,
    n: float,
    alpha: float = 0.05,
    *,
    k: int = 4,
    eps: float = 1.0,
    rho: float = 0.5,
) -> float:
    """Power of `test` for effect `d` (d_z, d or Cohen's f) and `n` (real allowed)."""
    _check_test(test)
    if test == "paired-t":
        return _t_power(d * math.sqrt(n), n - 1, alpha)
    if test == "two-sample-t":
        return _t_power(d * math.sqrt(n / 2), 2 * n - 2, alpha)
    cells = k if test == "rm-anova" else 2 * k
    lam = n * cells * d**2 * eps / (1 - rho)
    df1 = (k - 1) * eps
    return _f_power(lam, df1, (n - 1) * df1, alpha)


def power_analysis(
    test: str,
    sd: float,
    *,
    delta: float | None = None,
    d: float | None = None,
    n: float | None = None,
    power: float | None = None,
    alpha: float = 0.05,
    k: int = 4,
    eps: float = 1.0,
    rho: float = 0.5,
    dropout: float | None = None,
    inflate: str = "divide",
) -> PowerResult:
    """Solve for whichever of n, power and effect is left out; d = delta / sd.

    `delta` and `d` are exclusive. With `dropout`, `n_enrol` inflates `n_ceiling`
    (see `enrolment`). Returns a PowerResult.

    Example (the paper: SD 4.9, 80 %, n = 11 implies d_z = 0.94, delta = 4.59):
        >>> r = power_analysis("paired-t", 4.9, n=11, power=0.8, dropout=0.4)
        >>> round(r.d, 3), round(r.delta, 2), r.n_enrol
        (0.938, 4.59, 19)
    """
    _check_test(test)
    _check_inputs(sd, alpha, k, eps, rho, power, n)
    if delta is not None and d is not None:
        raise InvalidValueError("give --delta or --d, not both")
    if delta is not None:
        d = delta / sd
    missing = [name for name, v in (("n", n), ("power", power), ("effect", d)) if v is None]
    if len(missing) != 1:
        raise InvalidValueError(
            "give all but one of n, power and the effect (--delta or --d); "
            + (f"missing: {', '.join(missing)}" if missing else "all three were given")
        )
    if d is not None and d <= 0:
        raise InvalidValueError(f"effect: d = {d:g}; it must be positive")
    shape = {"k": k, "eps": eps, "rho": rho}

    def at(d_value, n_value):
        return power_of(test, d_value, n_value, alpha, **shape)

    if n is None:
        high = _bracket(lambda x: at(d, x) >= power, 4.0, N_MAX, "n", power)
        n = _root(lambda x: at(d, x) - power, N_MIN, high) if at(d, N_MIN) < power else N_MIN
    elif power is None:
        power = at(d, n)
    else:
        if power <= alpha:  # d -> 0 gives power alpha
            raise InvalidValueError(f"power: {power} must exceed alpha ({alpha})")
        high = _bracket(lambda x: at(x, n) >= power, 0.5, D_MAX, "effect", power)
        d = _root(lambda x: at(x, n) - power, 1e-12, high)
    n_ceiling = math.ceil(n - 1e-9)
    extra = {} if test in ("paired-t", "two-sample-t") else shape
    result = PowerResult(
        test=test,
        n=float(n),
        n_ceiling=n_ceiling,
        power=float(power),
        d=float(d),
        delta=float(d * sd),
        alpha=alpha,
        method=METHOD[test],
        sd=sd,
        **extra,
    )
    if dropout is None:
        return result
    return PowerResult(
        **{
            **asdict(result),
            "dropout": dropout,
            "inflate": inflate,
            "n_enrol": enrolment(n_ceiling, dropout, inflate),
        }
    )


def enrolment(n: int, dropout: float, inflate: str = "divide") -> int:
    """Patients to enrol so `n` remain: ceil(n / (1 - R)) or, as the paper did, ceil(n (1 + R)).

    The paper's 11 with 40 % dropout: 19 by division, 16 by multiplication.
    """
    if inflate not in INFLATE:
        raise InvalidValueError(f"inflate: {inflate!r}; use divide or multiply")
    if not 0 <= dropout < 1:
        raise InvalidValueError(f"dropout: {dropout} must be in [0, 1)")
    raw = n / (1 - dropout) if inflate == "divide" else n * (1 + dropout)
    return math.ceil(round(raw, 9))


def _t_power(ncp: float, df: float, alpha: float) -> float:
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def _f_power(lam: float, df1: float, df2: float, alpha: float) -> float:
    crit = stats.f.ppf(1 - alpha, df1, df2)
    return float(stats.ncf.sf(crit, df1, df2, lam))


def _bracket(enough, start: float, limit: float, key: str, power: float) -> float:
    """Double `start` until it reaches `power`: scipy's noncentral t is NaN at huge ncp."""
    high = start
    while not enough(high):
        high *= 2
        if high > limit:
            raise InvalidValueError(f"{key}: none below {limit:g} gives power {power}")
    return high


def _root(func, low: float, high: float) -> float:
    return float(optimize.brentq(func, low, high, xtol=1e-12, rtol=1e-14, maxiter=500))


def _check_test(test: str) -> None:
    if test not in TESTS:
        raise InvalidValueError(f"test: {test!r} is not known; use one of {', '.join(TESTS)}")


def _check_inputs(sd, alpha, k, eps, rho, power, n) -> None:
    checks = [
        ("sd", sd > 0, f"{sd} must be positive"),
        ("alpha", 0 < alpha < 1, f"{alpha} must be in (0, 1)"),
        ("k", k >= 2, f"{k} visits; at least 2 are needed"),
        ("eps", 1 / max(k - 1, 1) <= eps <= 1, f"{eps} must be in [1/(k-1), 1]"),
        ("rho", -1 < rho < 1, f"{rho} must be in (-1, 1)"),
        ("power", power is None or 0 < power < 1, f"{power} must be in (0, 1)"),
        ("n", n is None or n >= 2, f"{n} is too small; at least 2 are needed"),
    ]
    for key, ok, message in checks:
        if not ok:
            raise InvalidValueError(f"{key}: {message}")
