"""Fibre morphometry against ImageJ 1.53t on real files, plus the rules and bad input."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from nmmstrial.assays.morphometry import (
    MIN_AREA_PX,
    calibration,
    convex_hull,
    feret_diameters,
    measure,
    measure_labels,
    measure_results,
    otsu_threshold,
    read_results,
    trace_outline,
    traced_perimeter,
    type_fibres,
)
from nmmstrial.errors import InvalidValueError

DATA = Path(__file__).parent / "data" / "histology"
IMAGE = DATA / "fibersight_human_skm_hs_cw.tif"
ROIS = DATA / "fibersight_human_skm_hs_cw_fibers_RoiSet.zip"
IMAGEJ = DATA / "fibersight_human_skm_hs_cw_imagej1.53t_measurements.csv"
NCL_MASK = DATA / "nclsm_S60_groundtruth_mask.tiff"
NCL_CSV = DATA / "nclsm_S60_per_fibre_calculations.csv"
EXPECTED = json.loads((DATA / "expected.json").read_text())
HUMAN = EXPECTED["fibersight_human_skm_hs_cw"]
NCL = EXPECTED["nclsm_S60_groundtruth_mask"]
PER_FIBRE = 0.005  # the tolerance against ImageJ, per fibre


@pytest.fixture(scope="module")
def human():
    return measure(IMAGE, rois=ROIS, channels={"slow": 1})


@pytest.fixture(scope="module")
def imagej():
    table = pd.read_csv(IMAGEJ)
    return table[table["channel"] == 1].set_index("roi")


@pytest.fixture(scope="module")
def ncl():
    return measure(NCL_MASK, unit="px")


def test_calibration_is_read_from_the_imagej_tiff(human):
    assert human.unit == "um"
    assert human.um_per_px == pytest.approx(HUMAN["pixel_size_um"], rel=1e-6)
    assert human.calibration_source == "file"


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("area", "Area"),
        ("perimeter", "Perim."),
        ("min_feret", "MinFeret"),
        ("feret", "Feret"),
        ("minor_axis", "Minor"),
        ("mean_slow", "Mean"),
    ],
)
def test_rois_match_imagej_per_fibre(human, imagej, ours, theirs):
    got = human.fibres.set_index("label")[ours]
    want = imagej.loc[got.index, theirs]
    # ImageJ's own algorithms reproduced: far inside the 0.5 % the issue allows.
    assert np.abs(got / want - 1).max() < 1e-6
    assert np.abs(got / want - 1).max() < PER_FIBRE


def test_rois_match_expected_summary(human):
    fibres = human.fibres.set_index("label")
    assert len(fibres) == HUMAN["n_rois"] == human.summary()["n_fibres"]
    assert fibres["area"].sum() == pytest.approx(HUMAN["area_um2_sum"], abs=0.01)
    feret = fibres["min_feret"]
    want = HUMAN["minferet_um"]
    assert feret.mean() == pytest.approx(want["mean"], abs=5e-4)
    assert feret.median() == pytest.approx(want["median"], abs=5e-4)
    assert feret.std() == pytest.approx(want["sd"], abs=5e-4)
    assert (feret.min(), feret.max()) == pytest.approx((want["min"], want["max"]), abs=5e-3)
    for name, values in HUMAN["first_rois"].items():
        assert fibres.loc[name, "min_feret"] == pytest.approx(values["MinFeret"], rel=1e-6)


def test_border_rule_needs_the_image_and_is_counted(human):
    assert human.exclusions() == {"border": 26, "min_area": 0}
    assert human.summary()["n_excluded"] == 26
    assert not human.countable  # 30 countable fibres, below the paper's 50
    bare = measure(ROIS, um_per_px=HUMAN["pixel_size_um"])
    assert bare.summary()["n_excluded"] == 0


def test_slow_fibres_typed_from_channel_1():
    every = measure(IMAGE, rois=ROIS, channels={"slow": 1}, min_fibres=1)
    border = every.fibres["reason"].fillna("").str.contains("border")
    # Type over all 56 fibres: the same ROIs measured without the border rule.
    table = every.fibres.assign(excluded=False)
    types, used, method = type_fibres(table[["mean_slow"]].rename(columns=lambda c: "slow"))
    slow = set(table.loc[np.array(types) == "slow", "label"])
    assert (
        set(HUMAN["type_I_clear"])
        <= slow
        <= set(HUMAN["type_I_clear"] + HUMAN["type_I_borderline"])
    )
    assert method == "otsu"
    assert used["slow"] < 189.7 or used["slow"] > 153  # between the rest and the clear six
    assert border.sum() == 26


def test_given_threshold_gives_the_papers_share():
    with IMAGEJ.open() as fp:
        every = read_results(fp, source=str(IMAGEJ))
    result = measure_results(every, unit="um", channels={"slow": 1}, thresholds={"slow": 500})
    assert result.summary()["pct_fast"] == pytest.approx(100 * 50 / 56)
    assert (
        sorted(result.fibres.loc[result.fibres["type"] == "slow", "label"]) == HUMAN["type_I_clear"]
    )
    assert result.thresholds == {"slow": 500.0} and result.threshold_method == "given"


def test_results_table_any_columns_and_unit():
    table = "Area,MinFeret,Label\n100,10,img.tif:a:1\n2,1,img.tif:b:1\n"
    got = measure_results_from_text(table, unit="px", um_per_px=0.5)
    assert got.unit == "um" and got.um_per_px == 0.5
    assert got.fibres["min_feret"].tolist() == [5.0, 0.5]
    assert got.fibres["area"].tolist() == [25.0, 0.5]
    assert got.fibres["label"].tolist() == ["a", "b"]
    assert [f["reason"] for f in got.to_dict()["fibres"]] == [None, "min_area"]
    only_feret = measure_results_from_text("Feret\n12\n", unit="um")
    assert only_feret.size_measure == "feret" and only_feret.unit == "um"


def measure_results_from_text(text: str, **kwargs):
    return measure_results(read_results(io.StringIO(text)), **kwargs)


def test_ncl_mask_labels_and_areas(ncl):
    fibres = ncl.fibres.set_index("label")
    assert ncl.unit == "px" and ncl.um_per_px is None
    assert len(fibres) == NCL["labels"]
    debris = fibres.index[fibres["reason"].fillna("").str.contains("min_area")]
    assert debris.tolist() == NCL["debris_labels_area_1px"]
    assert fibres["area"].median() == NCL["median_area_px"]
    assert fibres["area"].max() == NCL["max_area_px"]
    theirs = pd.read_csv(NCL_CSV).set_index("Fibre_ID")
    assert len(theirs) == NCL["csv_rows"]
    assert (fibres.loc[theirs.index, "area"] == theirs["Fiber_Area"]).all()
    assert ncl.exclusions()["border"] == NCL["border_fibres_in_csv"]
    assert ncl.summary()["n_excluded"] == 2


def test_ncl_min_feret_uses_pixel_corners(ncl):
    fibres = ncl.fibres.set_index("label")
    # SOURCES.md: label 1 158.6 (centres) vs 159.8 px (corners); label 10 318.0 vs 319.0.
    assert fibres.loc[1, "min_feret"] == pytest.approx(159.8, abs=0.05)
    assert fibres.loc[10, "min_feret"] == pytest.approx(319.0, abs=0.05)


def test_mask_without_calibration_is_refused():
    with pytest.raises(InvalidValueError, match="no pixel size in the file; give --um-per-px"):
        measure(NCL_MASK)


def mask_file(tmp_path: Path, labels: np.ndarray, um_per_px: float | None = 0.5) -> Path:
    path = tmp_path / "mask.tif"
    if um_per_px is None:
        tifffile.imwrite(path, labels)
    else:
        tifffile.imwrite(
            path,
            labels,
            imagej=True,
            resolution=(1 / um_per_px, 1 / um_per_px),
            metadata={"unit": "micron"},
        )
    return path


def disc(shape, centre, radius) -> np.ndarray:
    rr, cc = np.ogrid[: shape[0], : shape[1]]
    return (rr - centre[0]) ** 2 + (cc - centre[1]) ** 2 <= radius**2


def test_default_min_area_drops_debris_keeps_small_fibre(tmp_path):
    labels = np.zeros((120, 120), np.uint16)
    labels[disc(labels.shape, (60, 60), 19.6)] = 1  # ~1200 px = ~300 um^2 at 0.5 um/px
    labels[5, 5:8] = 2  # 3-px debris
    got = measure(mask_file(tmp_path, labels))
    fibres = got.fibres.set_index("label")
    assert 290 < fibres.loc[1, "area"] < 310
    assert not fibres.loc[1, "excluded"]
    assert fibres.loc[2, "reason"] == "min_area"
    # In pixels the rule is MIN_AREA_PX: still drops the 3 px.
    px = measure(mask_file(tmp_path, labels), unit="px").fibres.set_index("label")
    assert px.loc[2, "reason"] == "min_area" and MIN_AREA_PX > 3


def test_border_label_is_excluded(tmp_path):
    labels = np.zeros((50, 50), np.uint16)
    labels[0:10, 20:30] = 1
    labels[20:40, 20:30] = 2
    fibres = measure(mask_file(tmp_path, labels)).fibres.set_index("label")
    assert fibres.loc[1, "reason"] == "border"
    assert not fibres.loc[2, "excluded"]
    # A 10 x 20 px rectangle traced on pixel corners: min Feret 10, Feret its diagonal.
    assert fibres.loc[2, "min_feret"] == pytest.approx(5.0)
    assert fibres.loc[2, "feret"] == pytest.approx(0.5 * math.hypot(10, 20))
    assert fibres.loc[2, "area"] == pytest.approx(200 * 0.25)
    assert fibres.loc[2, "perimeter"] == pytest.approx(0.5 * (60 - 4 * (2 - math.sqrt(2))))


def test_binary_mask_is_split_into_objects(tmp_path):
    labels = np.zeros((60, 60), np.uint8)
    labels[10:30, 10:30] = 255
    labels[40:55, 35:55] = 255
    got = measure(mask_file(tmp_path, labels))
    assert got.fibres["label"].tolist() == [1, 2]


def test_traced_outline_follows_imagej_rules():
    single = np.ones((1, 1), bool)
    assert traced_perimeter(*trace_outline(single)) == pytest.approx(4 - 2 * (2 - math.sqrt(2)))
    diagonal = np.eye(2, dtype=bool)  # 8-connected: one object, one outline
    x, _ = trace_outline(diagonal)
    assert len(x) == 8


def test_feret_of_a_square_and_hull():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2], [1, 1], [1, 0]])
    assert len(convex_hull(square)) == 4
    assert feret_diameters(square) == pytest.approx((2.0, math.sqrt(8)))


def test_otsu_splits_between_values():
    assert otsu_threshold([1, 2, 3, 10, 11, 12]) == pytest.approx(6.5)
    with pytest.raises(InvalidValueError, match="2 distinct values"):
        otsu_threshold([5, 5, 5])


def test_typing_with_two_channels():
    means = pd.DataFrame({"slow": [10, 10, 1, 1], "fast": [1, 10, 10, 1]})
    types, used, _ = type_fibres(means, thresholds={"slow": 5, "fast": 5})
    assert types == ["slow", "hybrid", "fast", "none"]
    assert used == {"slow": 5.0, "fast": 5.0}


# Bad input: one clear error each.


def test_empty_mask(tmp_path):
    with pytest.raises(InvalidValueError, match="the mask is empty"):
        measure(mask_file(tmp_path, np.zeros((20, 20), np.uint16)))


def test_labels_without_calibration(tmp_path):
    labels = np.zeros((20, 20), np.uint16)
    labels[5:10, 5:10] = 1
    with pytest.raises(InvalidValueError, match="no pixel size in the file"):
        measure(mask_file(tmp_path, labels, um_per_px=None))


def test_image_and_mask_of_different_shapes(tmp_path):
    labels = np.zeros((20, 20), np.uint16)
    labels[5:10, 5:10] = 1
    with pytest.raises(InvalidValueError, match="mask is 20 x 20 px but the image is 583 x 583"):
        measure(IMAGE, mask=mask_file(tmp_path, labels))


def test_results_table_without_size_column():
    with pytest.raises(InvalidValueError, match="no size column; ImageJ names them Area"):
        read_results(io.StringIO("Label,Mean,X,Y\na,1,2,3\n"))


def test_channel_index_out_of_range():
    with pytest.raises(
        InvalidValueError, match=r"channel 5 \(slow\) is out of range; the image has 4"
    ):
        measure(IMAGE, rois=ROIS, channels={"slow": 5})


def test_results_table_needs_its_unit():
    with pytest.raises(InvalidValueError, match="does not record its unit"):
        measure(IMAGEJ)


def test_pixels_and_scale_together_refused():
    with pytest.raises(InvalidValueError, match="not both"):
        calibration(0.5, um_per_px=0.5, unit="px")


def test_label_image_needs_one_plane():
    with pytest.raises(InvalidValueError, match="a label mask has one plane"):
        measure_labels(np.zeros((2, 3, 3), int), calibration(None, unit="px"))


def test_mask_of_the_rois_matches_imagej_per_fibre(tmp_path, imagej):
    from nmmstrial.assays.morphometry import rasterize_rois, read_rois

    # The same fibres as a label mask (label i = ROI i): what Cellpose would have written.
    labels = rasterize_rois(read_rois(ROIS), (583, 583)).astype(np.uint16)
    mask = mask_file(tmp_path, labels, um_per_px=HUMAN["pixel_size_um"])
    got = measure(IMAGE, mask=mask, channels={"slow": 1}, min_fibres=1)
    names = imagej.index.tolist()
    fibres = got.fibres.set_index("label")
    assert fibres.index.tolist() == list(range(1, 57))
    for column, theirs in (("min_feret", "MinFeret"), ("feret", "Feret"), ("area", "Area")):
        ours = fibres[column].to_numpy()
        want = imagej.loc[names, theirs].to_numpy()
        assert np.abs(ours / want - 1).max() < PER_FIBRE
    assert got.exclusions()["border"] == 26
    slow = {names[i - 1] for i in fibres.index[fibres["type"] == "slow"]}
    assert set(HUMAN["type_I_clear"]) <= slow


def test_results_saved_as_xls_with_channels_only_in_the_label(tmp_path):
    # ImageJ's "Save As" .xls is tab-separated text; without the helper columns the
    # ROI name and channel come from Label ("image:roi:c:N/M - ...").
    table = pd.read_csv(IMAGEJ).drop(columns=["roi", "channel"])
    path = tmp_path / "Results.xls"
    table.to_csv(path, sep="\t", index=False)
    got = measure(path, unit="um", channels={"slow": 1}, thresholds={"slow": 500})
    assert len(got.fibres) == 56
    assert got.fibres["label"].iloc[0] == "0001 - ID 0001"
    assert got.summary()["pct_fast"] == pytest.approx(100 * 50 / 56)
    assert got.summary()["median_min_feret"] == pytest.approx(
        HUMAN["minferet_um"]["median"], abs=5e-4
    )


def test_all_lists_every_public_name():
    import inspect

    import nmmstrial.assays.morphometry as package

    for name in ("fibre_types", "geometry", "measures", "readers", "segmentation", "splitbody"):
        module = getattr(package, name)
        public = {
            n
            for n, obj in vars(module).items()
            if not n.startswith("_")
            and not inspect.ismodule(obj)
            and getattr(obj, "__module__", module.__name__) == module.__name__
            and (n.isupper() or callable(obj))
        }
        assert public <= set(package.__all__), (name, public - set(package.__all__))


def test_rectangle_and_oval_rois(tmp_path):
    import roifile

    rect = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=10, top=10, right=30, bottom=20)
    oval = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=10, top=10, right=30, bottom=20)
    rect.name, oval.name = "rect", "oval"
    path = tmp_path / "RoiSet.zip"
    rect.tofile(path)
    oval.tofile(path)
    got = measure(path, unit="px", min_fibres=1).fibres.set_index("label")
    assert got.loc["rect", ["area", "perimeter", "min_feret"]].tolist() == [200, 60, 10]
    assert got.loc["rect", "feret"] == pytest.approx(math.hypot(20, 10))
    assert got.loc["oval", "area"] == pytest.approx(math.pi * 50)
    assert got.loc["oval", ["min_feret", "feret"]].tolist() == pytest.approx([10, 20])


@pytest.mark.parametrize("layout", ["plain pages", "rgb"])
def test_other_channel_layouts(tmp_path, layout):
    from nmmstrial.assays.morphometry import read_image

    stack = np.zeros((3, 30, 40), np.uint8)
    stack[1, 5:10, 5:10] = 200
    path = tmp_path / "image.tif"
    if layout == "rgb":
        tifffile.imwrite(path, np.moveaxis(stack, 0, -1), photometric="rgb")
    else:
        tifffile.imwrite(path, stack, photometric="minisblack")
    image = read_image(path)
    assert image.data.shape == (3, 30, 40)
    assert image.data[1, 7, 7] == 200 and image.data[0, 7, 7] == 0
