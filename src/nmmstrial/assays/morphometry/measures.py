"""Per-fibre measures, calibration and the exclusion rules; `measure` reads any input."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from ...errors import InvalidValueError
from .fibre_types import TYPES, type_fibres
from .geometry import (
    ellipse_minor,
    feret_diameters,
    outline_measures,
    trace_outline,
    traced_perimeter,
)
from .readers import Image, Outline, read_image, read_labels, read_results, read_rois

SIZE_MEASURES = ("min_feret", "feret", "eq_diameter", "minor_axis")
ROLES = ("slow", "fast", "border")
MIN_AREA_UM2 = 25.0
"""Smaller objects are debris: a 5.6 um circle, below the thinnest human fibre (~8 um)."""
MIN_AREA_PX = 20
"""Smaller objects are debris at any calibration (a 3-px label always goes)."""
MIN_FIBRES = 50
"""Countable fibres a section needs (the paper's rule); fewer is reported, not used."""
FIBRE_COLUMNS = ["label", "area", "perimeter", "min_feret", "feret", "type", "excluded", "reason"]


@dataclass(frozen=True)
class Calibration:
    """Pixel size: `um_per_px` None means the numbers are in pixels (`unit` "px")."""

    um_per_px: float | None
    source: str

    @property
    def unit(self) -> str:
        return "px" if self.um_per_px is None else "um"

    @property
    def scale(self) -> float:
        return 1.0 if self.um_per_px is None else self.um_per_px


@dataclass(frozen=True)
class FibreMeasurement:
    """Per-fibre measures of one section and how they were obtained.

    `fibres`: label, area, perimeter, min_feret, feret, eq_diameter, minor_axis,
    mean_<role> per typing channel, type, excluded, reason; lengths in `unit`,
    areas in `unit`^2. `type` is slow, fast, hybrid, none, or None when untyped.
    """

    fibres: pd.DataFrame
    unit: str
    um_per_px: float | None
    size_measure: str
    min_area: float
    min_fibres: int
    thresholds: dict[str, float] = field(default_factory=dict)
    threshold_method: str | None = None
    calibration_source: str = ""
    source: str = ""

    @property
    def included(self) -> pd.DataFrame:
        return self.fibres[~self.fibres["excluded"]]

    @property
    def countable(self) -> bool:
        return len(self.included) >= self.min_fibres

    def summary(self) -> dict[str, Any]:
        """n_fibres (every object read), n_excluded, and over the included fibres the
        median minimum Feret and % fast = fast / (fast + slow) (hybrids apart)."""
        kept = self.included
        types = kept["type"]
        fast, slow = int((types == "fast").sum()), int((types == "slow").sum())
        feret = kept["min_feret"].dropna()
        return {
            "n_fibres": len(self.fibres),
            "n_excluded": int(self.fibres["excluded"].sum()),
            "median_min_feret": float(feret.median()) if len(feret) else None,
            "pct_fast": 100.0 * fast / (fast + slow) if fast + slow else None,
        }

    def type_counts(self) -> dict[str, int]:
        """Included fibres per type (hybrids and untyped apart from % fast)."""
        types = self.included["type"].dropna()
        return {kind: int((types == kind).sum()) for kind in TYPES if (types == kind).any()}

    def exclusions(self) -> dict[str, int]:
        """How many fibres each rule excluded (a fibre may count under both)."""
        reasons = self.fibres["reason"].fillna("")
        return {rule: int(reasons.str.contains(rule).sum()) for rule in ("border", "min_area")}

    def to_dict(self) -> dict[str, Any]:
        """The CLI contract: unit, um_per_px, size_measure, fibres, summary."""
        fibres = [
            {k: _plain(row[k]) for k in FIBRE_COLUMNS} for row in self.fibres.to_dict("records")
        ]
        return {
            "unit": self.unit,
            "um_per_px": self.um_per_px,
            "size_measure": self.size_measure,
            "fibres": fibres,
            "summary": {k: _plain(v) for k, v in self.summary().items()},
        }


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def calibration(
    from_file: float | None,
    *,
    um_per_px: float | None = None,
    unit: str | None = None,
    source: str = "input",
) -> Calibration:
    """The pixel size to use: `unit="px"` asks for pixels, a given `um_per_px` wins over
    the file's, and a file without one is refused rather than read as 1 um per px."""
    if unit not in (None, "um", "px"):
        raise InvalidValueError(f"unit {unit!r}: use um or px")
    if um_per_px is not None and not (math.isfinite(um_per_px) and um_per_px > 0):
        raise InvalidValueError(f"--um-per-px {um_per_px:g}: must be a positive number")
    if unit == "px":
        if um_per_px is not None:
            raise InvalidValueError("give --um-per-px or --unit px, not both")
        return Calibration(None, "pixels, as asked")
    if um_per_px is not None:
        return Calibration(float(um_per_px), "given")
    if from_file is not None:
        return Calibration(from_file, "file")
    raise InvalidValueError(
        f"{source}: no pixel size in the file; give --um-per-px X (um per pixel), "
        "or --unit px to report pixels"
    )


def measure_rois(
    outlines: Sequence[Outline],
    cal: Calibration,
    *,
    image: Image | None = None,
    channels: Mapping[str, int] | None = None,
    thresholds: Mapping[str, float] | None = None,
    min_area: float | None = None,
    min_fibres: int = MIN_FIBRES,
    size_measure: str = "min_feret",
    source: str = "ROIs",
) -> FibreMeasurement:
    """Measure ImageJ ROIs; with `image`, the border rule and per-fibre channel means.

    A fibre touches the border when one of its pixels (ImageJ's rule: the pixel
    centre inside the outline) lies in the image's first or last row or column.
    """
    rows = []
    pixels = []
    for outline in outlines:
        measures = outline_measures(outline.x, outline.y, outline.kind)
        rows.append({"label": outline.name, **measures})
        if image is not None:
            pixels.append(_roi_pixels(outline, image.shape))
    frame = _scaled(pd.DataFrame(rows), cal)
    border = None
    means = None
    if image is not None:
        height, width = image.shape
        border = np.array(
            [
                len(r) > 0
                and (r.min() == 0 or c.min() == 0 or r.max() == height - 1 or c.max() == width - 1)
                for r, c in pixels
            ]
        )
        if channels:
            planes = _planes(image, channels, image.source)
            means = {
                role: [float(plane[r, c].mean()) if len(r) else math.nan for r, c in pixels]
                for role, plane in planes.items()
            }
    return _finish(
        frame, cal, border, means, thresholds, min_area, min_fibres, size_measure, source
    )


def _roi_pixels(outline: Outline, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from skimage.draw import polygon

    # ImageJ selects pixel (x, y) when (x + 0.4999, y + 0.5) is inside the outline;
    # skimage tests the pixel's integer coordinates, hence the shift.
    return polygon(outline.y - 0.5, outline.x - 0.4999, shape=shape)


def measure_labels(
    labels: np.ndarray,
    cal: Calibration,
    *,
    image: Image | None = None,
    channels: Mapping[str, int] | None = None,
    thresholds: Mapping[str, float] | None = None,
    min_area: float | None = None,
    min_fibres: int = MIN_FIBRES,
    size_measure: str = "min_feret",
    source: str = "mask",
) -> FibreMeasurement:
    """Measure every label of a label image (0 = background) as ImageJ would measure
    its traced outline; a label in several pieces is one fibre (hull over all its
    pixels, perimeter summed over the pieces' outer outlines)."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InvalidValueError(f"{source}: a label mask has one plane, got shape {labels.shape}")
    if image is not None and image.shape != labels.shape:
        raise InvalidValueError(
            f"{source}: mask is {labels.shape[0]} x {labels.shape[1]} px but the image is "
            f"{image.shape[0]} x {image.shape[1]}; they must be the same section"
        )
    if not labels.any():
        raise InvalidValueError(f"{source}: the mask is empty (every pixel 0); no fibres")
    if labels.min() < 0:
        raise InvalidValueError(f"{source}: negative labels; 0 is background, fibres 1, 2, ...")
    height, width = labels.shape
    rows, border, ids = [], [], []
    for index, window in enumerate(ndimage.find_objects(labels), start=1):
        if window is None:
            continue
        region = labels[window] == index
        top, left = window[0].start, window[1].start
        border.append(top == 0 or left == 0 or window[0].stop == height or window[1].stop == width)
        rows.append({"label": index, **_region_measures(region, top, left)})
        ids.append(index)
    frame = _scaled(pd.DataFrame(rows), cal)
    means = None
    if channels:
        if image is None:
            raise InvalidValueError(f"{source}: --channels needs the image beside the mask")
        planes = _planes(image, channels, image.source)
        means = {
            role: ndimage.mean(plane.astype(float), labels, index=ids)
            for role, plane in planes.items()
        }
    return _finish(
        frame, cal, np.array(border), means, thresholds, min_area, min_fibres, size_measure, source
    )


def _region_measures(region: np.ndarray, top: int, left: int) -> dict[str, float]:
    area = float(region.sum())
    edge = region & ~ndimage.binary_erosion(region, border_value=0)
    r, c = np.nonzero(edge)
    offsets = [(left + dx, top + dy) for dx in (0, 1) for dy in (0, 1)]
    corners = np.concatenate([np.column_stack([c + dx, r + dy]) for dx, dy in offsets])
    min_feret, feret = feret_diameters(corners)
    pieces, count = ndimage.label(region, structure=np.ones((3, 3)))
    perimeter = 0.0
    for piece in range(1, count + 1):
        perimeter += traced_perimeter(*trace_outline(pieces == piece))
    rr, cc = np.nonzero(region)
    # Each pixel adds its own second moment, 1/12, as ImageJ's EllipseFitter does.
    xx, yy = cc.var() + 1 / 12, rr.var() + 1 / 12
    xy = float(((cc - cc.mean()) * (rr - rr.mean())).mean())
    return {
        "area": area,
        "perimeter": perimeter,
        "min_feret": min_feret,
        "feret": feret,
        "eq_diameter": math.sqrt(4 * area / math.pi),
        "minor_axis": ellipse_minor(xx, yy, xy, area),
    }


def measure_results(
    fibres: pd.DataFrame,
    *,
    unit: str | None,
    um_per_px: float | None = None,
    channels: Mapping[str, int] | None = None,
    thresholds: Mapping[str, float] | None = None,
    min_area: float | None = None,
    min_fibres: int = MIN_FIBRES,
    size_measure: str | None = None,
    source: str = "Results",
) -> FibreMeasurement:
    """Apply the rules to an ImageJ Results table read by `read_results`.

    The table does not say its unit, so `unit` is required: "um" (ImageJ calibrated)
    or "px" (then `um_per_px` converts to um). No border rule (no image). The size
    measure defaults to min_feret, else the first of eq_diameter (from Area),
    minor_axis, feret the table has.
    """
    if unit not in ("um", "px"):
        raise InvalidValueError(
            f"{source}: an ImageJ Results table does not record its unit; give --unit um "
            "(ImageJ had a scale) or --unit px"
        )
    if unit == "um" and um_per_px is not None:
        raise InvalidValueError(f"{source}: --um-per-px converts a px table; this one is in um")
    if unit == "px" and um_per_px is not None:
        cal = calibration(None, um_per_px=um_per_px, source=source)
        frame = _scaled(fibres, cal)
    else:
        # A table in um was scaled by ImageJ: numbers stay, the pixel size is unknown.
        cal = Calibration(1.0 if unit == "um" else None, f"ImageJ table in {unit}")
        frame = fibres.copy()
    if size_measure is None:
        size_measure = next((m for m in SIZE_MEASURES if frame[m].notna().any()), "min_feret")
    means = None
    if channels:
        available = sorted(int(c[len("mean_c") :]) for c in frame if c.startswith("mean_c"))
        if not available:
            raise InvalidValueError(f"{source}: --channels needs a Mean column")
        means = {}
        for role, number in channels.items():
            if number not in available:
                raise InvalidValueError(
                    f"{source}: channel {number} is out of range; the table has means for "
                    f"channel(s) {', '.join(map(str, available))}"
                )
            if role != "border":
                means[role] = frame[f"mean_c{number}"].to_numpy()
    out = _finish(frame, cal, None, means, thresholds, min_area, min_fibres, size_measure, source)
    return replace(out, um_per_px=None) if unit == "um" else out


def _scaled(frame: pd.DataFrame, cal: Calibration) -> pd.DataFrame:
    out = frame.copy()
    s = cal.scale
    out["area_px"] = out["area"]
    for column in ("perimeter", "min_feret", "feret", "eq_diameter", "minor_axis"):
        out[column] = out[column] * s
    out["area"] = out["area"] * s * s
    return out


def _planes(image: Image, channels: Mapping[str, int], source: str) -> dict[str, np.ndarray]:
    n = image.data.shape[0]
    planes = {}
    for role, number in channels.items():
        if not 1 <= number <= n:
            raise InvalidValueError(
                f"{source}: channel {number} ({role}) is out of range; the image has "
                f"{n} channel{'s' if n > 1 else ''} (1-{n}, as ImageJ numbers them)"
            )
        if role != "border":
            planes[role] = image.data[number - 1]
    return planes


def default_min_area(unit: str) -> float:
    """The default minimum area in `unit`^2 (see MIN_AREA_UM2 and MIN_AREA_PX)."""
    return MIN_AREA_UM2 if unit == "um" else float(MIN_AREA_PX)


def _finish(
    frame: pd.DataFrame,
    cal: Calibration,
    border: np.ndarray | None,
    means: Mapping[str, Sequence[float]] | None,
    thresholds: Mapping[str, float] | None,
    min_area: float | None,
    min_fibres: int,
    size_measure: str,
    source: str,
) -> FibreMeasurement:
    """Apply the exclusion rules, then type the fibres (Otsu over included fibres only,
    so debris and cut fibres at the edge do not move the threshold)."""
    if size_measure not in SIZE_MEASURES:
        raise InvalidValueError(
            f"size measure {size_measure!r}: use one of {', '.join(SIZE_MEASURES)}"
        )
    if frame[size_measure].isna().all():
        raise InvalidValueError(f"{source}: no {size_measure} values; choose another measure")
    if min_fibres < 1:
        raise InvalidValueError(f"minimum fibres per section {min_fibres}: must be 1 or more")
    unit = cal.unit
    small = np.zeros(len(frame), bool)
    if frame["area"].notna().any():
        if min_area is None:
            min_area = default_min_area(unit)
            small = np.asarray(frame["area"] < min_area)
            if "area_px" in frame and unit == "um":
                small = small | np.asarray(frame["area_px"] < MIN_AREA_PX)
        else:
            small = np.asarray(frame["area"] < min_area)
    elif min_area is not None:
        raise InvalidValueError(f"{source}: a minimum area needs an Area column")
    on_border = np.zeros(len(frame), bool) if border is None else np.asarray(border, bool)
    reasons = [
        "; ".join(r for r, hit in (("border", b), ("min_area", s)) if hit) or None
        for b, s in zip(on_border, small, strict=True)
    ]
    frame = frame.drop(columns=[c for c in ("area_px",) if c in frame])
    frame["excluded"] = on_border | small
    frame["reason"] = reasons
    used: dict[str, float] = {}
    method = None
    if means:
        for role, values in means.items():
            frame[f"mean_{role}"] = np.asarray(values, dtype=float)
        frame["type"], used, method = type_fibres(
            frame[[f"mean_{r}" for r in means]].rename(columns=lambda c: c[len("mean_") :]),
            included=~frame["excluded"].to_numpy(),
            thresholds=thresholds,
        )
    else:
        if thresholds:
            raise InvalidValueError("--threshold needs --channels (which channel is which)")
        frame["type"] = None
    return FibreMeasurement(
        fibres=frame.reset_index(drop=True),
        unit=unit,
        um_per_px=cal.um_per_px,
        size_measure=size_measure,
        min_area=float(min_area) if min_area is not None else math.nan,
        min_fibres=min_fibres,
        thresholds=used,
        threshold_method=method,
        calibration_source=cal.source,
        source=source,
    )


_RESULTS_SUFFIXES = (".csv", ".tsv", ".txt", ".xls")
_IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")
_ROI_SUFFIXES = (".zip", ".roi")


def measure(
    path: Path,
    *,
    rois: Path | None = None,
    mask: Path | None = None,
    channels: Mapping[str, int] | None = None,
    thresholds: Mapping[str, float] | None = None,
    um_per_px: float | None = None,
    unit: str | None = None,
    min_area: float | None = None,
    min_fibres: int = MIN_FIBRES,
    size_measure: str | None = None,
) -> FibreMeasurement:
    """Measure one section from whatever a lab has: an ImageJ Results CSV, a ROI set,
    a label mask, or an image with `rois` or `mask` (needed for typing and the border
    rule). Channel numbers are 1-based, as ImageJ shows them."""
    path = Path(path)
    suffix = path.suffix.lower()
    source = str(path)
    options = {
        "thresholds": thresholds,
        "min_area": min_area,
        "min_fibres": min_fibres,
        "size_measure": size_measure or "min_feret",
    }
    if suffix in _RESULTS_SUFFIXES:
        if rois or mask:
            raise InvalidValueError(
                f"{path}: a Results table is measured already; no --rois/--mask"
            )
        try:
            with path.open(encoding="utf-8-sig") as fp:
                table = read_results(fp, source=source)
        except FileNotFoundError:
            raise InvalidValueError(f"{path}: no such file") from None
        return measure_results(
            table,
            unit=unit,
            um_per_px=um_per_px,
            channels=channels,
            **{**options, "size_measure": size_measure},
            source=source,
        )
    if suffix in _ROI_SUFFIXES:
        if rois or mask:
            raise InvalidValueError(f"{path}: give the image first: measure IMAGE --rois ROIS")
        if channels:
            raise InvalidValueError(
                f"{path}: --channels needs the image; run measure IMAGE --rois {path}"
            )
        cal = calibration(None, um_per_px=um_per_px, unit=unit, source=source)
        return measure_rois(read_rois(path), cal, **options, source=source)
    if suffix not in _IMAGE_SUFFIXES:
        raise InvalidValueError(
            f"{path}: unknown kind of file; give an ImageJ Results table (.csv, .xls, "
            ".txt), a ROI set (.zip, .roi), or a TIFF/PNG image or mask"
        )
    if rois and mask:
        raise InvalidValueError("give --rois or --mask, not both")
    if rois:
        image = read_image(path)
        cal = calibration(image.um_per_px, um_per_px=um_per_px, unit=unit, source=source)
        return measure_rois(
            read_rois(rois), cal, image=image, channels=channels, **options, source=str(rois)
        )
    if mask:
        image = read_image(path)
        labels = read_labels(mask)
        if not labels.data.any():
            raise InvalidValueError(f"{mask}: the mask is empty (every pixel 0); no fibres")
        found = image.um_per_px if image.um_per_px is not None else labels.um_per_px
        cal = calibration(found, um_per_px=um_per_px, unit=unit, source=f"{path} and {mask}")
        return measure_labels(
            labels.data[0], cal, image=image, channels=channels, **options, source=str(mask)
        )
    if channels:
        raise InvalidValueError(
            f"{path}: --channels needs the fibres: measure IMAGE --mask MASK or --rois ROIS"
        )
    image = read_image(path)
    if image.data.shape[0] != 1:
        raise InvalidValueError(
            f"{path}: {image.data.shape[0]} channels; a multi-channel image needs --mask "
            "MASK or --rois ROIS (or run segment first)"
        )
    labels = read_labels(path)
    if not labels.data.any():
        raise InvalidValueError(f"{path}: the mask is empty (every pixel 0); no fibres")
    cal = calibration(labels.um_per_px, um_per_px=um_per_px, unit=unit, source=source)
    return measure_labels(labels.data[0], cal, **options, source=source)
