"""`nmmstrial assay fibres ...`: fibre size and type from ImageJ files and masks; real vs sham."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from ..assays.morphometry import (
    MIN_AREA_PX,
    MIN_AREA_UM2,
    MIN_FIBRES,
    ROLES,
    SIZE_MEASURES,
    density_figure,
    measure,
    read_fibre_table,
    segment_file,
    split_body,
)
from ..errors import InvalidValueError
from ..store import read_study
from ..study import with_arm
from .auth import login
from .output import emit

JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON (full precision).")
MIN_FIBRES_OPTION = click.option(
    "--min-fibres",
    type=click.IntRange(min=1),
    default=MIN_FIBRES,
    show_default=True,
    help="Countable fibres a section needs; fewer is reported (and left out of compare).",
)


@click.group()
def fibres() -> None:
    """Muscle fibre morphometry: minimum Feret, fibre type, real vs sham."""


def parse_channels(spec: str | None) -> dict[str, int]:
    """`slow=1,fast=2,border=4` (1-based, as ImageJ numbers channels) to a dict."""
    if not spec:
        return {}
    out: dict[str, int] = {}
    for part in spec.split(","):
        role, sep, value = part.partition("=")
        role = role.strip().lower()
        if not sep or role not in ROLES:
            raise InvalidValueError(
                f"--channels {spec!r}: write NAME=N with NAME one of {', '.join(ROLES)}, "
                "e.g. slow=1,fast=2"
            )
        try:
            number = int(value)
        except ValueError:
            raise InvalidValueError(
                f"--channels {spec!r}: channel {value!r} is not a whole number (1 = first)"
            ) from None
        if number < 1:
            raise InvalidValueError(
                f"--channels {spec!r}: channel {number} is out of range; ImageJ numbers "
                "channels from 1"
            )
        if role in out:
            raise InvalidValueError(f"--channels {spec!r}: {role} given twice")
        out[role] = number
    if out and not ({"slow", "fast"} & set(out)):
        raise InvalidValueError(f"--channels {spec!r}: typing needs slow=N or fast=N")
    return out


def parse_thresholds(specs: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for spec in specs:
        role, sep, value = spec.partition("=")
        role = role.strip().lower()
        try:
            out[role] = float(value)
        except ValueError:
            sep = ""
        if not sep or role not in ("slow", "fast"):
            raise InvalidValueError(f"--threshold {spec!r}: write slow=V or fast=V")
    return out


@fibres.command("measure")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--rois", type=click.Path(path_type=Path, dir_okay=False), help="ImageJ ROI set of IMAGE."
)
@click.option(
    "--mask",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Label image of IMAGE (0 = background, one integer per fibre).",
)
@click.option(
    "--channels",
    metavar="slow=N[,fast=M][,border=K]",
    help="Myosin channels of IMAGE, 1-based as ImageJ shows them.",
)
@click.option(
    "--threshold",
    "threshold_specs",
    multiple=True,
    metavar="NAME=V",
    help="Positive above V (default: Otsu on the per-fibre means). Repeatable.",
)
@click.option("--um-per-px", type=float, help="Pixel size when the file has none (or to override).")
@click.option(
    "--unit",
    type=click.Choice(["um", "px"]),
    help="Results table: its unit (required). Images: px reports pixels without a scale.",
)
@click.option("--pixels", is_flag=True, help="Same as --unit px.")
@click.option(
    "--size",
    "size_measure",
    type=click.Choice(SIZE_MEASURES),
    help="Size measure reported with the result [default: min_feret].",
)
@click.option(
    "--min-area",
    type=float,
    help=f"Exclude smaller objects, in unit^2 [default: {MIN_AREA_UM2:g} um^2 and "
    f"{MIN_AREA_PX} px; in pixels {MIN_AREA_PX} px^2].",
)
@MIN_FIBRES_OPTION
@JSON
def measure_command(
    file,
    rois,
    mask,
    channels,
    threshold_specs,
    um_per_px,
    unit,
    pixels,
    size_measure,
    min_area,
    min_fibres,
    as_json,
):
    """Measure fibres: IMAGE --rois ROIS | IMAGE --mask MASK | MASK | ROIS | RESULTS.csv.

    Per fibre: label, area, perimeter, min_feret, feret, type, excluded, reason;
    then n_fibres, n_excluded, median_min_feret and pct_fast over included fibres.
    """
    if pixels:
        if unit == "um":
            raise InvalidValueError("--pixels and --unit um contradict each other")
        unit = "px"
    result = measure(
        file,
        rois=rois,
        mask=mask,
        channels=parse_channels(channels),
        thresholds=parse_thresholds(threshold_specs),
        um_per_px=um_per_px,
        unit=unit,
        min_area=min_area,
        min_fibres=min_fibres,
        size_measure=size_measure,
    )
    out = result.to_dict()
    if as_json:
        emit(out, as_json=True, title="")
        return
    kept = len(result.included)
    shown = {
        "unit": out["unit"],
        "um_per_px": out["um_per_px"],
        "calibration": result.calibration_source,
        "size_measure": f"{result.size_measure} ({result.unit})",
        "min_area": f"{result.min_area:g} {result.unit}^2",
        "fibres": [
            {**row, "size": size}
            for row, size in zip(out["fibres"], result.fibres[result.size_measure], strict=True)
        ],
        "excluded": result.exclusions(),
        "types": result.type_counts() or None,
        "countable": (
            f"yes ({kept} >= {result.min_fibres})"
            if result.countable
            else f"NO: {kept} countable fibres, below the minimum of {result.min_fibres}"
        ),
        "thresholds": (
            f"{result.threshold_method}: {result.thresholds}" if result.thresholds else None
        ),
        **out["summary"],
    }
    emit(shown, as_json=False, title=f"Fibres: {file} (size: {result.size_measure})")


@fibres.command("segment")
@click.argument("image", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Label TIFF to write (16-bit, calibrated as IMAGE).",
)
@click.option("--channel", type=int, help="Membrane (border) channel, 1-based as in ImageJ.")
@click.option("--um-per-px", type=float, help="Pixel size when IMAGE has none.")
@click.option("--pixels", is_flag=True, help="No scale: segmentation lengths read as px.")
@click.option(
    "--reference",
    type=click.Path(path_type=Path, dir_okay=False),
    help="ROI set or label mask of IMAGE to score against (F1 at IoU >= 0.5).",
)
@click.option("--force", is_flag=True, help="Overwrite --out.")
@JSON
def segment_command(image, out, channel, um_per_px, pixels, reference, force, as_json):
    """Segment a membrane-stained section into a label mask (threshold + watershed)."""
    result = segment_file(
        image,
        out,
        channel=channel,
        um_per_px=um_per_px,
        unit="px" if pixels else None,
        reference=reference,
        force=force,
    )
    emit(result, as_json=as_json, title=f"Segmentation: {image} -> {out}")


@fibres.command("compare")
@click.argument("source")
@MIN_FIBRES_OPTION
@click.option(
    "--user",
    "user_name",
    help="Your user name (with a study database): blinded roles get arm codes X / Y until "
    "the study is unblinded. Without it, a study's arms are coded.",
)
@click.option(
    "--plot",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also save the density plots (Figure 4d) to this PNG/PDF/SVG.",
)
@JSON
def compare_command(source, min_fibres, user_name, plot, as_json):
    """Between arms within patients: SOURCE is a study database or a fibre CSV.

    A study database (STUDY.db, or a URL): its fibres table, arms from the allocation,
    real / sham for unblinded users (--user), else the codes X / Y (contrast X - Y), as
    `nmmstrial export` codes them. A CSV: patient, side, arm, fibre, diameter_um[, type],
    arm real / sham (or X / Y).

    Density bandwidths (bw.nrd0), per-patient mean and median, paired t on % fast,
    and per type the mixed model diameter_um ~ arm + (1|patient) + (1|patient:side)
    (Satterthwaite) beside the paired t on per-patient means.
    """
    table, label = _fibre_source(source, user_name)
    result = split_body(table, min_fibres=min_fibres, source=label)
    if plot is not None:
        try:
            density_figure(result).savefig(plot, dpi=150)
        except (OSError, ValueError) as error:
            raise InvalidValueError(f"{plot}: cannot save the plot: {error}") from error
    out = result.to_dict()
    if as_json:
        emit(out, as_json=True, title="")
        return
    shown = {k: v for k, v in out.items() if k not in ("models", "means_tests")}
    shown["pct_fast_test"] = _brief(out["pct_fast_test"], result.arms)
    shown["notes"] = "; ".join(out["notes"]) or "none"
    emit(shown, as_json=False, title=f"Split-body fibre comparison ({result.contrast}): {label}")


STUDY_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def _fibre_source(source: str, user_name: str | None) -> tuple[pd.DataFrame, str]:
    """The fibre table to compare and how to name it: a CSV read by `read_fibre_table`,
    or a study's stored fibres with their arms as `user_name` may see them."""
    path = Path(source)
    if "://" in source or path.suffix.lower() in STUDY_SUFFIXES:
        return study_fibre_table(source, user_name), f"{source}, table fibres"
    if path.suffix.lower() != ".csv":
        raise InvalidValueError(
            f"{source}: give a study database ({', '.join(STUDY_SUFFIXES)} or a URL) or a "
            "fibre CSV (patient, side, arm, fibre, diameter_um[, type])"
        )
    if user_name:
        raise InvalidValueError("--user goes with a study database; a CSV carries its own arms")
    try:
        with path.open(encoding="utf-8-sig") as fp:
            return read_fibre_table(fp, source=source), source
    except FileNotFoundError:
        raise InvalidValueError(f"{source}: no such file") from None


def study_fibre_table(study_db: str, user_name: str | None) -> pd.DataFrame:
    """The study's fibres as `split_body` takes them (diameter_um = minimum Feret, type
    = fibre_type, untyped as none), arm real / sham only for a user who sees the arms."""
    study = read_study(study_db)
    sees = login(study_db, user_name).sees_arms(study.meta) if user_name else False
    if study.fibres.empty:
        raise InvalidValueError(
            f"{study_db}: the study has no fibres; measure the sections "
            "(`nmmstrial assay fibres measure`) and store them first"
        )
    fibres = with_arm(study.fibres, study.allocation, coded=not sees)
    missing = fibres["arm"].isna()
    if missing.any():
        row = fibres.loc[missing].iloc[0]
        raise InvalidValueError(
            f"{study_db}: patient {row['patient']}, side {row['side']} has fibres but no "
            "allocation; its arm is unknown"
        )
    return pd.DataFrame(
        {
            "patient": fibres["patient"].astype(str),
            "side": fibres["side"].astype(str),
            "arm": fibres["arm"].astype(str),
            "fibre": fibres["fibre"].astype(str),
            "diameter_um": fibres["min_feret_um"].astype(float),
            "type": fibres["fibre_type"].fillna("none").astype(str),
        }
    ).dropna(subset=["diameter_um"])


def _brief(test: dict | None, arms: tuple[str, str]) -> str | None:
    if test is None:
        return None
    return (
        f"paired t: {arms[0]} - {arms[1]} {test['estimate']:.4g}, t({test['df']:g}) = "
        f"{test['statistic']:.4g}, p = {test['p']:.4g}, n = {test['n']}"
    )
