"""Segmentation of a membrane-stained section into a label image, and its score."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ...errors import InvalidValueError
from .measures import _ROI_SUFFIXES, Calibration, _roi_pixels, calibration, measure_labels
from .readers import Outline, read_image, read_labels, read_rois

SEGMENT_SIGMA_UM = 1.0
"""Gaussian smoothing of the membrane channel: about one membrane width."""
SEGMENT_H_UM = 5.0
"""A fibre's seed must stand this far above the saddle of the distance map, so a
fibre is not split at a dent narrower than this."""
SEGMENT_GROW_UM = 3.0
"""Interiors grow up to this far into the membrane, stopping at its ridge, so outlines
sit mid-membrane as a hand tracing does."""
SEGMENT_MIN_AREA_UM2 = 150.0
"""Fragments below this are dropped (half the ~300 um^2 of the smallest real fibres)."""


def segment(membrane: np.ndarray, cal: Calibration) -> np.ndarray:
    """Label image of fibres from a membrane (laminin / dystrophin / WGA) stained plane.

    Policy: smooth (Gaussian, SEGMENT_SIGMA_UM), Otsu threshold (membrane bright,
    fibre interiors dark), distance transform of the interiors, one seed per h-maximum
    (SEGMENT_H_UM), watershed of the inverted distance inside the interiors, growth
    into the membrane up to SEGMENT_GROW_UM (watershed on the smoothed membrane), then
    fragments below SEGMENT_MIN_AREA_UM2 dropped and labels renumbered 1..n. Lengths
    are in pixels when `cal` is in pixels (the same numbers then read as px).
    """
    from skimage import filters, morphology, segmentation

    plane = np.asarray(membrane, dtype=float)
    if plane.ndim != 2:
        raise InvalidValueError(f"segment: one plane needed, got shape {plane.shape}")
    if plane.max() == plane.min():
        raise InvalidValueError("segment: the membrane channel is uniform; nothing to segment")
    px = cal.scale
    smooth = filters.gaussian(plane, SEGMENT_SIGMA_UM / px)
    inside = smooth < filters.threshold_otsu(smooth)
    distance = ndimage.distance_transform_edt(inside)
    seeds, _ = ndimage.label(morphology.h_maxima(distance, SEGMENT_H_UM / px))
    labels = segmentation.watershed(-distance, seeds, mask=inside)
    near = ndimage.distance_transform_edt(labels == 0) <= SEGMENT_GROW_UM / px
    labels = segmentation.watershed(smooth, labels, mask=near | (labels > 0))
    areas = np.bincount(labels.ravel())
    small = np.flatnonzero(areas * px * px < SEGMENT_MIN_AREA_UM2)
    labels[np.isin(labels, small[small > 0])] = 0
    labels, _, _ = segmentation.relabel_sequential(labels)
    return labels


def rasterize_rois(outlines: Sequence[Outline], shape: tuple[int, int]) -> np.ndarray:
    """Label image of ROIs (ROI i is label i), pixels selected as ImageJ selects them;
    where ROIs overlap the later one wins."""
    labels = np.zeros(shape, np.int32)
    for index, outline in enumerate(outlines, start=1):
        rr, cc = _roi_pixels(outline, shape)
        labels[rr, cc] = index
    return labels


def match_score(
    predicted: np.ndarray, reference: np.ndarray, cal: Calibration, *, iou: float = 0.5
) -> dict[str, Any]:
    """Matched-fibre F1 of a segmentation against a reference label image: a predicted
    fibre matches a reference one when IoU >= `iou` (above 0.5 a fibre has at most one
    match); plus the median minimum Feret of each (all objects) and their difference."""
    if predicted.shape != reference.shape:
        raise InvalidValueError(
            f"segmentation is {predicted.shape[0]} x {predicted.shape[1]} px, reference "
            f"{reference.shape[0]} x {reference.shape[1]}; they must be the same section"
        )
    pred, _, _ = _relabel(predicted)
    ref, _, _ = _relabel(reference)
    n_pred, n_ref = int(pred.max()), int(ref.max())
    pairs = ref.astype(np.int64) * (n_pred + 1) + pred
    overlap = np.bincount(pairs.ravel(), minlength=(n_ref + 1) * (n_pred + 1))
    overlap = overlap.reshape(n_ref + 1, n_pred + 1).astype(float)
    union = overlap.sum(axis=1)[:, None] + overlap.sum(axis=0)[None, :] - overlap
    ious = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)[1:, 1:]
    matched = int((ious >= iou).sum())
    precision = matched / n_pred if n_pred else 0.0
    recall = matched / n_ref if n_ref else 0.0
    f1 = 2 * matched / (n_pred + n_ref) if n_pred + n_ref else 0.0
    med_pred = float(measure_labels(pred, cal).fibres["min_feret"].median()) if n_pred else None
    med_ref = float(measure_labels(ref, cal).fibres["min_feret"].median()) if n_ref else None
    return {
        "iou_threshold": iou,
        "n_predicted": n_pred,
        "n_reference": n_ref,
        "n_matched": matched,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "median_min_feret": med_pred,
        "median_min_feret_reference": med_ref,
        "median_min_feret_difference": (
            med_pred - med_ref if med_pred is not None and med_ref is not None else None
        ),
        "unit": cal.unit,
    }


def _relabel(labels: np.ndarray):
    from skimage.segmentation import relabel_sequential

    return relabel_sequential(np.asarray(labels))


def write_labels(path: Path, labels: np.ndarray, cal: Calibration) -> None:
    """Save a label image as a 16-bit ImageJ TIFF (deflate), with its calibration."""
    import tifffile

    if labels.max() > np.iinfo(np.uint16).max:
        raise InvalidValueError(f"{path}: {labels.max()} labels; a 16-bit mask holds 65535")
    options: dict[str, Any] = {"imagej": True, "compression": "zlib"}
    if cal.um_per_px is not None:
        options["resolution"] = (1 / cal.um_per_px, 1 / cal.um_per_px)
        options["metadata"] = {"unit": "micron"}
    try:
        tifffile.imwrite(path, labels.astype(np.uint16), **options)
    except OSError as error:
        raise InvalidValueError(f"{path}: cannot write: {error}") from error


def segment_file(
    path: Path,
    out: Path,
    *,
    channel: int | None = None,
    um_per_px: float | None = None,
    unit: str | None = None,
    reference: Path | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Segment the membrane channel (1-based; may be omitted for a one-channel image) of
    an image into a label TIFF at `out`; with `reference` (ROI set or label mask of the
    same section), score it by matched-fibre F1 and median minimum Feret."""
    path, out = Path(path), Path(out)
    if out.exists() and not force:
        raise InvalidValueError(f"{out} exists; pass --force to overwrite it")
    image = read_image(path)
    n = image.data.shape[0]
    if channel is None:
        if n != 1:
            raise InvalidValueError(
                f"{path}: {n} channels; give --channel N, the membrane (border) channel, 1-{n}"
            )
        channel = 1
    if not 1 <= channel <= n:
        raise InvalidValueError(
            f"{path}: channel {channel} is out of range; the image has {n} channel"
            f"{'s' if n > 1 else ''} (1-{n}, as ImageJ numbers them)"
        )
    cal = calibration(image.um_per_px, um_per_px=um_per_px, unit=unit, source=str(path))
    labels = segment(image.data[channel - 1], cal)
    write_labels(out, labels, cal)
    score = None
    if reference is not None:
        reference = Path(reference)
        if reference.suffix.lower() in _ROI_SUFFIXES:
            truth = rasterize_rois(read_rois(reference), image.shape)
        else:
            truth = read_labels(reference).data[0]
        score = match_score(labels, truth, cal)
    return {
        "out": str(out),
        "n_labels": int(labels.max()),
        "unit": cal.unit,
        "um_per_px": cal.um_per_px,
        "channel": channel,
        "method": (
            f"gaussian {SEGMENT_SIGMA_UM:g} um, otsu, distance h-maxima {SEGMENT_H_UM:g} um, "
            f"watershed, grow {SEGMENT_GROW_UM:g} um, drop < {SEGMENT_MIN_AREA_UM2:g} um^2"
            + (" (lengths read as px)" if cal.um_per_px is None else "")
        ),
        "score": score,
    }
