"""`nmmstrial assay fibres`: the contract's JSON, tables for people, one-line errors."""

from __future__ import annotations

import json
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
    return CliRunner().invoke(root, ["fibres", *args])


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
        (["compare", "study.db"], "the study database is not read yet"),
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
