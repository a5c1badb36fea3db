"""Real vs sham within patients: Wilcoxon and paired t on ddCt agree with R."""

import json
from pathlib import Path

import pandas as pd
import pytest

from nmmstrial.assays.qpcr import compare_arms, read_qpcr_export
from nmmstrial.errors import InvalidValueError

HERE = Path(__file__).parent
SPLIT = HERE / "data" / "qpcr" / "split_body_7_patients_arm_one_undetermined.csv"
R_RESULTS = json.loads((HERE / "reference" / "qpcr_compare.json").read_text())
KEYS = ["n", "mean_ddct", "geomean_fold", "ci_low", "ci_high", "wilcoxon_v", "wilcoxon_p"]
KEYS += ["t", "df", "t_p", "mean_fold", "sem_fold"]


def _compare(wells=None, **kwargs):
    args = {"references": ["GAPDH"], "gene_references": {"miR-1": ["U6"]}, **kwargs}
    return compare_arms(read_qpcr_export(SPLIT).wells if wells is None else wells, **args)


def test_compare_matches_r_wilcox_exact_and_paired_t():
    result = _compare()
    got = result.genes.set_index("gene")
    assert list(got.index) == ["MYOD1", "MSTN", "miR-1"]
    assert result.contrast == "real - sham"
    for gene, want in R_RESULTS.items():
        if gene.startswith("_"):
            continue
        row = got.loc[gene]
        assert row["reference"] == want["reference"]
        assert {k: row[k] for k in KEYS} == pytest.approx({k: want[k] for k in KEYS}, rel=1e-9)
        assert row["wilcoxon_method"] == "Wilcoxon signed rank exact test"
        per = result.patients[result.patients["gene"] == gene].set_index("patient")["ddct"]
        assert per.to_dict() == pytest.approx(want["ddct"], abs=1e-12)
    assert result.provenance["undetermined"]["counts"] == {"P03 sham": {"MSTN": 1}}


def test_blinded_arms_give_x_minus_y():
    wells = read_qpcr_export(SPLIT).wells
    blinded = wells.assign(arm=wells["arm"].map({"real": "Y", "sham": "X"}))
    result = _compare(blinded)
    assert result.contrast == "X - Y"
    real = _compare().genes.set_index("gene")
    got = result.genes.set_index("gene")
    assert got["mean_ddct"].to_numpy() == pytest.approx(-real["mean_ddct"].to_numpy())
    assert got["wilcoxon_p"].to_numpy() == pytest.approx(real["wilcoxon_p"].to_numpy())


def test_patient_without_both_arms_is_dropped_and_named():
    wells = read_qpcr_export(SPLIT).wells
    partial = wells[~((wells["patient"] == "P07") & (wells["arm"] == "sham"))]
    row = _compare(partial).genes.set_index("gene").loc["MYOD1"]
    assert row["n"] == 6 and row["dropped"] == "P07"


def test_ties_use_r_normal_approximation():
    wells = read_qpcr_export(SPLIT).wells
    # Make every patient's MYOD1 ddCt exactly -1 (shift real-arm Cts): all |ddCt| tied.
    means = wells[~wells["undetermined"]].groupby(["patient", "arm", "target"])["ct"].mean()
    rows = []
    for (patient, arm, target), _ in means.items():
        if target == "MYOD1" and arm == "real":
            rows.append(
                {
                    "patient": patient,
                    "arm": arm,
                    "target": target,
                    "ct": 10.0,
                    "undetermined": False,
                }
            )
        elif target in {"GAPDH", "MYOD1"}:
            ct = 11.0 if target == "MYOD1" else 0.0
            rows.append(
                {"patient": patient, "arm": arm, "target": target, "ct": ct, "undetermined": False}
            )
    data = pd.DataFrame(rows)
    data.loc[
        (data["patient"] == "P01") & (data["target"] == "MYOD1") & (data["arm"] == "real"), "ct"
    ] = 9.5
    row = compare_arms(data, references=["GAPDH"]).genes.iloc[0]
    assert "normal approximation" in row["wilcoxon_method"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"genes": ["MYOD"]}, r"gene MYOD is not in the file.*did you mean MYOD1"),
        ({"references": ["ACTB"]}, r"gene ACTB is not in the file"),
        ({"patients": ["P1"]}, r"patient P1 is not in the file.*did you mean P01"),
        ({"undetermined": "fail"}, r"well row 87 \(sample P03 sham, target MSTN\) is undetermined"),
    ],
)
def test_compare_refusals(kwargs, message):
    with pytest.raises(InvalidValueError, match=message):
        _compare(**kwargs, source="split.csv")


def test_compare_refuses_unknown_arms_and_missing_columns():
    wells = read_qpcr_export(SPLIT).wells
    with pytest.raises(InvalidValueError, match="arm has levels left, right"):
        _compare(wells.assign(arm=wells["side"]))
    with pytest.raises(InvalidValueError, match="no arm column"):
        _compare(wells.drop(columns="arm"))


def test_patients_restrict_the_comparison():
    row = _compare(patients=["P01", "P02", "P04"]).genes.set_index("gene").loc["MYOD1"]
    assert (row["n"], row["patients"]) == (3, "P01, P02, P04")
