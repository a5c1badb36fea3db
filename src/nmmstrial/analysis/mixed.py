"""Linear mixed models fitted by REML as lme4 does, tested as lmerTest, contrasted as emmeans.

The model is y = X beta + Z b + e with b = Lambda(theta) u, u ~ N(0, sigma^2 I) and
e ~ N(0, sigma^2 I): lme4's relative covariance factor Lambda, block diagonal with one
lower-triangular factor per random-effect term (diagonal entries >= 0, theta in
lme4's order). The profiled REML deviance is minimised over theta with its analytic
gradient (L-BFGS-B), then polished with Newton steps on its analytic Hessian, so the
estimates are the optimum to machine precision, not to an optimizer's tolerance.

Small-sample inference follows lmerTest 3.1 exactly: Satterthwaite df from the
Hessian of the REML deviance in (theta, sigma) and the Jacobian of vcov(beta)
(analytic here, numDeriv there), type 3 hypotheses built as lmerTest builds them,
and multi-df F denominators from its eigen-decomposition rule. Kenward-Roger follows
pbkrtest 0.5: the adjusted covariance of beta, Lb_ddf for one-df contrasts and the
scaled F of KRmodcomp. Everything is dense linear algebra in the dimension of the
random effects (q), which suits trials of hundreds to a few thousand observations.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, optimize, sparse, stats

from ..errors import InvalidValueError
from .data import levels as factor_levels
from .data import numeric, require_columns
from .formula import (
    Columns,
    Formula,
    coding,
    indicator_matrix,
    model_matrix,
    parse_formula,
    parse_terms,
)

DDF = ("satterthwaite", "kenward-roger")
_FIXED = ["term", "estimate", "se", "df", "t", "p"]
_ANOVA = ["term", "F", "df1", "df2", "p"]
_RANDOM = ["group", "var1", "var2", "vcov", "sdcor"]
_CONTRASTS = ["contrast", "estimate", "se", "df", "t", "p", "ci_low", "ci_high"]


@dataclass(frozen=True)
class MixedModel:
    """A REML fit: one row per fixed effect, type 3 test, variance component and contrast.

    `fixed`: term, estimate, se, df, t, p. `anova`: term, F, df1, df2, p.
    `random`: group, var1, var2, vcov, sdcor (as R's `as.data.frame(VarCorr(fit))`).
    `contrasts`: contrast, estimate, se, df, t, p, ci_low, ci_high (95 %).
    """

    fixed: pd.DataFrame
    anova: pd.DataFrame
    random: pd.DataFrame
    contrasts: pd.DataFrame
    loglik_reml: float
    n_obs: int
    n_groups: dict[str, int]
    formula: str
    re: str | None
    group: str
    ddf: str
    reference_levels: dict[str, str]
    converged: bool

    def to_dict(self) -> dict:
        """JSON-ready: NaN becomes None, each CI a two-element list."""
        contrasts = [
            {
                **{k: row[k] for k in _CONTRASTS[:-2]},
                "ci": [row["ci_low"], row["ci_high"]],
            }
            for row in self.contrasts.to_dict("records")
        ]
        return _clean(
            {
                "fixed": self.fixed.to_dict("records"),
                "random": self.random.to_dict("records"),
                "anova": self.anova.to_dict("records"),
                "contrasts": contrasts,
                "loglik_reml": self.loglik_reml,
                "n_obs": self.n_obs,
                "n_groups": dict(self.n_groups),
                "formula": self.formula,
                "re": self.re,
                "group": self.group,
                "ddf": self.ddf,
                "method": "REML",
                "reference_levels": dict(self.reference_levels),
                "converged": self.converged,
            }
        )


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class _ReTerm:
    group: str
    names: list[str]
    codes: np.ndarray
    n_levels: int
    design: np.ndarray


@dataclass(frozen=True)
class _State:
    lam: sparse.csr_array
    lzz: np.ndarray
    chol: np.ndarray
    rzx: np.ndarray
    rx: np.ndarray
    beta: np.ndarray
    e: np.ndarray
    r2: float
    deviance: float


class _Reml:
    """The profiled REML deviance of one model and its analytic derivatives (q-space)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, terms: Sequence[_ReTerm]):
        self.X, self.y = X, y
        self.n, self.p = X.shape
        widths = [t.design.shape[1] for t in terms]
        self.q = sum(t.n_levels * w for t, w in zip(terms, widths, strict=True))
        self.Z = np.zeros((self.n, self.q))
        rows, cols, which, lower, self.blocks = [], [], [], [], []
        offset, k, obs = 0, 0, np.arange(self.n)
        for term, width in zip(terms, widths, strict=True):
            base = offset + term.codes * width
            for c in range(width):
                self.Z[obs, base + c] = term.design[:, c]
            starts = offset + np.arange(term.n_levels) * width
            params = []
            for j in range(width):
                for i in range(j, width):
                    rows.append(starts + i)
                    cols.append(starts + j)
                    which.append(np.full(term.n_levels, k))
                    lower.append(0.0 if i == j else -np.inf)
                    params.append((k, i, j))
                    k += 1
            self.blocks.append((starts, width, params))
            offset += term.n_levels * width
        self.rows, self.cols = np.concatenate(rows), np.concatenate(cols)
        self.which = np.concatenate(which)
        self.lower = np.array(lower)
        self.start = np.where(np.isfinite(self.lower), 1.0, 0.0)
        self.k = k
        self.ZtZ = self.Z.T @ self.Z
        self.ZtX = self.Z.T @ X
        self.Zty = self.Z.T @ y
        self.XtX = X.T @ X
        self.Xty = X.T @ y
        # Row of Lambda holding theta_k in each column (-1: none); lme4 puts one entry
        # of theta_k per level, in distinct columns.
        self.row_of = np.full((k, self.q), -1)
        for index in range(k):
            mask = self.which == index
            self.row_of[index, self.cols[mask]] = self.rows[mask]

    def lam(self, theta: np.ndarray) -> sparse.csr_array:
        """Lambda(theta), sparse: one small triangular block per level of each term."""
        return sparse.csr_array((theta[self.which], (self.rows, self.cols)), (self.q, self.q))

    def state(self, theta: np.ndarray) -> _State:
        """lme4's penalized least squares at theta: beta, residuals, REML deviance."""
        lam = self.lam(theta)
        lzz = lam.T @ self.ZtZ
        chol = linalg.cholesky(lam.T @ lzz.T + np.eye(self.q), lower=True)
        rzx = linalg.solve_triangular(chol, lam.T @ self.ZtX, lower=True)
        cu = linalg.solve_triangular(chol, lam.T @ self.Zty, lower=True)
        rx = linalg.cholesky(self.XtX - rzx.T @ rzx, lower=True)
        beta = linalg.cho_solve((rx, True), self.Xty - rzx.T @ cu)
        u = linalg.solve_triangular(chol, cu - rzx @ beta, lower=True, trans="T")
        e = self.y - self.X @ beta - self.Z @ (lam @ u)
        r2 = float(e @ e + u @ u)
        nmp = self.n - self.p
        logdets = 2 * np.log(np.diag(chol)).sum() + 2 * np.log(np.diag(rx)).sum()
        # A perfect fit at this theta has no REML likelihood: steer the optimizer away.
        deviance = (
            float(logdets + nmp * (1 + math.log(2 * math.pi * r2 / nmp))) if r2 > 0 else math.inf
        )
        return _State(lam, lzz, chol, rzx, rx, beta, e, r2, deviance)

    def projections(self, s: _State) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """M = Z'PZ, m = Z'Py, K = Z'V^-1 X and C = (X'V^-1 X)^-1, V = I + Z Lambda Lambda'Z'."""
        bb = linalg.solve_triangular(s.chol, s.lzz, lower=True)
        K = self.ZtX - bb.T @ s.rzx
        C = linalg.cho_solve((s.rx, True), np.eye(self.p))
        M = self.ZtZ - bb.T @ bb - K @ C @ K.T
        return M, self.Z.T @ s.e, K, C

    def gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Profiled REML deviance and its gradient: tr(M D_k) - (n-p) m'D_k m / r2."""
        s = self.state(theta)
        M, m, _, _ = self.projections(s)
        # D_k = E_k Lambda' + Lambda E_k', E_k the indicator of theta_k in Lambda.
        tr = 2 * np.bincount(self.which, (s.lam.T @ M).T[self.rows, self.cols], minlength=self.k)
        quad = 2 * np.bincount(
            self.which, m[self.rows] * (s.lam.T @ m)[self.cols], minlength=self.k
        )
        return s.deviance, tr - (self.n - self.p) * quad / s.r2

    def derivatives(self, theta: np.ndarray) -> dict:
        """Second derivatives at theta: profiled Hessian, (theta, sigma) Hessian, d vcov(beta).

        With V_k = Z D_k Z', D_kl = E_k E_l' + E_l E_k', f = log|V| + log|X'V^-1 X| and
        r2 = y'Py: f_kl = tr(M D_kl) - tr(M D_k M D_l), r2_k = -m'D_k m,
        r2_kl = 2 m'D_k M D_l m - m'D_kl m.
        """
        s = self.state(theta)
        M, m, K, C = self.projections(s)
        n, p, k = self.n, self.p, self.k
        lam = s.lam.toarray()
        D = []
        for index in range(k):
            mask = self.which == index
            el = np.zeros((self.q, self.q))
            el[self.rows[mask], :] = lam[:, self.cols[mask]].T
            D.append(el + el.T)
        MD = [M @ d for d in D]
        Dm = [d @ m for d in D]
        r2_k = np.array([-(m @ v) for v in Dm])
        f_kl = np.empty((k, k))
        r2_kl = np.empty((k, k))
        for a in range(k):
            for b in range(a, k):
                both = (self.row_of[a] >= 0) & (self.row_of[b] >= 0)
                ra, rb = self.row_of[a][both], self.row_of[b][both]
                tr_dkl = 2 * M[ra, rb].sum()
                quad_dkl = 2 * (m[ra] * m[rb]).sum()
                f_kl[a, b] = f_kl[b, a] = tr_dkl - (MD[a] * MD[b].T).sum()
                r2_kl[a, b] = r2_kl[b, a] = 2 * Dm[a] @ M @ Dm[b] - quad_dkl
        nmp = n - p
        r2 = s.r2
        profiled = f_kl + nmp * (r2_kl / r2 - np.outer(r2_k, r2_k) / r2**2)
        sigma2 = r2 / nmp
        sigma = math.sqrt(sigma2)
        vp = np.empty((k + 1, k + 1))
        vp[:k, :k] = f_kl + r2_kl / sigma2
        vp[:k, k] = vp[k, :k] = -2 * r2_k / sigma**3
        vp[k, k] = 6 * r2 / sigma2**2 - 2 * nmp / sigma2
        jac = [sigma2 * C @ K.T @ d @ K @ C for d in D] + [2 * sigma * C]
        return {"state": s, "profiled": profiled, "varpar": vp, "jacobian": jac}


def _fit(reml: _Reml) -> tuple[np.ndarray, bool]:
    """REML estimate of theta: L-BFGS-B from lme4's start, then bounded Newton polish.

    The deviance depends on theta only through Lambda Lambda', so its gradient vanishes
    where a variance factor is 0 even when that is a maximum along it; such a point
    is left along the direction of negative curvature and the search restarted.
    Converged means the projected gradient is below 1e-4 (lme4 warns at 2e-3 on its
    scaled gradient) and the Hessian over the free parameters has no clearly negative
    eigenvalue.
    """
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in reml.lower]
    theta = reml.start
    for _ in range(10):
        first = optimize.minimize(
            reml.gradient,
            theta,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000},
        )
        theta = _polish(reml, np.maximum(first.x, reml.lower))
        escape = _leave_saddle(reml, theta)
        if escape is None:
            break
        theta = escape
    _, grad = reml.gradient(theta)
    free = ~((theta <= reml.lower) & (grad > 0))
    if not free.any():
        return theta, True
    values = linalg.eigvalsh(reml.derivatives(theta)["profiled"][np.ix_(free, free)])
    # A flat direction (a singular fit, e.g. a zero variance making a correlation
    # meaningless) is a minimum all the same; clearly negative curvature is not.
    flat = -1e-6 * max(1.0, np.abs(values).max())
    return theta, bool(np.abs(grad[free]).max() < 1e-4 and values[0] > flat)


def _polish(reml: _Reml, theta: np.ndarray) -> np.ndarray:
    """Newton steps with step halving on the free parameters, while the Hessian is PD."""
    deviance, grad = reml.gradient(theta)
    for _ in range(100):
        free = ~((theta <= reml.lower) & (grad > 0))
        if not free.any() or np.abs(grad[free]).max() < 1e-11 * max(1.0, abs(deviance)):
            break
        hessian = reml.derivatives(theta)["profiled"][np.ix_(free, free)]
        try:
            factor = linalg.cho_factor(hessian)
        except linalg.LinAlgError:
            break
        step = np.zeros_like(theta)
        step[free] = -linalg.cho_solve(factor, grad[free])
        t = 1.0
        while t > 1e-10:
            trial = np.maximum(theta + t * step, reml.lower)
            trial_deviance, trial_grad = reml.gradient(trial)
            if trial_deviance <= deviance + 1e-12 * abs(deviance):
                break
            t /= 2
        else:
            break
        moved = np.abs(trial - theta).max()
        theta, deviance, grad = trial, trial_deviance, trial_grad
        if moved < 1e-14 * max(1.0, np.abs(theta).max()):
            break
    return theta


def _leave_saddle(reml: _Reml, theta: np.ndarray) -> np.ndarray | None:
    """A feasible point of lower deviance along negative curvature, or None if none."""
    deviance, grad = reml.gradient(theta)
    free = ~((theta <= reml.lower) & (grad > 0))
    if not free.any():
        return None
    values, vectors = linalg.eigh(reml.derivatives(theta)["profiled"][np.ix_(free, free)])
    if values[0] >= 0:
        return None
    direction = np.zeros_like(theta)
    direction[free] = vectors[:, 0]
    at_bound = theta <= reml.lower
    if (direction[at_bound] < 0).sum() > (direction[at_bound] > 0).sum():
        direction = -direction
    direction[at_bound] = np.maximum(direction[at_bound], 0)
    scale = max(1.0, np.abs(theta).max())
    for t in scale * 2.0 ** -np.arange(30):
        trial = np.maximum(theta + t * direction, reml.lower)
        if reml.gradient(trial)[0] < deviance - 1e-10 * abs(deviance):
            return trial
    return None


class _Inference:
    """Wald tests of L beta with Satterthwaite (lmerTest) or Kenward-Roger (pbkrtest) df."""

    def __init__(self, reml: _Reml, theta: np.ndarray, ddf: str):
        d = reml.derivatives(theta)
        s = d["state"]
        self.beta = s.beta
        self.sigma2 = s.r2 / (reml.n - reml.p)
        self.vcov = self.sigma2 * linalg.cho_solve((s.rx, True), np.eye(reml.p))
        values, vectors = linalg.eigh(d["varpar"])
        pos = values > 1e-8  # lmerTest's tolerance for its generalized inverse
        self.vcov_varpar = 2 * (vectors[:, pos] / values[pos]) @ vectors[:, pos].T
        self.jacobian = d["jacobian"]
        self.ddf = ddf
        if ddf == "kenward-roger":
            self.adjusted, self.P, self.W = _kenward_roger(reml, s, self.sigma2, self.vcov)

    def _satterthwaite(self, row: np.ndarray) -> tuple[float, float]:
        var = row @ self.vcov @ row
        grad = np.array([row @ j @ row for j in self.jacobian])
        denominator = grad @ self.vcov_varpar @ grad
        return var, 2 * var**2 / denominator if denominator > 0 else math.inf

    def test(self, row: np.ndarray) -> tuple[float, float, float]:
        """Estimate, SE and df of one linear combination (contest1D / emmeans)."""
        estimate = float(row @ self.beta)
        if self.ddf == "kenward-roger":
            var = float(row @ self.adjusted @ row)
            df = _kr_df(row[None, :], self.vcov, self.P, self.W, 1)[0]
        else:
            var, df = self._satterthwaite(row)
        return estimate, math.sqrt(var) if var >= 0 else math.nan, float(df)

    def ftest(self, L: np.ndarray) -> tuple[float, float, float]:
        """F, numerator and denominator df of L beta = 0 (contestMD)."""
        if self.ddf == "kenward-roger":
            q = np.linalg.matrix_rank(L)
            df2, scaling = _kr_df(L, self.vcov, self.P, self.W, q)
            Lb = L @ self.beta
            wald = Lb @ np.linalg.solve(L @ self.adjusted @ L.T, Lb)
            return float(scaling * wald / q), float(q), float(df2)
        if L.shape[0] == 1:
            estimate, se, df = self.test(L[0])
            return (estimate / se) ** 2, 1.0, df
        values, vectors = linalg.eigh(L @ self.vcov @ L.T)
        values, vectors = values[::-1], vectors[:, ::-1]
        pos = values > max(math.sqrt(np.finfo(float).eps) * values[0], 0)
        q = int(pos.sum())
        ptl = vectors[:, :q].T @ L
        if q == 1:
            estimate, se, df = self.test(ptl[0])
            return (estimate / se) ** 2, 1.0, df
        fvalue = float(((ptl @ self.beta) ** 2 / values[:q]).sum() / q)
        nu = np.array([self._satterthwaite(row)[1] for row in ptl])
        if np.all(np.abs(np.diff(nu)) < 1e-8):
            return fvalue, float(q), float(nu.mean())
        if np.any(nu <= 2):
            return fvalue, float(q), 2.0
        e = (nu / (nu - 2)).sum()
        return fvalue, float(q), float(2 * e / (e - q))


def _kenward_roger(reml: _Reml, s: _State, sigma2: float, phi: np.ndarray):
    """pbkrtest's vcovAdj: adjusted vcov(beta), with its P matrices and W = 2 I_E^-1.

    Variance parameters: per term the entries of its covariance matrix (lower
    triangle), then sigma^2; Sigma = sum gamma_r G_r. Every product with Sigma^-1 is
    taken through Woodbury, so nothing is n x n.
    """
    Z, X, lam = reml.Z, reml.X, s.lam
    n, q = reml.n, reml.q

    def inverse_times(v: np.ndarray) -> np.ndarray:
        inner = linalg.cho_solve((s.chol, True), lam.T @ (Z.T @ v))
        return (v - Z @ (lam @ inner)) / sigma2

    sz = inverse_times(Z)
    sx = inverse_times(X)
    m_zz, m_zx = Z.T @ sz, Z.T @ sx
    n_zz, n_zx, n_xx = sz.T @ sz, sz.T @ sx, sx.T @ sx
    t_xx = sx.T @ inverse_times(sx)
    a_inv = linalg.cho_solve((s.chol, True), np.eye(q))
    trace_a2 = (n - q + (a_inv * a_inv).sum()) / sigma2**2
    E = []
    for starts, _width, params in reml.blocks:
        for _, i, j in params:
            e = np.zeros((q, q))
            e[starts + i, starts + j] = 1.0
            e[starts + j, starts + i] = 1.0
            E.append(e)
    g = len(E) + 1
    P = [-(m_zx.T @ e @ m_zx) for e in E] + [-n_xx]
    em = [e @ m_zz for e in E]
    Q, K = {}, np.empty((g, g))
    for r in range(g):
        for t in range(r, g):
            if t < g - 1:
                Q[r, t] = m_zx.T @ em[r] @ E[t] @ m_zx
                K[r, t] = (em[r] * em[t].T).sum()
            elif r < g - 1:
                Q[r, t] = m_zx.T @ E[r] @ n_zx
                K[r, t] = (E[r] * n_zz).sum()
            else:
                Q[r, t] = t_xx
                K[r, t] = trace_a2
            K[t, r] = K[r, t]
    info = np.empty((g, g))
    for r in range(g):
        for t in range(r, g):
            info[r, t] = info[t, r] = (
                K[r, t] - 2 * (phi * Q[r, t]).sum() + ((phi @ P[r]) * (P[t] @ phi)).sum()
            )
    if np.abs(linalg.eigvalsh(info)).min() > 1e-10:
        W = 2 * np.linalg.inv(info)
    else:
        W = 2 * np.linalg.pinv(info, rcond=math.sqrt(np.finfo(float).eps))
    W = (W + W.T) / 2
    U = np.zeros_like(phi)
    for r in range(g):
        for t in range(r + 1, g):
            U += W[r, t] * (Q[r, t] - P[r] @ phi @ P[t])
    U = U + U.T
    for r in range(g):
        U += W[r, r] * (Q[r, r] - P[r] @ phi @ P[r])
    return phi + 2 * phi @ U @ phi, P, W


def _kr_df(L: np.ndarray, phi, P, W, q: int) -> tuple[float, float]:
    """pbkrtest's denominator df and F scaling for L beta = 0 (Lb_ddf, KRmodcomp).

    `q` is nrow(L) for Lb_ddf and rank(L) for KRmodcomp. Degenerate cases give R's
    IEEE results (x/0 = Inf, 0/0 = NaN), not an error.
    """
    theta = L.T @ np.linalg.solve(L @ phi @ L.T, L)
    u = [theta @ phi @ p @ phi for p in P]
    a1 = a2 = np.float64(0.0)
    for i in range(len(P)):
        for j in range(i, len(P)):
            e = 1 if i == j else 2
            a1 += e * W[i, j] * np.trace(u[i]) * np.trace(u[j])
            a2 += e * W[i, j] * (u[i] * u[j].T).sum()
    q = np.float64(q)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = (a1 + 6 * a2) / (2 * q)
        g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
        c1 = g / (3 * q + 2 * (1 - g))
        c2 = (q - g) / (3 * q + 2 * (1 - g))
        c3 = (q + 2 - g) / (3 * q + 2 * (1 - g))
        v0 = 1 + c1 * b
        v0 = 0.0 if abs(v0) < 1e-10 else v0
        v1 = 1 - c2 * b
        v2 = 1 - c3 * b
        x = 1 - a2 / q
        ratio = 1.0 if abs(x) < 1e-14 and abs(v1) < 1e-14 else x / v1
        rho = ratio**2 * v0 / (v2 * q)
        df2 = 4 + (q + 2) / (q * rho - 1)
        scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - a2 / q) / (df2 - 2)
    return float(df2), float(scaling)


def _zapsmall(x: np.ndarray) -> np.ndarray:
    """R's zapsmall(x, digits = 7): round to 7 significant digits of max |x|."""
    biggest = np.abs(x).max() if x.size else 0.0
    digits = max(0, 7 - math.ceil(math.log10(biggest))) if biggest > 0 else 7
    return np.round(x, digits)


def _doolittle(x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """lmerTest's doolittle(x)$L: unit lower-triangular LU factor without pivoting."""
    n = len(x)
    lower, upper = np.eye(n), np.zeros((n, n))
    for i in range(n):
        upper[i] = x[i] - lower[i, :i] @ upper[:i]
        for j in range(i + 1, n):
            value = x[j, i] - lower[j, :i] @ upper[:i, i]
            lower[j, i] = 0.0 if abs(upper[i, i]) < eps else value / upper[i, i]
    lower[np.abs(lower) < eps] = 0.0
    return lower


def _type3(formula, X, columns: Columns, values, levels, n) -> dict[str, np.ndarray]:
    """lmerTest's type 3 hypothesis matrices for treatment coding (type 1 for one term)."""
    labels = formula.labels
    p = X.shape[1]
    index = {
        label: [j for j in range(p) if columns.assign[j] == t + 1] for t, label in enumerate(labels)
    }
    if p <= 1 or len(labels) <= 1:
        upper = _doolittle(X.T @ X).T if p > 1 else np.ones((1, 1))
        return {label: upper[index[label]] for label in labels}
    rd, rd_names = indicator_matrix(formula.terms, values, levels, n)
    L = _zapsmall((np.linalg.pinv(X, rcond=math.sqrt(np.finfo(float).eps)) @ rd).T)
    # lmerTest's containment reads R's factor matrix, where a variable coded by
    # indicators (2, not 1; numerics included) does not count as part of its term.
    counted = {
        t: {v for v in t if codes[v]}
        for t, codes in zip(formula.terms, coding(formula.terms), strict=True)
    }
    numerics = {t: {v for v in counted[t] if v not in levels} for t in formula.terms}
    for t in sorted(formula.terms, key=len, reverse=True):
        containing = [
            other
            for other in formula.terms
            if counted[t] < counted[other] and numerics[t] == numerics[other]
        ]
        if containing:
            x = L[:, [j for other in containing for j in index[":".join(other)]]]
            y = L[:, index[":".join(t)]]
            fitted = x @ np.linalg.lstsq(x, y, rcond=None)[0]
            L[:, index[":".join(t)]] = _zapsmall(y - fitted)
    L = L[[rd_names.index(name) for name in columns.names]]
    out = {}
    for label in labels:
        rows = L[:, index[label]].T
        out[label] = rows[np.abs(rows).sum(axis=1) > 1e-8]
    return out


def _p_t(t: float, df: float) -> float:
    return float(2 * stats.t.sf(abs(t), df))


def mixed_model(
    data: pd.DataFrame,
    formula: str,
    group: str,
    *,
    re: str | None = None,
    levels: Mapping[str, Sequence] | None = None,
    ddf: str = "satterthwaite",
    contrast: str | None = None,
    by: str | None = None,
    source: str = "data",
) -> MixedModel:
    """Fit `formula` by REML with random intercepts per `group` (and slopes `re`), as lme4.

    `group="patient"` is `(1 | patient)`; `re="~ arm"` makes it the correlated
    `(1 + arm | patient)`. `group="patient/oocyte"` is `(1 | patient) + (1 |
    patient:oocyte)`; with `re`, the slopes go on the first grouping factor only:
    `(1 + arm | patient) + (1 | patient:oocyte)`. Factors (non-numeric columns, or
    any column named in `levels`) use treatment coding with the first level (sorted,
    or as `levels` lists them) as reference; numeric columns are covariates.

    Missing values are an error naming the row (R would drop the row silently), as
    are an aliased fixed effect, a one-level factor and fewer than 2 groups.

    `ddf` ("satterthwaite" as lmerTest, or "kenward-roger" as pbkrtest) sets the df
    (and, for Kenward-Roger, the adjusted SE) of `fixed`, `anova` and `contrasts`.
    `contrast="arm"` gives each non-reference level minus the reference, averaged
    over the other factors with equal weights and numeric covariates at their mean
    (emmeans); with `by="time"`, at each level of `by` ("real - sham | T1") and as
    interaction contrasts against `by`'s reference ("real - sham | T1 - T0").

    Returns a `MixedModel`.
    """
    if ddf not in DDF:
        raise InvalidValueError(f"{source}: ddf {ddf!r}: use one of {', '.join(DDF)}")
    parsed = parse_formula(formula, source=source)
    slopes = parse_terms(re, source=source) if re is not None else None
    groups = [g.strip() for g in group.split("/")]
    if not all(groups):
        raise InvalidValueError(f"{source}: group {group!r}: write `patient` or `patient/oocyte`")
    variables = list(dict.fromkeys([*parsed.variables, *(slopes.variables if slopes else ())]))
    require_columns(data, [parsed.response, *variables, *groups], source=source)
    given = dict(levels or {})
    unknown = [name for name in given if name not in variables]
    if unknown:
        raise InvalidValueError(
            f"{source}: levels given for {', '.join(unknown)}, which the model does not use; "
            f"model variables: {', '.join(variables)}"
        )
    frame = data.reset_index(drop=True)
    y = numeric(frame, parsed.response, source=source).to_numpy()
    n = len(y)
    for column in [*variables, *groups]:
        missing = frame[column].isna().to_numpy()
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise InvalidValueError(f"{source}, row {row + 1}, column {column}: missing value")
    factors: dict[str, list] = {}
    values: dict[str, np.ndarray] = {}
    for name in variables:
        column = frame[name]
        is_number = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if is_number and name not in given:
            values[name] = column.to_numpy(dtype=float)
            continue
        found = factor_levels(column, given.get(name), name=name)
        if len(found) < 2:
            raise InvalidValueError(
                f"{source}, column {name}: one level ({found[0]}); a factor needs at least 2"
            )
        factors[name] = [str(v) for v in found]
        values[name] = pd.Categorical(column, categories=found).codes.astype(int)
    fixed_levels = {k: v for k, v in factors.items() if k in parsed.variables}
    _check_contrast(contrast, by, fixed_levels, source)
    X, columns = model_matrix(parsed.terms, values, fixed_levels, n)
    _check_rank(X, columns, source)
    _check_residual(X, y, parsed.response, source)
    re_terms = _random_terms(frame, groups, slopes, values, factors, n, source)
    order = sorted(range(len(re_terms)), key=lambda i: re_terms[i].n_levels)[::-1]
    if any(b.n_levels > a.n_levels for a, b in itertools.pairwise(re_terms)):
        re_terms = [re_terms[i] for i in order]
    reml = _Reml(X, y, re_terms)
    theta, converged = _fit(reml)
    inference = _Inference(reml, theta, ddf)
    state = reml.state(theta)

    rows = []
    for j, name in enumerate(columns.names):
        estimate, se, df = inference.test(np.eye(X.shape[1])[j])
        rows.append([name, estimate, se, df, estimate / se, _p_t(estimate / se, df)])
    fixed = pd.DataFrame(rows, columns=_FIXED)

    hypotheses = _type3(parsed, X, columns, values, fixed_levels, n)
    rows = []
    for label, L in hypotheses.items():
        fvalue, df1, df2 = inference.ftest(L)
        rows.append([label, fvalue, df1, df2, float(stats.f.sf(fvalue, df1, df2))])
    anova = pd.DataFrame(rows, columns=_ANOVA)

    random = _varcorr(re_terms, reml, theta, inference.sigma2)
    table = _contrasts(parsed, values, fixed_levels, inference, contrast, by)
    n_groups = {t.group: t.n_levels for t in re_terms}
    return MixedModel(
        fixed=fixed,
        anova=anova,
        random=random,
        contrasts=table,
        loglik_reml=-state.deviance / 2,
        n_obs=n,
        n_groups=n_groups,
        formula=formula,
        re=re,
        group=group,
        ddf=ddf,
        reference_levels={k: v[0] for k, v in factors.items()},
        converged=converged,
    )


def _check_residual(X: np.ndarray, y: np.ndarray, response: str, source: str) -> None:
    """Refuse data the fixed effects fit exactly: no variance is left to estimate."""
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    residual = y - X @ beta
    if residual @ residual <= 1e-12 * max(float((y - y.mean()) @ (y - y.mean())), 1e-300):
        raise InvalidValueError(
            f"{source}: the fixed effects fit {response} exactly (no residual variation); "
            "a mixed model cannot be estimated"
        )


def _check_rank(X: np.ndarray, columns: Columns, source: str) -> None:
    """Refuse a column that is (numerically) a combination of the columns before it.

    As R's QR: the column's residual after the earlier columns, relative to its norm,
    below 1e-7 means aliased.
    """
    r = np.linalg.qr(X, mode="r")
    scale = np.linalg.norm(X, axis=0)
    for j in range(X.shape[1]):
        if abs(r[j, j]) <= 1e-7 * scale[j]:
            raise InvalidValueError(
                f"{source}: fixed effect {columns.names[j]} is aliased with the terms before "
                "it (an empty cell, a constant covariate, or a covariate that is a "
                "combination of others); drop the term or collect data for it"
            )


def _random_terms(frame, groups, slopes, values, factors, n, source) -> list[_ReTerm]:
    """lme4's terms for `group` (nesting a/b gives a and a:b) and slopes on the first."""
    terms = []
    for depth in range(1, len(groups) + 1):
        parts = groups[:depth]
        name = ":".join(parts)
        keys = frame[parts].astype(str).agg("\r".join, axis=1) if depth > 1 else frame[parts[0]]
        codes, uniques = pd.factorize(keys, sort=True)
        if len(uniques) < 2:
            raise InvalidValueError(
                f"{source}, grouping factor {name}: {len(uniques)} group; at least 2 are needed"
            )
        if len(uniques) >= n:
            raise InvalidValueError(
                f"{source}, grouping factor {name}: {len(uniques)} groups for {n} observations; "
                "each group needs repeated observations"
            )
        if depth == 1 and slopes is not None:
            slope_levels = {k: v for k, v in factors.items() if k in slopes.variables}
            design, cols = model_matrix(slopes.terms, values, slope_levels, n)
            names = cols.names
        else:
            design, names = np.ones((n, 1)), ["(Intercept)"]
        if len(uniques) * design.shape[1] >= n:
            raise InvalidValueError(
                f"{source}: {len(uniques) * design.shape[1]} random effects for {n} "
                f"observations in ({' + '.join(names)} | {name}); they cannot be identified"
            )
        terms.append(_ReTerm(name, names, codes.astype(int), len(uniques), design))
    return terms


def _varcorr(terms, reml: _Reml, theta, sigma2) -> pd.DataFrame:
    """as.data.frame(VarCorr(fit)): variances, then covariances/correlations, then Residual."""
    rows = []
    for term, (_, width, params) in zip(terms, reml.blocks, strict=True):
        factor = np.zeros((width, width))
        for k, i, j in params:
            factor[i, j] = theta[k]
        cov = sigma2 * factor @ factor.T
        sd = np.sqrt(np.diag(cov))
        for i in range(width):
            rows.append([term.group, term.names[i], None, cov[i, i], sd[i]])
        for j in range(width):
            for i in range(j + 1, width):
                rows.append(
                    [
                        term.group,
                        term.names[j],
                        term.names[i],
                        cov[i, j],
                        cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else math.nan,
                    ]
                )
    rows.append(["Residual", None, None, sigma2, math.sqrt(sigma2)])
    # Object columns keep None for "no variable" (a str column would turn it into NaN).
    columns = list(zip(*rows, strict=True))
    return pd.DataFrame(
        {
            name: pd.Series(values, dtype=object if name in ("var1", "var2") else None)
            for name, values in zip(_RANDOM, columns, strict=True)
        }
    )


def _check_contrast(contrast, by, levels, source) -> None:
    if contrast is None and by is not None:
        raise InvalidValueError(f"{source}: by={by!r} needs contrast=FACTOR")
    for role, name in (("contrast", contrast), ("by", by)):
        if name is not None and name not in levels:
            raise InvalidValueError(
                f"{source}: {role}={name!r} is not a factor of the fixed effects; "
                f"factors: {', '.join(levels) or 'none'}"
            )
    if contrast is not None and by == contrast:
        raise InvalidValueError(f"{source}: contrast and by are both {contrast!r}")


def _contrasts(formula: Formula, values, levels, inference, contrast, by):
    """emmeans-style treatment-vs-reference contrasts (see `mixed_model`)."""
    if contrast is None:
        return pd.DataFrame(columns=_CONTRASTS)
    factors = list(levels)
    grid = np.array(list(itertools.product(*[range(len(levels[f])) for f in factors])))
    cells = {f: grid[:, i] for i, f in enumerate(factors)}
    for name in formula.variables:
        if name not in levels:
            cells[name] = np.full(len(grid), values[name].mean())
    Xg, _ = model_matrix(formula.terms, cells, levels, len(grid))

    def mean_row(level: int, at: int | None) -> np.ndarray:
        mask = cells[contrast] == level
        if at is not None:
            mask &= cells[by] == at
        return Xg[mask].mean(axis=0)

    names = levels[contrast]
    wanted = []
    for at in [None] if by is None else range(len(levels[by])):
        suffix = "" if at is None else f" | {levels[by][at]}"
        for a in range(1, len(names)):
            wanted.append((f"{names[a]} - {names[0]}{suffix}", mean_row(a, at) - mean_row(0, at)))
    if by is not None:
        for at in range(1, len(levels[by])):
            for a in range(1, len(names)):
                label = f"{names[a]} - {names[0]} | {levels[by][at]} - {levels[by][0]}"
                row = mean_row(a, at) - mean_row(0, at) - mean_row(a, 0) + mean_row(0, 0)
                wanted.append((label, row))
    rows = []
    for label, row in wanted:
        estimate, se, df = inference.test(row)
        half = float(stats.t.ppf(0.975, df)) * se
        t = estimate / se
        rows.append([label, estimate, se, df, t, _p_t(t, df), estimate - half, estimate + half])
    return pd.DataFrame(rows, columns=_CONTRASTS)
