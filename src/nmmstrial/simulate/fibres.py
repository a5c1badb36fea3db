"""Synthetic fibre morphometry for the morphometry patients, and its lab images.

Per biopsy flagged for morphometry (the paper's 4 patients, both arms), one
cross-section of 50-140 countable fibres (the paper's rule), each typed slow or fast
and given a minimum Feret diameter:

- The fast share of a section is Beta-distributed with the paper's mean and SD for
  its arm (66.1 +- 29.6 % real, 49.2 +- 20.1 % sham), its variance less what counting
  the fibres adds (binomial), so the counted % has the paper's SD; a patient's two
  arms are tied by a Gaussian copula (fibre-type composition is mostly the patient's).
- A fibre is atrophic (angulated, small: lognormal) with a probability by type and
  arm, else of normal or hypertrophic size (normal); a patient's and a section's
  scale factor multiply every fibre of them; a value outside the paper's range for the
  arm (8-86 um sham, 8-108 um real) is redrawn. Fast fibres are less often atrophic
  and larger in the real arm, slow fibres slightly smaller (the paper's directions).
- The outline is an ellipse whose minor axis is the minimum Feret (an ellipse's
  smallest caliper width), elongated by an aspect ratio; the area is the ellipse's.

The table holds true values; `section_images` draws a section as a label mask and a
two-channel myosin image that the lab's pipeline (`assays.morphometry.measure`)
measures back, as the demo does. Parameters and reasons: `calibration.yaml`, section
`morphometry`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage, stats

from ..errors import InvalidValueError
from ..study import TABLES, conform

ARMS = ("real", "sham")
TYPES = ("slow", "fast")
PIXEL_CORNERS = 0.65
"""Pixels the drawn ellipse's axes are shortened by: ImageJ measures the hull of pixel
corners, which adds about 0.65 px across a rasterized ellipse (measured over the demo's
sections: with 1 px the measured minimum Feret came out 0.35 px short on average)."""


def beta_parameters(mean: float, sd: float, mean_inverse_n: float = 0.0) -> tuple[float, float]:
    """(a, b) of the Beta whose draws, counted over n fibres (binomial), have `mean` and
    `sd`: Var(k / n) = v + (m (1 - m) - v) E[1/n], solved for the true variance v."""
    if not 0 < mean < 1:
        raise InvalidValueError(f"morphometry: fast share {mean} must lie between 0 and 1")
    spread = mean * (1 - mean)
    true_var = (sd**2 - spread * mean_inverse_n) / (1 - mean_inverse_n)
    if not 0 < true_var < spread:
        raise InvalidValueError(
            f"morphometry: an SD of {sd} about a share of {mean} is not a Beta's "
            f"(its variance must lie between counting noise and {spread:.3f})"
        )
    total = spread / true_var - 1
    return mean * total, (1 - mean) * total


def share_models(paper: dict[str, Any], counts: tuple[int, int]) -> dict[str, tuple[float, float]]:
    """Per arm, the Beta (a, b) of the true fast share, from the paper's % fast (mean,
    SD) with fibre counts uniform over `counts` (inclusive)."""
    low, high = counts
    mean_inverse_n = float(np.mean(1.0 / np.arange(low, high + 1)))
    return {
        arm: beta_parameters(paper[arm]["mean"] / 100, paper[arm]["sd"] / 100, mean_inverse_n)
        for arm in ARMS
    }


def simulate_fibres(
    biopsies: pd.DataFrame,
    allocation: pd.DataFrame,
    paper: dict[str, Any],
    chosen: dict[str, Any],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The `fibres` table: every fibre of the sections of the biopsies flagged for
    morphometry, true values (type, minimum Feret, area); file and sha256 empty.

    `paper` is targets.yaml's `histology` section, `chosen` calibration.yaml's
    `morphometry`. Patients in the order of the biopsies table; per patient the
    copula draw, the patient's scale, then per arm (real, sham) the section.
    """
    flag = biopsies["morphometry"].astype("boolean").fillna(False).astype(bool)
    used = biopsies.loc[flag]
    patients = list(dict.fromkeys(used["patient"]))
    if not patients:
        return conform(pd.DataFrame(columns=list(TABLES["fibres"])), "fibres")
    real_side = allocation.set_index("patient")["real_side"]
    counts = tuple(paper["morphometry"]["fibres_per_section"])
    shares = share_models(paper["fast_fibre_pct"], counts)
    ranges = paper["fibre_diameter_range_um"]
    d = chosen["diameter"]
    r = chosen["fast_share"]["between_arms"]
    frames = []
    for patient in patients:
        common = rng.standard_normal()
        own = rng.standard_normal(2)
        patient_scale = math.exp(d["patient_log_sd"] * rng.standard_normal())
        for k, arm in enumerate(ARMS):
            side = real_side[patient] if arm == "real" else _other(real_side[patient])
            rows = used.loc[(used["patient"] == patient) & (used["side"] == side)]
            if rows.empty:
                continue
            z = math.sqrt(r) * common + math.sqrt(1 - r) * own[k]
            share = float(stats.beta.ppf(stats.norm.cdf(z), *shares[arm]))
            n = int(rng.integers(counts[0], counts[1] + 1))
            n_fast = int(rng.binomial(n, share))
            types = np.array(["fast"] * n_fast + ["slow"] * (n - n_fast))[rng.permutation(n)]
            scale = patient_scale * math.exp(d["section_log_sd"] * rng.standard_normal())
            low, high = ranges[arm]
            drawn = [_diameter(kind, arm, scale, d, low, high, rng) for kind in types]
            feret = np.array([value for value, _ in drawn])
            atrophic = np.array([small for _, small in drawn], dtype=bool)
            aspect = np.where(
                atrophic,
                rng.uniform(*d["aspect_atrophic"], size=n),
                rng.uniform(*d["aspect"], size=n),
            )
            frames.append(
                pd.DataFrame(
                    {
                        "patient": patient,
                        "side": side,
                        "sample": rows["sample"].iloc[0],
                        "fibre": np.arange(1, n + 1),
                        "fibre_type": types,
                        "min_feret_um": np.round(feret, 2),
                        "area_um2": np.round(math.pi / 4 * feret**2 * aspect, 1),
                        "file": pd.NA,
                        "sha256": pd.NA,
                    }
                )
            )
    return conform(pd.concat(frames, ignore_index=True), "fibres")


def _diameter(
    kind: str,
    arm: str,
    scale: float,
    d: dict[str, Any],
    low: float,
    high: float,
    rng: np.random.Generator,
) -> tuple[float, bool]:
    """One fibre's minimum Feret and whether it is atrophic: atrophic (lognormal) or not
    (normal), times the section's scale, redrawn until inside [low, high]; after 100
    tries, the normal mean within the range."""
    atrophic = d["atrophic"]
    for _ in range(100):
        small = bool(rng.random() < d["p_atrophic"][kind][arm])
        if small:
            value = atrophic["median_um"] * math.exp(atrophic["log_sd"] * rng.standard_normal())
        else:
            value = rng.normal(d["normal_mean_um"][kind][arm], d["normal_sd_um"][kind])
        value *= scale
        if low <= value <= high:
            return value, small
    return min(max(d["normal_mean_um"][kind][arm], low), high), False


def _other(side: str) -> str:
    return "left" if side == "right" else "right"


# --- the lab: a section drawn as a label mask and a myosin image ------------------------


@dataclass(frozen=True)
class SectionImages:
    """A drawn section: `labels` (fibre k has label k, 0 = endomysium and background) and
    `myosin` (channels slow, fast; rows, cols; 16-bit), at `um_per_px`."""

    labels: np.ndarray
    myosin: np.ndarray
    um_per_px: float


def ellipse_mask(minor_px: float, aspect: float, angle: float) -> np.ndarray:
    """The pixels whose centres fall inside an ellipse of minor axis `minor_px` (less
    `PIXEL_CORNERS`: the pixel-corner outline ImageJ measures adds that much across, so
    the measured minimum Feret is the drawn one), major axis `aspect` times it,
    rotated by `angle` (radians); a tight boolean box."""
    a = max(minor_px * aspect - PIXEL_CORNERS, 1.0) / 2  # semi-major
    b = max(minor_px - PIXEL_CORNERS, 1.0) / 2  # semi-minor
    half = math.ceil(a) + 1
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(float)
    cos, sin = math.cos(angle), math.sin(angle)
    u = x * cos + y * sin
    v = -x * sin + y * cos
    inside = (u / a) ** 2 + (v / b) ** 2 <= 1
    rows, cols = np.nonzero(inside)
    return inside[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def section_images(
    fibres: pd.DataFrame, chosen: dict[str, Any], rng: np.random.Generator
) -> SectionImages:
    """Draw one section's fibres (rows of the `fibres` table, numbered 1..n) as convex
    ellipses, largest first, each at a random free place at least `gap_um` from the
    others and from the image edge (so none is cut by it), in a square whose side fits
    the fibres at `packing` area fraction (grown when a fibre finds no place).

    The myosin image has a slow and a fast channel: a fibre is bright in the channel
    of its type and dim in the other, with Gaussian noise, as immunofluorescence for
    slow and fast myosin heavy chains looks; the endomysium is dark in both.
    """
    spec = chosen["images"]
    um = spec["um_per_px"]
    gap = max(1, math.ceil(spec["gap_um"] / um))
    ordered = fibres.sort_values("min_feret_um", ascending=False, kind="stable")
    shapes = []
    for row in ordered.itertuples(index=False):
        minor = row.min_feret_um / um
        known = pd.notna(row.area_um2) and row.area_um2 > 0
        aspect = 4 * row.area_um2 / (math.pi * row.min_feret_um**2) if known else 1.0
        shape = ellipse_mask(minor, max(aspect, 1.0), rng.uniform(0, math.pi))
        shapes.append((int(row.fibre), shape))
    covered = sum(int(s.sum()) for _, s in shapes)
    side = math.ceil(math.sqrt(covered / spec["packing"])) + 2 * gap
    for _ in range(20):
        labels = _pack(shapes, side, gap, rng, spec["tries"])
        if labels is not None:
            break
        side = math.ceil(side * 1.1)
    else:
        raise InvalidValueError("morphometry: could not place the fibres of a section")
    types = dict(zip(fibres["fibre"].astype(int), fibres["fibre_type"], strict=True))
    myosin = np.zeros((2, side, side), dtype=float)
    for channel, kind in enumerate(TYPES):
        level = np.zeros(int(labels.max()) + 1)
        for fibre, fibre_type in types.items():
            level[fibre] = spec["positive"] if fibre_type == kind else spec["negative"]
        level[0] = spec["background"]
        myosin[channel] = level[labels] + spec["noise"] * rng.standard_normal((side, side))
    myosin = np.clip(np.round(myosin), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    return SectionImages(labels=labels, myosin=myosin, um_per_px=um)


def _pack(
    shapes: list[tuple[int, np.ndarray]],
    side: int,
    gap: int,
    rng: np.random.Generator,
    tries: int,
) -> np.ndarray | None:
    """Place every shape without touching another within `gap` px, or None."""
    labels = np.zeros((side, side), dtype=np.uint16)
    taken = np.zeros((side, side), dtype=bool)
    grow = np.ones((2 * gap + 1, 2 * gap + 1), dtype=bool)
    for fibre, shape in shapes:
        h, w = shape.shape
        if h + 2 * gap > side or w + 2 * gap > side:
            return None
        halo = ndimage.binary_dilation(np.pad(shape, gap), structure=grow)
        for _ in range(tries):
            top = int(rng.integers(0, side - h - 2 * gap + 1))
            left = int(rng.integers(0, side - w - 2 * gap + 1))
            window = taken[top : top + h + 2 * gap, left : left + w + 2 * gap]
            if not (window & halo).any():
                window |= np.pad(shape, gap)
                region = labels[top + gap : top + gap + h, left + gap : left + gap + w]
                region[shape] = fibre
                break
        else:
            return None
    return labels


MASK_SUFFIX = "_mask.tif"
MYOSIN_SUFFIX = "_myosin.tif"
MYOSIN_CHANNELS = {"slow": 1, "fast": 2}
"""Channels of the written myosin image, 1-based as ImageJ numbers them."""


def write_sections(
    fibres: pd.DataFrame, directory: Path, chosen: dict[str, Any], seed: int
) -> dict[str, tuple[Path, Path]]:
    """Per section (sample) of the `fibres` table, a two-channel myosin image (slow,
    fast; 16-bit ImageJ hyperstack) and its label mask (16-bit), both calibrated in
    microns as ImageJ writes it, named by sample only (blind to arm); returns
    {sample: (image, mask)}. Placement and noise come from `seed` and the sample, so
    the same study gives the same files."""
    import tifffile

    from ..assays.morphometry import Calibration as PixelSize
    from ..assays.morphometry import write_labels

    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for sample, section in fibres.groupby("sample", sort=True):
        number = int("".join(ch for ch in str(sample) if ch.isdigit()) or 0)
        drawn = section_images(section, chosen, np.random.default_rng([seed, number, 8]))
        image = directory / f"{sample}{MYOSIN_SUFFIX}"
        mask = directory / f"{sample}{MASK_SUFFIX}"
        per_um = 1 / drawn.um_per_px
        try:
            tifffile.imwrite(
                image,
                drawn.myosin,
                imagej=True,
                resolution=(per_um, per_um),
                metadata={"unit": "micron", "axes": "CYX"},
                compression="zlib",
            )
        except OSError as error:
            raise InvalidValueError(f"{image}: cannot write: {error}") from error
        write_labels(mask, drawn.labels, PixelSize(drawn.um_per_px, "demo"))
        out[str(sample)] = (image, mask)
    return out
