"""Wilcoxon signed-rank and Mann-Whitney tests against R (stats, exactRankTests, coin,
effectsize); fixtures and the R script in reference/tests_and_posthoc.R."""

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmmstrial.analysis.nonparametric import (
    mann_whitney,
    rank_sum_distribution,
    signed_rank_distribution,
    wilcoxon_paired,
)
from nmmstrial.errors import InvalidValueError

REFERENCE = Path(__file__).parent / "reference" / "tests"
PAIRED = sorted(p.stem for p in REFERENCE.glob("paired_*.json"))
TWO_SAMPLE = sorted(p.stem for p in REFERENCE.glob("two_sample_*.json"))
# (R result key, mode, continuity)
MODES = [
    ("default", None, True),
    ("approx", "approx", True),
    ("approx_no_continuity", "approx", False),
    ("exact", "exact", True),
]
REL = 1e-6


def reference(name):
    return pd.read_csv(REFERENCE / f"{name}.csv"), json.loads(
        (REFERENCE / f"{name}.json").read_text()
    )


def groups(data, want):
    first, second = want["levels"]
    return data.loc[data.group == first, "value"], data.loc[data.group == second, "value"]


def r_method_head(method):
    # exactRankTests words it "Exact Wilcoxon ... test"; ours follows stats' wording.
    return method.replace(
        "Exact Wilcoxon signed rank test", "Wilcoxon signed rank exact test"
    ).replace("Exact Wilcoxon rank sum test", "Wilcoxon rank sum exact test")


def test_fixtures_cover_every_quirk():
    assert len(PAIRED) >= 5 and len(TWO_SAMPLE) >= 5
    quirks = [reference(name)[1] for name in PAIRED]
    assert any(w["zeros"] for w in quirks) and any(w["ties"] for w in quirks)
    assert any(w["n"] >= 50 and not w["ties"] for w in quirks)


@pytest.mark.parametrize("name", PAIRED)
@pytest.mark.parametrize(("key", "mode", "continuity"), MODES)
def test_signed_rank_matches_r(name, key, mode, continuity):
    data, want = reference(name)
    got = wilcoxon_paired(data.x, data.y, mode=mode, continuity=continuity)
    r = want["wilcoxon"][key]
    assert got.statistic == pytest.approx(r["statistic"], rel=REL)
    # exactRankTests reports 2 P(T >= t) above 1 when t is the centre; a p is capped at 1.
    assert got.p == pytest.approx(min(1.0, r["p"]), rel=REL)
    assert got.method.startswith(r_method_head(r["method"]))
    assert got.n == want["n"]


@pytest.mark.parametrize("name", PAIRED)
def test_signed_rank_exact_matches_coin(name):
    data, want = reference(name)
    got = wilcoxon_paired(data.x, data.y, mode="exact")
    assert got.p == pytest.approx(want["wilcoxon"]["coin_exact_p"], rel=REL)


@pytest.mark.parametrize("name", PAIRED)
def test_signed_rank_effect_sizes_match_r(name):
    data, want = reference(name)
    got = wilcoxon_paired(data.x, data.y)
    assert got.hodges_lehmann == pytest.approx(want["hodges_lehmann"], rel=REL)
    assert got.estimate == got.hodges_lehmann
    # effectsize::rank_biserial on the differences (zeros dropped, n = non-zero d)
    assert got.rank_biserial == pytest.approx(want["rank_biserial"]["value"], rel=REL)
    assert got.rank_biserial_ci == pytest.approx(want["rank_biserial"]["ci"], rel=REL)
    exact = want["wilcoxon"]["exact"]
    if exact["ci"] is not None:  # R's exact interval: no ties, no zeros
        assert got.ci == pytest.approx(exact["ci"], rel=REL)
        assert got.hodges_lehmann == pytest.approx(exact["estimate"], rel=REL)


@pytest.mark.parametrize("name", TWO_SAMPLE)
@pytest.mark.parametrize(("key", "mode", "continuity"), MODES)
def test_rank_sum_matches_r(name, key, mode, continuity):
    data, want = reference(name)
    x, y = groups(data, want)
    got = mann_whitney(x, y, mode=mode, continuity=continuity)
    r = want["wilcoxon"][key]
    assert got.statistic == pytest.approx(r["statistic"], rel=REL)
    assert got.p == pytest.approx(r["p"], rel=REL)
    assert got.method.startswith(r_method_head(r["method"]))
    assert (got.n_x, got.n_y, got.n) == (want["n_x"], want["n_y"], want["n_x"] + want["n_y"])


@pytest.mark.parametrize("name", TWO_SAMPLE)
def test_rank_sum_exact_matches_coin(name):
    data, want = reference(name)
    got = mann_whitney(*groups(data, want), mode="exact")
    assert got.p == pytest.approx(want["wilcoxon"]["coin_exact_p"], rel=REL)


@pytest.mark.parametrize("name", TWO_SAMPLE)
def test_rank_sum_effect_sizes_match_r(name):
    data, want = reference(name)
    got = mann_whitney(*groups(data, want))
    assert got.hodges_lehmann == pytest.approx(want["hodges_lehmann"], rel=REL)
    assert got.rank_biserial == pytest.approx(want["rank_biserial"]["value"], rel=REL)
    assert got.rank_biserial_ci == pytest.approx(want["rank_biserial"]["ci"], rel=REL)
    exact = want["wilcoxon"]["exact"]
    if exact["ci"] is not None:
        assert got.ci == pytest.approx(exact["ci"], rel=REL)
        assert got.hodges_lehmann == pytest.approx(exact["estimate"], rel=REL)


def test_method_states_zeros_ties_and_fallback():
    data, _ = reference("paired_sleep_zero_and_ties")
    default = wilcoxon_paired(data.x, data.y).method
    assert "normal approximation because of ties and zeros" in default
    assert "1 zero difference dropped" in default
    assert "ties: 2 values in 1 group, mid-ranks, tie-corrected variance" in default
    exact = wilcoxon_paired(data.x, data.y, mode="exact").method
    assert exact == (
        "Wilcoxon signed rank exact test (1 zero difference dropped; "
        "ties: 2 values in 1 group, mid-ranks, exact conditional distribution)"
    )
    plain = wilcoxon_paired(data.x, data.y, mode="approx", continuity=False).method
    assert plain.startswith("Wilcoxon signed rank test (normal approximation; no continuity")


def test_result_to_dict_is_json():
    data, _ = reference("paired_depression_no_ties")
    out = wilcoxon_paired(data.x, data.y).to_dict()
    assert out["test"] == "wilcoxon" and out["statistic"] == 40.0
    assert out["df"] is None and out["n_x"] is None and out["hedges_g"] is None
    assert isinstance(out["ci"], list) and len(out["rank_biserial_ci"]) == 2
    assert out["options"] == {
        "mode": None,
        "continuity": True,
        "alternative": "two.sided",
        "conf_level": 0.95,
    }
    json.dumps(out, allow_nan=False)


# Brute force: every sign vector / every subset, with P(|T - E| >= |t - E|).
def brute_signed_rank_p(d):
    nonzero = d[d != 0]
    ranks = pd.Series(np.abs(nonzero)).rank().to_numpy()
    t = ranks[nonzero > 0].sum()
    centre = ranks.sum() / 2
    sums = [
        ranks[list(signs)].sum() for signs in itertools.product([False, True], repeat=len(ranks))
    ]
    return min(1.0, np.mean(np.abs(np.array(sums) - centre) >= abs(t - centre) - 1e-9))


def brute_rank_sum_p(x, y):
    ranks = pd.Series(np.concatenate([x, y])).rank().to_numpy()
    t = ranks[: len(x)].sum()
    centre = len(x) * ranks.mean()
    sums = [ranks[list(c)].sum() for c in itertools.combinations(range(len(ranks)), len(x))]
    return np.mean(np.abs(np.array(sums) - centre) >= abs(t - centre) - 1e-9)


small_ints = st.integers(-4, 4)  # small integers: many ties and zeros


@settings(max_examples=60, deadline=None)
@given(st.lists(small_ints, min_size=2, max_size=10).filter(lambda d: any(d)))
def test_signed_rank_exact_p_is_brute_force(d):
    d = np.array(d, dtype=float)
    got = wilcoxon_paired(d, np.zeros_like(d), mode="exact")
    assert 0 <= got.p <= 1
    assert got.p == pytest.approx(brute_signed_rank_p(d), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(small_ints, min_size=2, max_size=6),
    st.lists(small_ints, min_size=2, max_size=6),
)
def test_rank_sum_exact_p_is_brute_force(x, y):
    x, y = np.array(x, dtype=float), np.array(y, dtype=float)
    if len(set(x) | set(y)) < 2:
        return  # a constant outcome is refused, tested below
    got = mann_whitney(x, y, mode="exact")
    assert 0 <= got.p <= 1
    assert got.p == pytest.approx(brute_rank_sum_p(x, y), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=9), st.data())
def test_distributions_are_brute_force(scores, data):
    scores = np.array(scores)
    signed = np.zeros(scores.sum() + 1)
    for signs in itertools.product([0, 1], repeat=len(scores)):
        signed[scores @ np.array(signs)] += 0.5 ** len(scores)
    assert signed_rank_distribution(scores) == pytest.approx(signed, abs=1e-14)
    m = data.draw(st.integers(0, len(scores)))
    drawn = np.zeros(scores.sum() + 1)
    subsets = list(itertools.combinations(range(len(scores)), m))
    for c in subsets:
        drawn[scores[list(c)].sum()] += 1 / len(subsets)
    assert rank_sum_distribution(scores, m) == pytest.approx(drawn, abs=1e-14)


paired_samples = st.integers(2, 25).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from([0.5, 1.0, 1.25, 2.0, 3.5, 4.0]), min_size=n, max_size=n),
        st.lists(
            st.floats(-5, 5, allow_nan=False).map(lambda v: round(v, 2)), min_size=n, max_size=n
        ),
    )
)
modes = st.sampled_from([None, "exact", "approx"])


@settings(max_examples=60, deadline=None)
@given(paired_samples, modes, st.randoms(use_true_random=False))
def test_signed_rank_ignores_pair_order_and_swapping_flips_signs(xy, mode, random):
    x, y = map(np.array, xy)
    if not np.any(x != y):
        return
    got = wilcoxon_paired(x, y, mode=mode)
    order = list(range(len(x)))
    random.shuffle(order)
    shuffled = wilcoxon_paired(x[order], y[order], mode=mode)
    assert _same(shuffled, got)
    swapped = wilcoxon_paired(y, x, mode=mode)
    nonzero = np.count_nonzero(x - y)
    assert swapped.statistic == nonzero * (nonzero + 1) / 2 - got.statistic
    assert swapped.p == pytest.approx(got.p, rel=1e-12)
    assert swapped.hodges_lehmann == pytest.approx(-got.hodges_lehmann, abs=1e-12)
    assert swapped.ci == pytest.approx((-got.ci[1], -got.ci[0]), abs=1e-12)
    assert swapped.rank_biserial == pytest.approx(-got.rank_biserial, abs=1e-12)
    assert swapped.rank_biserial_ci == pytest.approx(
        (-got.rank_biserial_ci[1], -got.rank_biserial_ci[0]), abs=1e-12
    )


def _same(a, b):
    keys = ["statistic", "p", "hodges_lehmann", "rank_biserial"]
    return all(getattr(a, k) == pytest.approx(getattr(b, k), rel=1e-12) for k in keys) and (
        a.ci == pytest.approx(b.ci) and a.method == b.method
    )


two_samples = st.tuples(
    st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.25, 3.0, 7.0]), min_size=2, max_size=20),
    st.lists(st.floats(-2, 8, allow_nan=False).map(lambda v: round(v, 1)), min_size=2, max_size=20),
)


@settings(max_examples=60, deadline=None)
@given(two_samples, modes, st.randoms(use_true_random=False))
def test_rank_sum_ignores_row_order_and_swapping_flips_signs(xy, mode, random):
    x, y = map(np.array, xy)
    if len(set(x) | set(y)) < 2:
        return
    got = mann_whitney(x, y, mode=mode)
    x_order, y_order = list(range(len(x))), list(range(len(y)))
    random.shuffle(x_order)
    random.shuffle(y_order)
    assert _same(mann_whitney(x[x_order], y[y_order], mode=mode), got)
    swapped = mann_whitney(y, x, mode=mode)
    assert swapped.statistic == len(x) * len(y) - got.statistic
    assert swapped.p == pytest.approx(got.p, rel=1e-12)
    assert swapped.hodges_lehmann == pytest.approx(-got.hodges_lehmann, abs=1e-12)
    assert swapped.ci == pytest.approx((-got.ci[1], -got.ci[0]), abs=1e-12)
    assert swapped.rank_biserial == pytest.approx(-got.rank_biserial, abs=1e-12)


def test_exact_conditional_p_is_fast_and_near_normal_for_hundreds():
    # Seeded so the comparison is stable; rounding to 0.1 makes many ties.
    rng = np.random.default_rng(11)
    x, y = np.round(rng.normal(0.2, 1, 150), 1), np.round(rng.normal(0, 1, 150), 1)
    exact = mann_whitney(x, y, mode="exact")
    approx = mann_whitney(x, y, mode="approx")
    assert exact.p == pytest.approx(approx.p, abs=0.01)
    d_exact = wilcoxon_paired(x, y, mode="exact")
    assert d_exact.p == pytest.approx(wilcoxon_paired(x, y, mode="approx").p, abs=0.01)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: wilcoxon_paired([1, 2, 3], [1, 2]), "x has 3 values and y 2"),
        (lambda: wilcoxon_paired([1], [2]), "1 pair"),
        (
            lambda: wilcoxon_paired([1, "a", 3], [1, 2, 3]),
            r"row 2, column value: 'a' is not a number",
        ),
        (lambda: wilcoxon_paired([1, 2, 3], [1, None, 3]), "row 5, column value: missing value"),
        (lambda: wilcoxon_paired([2, 2, 2], [2, 2, 2]), "every value is 2"),
        (lambda: wilcoxon_paired([1, 2, 3], [1, 2, 3]), "every difference x - y is 0"),
        (lambda: wilcoxon_paired([1, 2], [2, 1], mode="exakt"), "mode 'exakt' is not known"),
        (lambda: mann_whitney([1], [2, 3]), "x has 1 value"),
        (lambda: mann_whitney([1, 2], ["b", 3]), "row 3, column value: 'b' is not a number"),
        (lambda: mann_whitney([5, 5], [5, 5, 5]), "every value is 5"),
    ],
)
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(InvalidValueError, match=message):
        call()


def test_constant_side_is_allowed_in_a_paired_test():
    # Fold changes are 1 at baseline: y constant is a one-sample test of x - 1.
    got = wilcoxon_paired([1.2, 0.9, 1.5, 1.3], [1, 1, 1, 1])
    assert got.statistic == 9.0 and got.p == pytest.approx(0.25)  # R: 0.25
