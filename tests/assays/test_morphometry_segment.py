"""Segmentation of a membrane channel, scored against the shared image's ROI set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nmmstrial.assays.morphometry import (
    calibration,
    match_score,
    measure,
    segment_file,
)
from nmmstrial.cli.assay_fibres import fibres
from nmmstrial.errors import InvalidValueError

DATA = Path(__file__).parent / "data" / "histology"
IMAGE = DATA / "fibersight_human_skm_hs_cw.tif"
ROIS = DATA / "fibersight_human_skm_hs_cw_fibers_RoiSet.zip"
MEMBRANE = 4  # FiberSight's channel order: 4 is the fibre border
F1_FLOOR = 0.85  # measured 0.876 (53 of 56 ROIs matched, 65 objects); a regression floor


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    out = tmp_path_factory.mktemp("segment") / "mask.tif"
    return segment_file(IMAGE, out, channel=MEMBRANE, reference=ROIS), out


def test_segmentation_reaches_the_f1_floor(segmented):
    result, _ = segmented
    score = result["score"]
    assert score["f1"] >= F1_FLOOR
    assert score["n_reference"] == 56 and score["n_matched"] >= 50
    # Reported, not a target: the extra objects are small partial fibres, which pull
    # the median down (measured -9.4 um).
    assert abs(score["median_min_feret_difference"]) < 15
    assert score["unit"] == "um"


def test_written_mask_keeps_the_calibration(segmented):
    result, out = segmented
    measured = measure(out)
    assert measured.um_per_px == pytest.approx(0.922385, rel=1e-5)
    assert measured.summary()["n_fibres"] == result["n_labels"]


def test_perfect_segmentation_scores_one():
    labels = np.zeros((30, 30), np.int32)
    labels[2:10, 2:10] = 1
    labels[15:25, 15:28] = 2
    score = match_score(labels, labels * 7, calibration(None, unit="px"))
    assert score["f1"] == 1.0 and score["median_min_feret_difference"] == 0.0


def test_segment_refusals(tmp_path):
    with pytest.raises(InvalidValueError, match="4 channels; give --channel N"):
        segment_file(IMAGE, tmp_path / "a.tif")
    with pytest.raises(InvalidValueError, match="channel 7 is out of range"):
        segment_file(IMAGE, tmp_path / "a.tif", channel=7)
    (tmp_path / "b.tif").write_bytes(b"")
    with pytest.raises(InvalidValueError, match="exists; pass --force"):
        segment_file(IMAGE, tmp_path / "b.tif", channel=MEMBRANE)


def test_segment_cli_json(tmp_path):
    out = tmp_path / "mask.tif"
    args = ["segment", str(IMAGE), "--out", str(out), "--channel", "4", "--json"]
    result = CliRunner().invoke(fibres, args)
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert got["n_labels"] > 50 and got["score"] is None and out.exists()
