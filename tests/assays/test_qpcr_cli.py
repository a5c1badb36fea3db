"""`assay qpcr` commands: the contract's fields, one-line refusals, help."""

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from nmmstrial.cli import Root
from nmmstrial.cli.assay_qpcr import qpcr

DATA = Path(__file__).parent / "data" / "qpcr"
LIVAK = DATA / "livak2001_cmyc_gapdh_paired_columns_separate_tubes.csv"
CURVE = DATA / "quantstudio7flex_standard_curve_thousands_separators.txt"
TRIMMED = DATA / "quantstudio7flex_comparative_ct_reference_wells_trimmed.txt"
XLSX = DATA / "qs7pro_design_analysis_header_scan_uppercase_undetermined.xlsx"
SPLIT = DATA / "split_body_7_patients_arm_one_undetermined.csv"


@click.group(cls=Root)
def root() -> None:
    """As the lead mounts it: errors become one line."""


root.add_command(qpcr)


def run(*args):
    return CliRunner().invoke(root, ["qpcr", *map(str, args)])


def run_json(*args):
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_read_prints_wells_and_metadata():
    out = run_json("read", TRIMMED)
    assert out["wells"][0] == {
        "well_position": "A1",
        "sample": "",
        "target": "TGF-B",
        "task": "NTC",
        "ct": None,
    }
    assert out["metadata"]["excluded"] == {"omitted": 0, "no_sample": 0}
    assert out["metadata"]["chemistry"] == "TAQMAN"


def test_fold_json_contract():
    out = run_json("fold", LIVAK, "--reference", "GAPDH", "--calibrator", "brain")
    kidney = next(r for r in out["results"] if r["sample"] == "kidney")
    for key in ("sample", "target", "dct", "ddct", "fold", "fold_low", "fold_high", "n"):
        assert key in kidney
    assert kidney["fold"] == pytest.approx(5.63728302, rel=1e-8)
    assert out["efficiencies"]["c-myc"]["efficiency"] == 2.0
    assert out["efficiencies"]["GAPDH"]["efficiency_pct"] == 100.0
    assert out["warnings"] == []


def test_fold_with_confidence_prints_quantile_df_level():
    out = run_json(
        "fold", XLSX, "--reference", "IPC", "--calibrator", "1600", "--confidence", 0.995
    )
    row = next(r for r in out["results"] if r["sample"] == "400")
    assert row["fold_low"] == pytest.approx(0.25190799, rel=1e-6)
    assert (row["df"], row["level"]) == (13, 0.995)
    assert row["quantile"] == pytest.approx(3.3725, rel=1e-4)


def test_fold_efficiency_option_and_table_output():
    out = run_json(
        "fold", LIVAK, "--reference", "GAPDH", "--calibrator", "brain",
        "--efficiency", "c-myc=1.95", "--error", "same",
    )  # fmt: skip
    assert out["efficiencies"]["c-myc"] == {
        "efficiency": 1.95,
        "efficiency_pct": pytest.approx(95.0),
        "source": "given",
    }
    table = run("fold", LIVAK, "--reference", "GAPDH", "--calibrator", "brain")
    assert table.exit_code == 0 and "kidney" in table.output


def test_standard_curve_command():
    out = run_json("standard-curve", CURVE, "--target", "RNase P")
    assert set(out) >= {"slope", "intercept", "r2", "efficiency", "efficiency_pct"}
    assert round(out["slope"], 3) == -3.383 and round(out["efficiency_pct"], 1) == 97.5


def test_compare_command():
    out = run_json("compare", SPLIT, "--reference", "GAPDH", "--reference", "U6=miR-1")
    genes = {g["gene"]: g for g in out["genes"]}
    assert genes["miR-1"]["reference"] == "U6"
    fields = ["n", "mean_ddct", "geomean_fold", "ci_low", "ci_high", "wilcoxon_p", "t_p"]
    assert {*fields, "mean_fold", "sem_fold"} <= set(genes["MYOD1"])
    assert out["contrast"] == "real - sham"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["fold", TRIMMED, "--reference", "GAPDH", "--calibrator", "Liver"],
            "reference gene GAPDH has no wells for sample Lung",
        ),
        (
            ["fold", LIVAK, "--reference", "GAPDH", "--calibrator", "brain",
             "--efficiency", "c-myc=1.9", "--standard-curve"],
            "give --efficiency or --standard-curve, not both",
        ),
        (
            ["fold", LIVAK, "--reference", "GAPDH", "--calibrator", "brain", "--efficiency", "1.9"],
            "write TARGET=E",
        ),
        (["compare", "absent.db", "--reference", "GAPDH"], "no such study database"),
        (["compare", SPLIT, "--reference", "=MYOD1"], "write REF or REF=GENE1,GENE2"),
        (["compare", SPLIT, "--reference", "GAPDH", "--patient", "P08"], "patient P08 is not"),
        (["standard-curve", XLSX, "--target", "IPC"], "target IPC has no STANDARD wells"),
    ],
)  # fmt: skip
def test_refusals_are_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]


@pytest.mark.parametrize("command", ["read", "fold", "standard-curve", "compare"])
def test_every_command_has_help(command):
    assert qpcr.commands[command].help
    result = run(command, "--help")
    assert result.exit_code == 0 and "Usage: " in result.output
