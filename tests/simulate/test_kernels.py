"""Vectorized kernels against nmmstrial.analysis on the same simulated data (1e-8)."""

import numpy as np
import pandas as pd
import pytest

from nmmstrial.analysis import mixed_model, paired_t, rm_anova, wilcoxon_paired
from nmmstrial.simulate import kernels as K

ARMS = ("real", "sham")
MEANS = np.array([[30.0, 30.6, 31.2, 30.4], [30.0, 29.4, 28.9, 28.0]])
# (visit type, rho, sides): AR(1) as the example, CS with negative side
# correlation (drives the patient:arm variance to 0) and independent visits.
SHAPES = [("ar1", 0.7, 0.5), ("cs", 0.1, -0.3), ("cs", 0.0, 0.9)]


def batch(kind, rho, sides, *, trials=4, n=10, dropout=(0.0, 0.0, 0.1, 0.2), seed=11):
    # Seeded so a failure names a reproducible trial; dropout leaves unequal completers.
    chol = np.linalg.cholesky(K.covariance(4.9, K.visit_correlation(kind, 4, rho), sides))
    rng = np.random.default_rng(seed)
    return K.generate(rng, trials, n, MEANS, chol, np.array(dropout))


def long_frame(y, present, b):
    """Trial b as a tidy frame of completers: patient, arm, time, value."""
    keep = np.flatnonzero(present[b, :, -1])
    rows = [
        (f"P{i:02d}", arm, f"T{v}", y[b, i, s, v])
        for i in keep
        for s, arm in enumerate(ARMS)
        for v in range(y.shape[-1])
    ]
    return pd.DataFrame(rows, columns=["patient", "arm", "time", "value"])


@pytest.mark.parametrize(("kind", "rho", "sides"), SHAPES)
def test_change_tests_match_analysis(kind, rho, sides):
    y, present = batch(kind, rho, sides)
    t_p, w_p = K.paired_t_change(y, present), K.wilcoxon_change(y, present)
    d = K.change(y)
    for b in range(y.shape[0]):
        db = d[b][present[b, :, -1]]
        assert t_p[b] == pytest.approx(paired_t(db, np.zeros_like(db)).p, abs=1e-8, rel=1e-8)
        assert w_p[b] == pytest.approx(wilcoxon_paired(db, np.zeros_like(db)).p, abs=1e-8)


def test_wilcoxon_normal_approximation_from_50_pairs():
    y, present = batch("ar1", 0.5, 0.3, trials=3, n=60, dropout=(0, 0, 0, 0))
    p = K.wilcoxon_change(y, present)
    for b, d in enumerate(K.change(y)):
        want = wilcoxon_paired(d, np.zeros_like(d))
        assert "normal approximation" in want.method
        assert p[b] == pytest.approx(want.p, abs=1e-8)


@pytest.mark.parametrize(("kind", "rho", "sides"), SHAPES)
def test_rm_anova_kernels_match_rm_anova(kind, rho, sides):
    y, present = batch(kind, rho, sides)
    mask = present[..., -1]
    per_arm = [K.rm_anova_gg(y[:, :, s], mask, full=True) for s in (0, 1)]
    inter = K.rm_anova_gg_interaction(y, present, full=True)
    for b in range(y.shape[0]):
        data = long_frame(y, present, b)
        for s, arm in enumerate(ARMS):
            want = rm_anova(data[data["arm"] == arm], "value", "patient", "time").effect("time")
            f_value, _, df2, eps, p_gg = (np.asarray(v)[b] for v in per_arm[s])
            assert (f_value, eps, p_gg, df2) == pytest.approx(
                (want["F"], want["eps_gg"], want["p_gg"], want["df2"]), rel=1e-8, abs=1e-10
            )
        want = rm_anova(data, "value", "patient", ["arm", "time"]).effect("arm:time")
        f_value, _, _, eps, p_gg = (np.asarray(v)[b] for v in inter)
        assert (f_value, eps, p_gg) == pytest.approx(
            (want["F"], want["eps_gg"], want["p_gg"]), rel=1e-8, abs=1e-10
        )


@pytest.mark.parametrize(("kind", "rho", "sides"), SHAPES)
def test_mixed_change_matches_mixed_model(kind, rho, sides):
    y, present = batch(kind, rho, sides, trials=5)
    f_value, df2, p = K.mixed_change(y, present, full=True)
    for b in range(y.shape[0]):
        data = long_frame(y, present, b)
        base = data[data["time"] == "T0"].rename(columns={"value": "base"})
        later = data[data["time"] != "T0"].merge(base[["patient", "arm", "base"]])
        later = later.assign(change=later["value"] - later["base"])
        fit = mixed_model(later, "change ~ arm * time", "patient/arm", contrast="arm")
        want = fit.contrasts.iloc[0]
        assert f_value[b] == pytest.approx(want["t"] ** 2, rel=1e-8)
        assert df2[b] == pytest.approx(want["df"], rel=1e-8)
        assert p[b] == pytest.approx(want["p"], abs=1e-8)


def test_generate_covariance_and_dropout():
    # 200,000 simulated patients: sample moments within a few Monte Carlo SEs.
    r_visits = K.visit_correlation("ar1", 4, 0.6)
    cov = K.covariance(2.0, r_visits, 0.4)
    rng = np.random.default_rng(5)
    dropout = np.array([0.0, 0.1, 0.2, 0.3])
    y, present = K.generate(rng, 20, 10_000, MEANS, np.linalg.cholesky(cov), dropout)
    flat = y.reshape(-1, 8)
    assert np.cov(flat, rowvar=False) == pytest.approx(cov, abs=0.06)
    assert flat.mean(axis=0) == pytest.approx(MEANS.ravel(), abs=0.03)
    assert present[..., 0].all()
    assert not (present[..., 1:] & ~present[..., :-1]).any()  # monotone: no return
    assert present[..., -1].mean() == pytest.approx(0.9 * 0.8 * 0.7, abs=0.005)


def test_too_few_completers_give_nan():
    y, present = batch("cs", 0.5, 0.5, trials=2, n=3, dropout=(0, 0, 0, 0))
    present[0, :, -1] = False  # nobody completes trial 0
    for name in K.ANALYSES:
        for p in K.analyse(name, y, present).values():
            assert np.isnan(p[0])
            assert np.isfinite(p[1])


def test_visit_correlation_shapes():
    assert K.visit_correlation("cs", 3, 0.5)[0, 2] == 0.5
    assert K.visit_correlation("ar1", 3, 0.5)[0, 2] == 0.25
