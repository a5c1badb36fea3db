"""Paired, Welch and Student t tests and Hedges' g against R (t.test, effectsize 0.8.3);
fixtures and the R script in reference/tests_and_posthoc.R."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmmstrial.analysis.parametric import paired_t, student_t, welch_t
from nmmstrial.errors import InvalidValueError

REFERENCE = Path(__file__).parent / "reference" / "tests"
PAIRED = sorted(p.stem for p in REFERENCE.glob("paired_*.json"))
TWO_SAMPLE = sorted(p.stem for p in REFERENCE.glob("two_sample_*.json"))
REL = 1e-6
# effectsize finds the noncentral-t interval with optim (abstol 1e-9 on p): its own
# bounds are good to about 1e-6 absolute; the same formula solved by uniroot to 1e-13
# (ci_exact_roots) is matched to 1e-6 relative.
EFFECTSIZE_OPTIM_ABS = 1e-6


def reference(name):
    return pd.read_csv(REFERENCE / f"{name}.csv"), json.loads(
        (REFERENCE / f"{name}.json").read_text()
    )


def groups(data, want):
    first, second = want["levels"]
    return data.loc[data.group == first, "value"], data.loc[data.group == second, "value"]


def assert_t_matches(got, r):
    assert got.statistic == pytest.approx(r["statistic"], rel=REL)
    assert got.df == pytest.approx(r["df"], rel=REL)
    assert got.p == pytest.approx(r["p"], rel=REL)
    assert got.estimate == pytest.approx(r["estimate"], rel=REL)
    assert got.ci == pytest.approx(r["ci"], rel=REL)


def assert_g_matches(got, g):
    assert got.hedges_g == pytest.approx(g["value"], rel=REL)
    assert got.hedges_g_ci == pytest.approx(g["ci_exact_roots"], rel=REL)
    assert got.hedges_g_ci == pytest.approx(g["ci"], abs=EFFECTSIZE_OPTIM_ABS)


@pytest.mark.parametrize("name", PAIRED)
def test_paired_t_matches_r(name):
    data, want = reference(name)
    got = paired_t(data.x, data.y)
    assert_t_matches(got, want["t"])
    assert_g_matches(got, want["hedges_g"])
    assert (got.test, got.method, got.n, got.n_x) == ("paired-t", "Paired t-test", want["n"], None)


@pytest.mark.parametrize("name", TWO_SAMPLE)
def test_welch_and_student_match_r(name):
    data, want = reference(name)
    x, y = groups(data, want)
    welch, student = welch_t(x, y), student_t(x, y)
    assert_t_matches(welch, want["welch"])
    assert_t_matches(student, want["student"])
    # Hedges' g uses the pooled SD for both (effectsize's default pooled_sd = TRUE).
    assert_g_matches(welch, want["hedges_g"])
    assert_g_matches(student, want["hedges_g"])
    assert welch.method == "Welch Two Sample t-test"
    assert (welch.n_x, welch.n_y, welch.n) == (want["n_x"], want["n_y"], want["n_x"] + want["n_y"])


def test_result_to_dict_is_json():
    data, _ = reference("paired_sleep_zero_and_ties")
    out = paired_t(data.x, data.y).to_dict()
    assert out["rank_biserial"] is None and out["hodges_lehmann"] is None
    assert len(out["ci"]) == 2 and len(out["hedges_g_ci"]) == 2
    assert out["options"] == {
        "mode": None,
        "continuity": None,
        "alternative": "two.sided",
        "conf_level": 0.95,
    }
    json.dumps(out, allow_nan=False)


values = st.floats(-50, 50, allow_nan=False).map(lambda v: round(v, 3))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(3, 30).flatmap(lambda n: st.tuples(*[st.lists(values, min_size=n, max_size=n)] * 2))
)
def test_paired_t_ignores_pair_order_and_swapping_flips_signs(xy):
    x, y = map(np.array, xy)
    d = x - y
    if np.ptp(d) < 1e-6:
        return  # differences that do not vary are refused, tested below
    got = paired_t(x, y)
    order = np.argsort(-x, kind="stable")
    shuffled = paired_t(x[order], y[order])
    assert shuffled.statistic == pytest.approx(got.statistic, rel=1e-9, abs=1e-12)
    assert shuffled.p == pytest.approx(got.p, rel=1e-9)
    swapped = paired_t(y, x)
    assert swapped.statistic == pytest.approx(-got.statistic, rel=1e-12)
    assert swapped.p == pytest.approx(got.p, rel=1e-12)
    assert swapped.ci == pytest.approx((-got.ci[1], -got.ci[0]), rel=1e-12, abs=1e-12)
    assert swapped.hedges_g == pytest.approx(-got.hedges_g, rel=1e-12)
    assert swapped.hedges_g_ci == pytest.approx(
        (-got.hedges_g_ci[1], -got.hedges_g_ci[0]), rel=1e-8, abs=1e-10
    )
    assert got.hedges_g_ci[0] < got.hedges_g < got.hedges_g_ci[1]


@settings(max_examples=60, deadline=None)
@given(st.lists(values, min_size=2, max_size=25), st.lists(values, min_size=2, max_size=25))
def test_two_sample_t_swapping_flips_signs(x, y):
    x, y = np.array(x), np.array(y)
    if np.ptp(x) < 1e-6 and np.ptp(y) < 1e-6:
        return
    for test in (welch_t, student_t):
        got, swapped = test(x, y), test(y, x)
        assert swapped.statistic == pytest.approx(-got.statistic, rel=1e-12, abs=1e-12)
        assert swapped.df == pytest.approx(got.df, rel=1e-12)
        assert swapped.p == pytest.approx(got.p, rel=1e-12)
        assert swapped.hedges_g == pytest.approx(-got.hedges_g, rel=1e-12, abs=1e-12)
        reordered = test(x[::-1], y[::-1])
        assert reordered.statistic == pytest.approx(got.statistic, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: paired_t([1, 2, 3], [0, 1, 2]), "every difference x - y is 1"),
        (lambda: paired_t([1, 2, 3], [1, 2]), "x has 3 values and y 2"),
        (lambda: paired_t([1], [2]), "1 pair"),
        (lambda: paired_t(["1", "x"], [1, 2]), "row 2, column value: 'x' is not a number"),
        (lambda: welch_t([1, 1, 1], [2, 2]), "both groups are constant"),
        (lambda: student_t([1, 1], [2, 2, 2]), "both groups are constant"),
        (lambda: welch_t([1, 2], [3]), "y has 1 value"),
        (lambda: student_t([3, 3], [3, 3]), "every value is 3"),
    ],
)
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(InvalidValueError, match=message):
        call()


def test_g_interval_is_null_where_the_noncentral_t_fails():
    # t is about 4e6: scipy's noncentral t returns NaN there; no interval, no crash.
    got = paired_t([1, 1, 1.000001, 2], [0, 0, 0, 1])
    assert got.statistic == pytest.approx(4000001.0, rel=1e-6)
    assert got.to_dict()["hedges_g_ci"] is None
