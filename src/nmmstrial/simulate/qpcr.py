"""Synthetic qPCR plates for the molecular patients: wells as an instrument reports them.

Per sample (a biopsy, one arm of a patient) every assay of the paper is run in technical
triplicate with GAPDH (mRNAs) or U6 (miRNAs) as reference, and every plate has one
non-template control per assay. The model, per well:

    Cq = reference level + sample input + plate offset [+ dCt of the gene] + noise,

where the gene's dCt in a patient is its muscle level plus the patient's own offset,
+/- half the patient's ddCt on the real / sham side; ddCt = -log2 fold, the fold drawn
per patient so that the mean fold over patients is the paper's (see `fold_model`).
Input and plate offsets cancel in dCt and ddCt, as they do in a real run. Cq values are
rounded to 3 decimals, as instruments export them, so a written export reads back equal.
Parameters and their reasons: `calibration.yaml`, section `qpcr`.
"""

from __future__ import annotations

import math
import string
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidValueError
from ..study import conform

ROWS_384 = string.ascii_uppercase[:16]


def fold_model(paper: dict[str, Any], chosen: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per gene: mean and SD of log2 fold across patients, and the between-patient SD.

    The paper's SEM over `paper_patients` gives the SD of the folds and their CV; a
    lognormal fold with the paper's mean and that CV has sigma_ln = sqrt(ln(1 + CV^2)),
    and log2 mean log2(fold) - sigma_ln^2 / (2 ln 2). The between-patient part is what
    remains after the technical variance of a ddCt (four means of triplicates).
    """
    n = chosen["paper_patients"]
    technical = 4 * chosen["technical_sd"] ** 2 / chosen["replicates"]
    out = {}
    for gene, values in paper["genes"].items():
        fold, sem = float(values["fold"]), float(values["sem"])
        cv = sem * math.sqrt(n) / fold
        sigma_ln = math.sqrt(math.log1p(cv**2))
        sd_log2 = sigma_ln / math.log(2)
        between = math.sqrt(max(sd_log2**2 - technical, chosen["min_between_sd"] ** 2))
        out[gene] = {
            "fold": fold,
            "mean_log2": math.log2(fold) - sigma_ln**2 / (2 * math.log(2)),
            "sd_log2": sd_log2,
            "between_sd": between,
        }
    return out


def well_position(index: int) -> str:
    """The 0-based index of a well on a 384-well plate as its position: A1 ... P24."""
    if not 0 <= index < 384:
        raise InvalidValueError(f"well index {index} is not on a 384-well plate")
    return f"{ROWS_384[index // 24]}{index % 24 + 1}"


def simulate_qpcr(
    biopsies: pd.DataFrame,
    allocation: pd.DataFrame,
    paper: dict[str, Any],
    chosen: dict[str, Any],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The `qpcr` table: every well of the plates of the biopsies flagged for qPCR.

    Patients are laid out in the order of `biopsies`, `patients_per_plate` to a plate,
    both samples of a patient on one plate; wells are filled sample by sample, assay by
    assay, replicate by replicate, then the plate's NTCs. `allocation` gives each
    patient's real side; the plate itself is blind to it (samples are named by id).
    """
    model = fold_model(paper, chosen)
    genes = list(model)
    refs = chosen["references"]
    mirnas = set(chosen["mirnas"])
    reference_of = {g: refs["mirna"] if g in mirnas else refs["mrna"] for g in genes}
    assays = [refs["mrna"], refs["mirna"], *genes]
    real_side = allocation.set_index("patient")["real_side"]
    used = biopsies.loc[biopsies["qpcr"].fillna(False).astype(bool)]
    patients = list(dict.fromkeys(used["patient"]))
    per_plate = chosen["patients_per_plate"]
    n_rep = chosen["replicates"]
    rows: list[dict[str, Any]] = []
    for start in range(0, len(patients), per_plate):
        plate = f"QP{start // per_plate + 1:02d}"
        offset = chosen["plate_sd"] * rng.standard_normal()
        wells: list[dict[str, Any]] = []
        for patient in patients[start : start + per_plate]:
            ddct = {g: -rng.normal(m["mean_log2"], m["between_sd"]) for g, m in model.items()}
            level = {
                g: chosen["dct"][g] + chosen["patient_dct_sd"] * rng.standard_normal()
                for g in genes
            }
            samples = used.loc[used["patient"] == patient].sort_values("sample")
            for biopsy in samples.itertuples(index=False):
                sign = 0.5 if biopsy.side == real_side[patient] else -0.5
                base = offset + chosen["sample_input_sd"] * rng.standard_normal()
                for assay in assays:
                    ref = reference_of.get(assay, assay)
                    mean = chosen["reference_ct"][ref] + base
                    if assay in model:
                        mean += level[assay] + sign * ddct[assay]
                    for replicate in range(1, n_rep + 1):
                        ct = mean + chosen["technical_sd"] * rng.standard_normal()
                        if rng.random() < chosen["p_undetermined"]:
                            ct = math.nan
                        wells.append(
                            {
                                "patient": patient,
                                "side": biopsy.side,
                                "sample": biopsy.sample,
                                "target": assay,
                                "replicate": replicate,
                                "ct": round(ct, 3),
                                "task": "UNKNOWN",
                            }
                        )
        low, high = chosen["ntc_late_ct"]
        for assay in assays:
            late = rng.random() < chosen["p_ntc_late_signal"]
            ct = round(float(rng.uniform(low, high)), 3) if late else math.nan
            wells.append(
                {
                    "patient": None,
                    "side": None,
                    "sample": "NTC",
                    "target": assay,
                    "replicate": 1,
                    "ct": ct,
                    "task": "NTC",
                }
            )
        if len(wells) > chosen["plate_wells"]:
            raise InvalidValueError(
                f"qpcr: {len(wells)} wells do not fit a {chosen['plate_wells']}-well plate; "
                "lower patients_per_plate"
            )
        for index, well in enumerate(wells):
            rows.append({**well, "plate": plate, "well": well_position(index)})
    columns = ["patient", "side", "sample", "target", "replicate", "ct", "task", "plate", "well"]
    return conform(pd.DataFrame(rows, columns=columns), "qpcr")
