"""rm_anova against afex/car fixtures (reference/rm_anova.R), properties and refusals."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmmstrial.analysis.anova import COLUMNS, STAT_COLUMNS, RmAnova, rm_anova
from nmmstrial.errors import InvalidValueError

REFERENCE = Path(__file__).parent / "reference" / "rm_anova"
CASES = sorted(p.stem for p in REFERENCE.glob("*.json"))
NUMBERS = [c for c in STAT_COLUMNS if c != "effect"]


def reference(case: str) -> tuple[pd.DataFrame, dict]:
    """The data afex analysed and its results (written by rm_anova.R)."""
    data = pd.read_csv(REFERENCE / f"{case}.csv")
    want = json.loads((REFERENCE / f"{case}.json").read_text())
    return data, want


def fit(case: str) -> tuple[RmAnova, dict]:
    data, want = reference(case)
    args = want["args"]
    got = rm_anova(
        data,
        dv=args["dv"],
        subject=args["subject"],
        within=args["within"],
        between=args["between"],
        type=args["type"],
        listwise=args["listwise"],
    )
    return got, want


def test_fixtures_cover_the_designs():
    assert {
        "obk_type3",
        "obk_type2",
        "obk_hour1_phase_by_treatment",
        "sleepstudy_days",
        "trial_arm_by_time",
        "unbalanced_site_sex_type3",
        "unbalanced_site_sex_type2",
        "trial_incomplete_listwise",
    } <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_rm_anova_matches_afex(case):
    got, want = fit(case)
    result = got.to_dict()
    assert [e["effect"] for e in result["effects"]] == [e["effect"] for e in want["effects"]]
    assert result["n_subjects"] == want["n_subjects"]
    assert list(map(str, result["excluded_subjects"])) == want["excluded_subjects"]
    for mine, theirs in zip(result["effects"], want["effects"], strict=True):
        for column in NUMBERS:
            if theirs[column] is None:
                assert mine[column] is None, (mine["effect"], column)
            else:
                assert mine[column] == pytest.approx(theirs[column], rel=1e-6), (
                    mine["effect"],
                    column,
                )


def test_type_2_and_3_differ_for_unbalanced_groups():
    type2, _ = fit("unbalanced_site_sex_type2")
    type3, _ = fit("unbalanced_site_sex_type3")
    assert type2.effect("site")["F"] != pytest.approx(type3.effect("site")["F"], rel=1e-3)
    # The highest-order between term is adjusted for everything either way.
    assert type2.effect("site:sex")["F"] == pytest.approx(type3.effect("site:sex")["F"])


def test_huynh_feldt_is_uncapped_and_p_uses_one():
    got, _ = fit("spherical_hf_above_one")
    row = got.effect("time")
    assert row["eps_hf"] > 1
    assert row["p_hf"] == pytest.approx(row["p"], rel=1e-12)


def test_one_within_df_and_between_effects_have_no_correction():
    got, _ = fit("obk_hour1_phase_by_treatment")
    between = got.effect("treatment")
    assert all(math.isnan(between[c]) for c in ["eps_gg", "p_gg", "eps_hf", "mauchly_w"])
    trial, _ = fit("trial_arm_by_time")
    arm = trial.effect("arm")
    assert (arm["eps_gg"], arm["eps_hf"]) == (1.0, 1.0)
    assert arm["p_gg"] == arm["p_hf"] == arm["p"]
    assert math.isnan(arm["mauchly_w"]) and math.isnan(arm["mauchly_p"])


def test_frame_and_json_shape():
    got, _ = fit("obk_type3")
    assert list(got.effects.columns) == COLUMNS
    assert set(got.effects["test"]) == {"repeated-measures ANOVA"}
    assert set(got.effects["ss_type"]) == {3}
    assert got["p_gg"].equals(got.effects["p_gg"])
    result = got.to_dict()
    assert list(result) == [
        "effects",
        "n_subjects",
        "excluded_subjects",
        "test",
        "type",
        "dv",
        "subject",
        "within",
        "between",
        "listwise",
    ]
    assert list(result["effects"][0]) == STAT_COLUMNS
    assert result["effects"][0]["mauchly_w"] is None
    assert (result["within"], result["between"]) == (["phase", "hour"], ["treatment", "gender"])
    assert (result["type"], result["listwise"], result["excluded_subjects"]) == (3, False, [])
    json.dumps(result, allow_nan=False)


def test_unknown_effect_lists_the_effects():
    got, _ = fit("trial_arm_by_time")
    with pytest.raises(
        InvalidValueError, match="no effect 'time:arm'; effects: arm, time, arm:time"
    ):
        got.effect("time:arm")


# Properties on random designs: n subjects x k visits, each visit with its own spread so
# the data are not spherical, optionally a between factor with two groups.
@st.composite
def designs(draw):
    n = draw(st.integers(4, 12))
    k = draw(st.integers(2, 5))
    groups = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = rng.gamma(2.0, size=k)
    values = rng.normal(size=(n, 1)) + rng.normal(size=(n, k)) * scale
    frame = pd.DataFrame(
        {
            "patient": np.repeat([f"P{i:02d}" for i in range(n)], k),
            "time": np.tile([f"T{j}" for j in range(k)], n),
            "value": values.ravel(),
            "arm": np.repeat(["real" if i % 3 else "sham" for i in range(n)], k),
        }
    )
    return frame, ("arm",) if groups else ()


def analyse(frame, between):
    return rm_anova(frame, dv="value", subject="patient", within="time", between=between)


def assert_same(a: RmAnova, b: RmAnova):
    assert a.effects["effect"].tolist() == b.effects["effect"].tolist()
    np.testing.assert_allclose(
        a.effects[NUMBERS].to_numpy(float), b.effects[NUMBERS].to_numpy(float), rtol=1e-9
    )


@settings(max_examples=40, deadline=None)
@given(design=designs(), data=st.data())
def test_row_order_does_not_matter(design, data):
    frame, between = design
    order = data.draw(st.permutations(range(len(frame))))
    assert_same(analyse(frame, between), analyse(frame.iloc[list(order)], between))


@settings(max_examples=40, deadline=None)
@given(design=designs(), data=st.data())
def test_subject_labels_do_not_matter(design, data):
    frame, between = design
    old = sorted(frame["patient"].unique())
    new = data.draw(st.permutations([f"S{i}" for i in range(len(old))]))
    relabelled = frame.assign(patient=frame["patient"].map(dict(zip(old, new, strict=True))))
    assert_same(analyse(frame, between), analyse(relabelled, between))


@settings(max_examples=60, deadline=None)
@given(design=designs())
def test_greenhouse_geisser_within_bounds(design):
    frame, between = design
    k = frame["time"].nunique()
    eps = analyse(frame, between).effect("time")["eps_gg"]
    if k == 2:
        assert eps == 1.0
    elif not math.isnan(eps):  # NaN only when the error matrix is singular (n small)
        assert eps >= 1 / (k - 1) - 1e-12
        assert eps <= 1 + 1e-12


@settings(max_examples=30, deadline=None)
@given(design=designs())
def test_type_2_equals_type_3_for_balanced_groups(design):
    frame, _ = design
    arm = np.where(frame["patient"].str[1:].astype(int) % 2 == 0, "real", "sham")
    balanced = frame.assign(arm=arm)
    balanced = balanced[balanced["patient"].isin(sorted(balanced["patient"].unique())[:4])]
    type2 = rm_anova(balanced, "value", "patient", "time", "arm", type=2)
    type3 = rm_anova(balanced, "value", "patient", "time", "arm", type=3)
    assert_same(type2, type3)


# Refusals: one clear error naming the problem.
def trial():
    data, _ = reference("trial_arm_by_time")
    return data


def test_missing_cell_names_subject_and_cell():
    data = trial()
    gone = (data["patient"] == "P05") & (data["arm"] == "real") & (data["time"] == "T2")
    with pytest.raises(InvalidValueError, match="subject P05 has no value for arm=real, time=T2"):
        rm_anova(data[~gone], "value", "patient", ["arm", "time"])


def test_listwise_drops_and_names_the_subject():
    data = trial()
    gone = (data["patient"] == "P05") & (data["arm"] == "real") & (data["time"] == "T2")
    got = rm_anova(data[~gone], "value", "patient", ["arm", "time"], listwise=True)
    assert got.excluded_subjects == ["P05"]
    assert got.n_subjects == 21
    assert got.to_dict()["listwise"] is True


def test_non_numeric_dv():
    data = trial().astype({"value": object})
    data.loc[3, "value"] = "n/a"
    with pytest.raises(InvalidValueError, match="row 4, column value: 'n/a' is not a number"):
        rm_anova(data, "value", "patient", ["arm", "time"])


def test_constant_dv():
    data = trial().assign(value=3.0)
    with pytest.raises(InvalidValueError, match="every value is 3; a constant outcome"):
        rm_anova(data, "value", "patient", ["arm", "time"])


def test_fewer_than_two_subjects():
    data = trial()
    with pytest.raises(InvalidValueError, match="1 complete subject"):
        rm_anova(data[data["patient"] == "P01"], "value", "patient", ["arm", "time"])


def test_no_residual_variation():
    # Patient plus visit effects and nothing else: the error SS is zero, F undefined.
    data = pd.DataFrame(
        {
            "patient": np.repeat(["P1", "P2", "P3"], 3),
            "time": ["T0", "T1", "T2"] * 3,
            "value": [1.0, 2.0, 4.0, 3.0, 4.0, 6.0, 0.0, 1.0, 3.0],
        }
    )
    with pytest.raises(InvalidValueError, match="no residual variation for time"):
        rm_anova(data, "value", "patient", "time")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"within": "side"}, "no column 'side'"),
        ({"type": 1}, "type must be 2 or 3"),
        ({"within": []}, "at least one within-subject factor"),
        ({"between": "arm"}, "column arm is given twice"),
    ],
)
def test_bad_arguments(change, message):
    args = {"dv": "value", "subject": "patient", "within": ["arm", "time"]} | change
    with pytest.raises(InvalidValueError, match=message):
        rm_anova(trial(), **args)


def test_one_level_factor():
    data = trial()
    data = data[data["arm"] == "real"]
    with pytest.raises(InvalidValueError, match="within factor arm has one level"):
        rm_anova(data, "value", "patient", ["arm", "time"])


def test_between_groups_need_subjects():
    data, _ = reference("unbalanced_site_sex_type3")
    no_cm = data[~((data["site"] == "C") & (data["sex"] == "M"))]
    with pytest.raises(InvalidValueError, match="no subject with site=C, sex=M"):
        rm_anova(no_cm, "value", "patient", "time", ["site", "sex"])
    one_each = data[data["patient"].isin(["P01", "P04"])]
    with pytest.raises(InvalidValueError, match="2 subjects for 2 between-subject groups"):
        rm_anova(one_each, "value", "patient", "time", "sex")
