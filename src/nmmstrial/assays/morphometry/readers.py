"""Readers for what labs have: TIFF/PNG images and masks, ImageJ ROI sets, Results tables."""

from __future__ import annotations

import io
import math
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
from scipy import ndimage

from ...errors import InvalidValueError

# ImageJ writes "micron"; others write µ (micro sign or Greek mu), escaped or not.
_MICRONS = {"micron", "microns", "um", "µm", "μm", "\\u00b5m", "micrometer", "micrometre"}
_UNIT_TO_UM = {"nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "millimeter": 1e3, "cm": 1e4}


@dataclass(frozen=True)
class Image:
    """Pixels as (channels, rows, cols) and the calibration the file carries, if any."""

    data: np.ndarray
    um_per_px: float | None
    source: str

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape[1], self.data.shape[2]


def read_image(path: Path) -> Image:
    """A TIFF (ImageJ hyperstack, OME or plain) or PNG/JPEG as (channels, rows, cols).

    Channels come from the file's axes (C or S); Z and T must be single planes, since
    a section is one plane. Calibration: ImageJ `unit` with the X resolution, OME
    PhysicalSizeX, or a TIFF resolution in centimetres; inch resolutions are screen
    DPI written by default and are not taken as a calibration.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidValueError(f"{path}: no such file")
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path)
    from skimage import io as skio

    try:
        data = np.asarray(skio.imread(path))
    except (OSError, ValueError) as error:
        raise InvalidValueError(f"{path}: cannot read as an image: {error}") from error
    if data.ndim == 3:
        data = np.moveaxis(data, -1, 0)
    elif data.ndim == 2:
        data = data[None]
    else:
        raise InvalidValueError(f"{path}: {data.ndim}-D image; expected one plane")
    return Image(data, None, str(path))


def _read_tiff(path: Path) -> Image:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            data = series.asarray()
            axes = series.axes
            um = _tiff_calibration(tif, path)
    except (OSError, ValueError, tifffile.TiffFileError) as error:
        raise InvalidValueError(f"{path}: cannot read as TIFF: {error}") from error
    sizes = dict(zip(axes, data.shape, strict=True))
    channel = [a for a in axes if a in "CS" and sizes[a] > 1]
    if not channel:  # a plain multi-page TIFF: its pages are the channels
        channel = [a for a in axes if a in "IQ" and sizes[a] > 1][:1]
    if len(channel) > 1:
        raise InvalidValueError(f"{path}: both C and S axes hold channels (axes {axes})")
    for axis, size in sizes.items():
        if axis not in "YX" and axis not in channel and size != 1:
            raise InvalidValueError(
                f"{path}: axis {axis} has {size} planes (axes {axes}); give one section plane"
            )
    drop = tuple(i for i, a in enumerate(axes) if a not in "YX" and a not in channel)
    data = np.squeeze(data, axis=drop)
    kept = [a for a in axes if a in "YX" or a in channel]
    data = np.moveaxis(data, kept.index(channel[0]), 0) if channel else data[None]
    return Image(data, um, str(path))


def _tiff_calibration(tif, path: Path) -> float | None:
    page = tif.pages[0]
    xres, yres = page.tags.get("XResolution"), page.tags.get("YResolution")
    per_px = None
    if xres is not None:
        num, den = xres.value
        if num > 0:
            per_px = den / num
    if yres is not None and per_px is not None:
        num, den = yres.value
        if num > 0 and not math.isclose(den / num, per_px, rel_tol=1e-6):
            raise InvalidValueError(
                f"{path}: pixels are not square ({per_px:g} x {den / num:g} per pixel); "
                "resample to square pixels first"
            )
    meta = tif.imagej_metadata or {}
    unit = str(meta.get("unit", "")).strip().lower()
    if unit and per_px is not None:
        if unit in _MICRONS:
            return per_px
        if unit in _UNIT_TO_UM:
            return per_px * _UNIT_TO_UM[unit]
    if tif.is_ome:
        match = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', tif.ome_metadata or "")
        unit_match = re.search(r'PhysicalSizeXUnit="([^"]+)"', tif.ome_metadata or "")
        if match:
            size = float(match.group(1))
            unit = unit_match.group(1).lower() if unit_match else "µm"
            if unit in _MICRONS:
                return size
            if unit in _UNIT_TO_UM:
                return size * _UNIT_TO_UM[unit]
    resunit = page.tags.get("ResolutionUnit")
    if resunit is not None and int(resunit.value) == 3 and per_px is not None:
        return per_px * 1e4
    return None


def read_labels(path: Path) -> Image:
    """A label image (one integer per fibre, 0 = background) as (1, rows, cols).

    A binary mask (one non-zero value) is split into 8-connected objects, so a
    thresholded mask works too; float or multi-channel files are refused.
    """
    image = read_image(path)
    if image.data.shape[0] != 1:
        raise InvalidValueError(
            f"{path}: {image.data.shape[0]} channels; a label mask has one integer plane"
        )
    labels = image.data[0]
    if not np.issubdtype(labels.dtype, np.integer) and labels.dtype != bool:
        raise InvalidValueError(f"{path}: {labels.dtype} pixels; a label mask holds integers")
    foreground = labels[labels != 0]
    if len(foreground) and foreground.min() == foreground.max():
        labels, _ = ndimage.label(labels != 0, structure=np.ones((3, 3)))
    return Image(labels[None], image.um_per_px, image.source)


@dataclass(frozen=True)
class Outline:
    """One ImageJ ROI as a closed outline in pixel coordinates."""

    name: str
    x: np.ndarray
    y: np.ndarray
    kind: str


_ROI_KINDS = {0: "polygon", 1: "rect", 2: "oval", 7: "freehand", 8: "traced"}


def read_rois(path: Path) -> list[Outline]:
    """An ImageJ ROI set (.zip) or single .roi; area ROIs only (polygon, rectangle,
    oval as ImageJ's polygon, freehand, traced). Unnamed ROIs are numbered from 1."""
    import roifile

    path = Path(path)
    if not path.exists():
        raise InvalidValueError(f"{path}: no such file")
    try:
        rois = roifile.roiread(path)
    except (OSError, ValueError, zipfile.BadZipFile, struct.error) as error:
        raise InvalidValueError(f"{path}: not an ImageJ ROI file: {error}") from error
    rois = rois if isinstance(rois, list) else [rois]
    if not rois:
        raise InvalidValueError(f"{path}: no ROIs")
    out = []
    for i, roi in enumerate(rois, start=1):
        name = roi.name or str(i)
        kind = _ROI_KINDS.get(int(roi.roitype))
        if kind is None or roi.composite:
            raise InvalidValueError(
                f"{path}, ROI {name}: type {roi.roitype.name.lower()}"
                f"{' (composite)' if roi.composite else ''} is not a fibre outline; "
                "use polygon, freehand, traced, rectangle or oval ROIs"
            )
        xy = np.asarray(roi.coordinates(), dtype=float)
        if len(xy) > 1 and np.array_equal(xy[0], xy[-1]):
            xy = xy[:-1]  # a closing copy of the first vertex is not a vertex
        if len(xy) < 3:
            raise InvalidValueError(f"{path}, ROI {name}: fewer than 3 points")
        out.append(Outline(name, xy[:, 0], xy[:, 1], kind))
    return out


_RESULTS_SIZE = {
    "Area": "area",
    "Perim.": "perimeter",
    "MinFeret": "min_feret",
    "Feret": "feret",
    "Minor": "minor_axis",
}


def read_results(fp: IO[str], *, source: str = "Results") -> pd.DataFrame:
    """An ImageJ/Fiji Results table (.csv, or tab-separated .xls/.txt; any subset and
    order of its columns).

    Returns label, area, perimeter, min_feret, feret, minor_axis, eq_diameter (NaN
    where absent) and mean_c<N> per channel. The label is the ROI name from ImageJ's
    `Label` ("image:roi:slice"), else the row number; a ROI measured on several
    channels (`c:N/M` in the label, or a `channel` column) is one fibre with one mean
    per channel. A table without Area, Perim., MinFeret, Feret or Minor is refused.
    """
    try:
        text = fp.read()
        # ImageJ saves .csv with commas, .xls and .txt with tabs.
        sep = "\t" if "\t" in text.partition("\n")[0] else ","
        table = pd.read_csv(io.StringIO(text), sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InvalidValueError(f"{source}: cannot read as a Results table: {error}") from error
    table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise InvalidValueError(f"{source}: no rows")
    present = [c for c in _RESULTS_SIZE if c in table.columns]
    if not present:
        raise InvalidValueError(
            f"{source}: no size column; ImageJ names them {', '.join(_RESULTS_SIZE)} "
            f"(columns found: {', '.join(table.columns)})"
        )
    labels, channels = _results_labels(table)
    frame = pd.DataFrame({"label": labels, "_channel": channels})
    for column, name in _RESULTS_SIZE.items():
        if column not in table.columns:
            frame[name] = np.nan
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna())[0])
            raise InvalidValueError(f"{source}, row {row + 1}, column {column}: not a number")
        frame[name] = values.to_numpy()
    if "Mean" in table.columns:
        frame["_mean"] = pd.to_numeric(table["Mean"], errors="coerce")
    per_channel = bool(frame["_channel"].notna().any())
    # Rows repeat a ROI only when it was measured on several channels; otherwise two
    # rows are two fibres, whatever their names.
    fibres = frame.drop_duplicates("label") if per_channel else frame
    fibres = fibres.drop(columns=["_channel", "_mean"], errors="ignore").reset_index(drop=True)
    if "_mean" in frame and per_channel:
        means = frame.pivot_table(index="label", columns="_channel", values="_mean", sort=False)
        for channel in means.columns:
            fibres[f"mean_c{int(channel)}"] = fibres["label"].map(means[channel]).to_numpy()
    elif "_mean" in frame:
        fibres["mean_c1"] = frame["_mean"].to_numpy()
    fibres["eq_diameter"] = np.sqrt(4 * fibres["area"] / math.pi)
    return fibres


def _results_labels(table: pd.DataFrame) -> tuple[list[str], list[float]]:
    n = len(table)
    channels = [math.nan] * n
    if "channel" in table.columns:
        channels = pd.to_numeric(table["channel"], errors="coerce").tolist()
    if "Label" in table.columns:
        labels = []
        for i, text in enumerate(table["Label"].astype(str)):
            parts = text.split(":")
            labels.append(parts[1] if len(parts) >= 2 and parts[1] else str(i + 1))
            match = re.search(r"(?:^|:)c:(\d+)/\d+", text)
            if match and math.isnan(channels[i]):
                channels[i] = float(match.group(1))
        return labels, channels
    for name in ("roi", "Name"):
        if name in table.columns:
            return table[name].astype(str).tolist(), channels
    return [str(i + 1) for i in range(n)], channels
