"""Fixtures for the study database: a hand-made study, a simulated one, a PostgreSQL schema."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nmmstrial.protocol import reference_protocol
from nmmstrial.simulate import simulate_trial
from nmmstrial.study import Study


@pytest.fixture
def study() -> Study:
    """Three patients, every table, with the awkward values: NA sides, 11/3, NA counts."""
    patients = pd.DataFrame(
        {
            "patient": ["P01", "P02", "P03"],
            "sequence": [1, 2, 3],
            "enrolled_on": ["2016-03-01", "2016-04-12", None],
            "age": [61, 57, None],
            "sex": ["male", "female", "male"],
            "disease_duration_months": [14.2, 11 / 3, np.nan],
            "onset_side": ["right", None, "left"],
            "alsfrs_r": [38, 41, 35],
            "fvc_pct": [86.5, 92.0, 71.25],
            "status": ["completed", "completed", "withdrawn"],
            "biopsy": ["done", "refused", "not_applicable"],
        }
    )
    allocation = pd.DataFrame(
        {
            "patient": ["P01", "P02", "P03", None],
            "sequence": [1, 2, 3, 4],
            "stratum": [None] * 4,
            "block": [1, 1, 2, 2],
            "block_size": [2] * 4,
            "real_side": ["left", "right", "right", "left"],
            "real_code": ["Y"] * 4,
        }
    )
    visits = pd.DataFrame(
        {
            "patient": ["P01", "P01", "P02", "P03"],
            "time": ["T0", "T1", "T0", "T0"],
            "day": [0, 7, 0, 0],
            "date": ["2016-03-08", "2016-03-15", "2016-04-19", None],
            "status": ["done", "done", "done", "missed"],
        }
    )
    observations = pd.DataFrame(
        {
            "patient": ["P01", "P01", "P01", "P01", "P02", "P02", "P03"],
            "side": ["left", "right", None, None, "left", "right", None],
            "time": ["T0", "T0", "T0", "T1", "T0", "T0", "T0"],
            "measure": [
                "mrc_fcr",
                "mrc_fcr",
                "alsfrs_r",
                "fvc_pct",
                "mrc_fcr",
                "mrc_fcr",
                "fvc_pct",
            ],
            "value": [11 / 3, 4.0, 38.0, 0.1 + 0.2, 13 / 3, np.nan, 71.25],
        }
    )
    sessions = pd.DataFrame(
        {
            "patient": ["P01", "P01"],
            "session": [1, 2],
            "day": [0, 1],
            "date": ["2016-03-08", "2016-03-09"],
            "trains": [140, 71],
            "pulses": [7000, 3550],
            "duration_s": [3485, None],
            "intensity_pct_mso": [100.0, 87.5],
            "completed": [True, False],
            "operator": ["Dr. Ä", "Dr. Ä"],
            "coil_left": ["real", "real"],
            "coil_right": ["sham", "sham"],
            "interruptions": [0, 1],
            "interruption_cause": [None, "patient discomfort"],
        }
    )
    adverse_events = pd.DataFrame(
        {
            "patient": ["P01", "P02"],
            "event": [1, 1],
            "onset_day": [14, 3],
            "time": ["T2", "T1"],
            "term": ["haematoma at biopsy site", "headache"],
            "side": ["left", None],
            "severity": ["mild", "moderate"],
            "serious": [False, None],
            "related_to": ["biopsy", "none"],
            "relatedness": ["definite", "unrelated"],
            "outcome": ["resolved", "ongoing"],
            "end_day": [21, None],
            "action": ["none", "treatment_given"],
            "onset_date": ["2016-03-22", "2016-03-12"],
            "end_date": ["2016-03-29", None],
        }
    )
    biopsies = pd.DataFrame(
        {
            "patient": ["P01", "P01"],
            "side": ["left", "right"],
            "time": ["T2", "T2"],
            "sample": ["B001", "B002"],
            "ephys": [True, True],
            "qpcr": [True, False],
            "histology": [True, True],
            "morphometry": [False, None],
        }
    )
    # A sample well, an undetermined one (NaN Ct) and a control of no patient (NULLs).
    qpcr = pd.DataFrame(
        {
            "patient": ["P01", "P01", None],
            "side": ["left", "left", None],
            "sample": ["B001", "B001", "NTC"],
            "target": ["GAPDH", "MuRF-1", "MuRF-1"],
            "replicate": [1, 1, 1],
            "ct": [19.123, np.nan, 38.5],
            "task": ["UNKNOWN", "UNKNOWN", "NTC"],
            "plate": ["QP01"] * 3,
            "well": ["A1", "A2", "A3"],
        }
    )
    # A measured oocyte with its file, one with a censored T0.5, one with an EC50 only.
    oocytes = pd.DataFrame(
        {
            "patient": ["P01", "P01", "P01"],
            "side": ["left", "left", "right"],
            "sample": ["B001", "B001", "B002"],
            "oocyte": [1, 2, 1],
            "peak_na": [10.125, 2.5, 7.0],
            "t05_s": [5.27, 29.5, np.nan],
            "t05_censored": [False, True, None],
            "ec50_um": [np.nan, np.nan, 51.123],
            "file": ["B001_oocyte01.abf", "B001_oocyte02.abf", None],
            "sha256": ["ab" * 32, "cd" * 32, None],
            "params": ['{"window": [1.0, 31.0]}', '{"window": [1.0, 31.0]}', None],
            "version": ["0.1.0", "0.1.0", None],
        }
    )
    # Fibres of a section: typed and untyped, with and without an area.
    fibres = pd.DataFrame(
        {
            "patient": ["P01", "P01"],
            "side": ["left", "left"],
            "sample": ["B001", "B001"],
            "fibre": [1, 2],
            "fibre_type": ["fast", None],
            "min_feret_um": [52.125, 1 / 3],
            "area_um2": [2500.5, None],
            "file": ["B001_mask.tif", "B001_mask.tif"],
            "sha256": ["ef" * 32, "ef" * 32],
        }
    )
    return Study(
        protocol=reference_protocol(),
        meta={"name": "hand-made", "simulated": False, "note": "für Tests", "n": [1, 2.5]},
        tables={
            "patients": patients,
            "allocation": allocation,
            "visits": visits,
            "observations": observations,
            "sessions": sessions,
            "adverse_events": adverse_events,
            "biopsies": biopsies,
            "qpcr": qpcr,
            "oocytes": oocytes,
            "fibres": fibres,
        },
    )


@pytest.fixture(scope="session")
def simulated_study() -> Study:
    # Seed fixed so a failure reproduces; 6 patients keep the round trip fast.
    return simulate_trial(reference_protocol(), n_patients=6, rng=np.random.default_rng(20160301))
