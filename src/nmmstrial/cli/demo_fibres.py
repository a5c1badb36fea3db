"""The demo's morphometry lab: sections drawn as images and measured as a lab would."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pandas as pd

from ..assays.morphometry import measure
from ..errors import InvalidValueError
from ..simulate import load_calibration
from ..simulate.fibres import MYOSIN_CHANNELS, write_sections
from ..study import Study


def fibres_through_the_lab(study: Study, lab: Path) -> Study:
    """The study with its fibres measured from images: per section, a two-channel myosin
    image (slow, fast) and its label mask written to `lab/`, measured by the same
    `measure` that `nmmstrial assay fibres measure IMAGE --mask MASK --channels
    slow=1,fast=2` runs (minimum Feret, area, exclusions, Otsu typing per image).

    The stored fibres are the measured ones (type from the image, minimum Feret and
    area from the mask), with the mask's file name and SHA-256; excluded fibres (none
    are drawn at the edge or below the minimum area) are left out and counted.
    `meta["morphometry"]` lists each section's files, hashes, thresholds and counts.
    Placement and noise come from the study's seed.
    """
    fibres = study.fibres
    if fibres.empty:
        return study
    chosen = load_calibration().chosen["morphometry"]
    seed = int(study.meta.get("seed") or 0)
    written = write_sections(fibres, lab, chosen, seed)
    where = {sample: fibres.loc[fibres["sample"] == sample].iloc[0] for sample in written}
    measured, sections = [], []
    for sample, (image, mask) in written.items():
        result = measure(image, mask=mask, channels=MYOSIN_CHANNELS)
        kept = result.included
        digest = hashlib.sha256(mask.read_bytes()).hexdigest()
        measured.append(
            pd.DataFrame(
                {
                    "patient": where[sample]["patient"],
                    "side": where[sample]["side"],
                    "sample": sample,
                    "fibre": kept["label"].astype(int).to_numpy(),
                    "fibre_type": kept["type"].to_numpy(),
                    "min_feret_um": kept["min_feret"].round(3).to_numpy(),
                    "area_um2": kept["area"].round(2).to_numpy(),
                    "file": mask.name,
                    "sha256": digest,
                }
            )
        )
        summary = result.summary()
        if not result.countable:
            raise InvalidValueError(
                f"{mask}: {len(kept)} countable fibres, below {result.min_fibres}"
            )
        sections.append(
            {
                "sample": sample,
                "image": image.name,
                "image_sha256": hashlib.sha256(image.read_bytes()).hexdigest(),
                "mask": mask.name,
                "mask_sha256": digest,
                "um_per_px": result.um_per_px,
                "size_measure": result.size_measure,
                "thresholds": {k: round(float(v), 3) for k, v in result.thresholds.items()},
                "threshold_method": result.threshold_method,
                "n_fibres": summary["n_fibres"],
                "n_excluded": summary["n_excluded"],
            }
        )
    table = pd.concat(measured, ignore_index=True)
    meta = {"sections": sections, "channels": dict(MYOSIN_CHANNELS), "folder": lab.name}
    return dataclasses.replace(
        study,
        meta={**study.meta, "morphometry": meta},
        tables={**study.tables, "fibres": table},
    )
