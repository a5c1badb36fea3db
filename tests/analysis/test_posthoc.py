"""Post hoc comparisons against emmeans on afex fits (multivariate and univariate),
wilcox.test / exactRankTests and p.adjust; fixtures and the R script in
reference/tests_and_posthoc.R."""

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmmstrial.analysis.multiplicity import adjust_p
from nmmstrial.analysis.posthoc import COLUMNS, posthoc
from nmmstrial.errors import InvalidValueError

REFERENCE = Path(__file__).parent / "reference" / "tests"
NAMES = sorted(p.stem for p in REFERENCE.glob("posthoc_*.json"))
VARIANTS = {
    "t_ref": {},
    "t_all": {"all_pairs": True},
    "pooled_ref": {"pooled_error": True},
    "pooled_all": {"pooled_error": True, "all_pairs": True},
    "wilcoxon_ref": {"test": "wilcoxon"},
    "wilcoxon_ref_exact": {"test": "wilcoxon", "mode": "exact"},
    "wilcoxon_all": {"test": "wilcoxon", "all_pairs": True},
}
NUMBERS = ["estimate", "se", "df", "statistic", "p", "p_holm", "p_bonferroni", "p_hochberg", "p_bh"]
REL = 1e-6


def reference(name):
    return pd.read_csv(REFERENCE / f"{name}.csv"), json.loads(
        (REFERENCE / f"{name}.json").read_text()
    )


def run(data, name, **options):
    return posthoc(data, "value", "subject", "time", listwise="incomplete" in name, **options)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_posthoc_matches_r(name, variant):
    data, want = reference(name)
    got = run(data, name, **VARIANTS[variant])
    rows = pd.DataFrame(want[variant])
    table = got.comparisons
    assert table["contrast"].tolist() == rows["contrast"].tolist()
    if variant.startswith("wilcoxon"):
        rows["estimate"] = rows["hodges_lehmann"]
        assert table[["se", "df"]].isna().all().all()
        assert (
            table["method"]
            .str.endswith("estimate: Hodges-Lehmann (median of Walsh averages)")
            .all()
        )
    for column in (c for c in NUMBERS if c in rows):
        assert table[column].tolist() == pytest.approx(rows[column].tolist(), rel=REL), column
    if "ci_low" in rows:
        assert table["ci"].tolist() == [
            pytest.approx(pair, rel=REL) for pair in rows[["ci_low", "ci_high"]].to_numpy().tolist()
        ]
    assert got.n_subjects == want["n_subjects"]
    assert got.excluded_subjects == want["excluded_subjects"]
    assert got.family_size == len(rows)


def test_incomplete_subject_is_an_error_naming_it_unless_listwise():
    data, _ = reference("posthoc_trial_incomplete_listwise")
    with pytest.raises(InvalidValueError, match="subject P04 has no value for time=T2"):
        posthoc(data, "value", "subject", "time")
    assert posthoc(data, "value", "subject", "time", listwise=True).to_dict()[
        "excluded_subjects"
    ] == ["P04"]


def test_reference_level_gives_level_minus_reference():
    data, _ = reference("posthoc_trial_fold_change")
    default = posthoc(data, "value", "subject", "time").comparisons
    last = posthoc(data, "value", "subject", "time", ref="T3").comparisons
    assert last["contrast"].tolist() == ["T0 - T3", "T1 - T3", "T2 - T3"]
    assert last["estimate"].iloc[0] == pytest.approx(-default["estimate"].iloc[2])
    assert last["p"].iloc[0] == pytest.approx(default["p"].iloc[2])


def test_adjustments_treat_the_call_as_one_family():
    data, _ = reference("posthoc_obk_phase")
    table = posthoc(data, "value", "subject", "time", all_pairs=True).comparisons
    for column, method in [("p_holm", "holm"), ("p_bh", "bh")]:
        assert table[column].tolist() == adjust_p(table["p"], method).tolist()


def test_to_dict_is_the_json_contract():
    data, _ = reference("posthoc_trial_fold_change")
    out = posthoc(data, "value", "subject", "time", test="wilcoxon").to_dict()
    assert set(out) == {
        "comparisons",
        "test",
        "n_subjects",
        "excluded_subjects",
        "family_size",
        "pooled_error",
        "options",
    }
    assert (out["test"], out["n_subjects"], out["family_size"]) == ("wilcoxon", 7, 3)
    assert out["excluded_subjects"] == [] and out["pooled_error"] is False
    assert out["options"]["ref"] == "T0" and out["options"]["mode"] is None
    first = out["comparisons"][0]
    assert list(first) == COLUMNS
    assert first["contrast"] == "T1 - T0" and first["se"] is None and first["df"] is None
    assert isinstance(first["ci"], list) and len(first["ci"]) == 2
    json.dumps(out, allow_nan=False)


@settings(max_examples=30, deadline=None)
@given(
    st.randoms(use_true_random=False),
    st.sampled_from(list(VARIANTS)),
)
def test_row_order_and_subject_labels_do_not_matter(random, variant):
    data, _ = reference("posthoc_obk_phase")
    got = posthoc(data, "value", "subject", "time", **VARIANTS[variant]).comparisons
    order = list(range(len(data)))
    random.shuffle(order)
    names = sorted(data["subject"].unique())
    relabel = dict(zip(names, random.sample(range(1000, 9999), len(names)), strict=True))
    shuffled = data.iloc[order].assign(subject=lambda f: f["subject"].map(relabel))
    again = posthoc(shuffled, "value", "subject", "time", **VARIANTS[variant]).comparisons
    assert again["contrast"].tolist() == got["contrast"].tolist()
    for column in NUMBERS:
        assert again[column].tolist() == pytest.approx(got[column].tolist(), rel=1e-9, nan_ok=True)


def long(values):
    return pd.DataFrame(
        [
            (s, t, v)
            for s, row in enumerate(values)
            for t, v in zip(["A", "B", "C"], row, strict=False)
        ],
        columns=["subject", "time", "value"],
    )


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        (long([[1, 2, 3], [2, 3, 5]]), {"test": "anova"}, "test 'anova' is not known"),
        (
            long([[1, 2, 3], [2, 3, 5]]),
            {"ref": "Z"},
            "reference 'Z' is not a level of time; levels: A, B, C",
        ),
        (long([[1, 2, 3], [2, 3, 5]]), {"ref": "B", "all_pairs": True}, "not both"),
        (long([[1, 2, 3], [2, 3, 5]]), {"test": "wilcoxon", "pooled_error": True}, "pooled error"),
        (long([[1, 2, 3], [2, 3, 5]]), {"mode": "exact"}, "apply to the Wilcoxon test"),
        (long([[1, 2, 3]]), {}, "1 complete subject"),
        (long([[1], [2]]), {}, "one level"),
        (long([[1, "x", 3], [2, 3, 5]]), {}, "row 2, column value: 'x' is not a number"),
        (long([[1, 2, 3], [2, 3, 4]]), {"pooled_error": True}, "residual is 0"),
        (long([[1, 2, 3], [2, 3, 5]]), {}, "B - A: paired t test: every difference x - y is 1"),
        (
            long([[1, 1, 3], [2, 2, 5]]),
            {"test": "wilcoxon"},
            "B - A: .*every difference x - y is 0",
        ),
    ],
)
def test_bad_input_is_one_clear_error(data, options, message):
    with pytest.raises(InvalidValueError, match=message):
        posthoc(data, "value", "subject", "time", **options)
