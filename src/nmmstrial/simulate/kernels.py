"""Vectorized split-body trials: generate a batch of studies and analyse them all at once.

A batch is `y` (trials, patients, 2 sides, k visits; side 0 real, 1 sham) and `present`
(trials, patients, k): whether the patient is still in at each visit. Every analysis
takes the batch and returns two-sided p-values, one per trial, with arrays over the
trial axis and no Python loop per trial. Each one reproduces an `nmmstrial.analysis`
function on the same data (checked to 1e-8 in tests/simulate/test_kernels.py):

- `paired_t_change`: `paired_t` on the per-patient change
  (real last - real first) - (sham last - sham first).
- `wilcoxon_change`: `wilcoxon_paired` (R's default mode) on that change: the exact
  null distribution of V when fewer than 50 non-zero changes and no zeros, otherwise
  the normal approximation with continuity correction. Ties, which have probability
  zero for continuous simulated data, are not tie-corrected.
- `rm_anova_gg`: `rm_anova(..., listwise=True)`'s Greenhouse-Geisser p of a one-way
  design over the visits; `rm_anova_gg_per_arm` runs it on both arms in one call.
- `rm_anova_gg_interaction`: the arm:time row of `rm_anova` with within = arm, time;
  for two arms it is the one-way RM ANOVA of (real - sham) / sqrt(2).
- `mixed_change`: the `arm` contrast (averaged over visits) of
  `mixed_model("change ~ arm * time", "patient/arm", contrast="arm")` on the change
  from the first visit at each later visit: random intercepts per patient and per
  side within patient (the split-body analogue of a split-plot), REML,
  Satterthwaite. Balanced data make REML closed-form: the arm effect is tested
  against the patient:arm stratum, F = one-sample t^2 on the per-patient mean
  arm difference with df = n - 1, unless a variance component sits at 0, when the
  strata out of order are pooled (pool-adjacent-violators) with their df summed.
  (A model without the patient:arm intercept ignores the correlation of a side's
  changes, which share its baseline, and does not hold its alpha.) The type 3
  `anova` row of `mixed_model` differs from this by ~1e-7 only because lmerTest
  rounds its hypothesis matrix (zapsmall, 7 digits).

Missing data: patients lost before the last visit are left out of every analysis
(completers, as `rm_anova(listwise=True)`); the kernels do not give the
likelihood-based mixed model on all observed visits that lmer would fit. A trial
whose analysis is undefined (fewer than 2 completers; for Wilcoxon, no non-zero
change) gets p = NaN.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from scipy import special, stats

from ..analysis.nonparametric import EXACT_BELOW, signed_rank_distribution
from ..errors import InvalidValueError

__all__ = [
    "ANALYSES",
    "ARMS",
    "analyse",
    "change",
    "completers",
    "covariance",
    "generate",
    "mixed_change",
    "paired_t_change",
    "rm_anova_gg",
    "rm_anova_gg_interaction",
    "visit_correlation",
    "wilcoxon_change",
]

ANALYSES = (
    "paired_t_change",
    "wilcoxon_change",
    "rm_anova_gg_per_arm",
    "rm_anova_gg_interaction",
    "mixed_change",
)
ARMS = ("real", "sham")


def visit_correlation(kind: str, k: int, rho: float | None = None, matrix=None) -> np.ndarray:
    """k x k correlation between visits: compound symmetry, AR(1) (rho^|i-j|) or given."""
    if kind == "cs":
        return np.full((k, k), rho) + (1 - rho) * np.eye(k)
    if kind == "ar1":
        lag = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
        return np.asarray(rho, dtype=float) ** lag
    if kind == "matrix":
        return np.asarray(matrix, dtype=float)
    raise InvalidValueError(f"correlation.visits.type: {kind!r}; use cs, ar1 or matrix")


def covariance(sd: float, r_visits: np.ndarray, sides: float) -> np.ndarray:
    """sd^2 (R_sides kron R_visits): 2k x 2k, real visits first, then sham visits."""
    r_sides = np.array([[1.0, sides], [sides, 1.0]])
    return sd**2 * np.kron(r_sides, r_visits)


def generate(
    rng: np.random.Generator,
    trials: int,
    n: int,
    means: np.ndarray,
    chol: np.ndarray,
    dropout: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """A batch: y (trials, n, 2, k) ~ N(means, L L') and MCAR monotone dropout.

    `means` is (2, k), `chol` the lower Cholesky factor of `covariance`, `dropout[v]`
    the probability that a patient still in at visit v - 1 is lost at v. Without
    dropout no uniforms are drawn.
    """
    k = means.shape[1]
    z = rng.standard_normal((trials, n, 2 * k))
    y = (z @ chol.T + means.ravel()).reshape(trials, n, 2, k)
    if not np.any(dropout > 0):
        return y, np.ones((trials, n, k), dtype=bool)
    stay = rng.random((trials, n, k)) >= dropout
    return y, np.logical_and.accumulate(stay, axis=-1)


def completers(present: np.ndarray) -> np.ndarray:
    """(trials, n): in at the last visit (so at every visit: dropout is monotone)."""
    return present[..., -1]


def change(y: np.ndarray) -> np.ndarray:
    """(trials, n): (real last - real first) - (sham last - sham first)."""
    return (y[:, :, 0, -1] - y[:, :, 0, 0]) - (y[:, :, 1, -1] - y[:, :, 1, 0])


def paired_t_change(y: np.ndarray, present: np.ndarray) -> np.ndarray:
    """p of the paired t test on the change, completers only."""
    d, mask = change(y), completers(present)
    count = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(mask, d, 0.0).sum(axis=1) / count
        resid = np.where(mask, d - mean[:, None], 0.0)
        sd = np.sqrt((resid**2).sum(axis=1) / (count - 1))
        t = mean / (sd / np.sqrt(count))
    p = 2 * stats.t.sf(np.abs(t), count - 1)
    return np.where(count >= 2, p, np.nan)


@cache
def _signed_rank_p(n_max: int) -> np.ndarray:
    """p[m, v]: exact two-sided p of V = v among m untied non-zero differences."""
    top = n_max * (n_max + 1) // 2
    table = np.full((n_max + 1, top + 1), np.nan)
    for m in range(1, n_max + 1):
        prob = signed_rank_distribution(np.arange(1, m + 1))
        lower, upper = np.cumsum(prob), np.cumsum(prob[::-1])[::-1]
        table[m, : len(prob)] = np.minimum(1.0, 2 * np.minimum(lower, upper))
    return table


def wilcoxon_change(y: np.ndarray, present: np.ndarray) -> np.ndarray:
    """p of the Wilcoxon signed-rank test on the change (R's default mode), completers."""
    d, mask = change(y), completers(present)
    zeros = (mask & (d == 0)).sum(axis=1)
    mask = mask & (d != 0)
    count = mask.sum(axis=1)
    # The missing rank after every present value, so they leave its ranks unchanged.
    ranks = stats.rankdata(np.where(mask, np.abs(d), np.inf), axis=1)
    v = np.where(mask & (d > 0), ranks, 0.0).sum(axis=1)
    exact = (count < EXACT_BELOW) & (zeros == 0)
    table = _signed_rank_p(min(int(count.max(initial=0)), EXACT_BELOW - 1) or 1)
    rows = np.where(exact, count, 0)  # row 0 is all NaN: a placeholder for the normal cases
    p_exact = table[rows, np.where(exact, np.rint(v), 0).astype(np.int64)]
    mean = count * (count + 1) / 4
    var = count * (count + 1) * (2 * count + 1) / 24
    z = v - mean
    with np.errstate(invalid="ignore", divide="ignore"):
        p_normal = 2 * stats.norm.sf(np.abs((z - 0.5 * np.sign(z)) / np.sqrt(var)))
    p = np.where(exact, p_exact, p_normal)
    return np.where(count >= 1, p, np.nan)


@cache
def _basis(k: int) -> np.ndarray:
    """Orthonormal contrasts over k levels, as `analysis.anova` builds them."""
    contrast = np.vstack([np.eye(k - 1), -np.ones(k - 1)])
    return np.linalg.qr(contrast)[0]


def rm_anova_gg(y: np.ndarray, mask: np.ndarray, *, full: bool = False):
    """One-way RM ANOVA over the last axis of y (..., n, k) with GG correction.

    Leading axes are trials (and arms); subjects where `mask` (..., n) is False are
    left out (listwise). Returns p_gg, or with `full` the tuple
    (F, df1, df2, eps_gg, p_gg), each shaped as the leading axes.
    """
    k = y.shape[-1]
    q = k - 1
    yc = y @ _basis(k)
    with np.errstate(invalid="ignore", divide="ignore"):
        if mask.all():  # no dropout: plain means, the common and fastest case
            count = np.full(y.shape[:-2], y.shape[-2])
            mean = yc.mean(axis=-2)
            resid = yc - mean[..., None, :]
        else:
            count = mask.sum(axis=-1)
            weights = mask[..., None]
            mean = np.where(weights, yc, 0.0).sum(axis=-2) / count[..., None]
            resid = np.where(weights, yc - mean[..., None, :], 0.0)
        error = np.swapaxes(resid, -1, -2) @ resid
        trace = np.trace(error, axis1=-2, axis2=-1)
        hypothesis = count * (mean**2).sum(axis=-1)
        f_value = (hypothesis / q) / (trace / ((count - 1) * q))
        eps = trace**2 / (q * (error**2).sum(axis=(-2, -1)))
    df1, df2 = np.full(count.shape, q), (count - 1) * q
    p_gg = special.fdtrc(eps * df1, eps * df2, f_value)
    p_gg = np.where(count >= 2, p_gg, np.nan)
    return (f_value, df1, df2, eps, p_gg) if full else p_gg


def rm_anova_gg_interaction(y: np.ndarray, present: np.ndarray, *, full: bool = False):
    """GG p of arm x time (both within): the one-way RM ANOVA of (real - sham) / sqrt(2)."""
    return rm_anova_gg((y[:, :, 0] - y[:, :, 1]) / math.sqrt(2), completers(present), full=full)


def mixed_change(y: np.ndarray, present: np.ndarray, *, full: bool = False):
    """p of `arm` in change ~ arm * time + (1 | patient) + (1 | patient:arm), REML.

    Closed form for balanced data (completers, see the module docstring); needs k >= 3
    visits (two changes per side). Returns p, or with `full` the tuple (F, df2, p).
    """
    cells = np.stack([y[:, :, s, 1:] - y[:, :, s, :1] for s in (0, 1)], axis=2)
    mask = completers(present)
    t = cells.shape[3]
    count = mask.sum(axis=1)
    w4 = mask[:, :, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        cell_mean = np.where(w4, cells, 0.0).sum(axis=1) / count[:, None, None]  # (b, 2, t)
        side_mean = cells.mean(axis=3)  # (b, n, 2): A_is
        arm_mean = cell_mean.mean(axis=2)  # (b, 2): A_.s
        grand = arm_mean.mean(axis=1)
        patient = side_mean.mean(axis=2)  # (b, n)
        diff = side_mean[:, :, 0] - side_mean[:, :, 1]  # D_i
        effect = arm_mean[:, 0] - arm_mean[:, 1]
        resid = cells - side_mean[..., None] - cell_mean[:, None] + arm_mean[:, None, :, None]
        strata = (
            (np.where(w4, resid, 0.0) ** 2).sum(axis=(1, 2, 3)),
            (t / 2) * np.where(mask, (diff - effect[:, None]) ** 2, 0.0).sum(axis=1),
            2 * t * np.where(mask, (patient - grand[:, None]) ** 2, 0.0).sum(axis=1),
        )
        dfs = ((count - 1) * 2 * (t - 1), count - 1, count - 1)
        variance, df2 = _pooled_middle(strata, dfs)
        f_value = effect**2 / (2 * variance / (t * count))
    p = stats.f.sf(f_value, 1, df2)
    p = np.where(count >= 2, p, np.nan)
    return (f_value, df2, p) if full else p


def _pooled_middle(ss, df):
    """REML mean square of the middle stratum under the order residual <= arm <= patient.

    The expected mean squares of the residual, patient:arm and patient strata increase
    with the variance components, which REML keeps >= 0: adjacent strata out of order
    are pooled (pool-adjacent-violators). Returns (mean square, its df) of the block
    holding patient:arm, where the arm effect is tested.
    """
    (ss_e, ss_a, ss_p), (df_e, df_a, df_p) = ss, df
    ms_e, ms_a, ms_p = ss_e / df_e, ss_a / df_a, ss_p / df_p
    ms_ea, df_ea = (ss_e + ss_a) / (df_e + df_a), df_e + df_a
    ms_ap, df_ap = (ss_a + ss_p) / (df_a + df_p), df_a + df_p
    ms_all, df_all = (ss_e + ss_a + ss_p) / (df_e + df_a + df_p), df_e + df_a + df_p
    upper_ok = ms_a <= ms_p
    variance = np.where(
        ms_e <= ms_a,
        np.where(upper_ok, ms_a, np.where(ms_e <= ms_ap, ms_ap, ms_all)),
        np.where(ms_ea <= ms_p, ms_ea, ms_all),
    )
    dof = np.where(
        ms_e <= ms_a,
        np.where(upper_ok, df_a, np.where(ms_e <= ms_ap, df_ap, df_all)),
        np.where(ms_ea <= ms_p, df_ea, df_all),
    )
    return variance, dof.astype(float)


def analyse(name: str, y: np.ndarray, present: np.ndarray) -> dict[str | None, np.ndarray]:
    """p-values of analysis `name`: {arm: p} for the per-arm ANOVA, else {None: p}."""
    if name == "paired_t_change":
        return {None: paired_t_change(y, present)}
    if name == "wilcoxon_change":
        return {None: wilcoxon_change(y, present)}
    if name == "rm_anova_gg_per_arm":
        # Both arms in one call: (trials, arm, n, k), the same completers in each.
        p = rm_anova_gg(np.swapaxes(y, 1, 2), completers(present)[:, None, :])
        return {arm: p[:, side] for side, arm in enumerate(ARMS)}
    if name == "rm_anova_gg_interaction":
        return {None: rm_anova_gg_interaction(y, present)}
    if name == "mixed_change":
        return {None: mixed_change(y, present)}
    raise InvalidValueError(f"analyses: {name!r} is not known; use {', '.join(ANALYSES)}")
