"""Readers on real exports: wells, undetermined, exclusions and metadata as the files say."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from nmmstrial.assays.qpcr import parse_qpcr_text, read_qpcr_export, standard_curve
from nmmstrial.errors import InvalidValueError

DATA = Path(__file__).parent / "data" / "qpcr"
EXPECTED = json.loads((DATA / "expected.json").read_text())
LIVAK = DATA / "livak2001_cmyc_gapdh_paired_columns_separate_tubes.csv"
CURVE = DATA / "quantstudio7flex_standard_curve_thousands_separators.txt"
TRIMMED = DATA / "quantstudio7flex_comparative_ct_reference_wells_trimmed.txt"
XLSX = DATA / "qs7pro_design_analysis_header_scan_uppercase_undetermined.xlsx"
SPLIT = DATA / "split_body_7_patients_arm_one_undetermined.csv"


def test_standard_curve_export_wells_and_thousands_separators():
    export = read_qpcr_export(CURVE)
    want = EXPECTED["quantstudio7flex_standard_curve_example.txt"]["wells"]
    wells = export.wells
    assert len(wells) == want["total"]
    assert (wells["task"] == "STANDARD").sum() == want["standard"]
    assert (wells["task"] == "UNKNOWN").sum() == want["unknown"]
    assert (wells["task"] == "NTC").sum() == want["ntc"]
    assert wells["undetermined"].sum() == want["undetermined"]
    assert wells["ct"][wells["undetermined"]].isna().all()  # never 0
    a1 = wells.set_index("well_position").loc["A1"]
    assert a1["quantity"] == 5720.562 and a1["ct"] == 27.102
    assert export.metadata["instrument"] == "QuantStudio(TM) 7 Flex System"
    assert export.metadata["chemistry"] == "TAQMAN"
    assert export.metadata["analysis_type"] == "Standard Curve"
    assert export.metadata["excluded"] == {"omitted": 0, "no_sample": 0}


def test_comparative_export_vendor_results_read_not_recomputed():
    export = read_qpcr_export(TRIMMED)
    want = EXPECTED["quantstudio7flex_comparative_ct_example_trimmed.txt"]
    wells = export.wells
    assert len(wells) == want["result_rows"]
    assert (wells["undetermined"] & (wells["task"] == "NTC")).sum() == want["undetermined_ntc"]
    assert export.metadata["analysis_type"].startswith("Comparative Cт")
    for sample, vendor in want["vendor"].items():
        row = wells[wells["sample"] == sample].iloc[0]
        got = {
            "ct_mean": row["ct_mean"],
            "dct_mean": row["delta_ct_mean"],
            "dct_se": row["delta_ct_se"],
            "ddct": row["ddct"],
            "rq": row["rq"],
            "rq_min": row["rq_min"],
            "rq_max": row["rq_max"],
        }
        assert got == pytest.approx(vendor, abs=5e-4)


def test_design_and_analysis_xlsx_header_found_by_scanning():
    export = read_qpcr_export(XLSX)
    want = EXPECTED["qs7pro_relative_quantification_example11.xlsx"]
    wells = export.wells
    excluded = export.metadata["excluded"]
    assert len(wells) + excluded["no_sample"] == want["wells"]
    assert excluded == {"omitted": 0, "no_sample": 3}  # RNaseP A1/B1/C1, UNKNOWN, no sample
    assert wells["undetermined"].sum() + 3 == want["undetermined"]  # UNDETERMINED kept
    assert set(wells["target"]) == {want["target"], want["endogenous_control"]}
    assert export.metadata["instrument"] == "QuantStudio™ 7 Pro System"
    assert export.metadata["analysis_type"] == "Relative Quantification"
    assert (wells.groupby("sample")["target"].value_counts()["1600"]).to_dict() == {
        "RNaseP": 12,
        "IPC": 3,
    }


def test_paired_columns_csv_gives_two_wells_per_tube():
    wells = read_qpcr_export(LIVAK).wells
    assert len(wells) == 24
    assert wells.groupby("well")["target"].apply(sorted).map(tuple).unique().tolist() == [
        ("GAPDH", "c-myc")
    ]
    brain = wells[(wells["sample"] == "brain") & (wells["target"] == "c-myc")]["ct"]
    assert brain.mean() == pytest.approx(30.485)


def test_tidy_csv_keeps_patient_arm_and_undetermined():
    export = read_qpcr_export(SPLIT)
    wells = export.wells
    assert export.metadata["format"] == "tidy-csv"
    assert {"patient", "side", "arm", "replicate"} <= set(wells.columns)
    bad = wells[wells["undetermined"]]
    assert bad[["patient", "arm", "target", "well"]].values.tolist() == [
        ["P03", "sham", "MSTN", "2"]
    ]
    assert math.isnan(bad["ct"].iloc[0])


def test_ct_spelling_and_footer_lines(tmp_path):
    text = TRIMMED.read_text(encoding="utf-8")
    header = next(
        line for line in text.splitlines() if line.startswith("Well\tWell Position\tOmit")
    )
    edited = text.replace(header, header.replace("\tCT\t", "\tCт\t"))
    edited += "\nAnalysis Type = Singleplex\nEndogenous Control = GAPDH\n"
    edited += "RQ Min/Max Confidence Level = 95.0\nReference Sample = Liver\n"
    export = parse_qpcr_text(edited, source="footer.txt")
    assert export.wells["ct"].notna().sum() == 10
    assert export.metadata["endogenous_control"] == "GAPDH"
    assert export.metadata["reference_sample"] == "Liver"
    assert export.metadata["confidence_level"] == "95.0"


def test_windows_1252_export_decodes(tmp_path):
    text = CURVE.read_text().replace("\t5K\t", "\t5K Müller\t")
    path = tmp_path / "cp1252_sample_names.txt"
    path.write_bytes(text.encode("cp1252"))
    assert "5K Müller" in set(read_qpcr_export(path).wells["sample"])


def test_sds_export_with_detector_name(tmp_path):
    # The SDS v1.x layout (title lines, then Well/Sample Name/Detector Name/Task/Ct),
    # filled with the Livak wells.
    wells = read_qpcr_export(LIVAK).wells
    lines = ["SDS 1.4\tRQ Results", "Filename\tlivak.sds", "Chemistry\tTAQMAN", ""]
    lines.append("Well\tSample Name\tDetector Name\tTask\tCt\tStdDev Ct")
    for i, w in enumerate(wells.itertuples(), start=1):
        lines.append(f"{i}\t{w.sample}\t{w.target}\tUnknown\t{w.ct}\t")
    lines.append(f"{len(wells) + 1}\tNTC\tGAPDH\tNTC\tUndetermined\t")
    path = tmp_path / "sds_detector_name.txt"
    path.write_text("\n".join(lines) + "\n")
    export = read_qpcr_export(path)
    assert export.metadata["format"] == "sds-text"
    assert export.metadata["chemistry"] == "TAQMAN"
    assert len(export.wells) == 25
    assert export.wells["target"].iloc[0] == "c-myc"
    assert export.wells["task"].iloc[-1] == "NTC" and export.wells["undetermined"].iloc[-1]


def test_omitted_wells_are_excluded_and_counted(tmp_path):
    text = CURVE.read_text()
    edited = text.replace("1\tA1\tfalse\t5K", "1\tA1\ttrue\t5K").replace(
        "2\tA2\tfalse\t5K", "2\tA2\tTRUE\t5K"
    )
    export = parse_qpcr_text(edited, source="omitted.txt")
    assert export.metadata["excluded"]["omitted"] == 2
    assert len(export.wells) == 93
    assert "A1" not in set(export.wells["well_position"])


def test_text_in_ct_column_is_refused_naming_the_well():
    edited = CURVE.read_text().replace("\t27.102\t27.211", "\t27.1o2\t27.211", 1)
    with pytest.raises(InvalidValueError, match=r"bad.txt, well A1, column Ct: '27.1o2'"):
        parse_qpcr_text(edited, source="bad.txt")


def test_file_without_ct_column_is_refused(tmp_path):
    path = tmp_path / "no_ct.csv"
    path.write_text("sample,target,value\nA,GAPDH,20\n")
    with pytest.raises(InvalidValueError, match=r"no_ct\.csv: no header row"):
        read_qpcr_export(path)
    with pytest.raises(InvalidValueError, match=r"missing\.txt: cannot read"):
        read_qpcr_export(tmp_path / "missing.txt")


def test_read_contract_fields():
    out = read_qpcr_export(TRIMMED).to_dict()
    assert set(out["wells"][0]) == {"well_position", "sample", "target", "task", "ct"}
    assert out["wells"][0]["ct"] is None
    assert set(out["metadata"]) >= {"instrument", "chemistry", "analysis_type", "excluded"}
    assert all(isinstance(w["ct"], float | None) for w in out["wells"])
    assert not any(isinstance(w["ct"], np.floating) for w in out["wells"])


def test_bio_rad_style_csv_with_content_column(tmp_path):
    wells = read_qpcr_export(LIVAK).wells
    lines = [",Well,Fluor,Target,Content,Sample,Cq,Starting Quantity (SQ)"]
    for i, w in enumerate(wells.itertuples()):
        lines.append(f",X{i:02d},FAM,{w.target},Unkn-{i % 3 + 1:02d},{w.sample},{w.ct},")
    lines.append(",H12,FAM,GAPDH,Std-01,,24.1,1000")
    lines.append(",H11,FAM,GAPDH,NTC,,NaN,")
    path = tmp_path / "content_column_unkn_std.csv"
    path.write_text("\n".join(lines) + "\n")
    export = read_qpcr_export(path)
    got = export.wells
    assert export.metadata["format"] == "instrument-csv"
    assert got["task"].value_counts().to_dict() == {"UNKNOWN": 24, "STANDARD": 1, "NTC": 1}
    assert got.loc[got["task"] == "STANDARD", "quantity"].item() == 1000
    assert got["undetermined"].sum() == 1


def test_old_excel_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "run.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InvalidValueError, match=r"run\.xls: old Excel \.xls is not read"):
        read_qpcr_export(path)


def test_xlsx_footer_rows_are_metadata(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Results"
    sheet.append(["Instrument Type", "QuantStudio(TM) 7 Flex System"])
    sheet.append([])
    sheet.append(["Well", "Well Position", "Sample Name", "Target Name", "Task", "Cт"])
    sheet.append([1, "A1", "sham", "GAPDH", "UNKNOWN", 20.25])
    sheet.append([2, "A2", 400.0, "GAPDH", "UNKNOWN", "Undetermined"])
    sheet.append([])
    sheet.append(["Endogenous Control", "GAPDH"])
    path = tmp_path / "quantstudio_xlsx_footer.xlsx"
    book.save(path)
    export = read_qpcr_export(path)
    assert export.metadata["endogenous_control"] == "GAPDH"
    assert export.wells["sample"].tolist() == ["sham", "400"]
    assert export.wells["ct"].iloc[0] == 20.25 and export.wells["undetermined"].iloc[1]


def test_xlsx_standards_take_their_quantity_from_the_replicate_group_sheet(tmp_path):
    """A D&A standard-curve workbook whose Results sheet has no Quantity column and whose
    standards are not named by their quantity: the quantities are in the replicate-group
    sheet (as Design & Analysis exports them). Built here, since no public file has it."""
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    results = book.active
    results.title = "Results"
    results.append(["Instrument Type", "QuantStudio 7 Pro System"])
    results.append([])
    results.append(["Well", "Well Position", "Omit", "Sample", "Target", "Task", "Cq"])
    quantities = {"Std A": 10.0, "Std B": 100.0, "Std C": 1000.0, "Std D": 10000.0}
    well = 0
    for name, quantity in quantities.items():
        for _ in range(3):
            well += 1
            cq = 38.0 - 3.4 * np.log10(quantity)
            results.append([well, f"A{well}", "FALSE", name, "GAPDH", "STANDARD", cq])
    groups = book.create_sheet("Replicate Group Result")
    groups.append(["Exported On", "2026-11-25"])
    groups.append([])
    groups.append(["Sample", "Target", "Number of Replicates", "Quantity", "Cq Mean"])
    for name, quantity in quantities.items():
        groups.append([name, "GAPDH", 3, quantity, 0])
    path = tmp_path / "standard_curve_quantities_in_group_sheet.xlsx"
    book.save(path)
    curve = standard_curve(read_qpcr_export(path).wells, "GAPDH")
    assert curve["slope"] == pytest.approx(-3.4, abs=1e-9)
    assert curve["efficiency"] == pytest.approx(10 ** (1 / 3.4), rel=1e-9)
