"""`nmmstrial assay fibres`: the contract's JSON, tables for people, one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from nmmstrial.cli import Root
from nmmstrial.cli.assay_fibres import fibres

DATA = Path(__file__).parent / "data" / "histology"
IMAGE = str(DATA / "fibersight_human_skm_hs_cw.tif")
ROIS = str(DATA / "fibersight_human_skm_hs_cw_fibers_RoiSet.zip")
RESULTS = str(DATA / "fibersight_human_skm_hs_cw_imagej1.53t_measurements.csv")
FIBRES = str(Path(__file__).parent / "reference" / "morphometry_fibres.csv")


@click.group(cls=Root)
def root() -> None:
    """Stand-in for `nmmstrial assay` (the lead mounts the group there)."""


root.add_command(fibres)


def run(*args: str):
    return CliRunner().invoke(root, ["fibres", *args], env={"NMMSTRIAL_PASSWORD": "demo"})


def test_measure_json_is_the_contract():
    result = run("measure", IMAGE, "--rois", ROIS, "--channels", "slow=1", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"unit", "um_per_px", "size_measure", "fibres", "summary"}
    assert out["unit"] == "um" and out["size_measure"] == "min_feret"
    assert out["um_per_px"] == pytest.approx(0.922385, rel=1e-6)
    assert set(out["fibres"][0]) == {
        "label", "area", "perimeter", "min_feret", "feret", "type", "excluded", "reason"
    }  # fmt: skip
    assert out["fibres"][0]["label"] == "0001 - ID 0001"
    assert out["fibres"][0]["min_feret"] == pytest.approx(77.4041, abs=1e-4)
    assert out["fibres"][0]["reason"] == "border"
    assert set(out["summary"]) == {"n_fibres", "n_excluded", "median_min_feret", "pct_fast"}
    assert out["summary"]["n_fibres"] == 56 and out["summary"]["n_excluded"] == 26


def test_measure_results_table_json():
    result = run("measure", RESULTS, "--unit", "um", "--channels", "slow=1", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)["summary"]
    assert summary["n_fibres"] == 56 and summary["n_excluded"] == 0
    assert summary["median_min_feret"] == pytest.approx(67.068, abs=5e-4)
    assert summary["pct_fast"] == pytest.approx(100 * 50 / 56)


def test_measure_table_names_measure_unit_and_short_section():
    result = run("measure", IMAGE, "--rois", ROIS, "--channels", "slow=1,border=4")
    assert result.exit_code == 0, result.output
    assert "size: min_feret" in result.output
    assert "size_measure: min_feret (um)" in result.output
    assert "NO: 30 countable fibres, below the minimum of 50" in result.output
    assert "otsu" in result.output


def test_measure_in_pixels_says_px():
    result = run("measure", ROIS, "--pixels", "--json")
    out = json.loads(result.output)
    assert out["unit"] == "px" and out["um_per_px"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["measure", RESULTS], "does not record its unit; give --unit um"),
        (["measure", IMAGE, "--rois", ROIS, "--channels", "slow=9"], "channel 9 (slow) is out"),
        (["measure", IMAGE, "--rois", ROIS, "--channels", "slow=0"], "ImageJ numbers channels"),
        (["measure", IMAGE, "--rois", ROIS, "--channels", "type1=1"], "NAME one of slow"),
        (["measure", IMAGE, "--rois", ROIS, "--threshold", "slow=x"], "write slow=V"),
        (["measure", ROIS], "no pixel size in the file"),
        (["measure", IMAGE], "4 channels; a multi-channel image needs --mask"),
        (["compare", "study.db"], "study.db: no such study database"),
        (["compare", "fibres.txt"], "give a study database"),
        (["compare", FIBRES, "--user", "lab"], "--user goes with a study database"),
    ],
)
def test_errors_are_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1


def test_compare_json_and_table():
    result = run("compare", FIBRES, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["bandwidth_rule"] == "bw.nrd0"
    assert {row["type"] for row in out["comparison"]} == {"slow", "fast"}
    assert out["pct_fast_test"]["n"] == 4
    table = run("compare", FIBRES)
    assert table.exit_code == 0, table.output
    assert "bandwidth_rule: bw.nrd0" in table.output
    assert "below the minimum of 50" in table.output


def test_every_command_has_help():
    for name in fibres.commands:
        result = run(name, "--help")
        assert result.exit_code == 0 and fibres.commands[name].help


def test_compare_saves_the_density_plot(tmp_path):
    plot = tmp_path / "fig4d.png"
    result = run("compare", FIBRES, "--plot", str(plot), "--json")
    assert result.exit_code == 0, result.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_label_mask_needs_a_scale(tmp_path):
    from skimage import io as skio

    labels = np.zeros((40, 40), np.uint8)
    labels[5:20, 5:20] = 1
    labels[22:35, 22:38] = 2
    path = tmp_path / "mask.png"
    skio.imsave(path, labels, check_contrast=False)
    refused = run("measure", str(path))
    assert refused.exit_code == 1 and "no pixel size in the file" in refused.output
    result = run("measure", str(path), "--um-per-px", "2", "--json")
    out = json.loads(result.output)
    assert out["unit"] == "um" and out["um_per_px"] == 2.0
    assert [f["area"] for f in out["fibres"]] == [225 * 4.0, 13 * 16 * 4.0]


@pytest.fixture(scope="module")
def study_db(tmp_path_factory):
    """A simulated 22-patient study (seed fixed: its 4 morphometry patients' fibres)."""
    from nmmstrial.cli import cli

    path = tmp_path_factory.mktemp("fibres") / "study.db"
    result = CliRunner().invoke(cli, ["simulate", "--out", str(path), "--seed", "5"])
    assert result.exit_code == 0, result.output
    return path


def _direct(study_db, coded: bool):
    """The same analysis from the stored tables by hand: with_arm, then split_body."""
    from nmmstrial.assays.morphometry import split_body
    from nmmstrial.store import read_study
    from nmmstrial.study import with_arm

    study = read_study(study_db)
    table = with_arm(study.fibres, study.allocation, coded=coded).rename(
        columns={"min_feret_um": "diameter_um", "fibre_type": "type"}
    )
    return study, split_body(table.astype({"fibre": str}))


def test_compare_reads_the_study_database_unblinded(study_db):
    result = run("compare", str(study_db), "--user", "unblinded_physician", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    _, want = _direct(study_db, coded=False)
    assert out["contrast"] == "real - sham"
    assert {s["arm"] for s in out["sections"]} == {"real", "sham"}
    assert len(out["sections"]) == 8  # the paper's 4 patients, both arms
    got = {row["type"]: row for row in out["comparison"]}
    for row in want.comparison().itertuples(index=False):
        assert got[row.type]["mixed_estimate"] == pytest.approx(row.mixed_estimate, rel=1e-9)
        assert got[row.type]["means_p"] == pytest.approx(row.means_p, rel=1e-9)
    assert out["pct_fast_test"]["estimate"] == pytest.approx(want.pct_fast_test.estimate)


@pytest.mark.parametrize("user", [("--user", "lab"), ()])
def test_compare_codes_the_arms_for_blinded_readers(study_db, user):
    result = run("compare", str(study_db), *user, "--json")
    assert result.exit_code == 0, result.output
    text = result.output
    assert not re.search(r"\b(real|sham)\b", text, re.IGNORECASE)
    assert '"left"' not in text and '"right"' not in text  # side + code would key the codes
    out = json.loads(text)
    assert out["contrast"] == "X - Y"
    study, unblinded = _direct(study_db, coded=False)
    sign = 1 if study.allocation["real_code"].iloc[0] == "X" else -1
    got = {row["type"]: row for row in out["comparison"]}
    for row in unblinded.comparison().itertuples(index=False):
        assert got[row.type]["mixed_estimate"] == pytest.approx(sign * row.mixed_estimate)
        assert got[row.type]["mixed_p"] == pytest.approx(row.mixed_p, rel=1e-6)
    table = run("compare", str(study_db), *user)
    assert table.exit_code == 0 and "(X - Y)" in table.output
    assert not re.search(r"\b(real|sham)\b", table.output, re.IGNORECASE)


def test_compare_refuses_a_study_without_fibres(tmp_path):
    from nmmstrial.cli import cli

    path = tmp_path / "small.db"
    # Morphometry patients scale as 4 of 22: with 2 patients, round(0.36) = 0.
    created = CliRunner().invoke(
        cli, ["simulate", "--out", str(path), "--patients", "2", "--seed", "1"]
    )
    assert created.exit_code == 0, created.output
    result = run("compare", str(path))
    assert result.exit_code == 1
    assert "the study has no fibres" in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1


def test_compare_takes_a_blinded_csv(tmp_path):
    text = Path(FIBRES).read_text()
    coded = tmp_path / "coded.csv"
    coded.write_text(text.replace('"real"', '"X"').replace('"sham"', '"Y"'))
    plain = json.loads(run("compare", FIBRES, "--json").output)
    result = run("compare", str(coded), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["contrast"] == "X - Y"
    assert [r["mixed_estimate"] for r in out["comparison"]] == pytest.approx(
        [r["mixed_estimate"] for r in plain["comparison"]]
    )
