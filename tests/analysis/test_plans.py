"""The analysis plans on a simulated trial, checked against independent libraries."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from nmmstrial.analysis.plans import COLUMNS, run_plan
from nmmstrial.errors import InvalidValueError
from nmmstrial.simulate import simulate_trial
from nmmstrial.study import Study, arm_codes, with_arm


@pytest.fixture(scope="module")
def study(protocol):
    # 22 patients as the paper; seed fixed so the checks below are reproducible.
    return simulate_trial(protocol, seed=2019)


@pytest.fixture(scope="module")
def paper(study):
    return run_plan(study, "paper").table


@pytest.fixture(scope="module")
def recommended(study):
    return run_plan(study, "recommended").table


def _wide(study, measure, arm):
    obs = with_arm(study.observations, study.allocation)
    rows = obs[(obs.measure == measure) & (obs.arm == arm)]
    return rows.pivot(index="patient", columns="time", values="value")


def _one(table, **where):
    rows = table
    for column, value in where.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, where
    return rows.iloc[0]


def test_every_row_carries_its_provenance(paper, recommended):
    for table in (paper, recommended):
        assert list(table.columns) == list(COLUMNS)
        assert table["test"].str.len().gt(0).all()
        assert table["correction"].str.len().gt(0).all()
        assert table["n"].gt(0).all()
        assert not table["options"].str.startswith("not estimable").any()


def test_paper_post_hoc_is_scipy_paired_t(study, paper):
    wide = _wide(study, "dynamometer_kg", "real")
    row = _one(
        paper,
        section="post hoc vs T0, per arm",
        comparison="T2 - T0, real arm",
        outcome="dynamometer_kg",
    )
    want = stats.ttest_rel(wide["T2"], wide["T0"])
    assert row["statistic"] == pytest.approx(want.statistic, rel=1e-10)
    assert row["p"] == pytest.approx(want.pvalue, rel=1e-10)
    assert row["paper"] == "p = 0.0001"


def test_paper_baseline_is_scipy_mann_whitney(study, paper):
    x = _wide(study, "dynamometer_kg", "real")["T0"]
    y = _wide(study, "dynamometer_kg", "sham")["T0"]
    row = _one(paper, section="baseline", outcome="dynamometer_kg")
    method = "exact" if "exact" in row["options"] else "asymptotic"
    want = stats.mannwhitneyu(x, y, method=method, use_continuity=True)
    assert row["statistic"] == want.statistic
    assert row["p"] == pytest.approx(want.pvalue, rel=1e-8)
    assert row["paper"] == "p = 0.71"


def test_paper_one_way_anova_is_the_classical_f(study, paper):
    wide = _wide(study, "mrc_fcr", "real")[["T0", "T1", "T2", "T3"]].to_numpy()
    n, k = wide.shape
    grand = wide.mean()
    ss_time = n * ((wide.mean(axis=0) - grand) ** 2).sum()
    ss_subject = k * ((wide.mean(axis=1) - grand) ** 2).sum()
    ss_error = ((wide - grand) ** 2).sum() - ss_time - ss_subject
    f = (ss_time / (k - 1)) / (ss_error / ((n - 1) * (k - 1)))
    rows = paper[(paper.outcome == "mrc_fcr") & (paper.comparison == "time, real arm")]
    assumed = _one(rows, correction="none (sphericity assumed)")
    assert assumed["statistic"] == pytest.approx(f, rel=1e-10)
    assert (assumed["df1"], assumed["df2"]) == (3, 63)
    gg = _one(rows, correction="Greenhouse-Geisser")
    assert gg["df2"] / gg["df1"] == pytest.approx(21)
    assert gg["df1"] / 3 >= 1 / 3
    assert gg["df1"] / 3 <= 1
    assert gg["paper"].startswith("F(3, 63) = 5.907")


def test_recommended_holm_is_statsmodels_holm(recommended):
    family = recommended[recommended.adjustment.notna()]
    assert len(family) == 4
    assert set(family.outcome) == {"dynamometer_kg", "mrc_sum", "cmap_apb_mv", "cmap_fcr_mv"}
    want = multipletests(family["p"].to_numpy(), method="holm")[1]
    assert np.allclose(family["p_adjusted"], want, rtol=1e-12)


def test_recommended_primary_contrasts_and_effect_size(study, recommended):
    primary = recommended[recommended.section == "primary outcome"]
    assert list(primary.comparison) == [
        f"real - sham, change from T0 at {v}" for v in ("T1", "T2", "T3")
    ]
    assert (primary.ci_low < primary.estimate).all()
    assert (primary.estimate < primary.ci_high).all()
    # With both arms complete, the T2 contrast's estimate is the mean paired difference.
    real, sham = _wide(study, "mrc_fcr", "real"), _wide(study, "mrc_fcr", "sham")
    diff = (real["T2"] - real["T0"]) - (sham["T2"] - sham["T0"])
    t2 = _one(primary, comparison="real - sham, change from T0 at T2")
    assert t2["estimate"] == pytest.approx(diff.mean(), rel=1e-8)
    effect = _one(recommended, section="effect sizes", outcome="mrc_fcr")
    want = stats.ttest_rel(real["T2"] - real["T0"], sham["T2"] - sham["T0"])
    assert effect["p"] == pytest.approx(want.pvalue, rel=1e-10)
    assert effect["effect_size_ci_low"] < effect["effect_size"] < effect["effect_size_ci_high"]


def test_blinded_study_shows_codes_only(study):
    blinded = Study(
        protocol=study.protocol, meta={**study.meta, "blinded": True}, tables=dict(study.tables)
    )
    result = run_plan(blinded, "recommended")
    text = " ".join(result.table["comparison"]) + " ".join(result.notes)
    assert "X - Y" in text and "Y - X" not in text  # the codes' own order, whichever is real
    assert "real" not in text and "sham" not in text
    assert result.arms == ("X", "Y")
    # The estimate is X minus Y: the real-minus-sham estimate, signed by the sealed code.
    plain = run_plan(study, "recommended").table
    sign = 1 if arm_codes(study.allocation)["real"] == "X" else -1
    coded_rows = result.table[result.table.section == "primary outcome"]
    plain_rows = plain[plain.section == "primary outcome"]
    assert np.allclose(coded_rows["estimate"], sign * plain_rows["estimate"].to_numpy())
    assert np.allclose(coded_rows["p"], plain_rows["p"].to_numpy())


def test_incomplete_patient_is_excluded_and_named(study):
    obs = study.observations
    drop = (obs.patient == "P03") & (obs.time == "T2")
    partial = Study(
        protocol=study.protocol,
        meta=study.meta,
        tables={**study.tables, "observations": obs[~drop]},
    )
    table = run_plan(partial, "paper").table
    anova = table[table.section == "one-way RM ANOVA over T0-T3, per arm"]
    assert anova["options"].str.contains("listwise: excluded P03").all()
    assert (anova["n"] == 21).all()


def test_unknown_plan_is_refused(study):
    with pytest.raises(InvalidValueError, match="plan 'best' is not one of paper, recommended"):
        run_plan(study, "best")


def test_to_dict_is_json_ready(study):
    data = run_plan(study, "paper").to_dict()
    assert data["plan"] == "paper"
    assert all(
        isinstance(v, (str, int, float, type(None))) for r in data["results"] for v in r.values()
    )
    assert not any(
        isinstance(v, float) and np.isnan(v) for r in data["results"] for v in r.values()
    )
    assert isinstance(pd.DataFrame(data["results"]), pd.DataFrame)
