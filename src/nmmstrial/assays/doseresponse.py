"""Log-logistic dose-response fits (drc's LL.4 and LL.3) with honest intervals, and arm tests.

Model (drc): f(x) = c + (d - c) / (1 + exp(b (ln x - ln e))), e = EC50. GraphPad's
"log(agonist) vs response, variable slope" is the same curve with Bottom = c,
Top = d, LogEC50 = log10 e and HillSlope = -b: a rising (agonist) curve has b < 0
and a positive Hill slope. Dose 0 is a control: f(0) = d when b > 0, c when b < 0.

Standard errors are drc's by default: vcov = s^2 (H / 2)^-1 with H the Hessian of
the residual sum of squares at the optimum and s^2 = RSS / df. nls's
s^2 (J'J)^-1 (`se="nls"`) drops the curvature term and differs by up to ~13 %.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from ..analysis.data import require_columns
from ..errors import InvalidValueError

MODELS = ("ll4", "ll3")
SE_METHODS = ("drc", "nls")
FLAGS = (
    "lower_plateau_not_identified",
    "ec50_outside_range",
    "ed10_outside_range",
    "ed90_outside_range",
)
KINDS = ("b", "c", "d", "loge")


@dataclass(frozen=True)
class _Layout:
    """Which parameter column each observation's b, c, d, ln e comes from (-1: fixed)."""

    names: tuple[str, ...]
    index: dict[str, np.ndarray]
    fixed: dict[str, float]


def _layout(n: int, names: Sequence[str], fixed: dict[str, float], groups=None) -> _Layout:
    """Columns for `names`; `loge:<g>` names one EC50 per level of `groups`."""
    index = {}
    for kind in KINDS:
        if kind in fixed:
            index[kind] = np.full(n, -1)
        elif kind in names:
            index[kind] = np.full(n, list(names).index(kind))
        else:
            columns = [i for i, name in enumerate(names) if name.startswith(kind + ":")]
            index[kind] = np.asarray(columns)[groups]
    return _Layout(tuple(names), index, dict(fixed))


def _values(theta: np.ndarray, layout: _Layout, kind: str) -> np.ndarray:
    idx = layout.index[kind]
    return np.where(idx >= 0, theta[np.maximum(idx, 0)], layout.fixed.get(kind, 0.0))


def _predict(theta: np.ndarray, x: np.ndarray, layout: _Layout) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and their Jacobian in the fitted parameters (ln e, not e)."""
    b, c, d, loge = (_values(theta, layout, k) for k in KINDS)
    positive = x > 0
    logx = np.log(np.where(positive, x, 1.0))
    shift = np.where(positive, logx - loge, -np.inf)
    with np.errstate(invalid="ignore", over="ignore"):
        g = special.expit(-b * shift)
    slope = g * (1 - g)
    partial = {
        "b": np.where(positive, -(d - c) * slope * np.where(positive, shift, 0.0), 0.0),
        "c": 1 - g,
        "d": g,
        "loge": (d - c) * slope * b,
    }
    f = c + (d - c) * g
    jac = np.zeros((x.size, len(theta)))
    rows = np.arange(x.size)
    for kind in KINDS:
        idx = layout.index[kind]
        used = idx >= 0
        np.add.at(jac, (rows[used], idx[used]), partial[kind][used])
    return f, jac


def _rss_gradient(theta, x, y, layout) -> np.ndarray:
    f, jac = _predict(theta, x, layout)
    return -2 * jac.T @ (y - f)


def _hessian(theta, x, y, layout) -> np.ndarray:
    """Hessian of the RSS by central differences of its analytic gradient."""
    p = len(theta)
    out = np.empty((p, p))
    for j in range(p):
        step = 1e-5 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        out[:, j] = (_rss_gradient(up, x, y, layout) - _rss_gradient(down, x, y, layout)) / (
            2 * step
        )
    return (out + out.T) / 2


def _bounds(layout: _Layout, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|b| <= 100 and EC50 within 1000x of the tested positive doses; plateaus free."""
    positive = x[x > 0]
    low_e, high_e = math.log(positive.min() / 1e3), math.log(positive.max() * 1e3)
    lower, upper = [], []
    for name in layout.names:
        kind = name.split(":")[0]
        if kind == "b":
            lower.append(-100.0), upper.append(100.0)
        elif kind == "loge":
            lower.append(low_e), upper.append(high_e)
        else:
            lower.append(-np.inf), upper.append(np.inf)
    return np.array(lower), np.array(upper)


def _least_squares(residual, jacobian, starts, lower, upper) -> tuple[np.ndarray, float]:
    """Least squares from each start; the best converged solution strictly inside the bounds."""
    best = None
    for start in starts:
        start = np.clip(np.asarray(start, dtype=float), lower + 1e-6, upper - 1e-6)
        try:
            fit = optimize.least_squares(
                residual,
                start,
                jac=jacobian,
                bounds=(lower, upper),
                method="trf",
                x_scale="jac",
                xtol=1e-14,
                ftol=1e-14,
                gtol=1e-14,
                max_nfev=5000,
            )
        except (ValueError, np.linalg.LinAlgError):
            continue
        if fit.status <= 0 or not np.all(np.isfinite(fit.x)):
            continue
        gap = np.minimum(fit.x - lower, upper - fit.x)
        if np.any(gap < 1e-4 * np.maximum(1.0, np.abs(fit.x))):
            continue
        rss = float(np.sum(fit.fun**2))
        if best is None or rss < best[1]:
            best = (fit.x, rss)
    if best is None:
        return None, math.nan
    return best


def _solve(x, y, layout, starts) -> tuple[np.ndarray, float]:
    lower, upper = _bounds(layout, x)
    return _least_squares(
        lambda t: y - _predict(t, x, layout)[0],
        lambda t: -_predict(t, x, layout)[1],
        starts,
        lower,
        upper,
    )


def _starts(x: np.ndarray, y: np.ndarray, fixed_c: float | None) -> list[np.ndarray]:
    """Plateaus from the lowest and highest doses, slope and EC50 from a logit regression."""
    doses = np.unique(x)
    low = float(y[x == doses[0]].mean())
    high = float(y[x == doses[-1]].mean())
    rising = high > low
    spread = abs(high - low) or float(np.ptp(y)) or 1.0
    c0 = low if rising else high
    d0 = high if rising else low
    # plateaus a little beyond the extreme means, so every response lies between them
    outward = 0.05 * spread * (1 if d0 > c0 else -1)
    c0 = fixed_c if fixed_c is not None else c0 - outward
    d0 += outward
    positive = x > 0
    share = (y[positive] - c0) / (d0 - c0)
    inside = (share > 0.02) & (share < 0.98)
    b0, loge0 = (-1.0 if rising else 1.0), float(np.median(np.log(x[positive])))
    if inside.sum() >= 2 and np.ptp(np.log(x[positive][inside])) > 0:
        z = np.log((1 - share[inside]) / share[inside])
        slope, intercept = np.polyfit(np.log(x[positive][inside]), z, 1)
        if slope != 0 and np.isfinite(slope):
            b0, loge0 = float(slope), float(-intercept / slope)
    loge0 = float(np.clip(loge0, np.log(x[positive].min()), np.log(x[positive].max())))
    out = []
    for b in (b0, 2 * b0, b0 / 2, (-1.0 if rising else 1.0)):
        for loge in (loge0, float(np.median(np.log(x[positive])))):
            theta = [b, d0, loge] if fixed_c is not None else [b, c0, d0, loge]
            out.append(np.array(theta))
    return out


@dataclass(frozen=True)
class _Fit:
    theta: np.ndarray
    rss: float
    df: int
    vcov: np.ndarray
    names: tuple[str, ...]


def _fit(x, y, layout, starts, *, se: str, what: str) -> _Fit:
    theta, rss = _solve(x, y, layout, starts)
    if theta is None:
        raise InvalidValueError(
            f"{what}: the fit did not converge (no least-squares optimum with a finite EC50 "
            "within 1000x of the tested doses and |b| < 100); check the doses and responses"
        )
    df = x.size - theta.size
    sigma2 = rss / df
    if se == "drc":
        matrix = _hessian(theta, x, y, layout) / 2
    else:
        jac = _predict(theta, x, layout)[1]
        matrix = jac.T @ jac
    try:
        vcov = sigma2 * np.linalg.inv(matrix)
        finite = np.all(np.isfinite(vcov)) and np.all(np.diag(vcov) > 0)
    except np.linalg.LinAlgError:
        finite = False
    if not finite:
        raise InvalidValueError(
            f"{what}: the fit did not converge (the curvature at the optimum is singular: "
            "a parameter is not determined by these data)"
        )
    _check_determined(theta, vcov, layout.names, what)
    return _Fit(theta, rss, df, vcov, layout.names)


# Beyond these SEs an estimate says nothing: |b| is bounded by 100, and an SE of 10 on
# ln e puts the EC50's 95 % interval across more than 17 orders of magnitude.
_UNDETERMINED_SE = {"b": 100.0, "loge": 10.0}


def _check_determined(theta, vcov, names, what: str) -> None:
    """Refuse an optimum whose slope or EC50 the data leave undetermined (a flat curve)."""
    for i, name in enumerate(names):
        kind = name.split(":")[0]
        se = math.sqrt(vcov[i, i])
        if kind in _UNDETERMINED_SE and se > _UNDETERMINED_SE[kind]:
            shown = "EC50" if kind == "loge" else "slope b"
            value = math.exp(theta[i]) if kind == "loge" else theta[i]
            raise InvalidValueError(
                f"{what}: the fit did not converge to a curve: the {shown} ({value:.4g}) is "
                f"not determined by these data (SE of {'ln e' if kind == 'loge' else 'b'} "
                f"{se:.3g}); is there a dose-response at all?"
            )


def _profile_ci(
    x, y, fit: _Fit, fixed_c: float | None, level: float, p: float = 50
) -> list[float | None]:
    """Profile-likelihood CI for ED_p: ln ED_p where (RSS_profile - RSS) / s^2 = t^2
    (confint.nls). ln e = ln ED_p - ln(p / (100 - p)) / |b| while the other parameters
    are refitted; for p != 50 the slope keeps its sign (ED_p counts from the zero-dose
    plateau, which a sign change would swap).

    A limit the profile does not cross continuously within 1000x of the doses is None.
    """
    s2 = fit.rss / fit.df
    target = fit.rss + s2 * stats.t.ppf((1 + level) / 2, fit.df) ** 2
    k = math.log(p / (100 - p))
    names = ["b", "d", "loge"] if fixed_c is not None else ["b", "c", "d", "loge"]
    layout = _layout(x.size, names, {} if fixed_c is None else {"c": fixed_c})
    lower, upper = (bound[:-1].copy() for bound in _bounds(layout, x))
    rest = fit.theta[:-1]
    sign = 1.0 if rest[0] > 0 else -1.0
    if k != 0:
        lower[0], upper[0] = (1e-3, upper[0]) if sign > 0 else (lower[0], -1e-3)
    cache = {"theta": rest.copy()}

    def excess(led: float) -> float:
        def theta_of(r):
            return np.append(r, led - k / abs(r[0]))

        def jacobian(r):
            jac = _predict(theta_of(r), x, layout)[1]
            out = jac[:, :-1].copy()
            out[:, 0] += jac[:, -1] * k * sign / r[0] ** 2  # ln e moves with b
            return -out

        def residual(r):
            return y - _predict(theta_of(r), x, layout)[0]

        # warm start from the neighbouring profile point, as R's profiler does
        theta, rss = _least_squares(residual, jacobian, [cache["theta"]], lower, upper)
        if theta is None:
            theta, rss = _least_squares(residual, jacobian, [rest], lower, upper)
        if theta is None:
            return math.inf
        cache["theta"] = theta
        return rss - target

    led_hat = float(fit.theta[-1]) + k / abs(rest[0])
    step = max(_se_log_effective_dose(fit, p), 0.01)
    low_e, high_e = math.log(x[x > 0].min() / 1e3), math.log(x[x > 0].max() * 1e3)
    out: list[float | None] = []
    for direction in (-1, 1):
        cache["theta"] = rest.copy()
        inner, outer = led_hat, led_hat + direction * step
        found = None
        while low_e < outer < high_e:
            value = excess(outer)
            if value > 0:
                if math.isfinite(value):
                    # a jump across the limit (the slope running to a step between two
                    # doses) is not a crossing: R's profile reports NA there too
                    with contextlib.suppress(ValueError):  # no sign change on refitting
                        root = optimize.brentq(
                            excess, min(inner, outer), max(inner, outer), xtol=1e-10
                        )
                        if abs(excess(root)) < 1e-3 * s2:
                            found = root
                break
            inner, outer = outer, outer + direction * step
            step *= 1.6
        out.append(math.exp(found) if found is not None else None)
    return out


def _se_log_effective_dose(fit: _Fit, p: float) -> float:
    """SE of ln ED_p by the delta method: ln ED_p = ln e + ln(p / (100 - p)) / |b|."""
    b = fit.theta[0]
    k = math.log(p / (100 - p))
    gradient = np.zeros(fit.theta.size)
    gradient[0] = -k * math.copysign(1.0, b) / b**2
    gradient[-1] = 1.0
    return float(math.sqrt(gradient @ fit.vcov @ gradient))


def _effective_dose_intervals(x, y, fit: _Fit, fixed_c, p: float, t: float, level: float) -> dict:
    """ED_p with its Wald (natural scale), log-scale and profile-likelihood intervals."""
    b, loge = fit.theta[0], fit.theta[-1]
    ed = _effective_dose(math.exp(loge), b, p)
    se_log = _se_log_effective_dose(fit, p)
    se = ed * se_log
    return {
        "se": se,
        "ci_wald": [float(ed - t * se), float(ed + t * se)],
        "ci_log": [
            _exp_or_none(math.log(ed) - t * se_log),
            _exp_or_none(math.log(ed) + t * se_log),
        ],
        "ci_profile": _profile_ci(x, y, fit, fixed_c, level, p),
    }


def _exp_or_none(value: float) -> float | None:
    """exp, or None where it is not a number (an interval too wide to state)."""
    return math.exp(value) if value < 700 else None


def _effective_dose(e: float, b: float, p: float) -> float:
    """Dose giving p % of the effect from the zero-dose plateau, whatever the direction.

    Equals drc's ED(type = "relative") for b > 0; for a rising curve (b < 0) drc
    counts from the other plateau, which would swap ED10 and ED90.
    """
    return e * (p / (100 - p)) ** (1 / abs(b))


def _check_negative(x: np.ndarray, conc: str, source: str) -> None:
    negative = np.flatnonzero(x < 0)
    if negative.size:
        row = int(negative[0])
        raise InvalidValueError(
            f"{source}, row {row + 1}, column {conc}: dose {x[row]:g} is negative; a "
            "log-logistic model needs doses >= 0 (0 for controls)"
        )


def _check_doses(x: np.ndarray, conc: str, source: str) -> None:
    _check_negative(x, conc, source)
    if np.unique(x[x > 0]).size < 3:
        raise InvalidValueError(
            f"{source}, column {conc}: {np.unique(x[x > 0]).size} distinct positive doses; "
            "a dose-response fit needs at least 3"
        )


def fit_curve(
    x: Sequence[float],
    y: Sequence[float],
    *,
    model: str | None = None,
    se: str = "drc",
    level: float = 0.95,
    conc: str = "dose",
    source: str = "data",
) -> dict:
    """Fit one curve: LL.4, falling back to LL.3 (c = 0) when c is not identified.

    c is "not identified" when its SE is at least |c| (the data cannot tell it from
    0). With `model=None` the LL.3 fit is then returned (model "ll3", the flag
    `lower_plateau_not_identified` and a `note` saying so); `model="ll4"` keeps LL.4
    and flags it; `model="ll3"` fits LL.3 only. EC50, ED10 and ED90 intervals: Wald
    on the natural scale (ED +/- t SE, drc's "delta"), on the log scale (exp(ln ED +/-
    t SE(ln ED)), GraphPad's), and the profile likelihood (None where the profile does
    not reach the limit within 1000x of the doses). `*_outside_range` flags an
    estimate outside the positive doses tested.
    """
    if model is not None and model not in MODELS:
        raise InvalidValueError(f"model {model!r}: use one of {', '.join(MODELS)}")
    if se not in SE_METHODS:
        raise InvalidValueError(f"se {se!r}: use one of {', '.join(SE_METHODS)}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    _check_doses(x, conc, source)
    if x.size != y.size or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InvalidValueError(f"{source}: doses and responses must be finite pairs")
    if np.ptp(y) == 0:
        raise InvalidValueError(f"{source}: every response is {y[0]:g}; there is no curve to fit")
    flags: list[str] = []
    note = None
    if model == "ll3":
        fit, fixed_c = _fit_model(x, y, "ll3", se, source), 0.0
    else:
        try:
            fit, fixed_c = _fit_model(x, y, "ll4", se, source), None
            c, se_c = fit.theta[1], math.sqrt(fit.vcov[1, 1])
            identified = se_c < abs(c)
            failure = None
        except InvalidValueError as error:
            if model == "ll4":
                raise
            identified, failure = False, str(error)
        if not identified:
            flags.append("lower_plateau_not_identified")
            if model is None:
                why = failure or f"c = {c:.4g} with SE {se_c:.4g} >= |c|"
                note = f"LL.4's lower plateau is not identified ({why}); LL.3 (c = 0) fitted"
                try:
                    fit, fixed_c = _fit_model(x, y, "ll3", se, source), 0.0
                except InvalidValueError as error:
                    raise InvalidValueError(
                        f"{error}; LL.4 did not give an identified fit either ({why})"
                    ) from error
    return _curve_row(x, y, fit, fixed_c, flags, note, se=se, level=level)


def _fit_model(x, y, model, se, source) -> _Fit:
    fixed_c = 0.0 if model == "ll3" else None
    names = ["b", "d", "loge"] if fixed_c is not None else ["b", "c", "d", "loge"]
    if x.size <= len(names):
        raise InvalidValueError(
            f"{source}: {x.size} points for {len(names)} parameters; {model} needs more"
        )
    fixed = {"c": 0.0} if fixed_c is not None else {}
    layout = _layout(x.size, names, fixed)
    return _fit(x, y, layout, _starts(x, y, fixed_c), se=se, what=f"{source}: {model}")


def _curve_row(x, y, fit: _Fit, fixed_c, flags, note, *, se, level) -> dict:
    theta = fit.theta
    if fixed_c is None:
        b, c, d, loge = theta
        se_b, se_c, se_d, se_loge = np.sqrt(np.diag(fit.vcov))
    else:
        b, d, loge = theta
        c, se_c = fixed_c, None
        se_b, se_d, se_loge = np.sqrt(np.diag(fit.vcov))
    e = math.exp(loge)
    t = stats.t.ppf((1 + level) / 2, fit.df)
    doses = {"ec50": 50, "ed10": 10, "ed90": 90}
    estimates = {name: _effective_dose(e, b, p) for name, p in doses.items()}
    tested = x[x > 0]
    for name, value in estimates.items():
        if not tested.min() <= value <= tested.max():
            flags.append(f"{name}_outside_range")
    intervals = {}
    for name, p in doses.items():
        row = _effective_dose_intervals(x, y, fit, fixed_c, p, t, level)
        if name != "ec50":
            intervals[f"{name}_se"] = row["se"]
        for kind in ("wald", "log", "profile"):
            intervals[f"{name}_ci_{kind}"] = row[f"ci_{kind}"]
    return {
        "model": "ll3" if fixed_c is not None else "ll4",
        "n": int(x.size),
        "df": fit.df,
        "rss": fit.rss,
        "rse": math.sqrt(fit.rss / fit.df),
        "b": float(b),
        "c": float(c),
        "d": float(d),
        "e": float(e),
        "se_b": float(se_b),
        "se_c": None if se_c is None else float(se_c),
        "se_d": float(se_d),
        "se_e": float(e * se_loge),
        "se_method": se,
        "ec50": e,
        "ed10": float(estimates["ed10"]),
        "ed90": float(estimates["ed90"]),
        **intervals,
        "bottom": float(c),
        "top": float(d),
        "hill_slope": float(-b),
        "log_ec50": float(loge / math.log(10)),
        "flags": flags,
        "note": note,
    }


def _numbers(data: pd.DataFrame, column: str, source: str) -> np.ndarray:
    values = pd.to_numeric(data[column], errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise InvalidValueError(
            f"{source}, row {row + 1}, column {column}: {data[column].iloc[row]!r} is not a number"
        )
    return values.to_numpy(dtype=float)


def fit_dose_response(
    data: pd.DataFrame,
    conc: str,
    response: str,
    *,
    curve: str | None = None,
    model: str | None = None,
    se: str = "drc",
    level: float = 0.95,
    source: str = "data",
) -> list[dict]:
    """One `fit_curve` row per level of `curve` (or one for all rows), with `curve` set.

    Rows are numbered from 1 in the data (the CSV's header is not counted).
    """
    require_columns(data, [conc, response, *([curve] if curve else [])], source=source)
    x = _numbers(data, conc, source)
    y = _numbers(data, response, source)
    _check_negative(x, conc, source)
    options = {"model": model, "se": se, "level": level, "conc": conc}
    if curve is None:
        return [{"curve": None, **fit_curve(x, y, source=source, **options)}]
    labels = data[curve].to_numpy()
    return [
        {
            "curve": str(label),
            **fit_curve(
                x[labels == label],
                y[labels == label],
                source=f"{source}, {curve} {label}",
                **options,
            ),
        }
        for label in pd.unique(labels)
    ]


# --- comparing arms ------------------------------------------------------------------


def compare_ec50_per_oocyte(fits: pd.DataFrame, arm: str, value: str = "ec50", levels=None):
    """The paper's test: Mann-Whitney on per-oocyte EC50s, oocytes counted as independent.

    Kept to reproduce the paper; it ignores that oocytes share a patient (see
    `mixed_log_model`). Returns the `TestResult` of `nmmstrial.analysis.mann_whitney`
    of the first arm against the second.
    """
    from ..analysis import mann_whitney

    require_columns(fits, [arm, value], source="fits")
    arms = list(levels) if levels is not None else sorted(pd.unique(fits[arm]).tolist())
    if len(arms) != 2:
        raise InvalidValueError(f"column {arm}: {len(arms)} arms ({arms}); the test needs 2")
    values = pd.to_numeric(fits[value], errors="coerce")
    x = values[fits[arm] == arms[0]].dropna().to_numpy()
    y = values[fits[arm] == arms[1]].dropna().to_numpy()
    return mann_whitney(x, y)


def global_fit(
    data: pd.DataFrame,
    conc: str,
    response: str,
    arm: str,
    *,
    reference: str | None = None,
    level: float = 0.95,
    source: str = "data",
) -> dict:
    """Shared slope and plateaus, one EC50 per arm, against one curve for all (LL.4).

    The extra-sum-of-squares F test compares the two fits: F = ((RSS0 - RSS1) /
    (df0 - df1)) / (RSS1 / df1). Each arm's EC50 ratio to `reference` (the first arm
    sorted, by default) has a Wald CI on the log scale from drc-style SEs.
    Returns {b, c, d, ec50: {arm: e}, f, df1, df2, p, ratios: [{arm, reference,
    ratio, ci}]}.
    """
    require_columns(data, [conc, response, arm], source=source)
    x = _numbers(data, conc, source)
    y = _numbers(data, response, source)
    _check_doses(x, conc, source)
    labels = data[arm].astype(str).to_numpy()
    arms = sorted(pd.unique(labels).tolist())
    if reference is not None:
        if reference not in arms:
            raise InvalidValueError(f"reference arm {reference!r} not in {', '.join(arms)}")
        arms.remove(reference)
        arms.insert(0, reference)
    if len(arms) < 2:
        raise InvalidValueError(f"column {arm}: one arm only; a comparison needs 2 or more")
    groups = np.array([arms.index(a) for a in labels])
    single = _fit_model(x, y, "ll4", "drc", source)
    names = ["b", "c", "d", *[f"loge:{a}" for a in arms]]
    layout = _layout(x.size, names, {}, groups)
    start = single.theta
    starts = [np.concatenate([start[:3], np.full(len(arms), start[3])])]
    for a in range(len(arms)):
        mask = groups == a
        try:
            own = _fit_model(x[mask], y[mask], "ll4", "drc", source)
            starts[0][3 + a] = own.theta[3]
        except InvalidValueError:
            continue
    fit = _fit(x, y, layout, starts, se="drc", what=f"{source}: global fit")
    df1 = single.df - fit.df
    f_stat = ((single.rss - fit.rss) / df1) / (fit.rss / fit.df)
    t = stats.t.ppf((1 + level) / 2, fit.df)
    ratios = []
    for a in range(1, len(arms)):
        i, j = 3 + a, 3
        diff = fit.theta[i] - fit.theta[j]
        var = fit.vcov[i, i] + fit.vcov[j, j] - 2 * fit.vcov[i, j]
        half = t * math.sqrt(var)
        ratios.append(
            {
                "arm": arms[a],
                "reference": arms[0],
                "ratio": math.exp(diff),
                "ci": [math.exp(diff - half), math.exp(diff + half)],
            }
        )
    return {
        "b": float(fit.theta[0]),
        "c": float(fit.theta[1]),
        "d": float(fit.theta[2]),
        "ec50": {a: math.exp(fit.theta[3 + k]) for k, a in enumerate(arms)},
        "rss_shared_ec50": single.rss,
        "rss_arm_ec50": fit.rss,
        "f": float(f_stat),
        "df1": int(df1),
        "df2": int(fit.df),
        "p": float(stats.f.sf(f_stat, df1, fit.df)),
        "ratios": ratios,
    }


def mixed_log_model(
    table: pd.DataFrame,
    value: str,
    arm: str,
    patient: str,
    oocyte: str | None = None,
    *,
    levels: Sequence[str] | None = None,
):
    """Mixed model on log(value) (EC50 or peak magnitude) with oocytes nested in patients.

    Patients, not oocytes, are the experimental units: log(value) ~ arm with a random
    intercept per patient, and per oocyte within patient when an oocyte has several
    rows (sweeps). Peaks are taken as magnitudes (|peak|) so inward currents can be
    logged; a zero or missing value is refused, naming its row. Returns the
    `MixedModel` of `nmmstrial.analysis.mixed_model`, with the arm contrast on the
    log scale (its exp is the ratio of geometric means).
    """
    from ..analysis import mixed_model

    columns = [value, arm, patient, *([oocyte] if oocyte else [])]
    require_columns(table, columns, source="table")
    magnitude = np.abs(_numbers(table, value, "table"))
    zero = np.flatnonzero(magnitude == 0)
    if zero.size:
        raise InvalidValueError(f"table, row {int(zero[0]) + 1}, column {value}: 0 has no log")
    frame = table[columns].copy()
    frame["log_value"] = np.log(magnitude)
    nested = oocyte is not None and frame.groupby([patient, oocyte]).size().max() > 1
    group = f"{patient}/{oocyte}" if nested else patient
    return mixed_model(
        frame,
        f"log_value ~ {arm}",
        group,
        levels={arm: list(levels)} if levels is not None else None,
        contrast=arm,
        source="table",
    )
