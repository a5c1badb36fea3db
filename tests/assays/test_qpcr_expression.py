"""Relative expression and standard curves against the published and vendor results."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from nmmstrial.analysis import student_t
from nmmstrial.assays.qpcr import (
    parse_qpcr_text,
    read_qpcr_export,
    relative_expression,
    standard_curve,
)
from nmmstrial.errors import InvalidValueError

DATA = Path(__file__).parent / "data" / "qpcr"
EXPECTED = json.loads((DATA / "expected.json").read_text())
LIVAK = DATA / "livak2001_cmyc_gapdh_paired_columns_separate_tubes.csv"
YUAN = DATA / "yuan2006_mt7_ubq_paired_columns_same_well.csv"
CURVE = DATA / "quantstudio7flex_standard_curve_thousands_separators.txt"
TRIMMED = DATA / "quantstudio7flex_comparative_ct_reference_wells_trimmed.txt"
XLSX = DATA / "qs7pro_design_analysis_header_scan_uppercase_undetermined.xlsx"


def _by_sample(result):
    return result.results.set_index("sample")


def test_livak_separate_tubes_table():
    got = _by_sample(
        relative_expression(read_qpcr_export(LIVAK), references=["GAPDH"], calibrator="brain")
    )
    want = EXPECTED["livak2001_cmyc_gapdh_separate_tubes.csv"]
    for sample in ("brain", "kidney"):
        w, g = want[sample], got.loc[sample]
        assert g["ct_mean"] == pytest.approx(w["mean_ct_target"], rel=1e-9)
        assert g["ct_sd"] == pytest.approx(w["sd_ct_target"], rel=1e-6)
        assert g["reference_ct_mean"] == pytest.approx(w["mean_ct_reference"], rel=1e-9)
        assert g["dct"] == pytest.approx(w["dct"], rel=1e-9)
        assert g["dct_sd"] == pytest.approx(w["s_dct"], rel=1e-6)
        assert g["ddct"] == pytest.approx(w["ddct"], abs=1e-9)
        for key in ("fold", "fold_low", "fold_high"):
            assert g[key] == pytest.approx(w[key], rel=1e-7)
    published = want["published"]
    assert round(got.loc["kidney", "fold"], 1) == published["fold"]
    assert [round(got.loc["kidney", k], 1) for k in ("fold_low", "fold_high")] == published["range"]


def test_yuan_same_well_dct_and_t_interval():
    export = read_qpcr_export(YUAN)
    got = _by_sample(
        relative_expression(export, references=["UBQ"], calibrator="control", error="same")
    )
    want = EXPECTED["yuan2006_mt7_ubq_arabidopsis.csv"]
    assert got.loc["control", "dct"] == pytest.approx(want["dct_mean_control"], abs=1e-6)
    assert got.loc["treatment", "dct"] == pytest.approx(want["dct_mean_treatment"], abs=1e-6)
    assert got.loc["treatment", "ddct"] == pytest.approx(want["ddct"], abs=1e-6)
    assert got.loc["treatment", "n"] == 12
    # The same well pairs as the reader made them give Yuan's published t interval.
    pairs = export.wells.pivot(index="well", columns="target", values="ct")
    groups = export.wells.drop_duplicates("well").set_index("well")["sample"]
    dct = pairs["MT7"] - pairs["UBQ"]
    t = student_t(dct[groups == "treatment"], dct[groups == "control"])
    assert t.ci == pytest.approx(want["student_t"]["ci95"], abs=1e-6)


def test_design_and_analysis_rq_and_confidence_interval():
    export = read_qpcr_export(XLSX)
    got = _by_sample(
        relative_expression(export, references=["IPC"], calibrator="1600", confidence=0.995)
    )
    want = EXPECTED["qs7pro_relative_quantification_example11.xlsx"]["rq_vendor"]
    for sample, w in want.items():
        g = got.loc[sample]
        assert g["dct"] == pytest.approx(w["delta_eqcq_mean"], abs=1e-7)
        assert g["dct_sd"] == pytest.approx(w["delta_eqcq_sd"], abs=1e-7)
        assert g["dct_se"] == pytest.approx(w["delta_eqcq_se"], abs=1e-7)
        assert g["ddct"] == pytest.approx(w["ddeqcq"], abs=1e-7)
        assert g["fold"] == pytest.approx(w["rq"], rel=1e-7)
        # The vendor's min/max are the t interval at level 0.995 (q at 0.9975).
        assert g["fold_low"] == pytest.approx(w["rq_min"], rel=1e-6)
        assert g["fold_high"] == pytest.approx(w["rq_max"], rel=1e-6)
        assert g["level"] == 0.995
    assert got.loc["400", "df"] == 13 and got.loc["400", "quantile"] == pytest.approx(3.3725, 1e-4)
    assert got.loc["6400", "df"] == 4 and got.loc["6400", "quantile"] == pytest.approx(5.5976, 1e-4)


def test_efficiency_corrected_vendor_rq_with_e_given():
    # D&A reports EqCq = Cq log2 E; with E = 2 for both genes its RQ is reproduced.
    result = relative_expression(
        read_qpcr_export(XLSX),
        references=["IPC"],
        calibrator="1600",
        efficiencies={"RNaseP": 2.0, "IPC": 2.0},
    )
    want = EXPECTED["qs7pro_relative_quantification_example11.xlsx"]["rq_vendor"]
    got = _by_sample(result)["fold"]
    assert got.to_dict() == pytest.approx({k: v["rq"] for k, v in want.items()}, rel=1e-7)
    assert result.efficiencies["IPC"] == {
        "efficiency": 2.0,
        "efficiency_pct": 100.0,
        "source": "given",
    }


def test_pfaffl_ratio_with_per_gene_efficiencies():
    e_t, e_r = 1.93, 1.88
    result = relative_expression(
        read_qpcr_export(LIVAK),
        references=["GAPDH"],
        calibrator="brain",
        efficiencies={"c-myc": e_t, "GAPDH": e_r},
    )
    want = EXPECTED["livak2001_cmyc_gapdh_separate_tubes.csv"]
    d_t = want["brain"]["mean_ct_target"] - want["kidney"]["mean_ct_target"]
    d_r = want["brain"]["mean_ct_reference"] - want["kidney"]["mean_ct_reference"]
    pfaffl = e_t**d_t / e_r**d_r
    kidney = _by_sample(result).loc["kidney"]
    assert kidney["fold"] == pytest.approx(pfaffl, rel=1e-12)
    assert kidney["fold"] == pytest.approx(2 ** -kidney["ddct"], rel=1e-12)
    assert result.efficiencies["c-myc"]["efficiency_pct"] == pytest.approx(93.0)


def test_several_references_by_geometric_mean_of_quantities():
    export = read_qpcr_export(LIVAK)
    wells = export.wells
    second = wells[wells["target"] == "GAPDH"].assign(
        target="ACTB", ct=lambda w: w["ct"] + np.where(w["sample"] == "kidney", 1.0, 0.2)
    )
    both = type(export)(wells=__import__("pandas").concat([wells, second]), source="two_refs")
    one = _by_sample(relative_expression(export, references=["GAPDH"], calibrator="brain"))
    two = _by_sample(relative_expression(both, references=["GAPDH", "ACTB"], calibrator="brain"))
    # Quantities 2^-Ct: geometric mean of GAPDH and ACTB = 2^-(mean of their Ct means).
    shift = (1.0 - 0.2) / 2
    assert two.loc["kidney", "ddct"] == pytest.approx(one.loc["kidney", "ddct"] - shift)
    assert two.loc["kidney", "n_reference"] == 12


def test_standard_curve_matches_vendor_and_refit():
    curve = standard_curve(read_qpcr_export(CURVE).wells, "RNase P")
    want = EXPECTED["quantstudio7flex_standard_curve_example.txt"]
    refit, vendor = want["refit"], want["vendor"]
    for key in ("slope", "intercept", "efficiency_pct"):
        assert curve[key] == pytest.approx(refit[key], rel=1e-8)
    assert round(curve["slope"], 3) == vendor["slope"]
    assert round(curve["intercept"], 3) == vendor["intercept"]
    # The vendor prints 97.505 % (its own rounding); the 97.5 % is what agrees.
    assert round(curve["efficiency_pct"], 1) == round(vendor["efficiency_pct"], 1) == 97.5
    assert curve["r2"] == pytest.approx(refit["r2"], abs=1e-6)
    assert round(curve["r2"], 3) == vendor["r2"]
    assert curve["n"] == refit["n_standards"]
    assert curve["efficiency"] == pytest.approx(1 + refit["efficiency_pct"] / 100)


def _curve_with_gapdh(slope=-3.9, ntc_ct=None):
    """The real standard-curve export plus GAPDH standards and sample wells (edited copy)."""
    text = CURVE.read_text()
    rows = []
    quantities = [1250, 2500, 5000, 10000, 20000]
    well = 200
    for q in quantities:
        for rep in range(3):
            ct = 35.0 + slope * math.log10(q) + 0.02 * rep
            rows.append(f"{well}\tX{well}\tfalse\t\tGAPDH\tSTANDARD\tVIC\tNFQ-MGB\t{ct:.3f}")
            rows[-1] += "\t\t\t" + f"{q:,.3f}"
            well += 1
    for sample, base in (("5K", 20.0), ("10K", 19.1)):
        for rep in range(3):
            rows.append(
                f"{well}\tX{well}\tfalse\t{sample}\tGAPDH\tUNKNOWN\tVIC\tNFQ-MGB\t"
                f"{base + 0.03 * rep:.3f}"
            )
            well += 1
    if ntc_ct is not None:
        text = text.replace(
            "37\tD1\tfalse\t\tRNase P\tNTC\tFAM\tNFQ-MGB\tUndetermined",
            f"37\tD1\tfalse\t\tRNase P\tNTC\tFAM\tNFQ-MGB\t{ntc_ct:.3f}",
        )
    return parse_qpcr_text(text.rstrip("\n") + "\n" + "\n".join(rows) + "\n", source="edited.txt")


def test_efficiency_gap_warns_with_livak_and_standard_curve_corrects():
    export = _curve_with_gapdh(slope=-3.9)
    livak = relative_expression(export, references=["GAPDH"], calibrator="5K", targets=["RNase P"])
    assert any("differ by more than 10 %" in w for w in livak.warnings)
    assert livak.efficiencies["RNase P"]["source"].startswith("assumed")
    corrected = relative_expression(
        export, references=["GAPDH"], calibrator="5K", targets=["RNase P"], use_standard_curve=True
    )
    assert not any("differ" in w for w in corrected.warnings)
    eff = corrected.efficiencies
    assert eff["RNase P"]["efficiency_pct"] == pytest.approx(97.50102409, rel=1e-8)
    assert eff["GAPDH"]["efficiency"] == pytest.approx(10 ** (1 / 3.9), rel=1e-3)
    assert eff["GAPDH"]["source"] == "standard curve"


def test_ntc_within_margin_refused_and_late_ntc_warned():
    used = _curve_with_gapdh().wells
    latest = used[(used["task"] == "UNKNOWN") & (used["target"] == "RNase P")]["ct"].max()
    with pytest.raises(InvalidValueError, match=r"edited.txt: non-template control well D1 "):
        relative_expression(
            _curve_with_gapdh(ntc_ct=latest + 2), references=["GAPDH"], calibrator="5K"
        )
    late = relative_expression(
        _curve_with_gapdh(ntc_ct=latest + 7), references=["GAPDH"], calibrator="5K"
    )
    assert any("well D1 (target RNase P) amplified" in w for w in late.warnings)
    relaxed = relative_expression(
        _curve_with_gapdh(ntc_ct=latest + 2), references=["GAPDH"], calibrator="5K", ntc_margin=1
    )
    assert relaxed.provenance["ntc_margin"] == 1


def test_reference_without_sample_wells_is_refused():
    with pytest.raises(
        InvalidValueError, match="reference gene GAPDH has no wells for sample Lung"
    ):
        relative_expression(read_qpcr_export(TRIMMED), references=["GAPDH"], calibrator="Liver")


def test_file_without_the_reference_gene_is_refused():
    with pytest.raises(InvalidValueError, match=r"reference gene GAPDH is not in the file"):
        relative_expression(read_qpcr_export(CURVE), references=["GAPDH"], calibrator="5K")


def _livak_kidney_undetermined(tmp_path, rows=6):
    lines = LIVAK.read_text().splitlines()
    for i, line in enumerate(lines):
        cells = line.split(",")
        if cells[0] == "kidney" and int(cells[1]) <= rows:
            cells[4] = "Undetermined"
            lines[i] = ",".join(cells)
    path = tmp_path / "kidney_cmyc_undetermined.csv"
    path.write_text("\n".join(lines) + "\n")
    return read_qpcr_export(path)


def test_all_replicates_undetermined_refused_censor_and_fail(tmp_path):
    export = _livak_kidney_undetermined(tmp_path)
    with pytest.raises(
        InvalidValueError, match=r"all 6 replicate\(s\) of sample kidney, target c-myc"
    ):
        relative_expression(export, references=["GAPDH"], calibrator="brain")
    censored = relative_expression(
        export, references=["GAPDH"], calibrator="brain", undetermined="censor=40"
    )
    assert _by_sample(censored).loc["kidney", "ct_mean"] == 40
    assert censored.provenance["undetermined"] == {
        "policy": "censor=40",
        "counts": {"kidney": {"c-myc": 6}},
    }
    with pytest.raises(InvalidValueError, match=r"well row 8 \(sample kidney, target c-myc\)"):
        relative_expression(export, references=["GAPDH"], calibrator="brain", undetermined="fail")


def test_some_replicates_undetermined_excluded_and_counted(tmp_path):
    export = _livak_kidney_undetermined(tmp_path, rows=2)
    result = relative_expression(export, references=["GAPDH"], calibrator="brain")
    kidney = _by_sample(result).loc["kidney"]
    assert kidney["n"] == 4 and kidney["undetermined"] == 2
    assert result.provenance["undetermined"]["counts"] == {"kidney": {"c-myc": 2}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"calibrator": "Brain"}, r"calibrator Brain is not a sample .*did you mean brain"),
        ({"targets": ["c-mic"]}, r"target c-mic is not in the file.*did you mean c-myc"),
        ({"efficiencies": {"ACTB": 1.9}}, r"--efficiency names ACTB"),
        ({"efficiencies": {"c-myc": 95}}, r"between 1 and 2 \(1.95 for 95 %\)"),
        ({"undetermined": "drop"}, r"use exclude, censor=40 or fail"),
        ({"confidence": 95}, r"between 0 and 1"),
    ],
)
def test_requests_naming_what_is_not_there_are_refused(kwargs, message):
    args = {"references": ["GAPDH"], "calibrator": "brain", **kwargs}
    with pytest.raises(InvalidValueError, match=message):
        relative_expression(read_qpcr_export(LIVAK), **args)


def test_same_tube_on_a_singleplex_plate_is_refused():
    with pytest.raises(InvalidValueError, match=r"--error same: sample \d+ has no well with both"):
        relative_expression(
            read_qpcr_export(XLSX), references=["IPC"], calibrator="1600", error="same"
        )


def test_standard_curve_refusals():
    wells = read_qpcr_export(CURVE).wells
    with pytest.raises(InvalidValueError, match="target RNaseP is not in the file"):
        standard_curve(wells, "RNaseP", source="curve.txt")
    with pytest.raises(InvalidValueError, match="target IPC has no STANDARD wells"):
        standard_curve(read_qpcr_export(XLSX).wells, "IPC", source="plate.xlsx")
    with pytest.raises(InvalidValueError, match="has no STANDARD wells"):
        relative_expression(
            read_qpcr_export(XLSX), references=["IPC"], calibrator="1600", use_standard_curve=True
        )


def test_tidy_csv_same_tube_pairs_by_replicate():
    export = read_qpcr_export(DATA / "split_body_7_patients_arm_one_undetermined.csv")
    result = relative_expression(
        export, references=["GAPDH"], calibrator="P03-L", targets=["MSTN"], error="same"
    )
    row = _by_sample(result).loc["P03-L"]
    assert (row["n"], row["undetermined"]) == (2, 1)
    wells = export.wells[export.wells["sample"] == "P03-L"].pivot(
        index="replicate", columns="target", values="ct"
    )
    assert row["dct"] == pytest.approx((wells["MSTN"] - wells["GAPDH"]).mean())


def test_docstring_examples_run():
    import doctest

    from nmmstrial.assays.qpcr import expression

    assert doctest.testmod(expression, raise_on_error=True).attempted > 0
