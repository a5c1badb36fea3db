"""qPCR wells of an instrument export, as rows of a study's `qpcr` table.

Samples on a plate are named as the lab names them. By default a sample's name is the
biopsy's sample id (blind to arm: how the demo's plates are labelled); a map CSV
(`sample, patient, side`) links any other naming. A sample the study does not know is
refused, naming the file and the sample. Controls (NTC) keep no patient.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..assays.qpcr import QpcrExport
from ..errors import InvalidValueError
from .imports import read_text_csv


def read_sample_map(path: Path) -> pd.DataFrame:
    """A map CSV with columns sample, patient, side (one row per plate sample name)."""
    frame = read_text_csv(path)
    missing = [c for c in ("sample", "patient", "side") if c not in frame.columns]
    if missing:
        raise InvalidValueError(f"{path}: header must be sample,patient,side; missing {missing}")
    repeated = frame["sample"][frame["sample"].duplicated()]
    if len(repeated):
        raise InvalidValueError(f"{path}: sample {repeated.iloc[0]} is mapped twice")
    return frame.set_index("sample")[["patient", "side"]]


def study_wells(
    export: QpcrExport, biopsies: pd.DataFrame, *, plate: str, sample_map: pd.DataFrame | None
) -> pd.DataFrame:
    """The export's wells with patient and side from the map (or the biopsies), replicate
    numbers in plate order, and `plate` naming the run."""
    wells = export.wells
    samples = wells["task"] == "UNKNOWN"
    how = "a biopsy sample of the study" if sample_map is None else "in the sample map"
    if sample_map is None:
        sample_map = biopsies.set_index("sample")[["patient", "side"]]
    unknown = sorted(set(wells.loc[samples, "sample"]) - set(sample_map.index))
    if unknown:
        raise InvalidValueError(f"{export.source}: sample {unknown[0]} is not {how}")
    return pd.DataFrame(
        {
            "patient": wells["sample"].map(sample_map["patient"]).where(samples),
            "side": wells["sample"].map(sample_map["side"]).where(samples),
            "sample": wells["sample"],
            "target": wells["target"],
            "replicate": wells.groupby(["sample", "target"], sort=False).cumcount() + 1,
            "ct": wells["ct"],
            "task": wells["task"],
            "plate": plate,
            "well": wells["well_position"],
        }
    )
