"""p value adjustment against R's p.adjust; fixtures and the R script in
reference/tests_and_posthoc.R."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmmstrial.analysis.multiplicity import METHODS, adjust_p
from nmmstrial.errors import InvalidValueError

REFERENCE = Path(__file__).parent / "reference" / "tests"
CASES = json.loads((REFERENCE / "p_adjust.json").read_text())["cases"]


def as_array(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("method", METHODS)
def test_adjust_p_matches_r(case, method):
    want = CASES[case]
    got = adjust_p(want["p"], method)
    assert np.isnan(got).tolist() == np.isnan(as_array(want[method])).tolist()
    np.testing.assert_allclose(got, as_array(want[method]), rtol=1e-6, equal_nan=True)


def test_method_names_ignore_case_as_r_spells_them():
    assert adjust_p([0.01, 0.04], "BH").tolist() == adjust_p([0.01, 0.04], "bh").tolist()


def test_missing_p_values_are_kept_and_not_counted():
    got = adjust_p([0.01, None, np.nan, 0.04], "bonferroni")
    assert np.isnan(got[1]) and np.isnan(got[2])
    assert got[[0, 3]].tolist() == pytest.approx([0.02, 0.08])


p_values = st.lists(
    st.one_of(st.floats(0, 1, allow_nan=False), st.just(np.nan)), min_size=1, max_size=15
)


@settings(max_examples=100, deadline=None)
@given(p_values, st.randoms(use_true_random=False))
def test_adjustments_are_ordered_bounded_and_permutation_equivariant(p, random):
    p = np.array(p)
    present = ~np.isnan(p)
    adjusted = {method: adjust_p(p, method) for method in METHODS}
    for method, values in adjusted.items():
        assert np.isnan(values).tolist() == (~present).tolist(), method
        assert (values[present] >= p[present] - 1e-15).all() and (values[present] <= 1).all()
        order = list(range(len(p)))
        random.shuffle(order)
        np.testing.assert_allclose(adjust_p(p[order], method), values[order], equal_nan=True)
    kept = present
    tol = 1e-12
    assert (adjusted["holm"][kept] <= adjusted["bonferroni"][kept] + tol).all()
    assert (adjusted["hochberg"][kept] <= adjusted["holm"][kept] + tol).all()
    assert (adjusted["bh"][kept] <= adjusted["hochberg"][kept] + tol).all()


@pytest.mark.parametrize(
    ("p", "method", "message"),
    [
        ([0.1], "BY", "'BY' is not known; use one of bonferroni, holm, hochberg, bh"),
        ([0.1, 1.2], "holm", "1.2 is not a p value"),
        ([-0.01, 0.5], "bh", "-0.01 is not a p value"),
    ],
)
def test_bad_input_is_one_clear_error(p, method, message):
    with pytest.raises(InvalidValueError, match=message):
        adjust_p(p, method)
