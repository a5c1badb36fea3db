"""A small hand-made study (6 patients) with every situation the report must count.

P06 withdrew after T1 (7 sessions, one stopped early, T2/T3 missed); P05 refused the
biopsy; P02's left-arm sample had too few fibres for morphometry. Values are drawn
from a fixed seed so the fixture is the same on every run, then rounded to what a
clinician would record (integer MRC grades, 0.1 kg, 0.01 mV).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from nmmstrial.protocol import reference_protocol
from nmmstrial.simulate import simulate_trial
from nmmstrial.study import Study

PATIENTS = pd.DataFrame(
    {
        "patient": ["P01", "P02", "P03", "P04", "P05", "P06"],
        "sequence": [1, 2, 3, 4, 5, 6],
        "enrolled_on": ["2024-03-04"] * 6,
        "age": [58, 67, 49, 72, 61, 55],
        "sex": ["male", "male", "female", "male", "male", "female"],
        "disease_duration_months": [24.0, 31.5, 18.0, 40.0, 22.0, 12.0],
        "onset_side": ["right", "left", "right", "left", "right", "left"],
        "alsfrs_r": [38, 33, 41, 30, 36, 39],
        "fvc_pct": [85.0, 72.0, 96.0, 64.0, 81.0, 90.0],
        "status": ["completed"] * 5 + ["withdrawn"],
        "biopsy": ["done"] * 4 + ["refused", "not_applicable"],
    }
)
REAL_SIDE = {
    "P01": "right",
    "P02": "left",
    "P03": "left",
    "P04": "right",
    "P05": "right",
    "P06": "left",
}
DAYS = {"BV": -7, "T0": 0, "T1": 7, "T2": 14, "T3": 44}
SEEN = {p: ["BV", "T0", "T1", "T2", "T3"] for p in REAL_SIDE} | {"P06": ["BV", "T0", "T1"]}
# Real-arm change from T0 at T1, T2, T3: up during stimulation, fading after.
GAIN = {"T0": 0.0, "T1": 0.5, "T2": 0.8, "T3": 0.2}


def _visits() -> pd.DataFrame:
    start = pd.Timestamp("2024-03-11")
    rows = [
        (
            p,
            t,
            d,
            (start + pd.Timedelta(days=d)).date().isoformat(),
            "done" if t in SEEN[p] else "missed",
        )
        for p in REAL_SIDE
        for t, d in DAYS.items()
    ]
    return pd.DataFrame(rows, columns=["patient", "time", "day", "date", "status"])


def _sessions() -> pd.DataFrame:
    rows = []
    for p in REAL_SIDE:
        for k in range(1, (7 if p == "P06" else 10) + 1):
            stopped = p == "P06" and k == 7
            day = (k - 1) // 5 * 7 + (k - 1) % 5
            rows.append(
                (
                    p,
                    k,
                    day,
                    "2024-03-11",
                    140 if not stopped else 60,
                    7000 if not stopped else 3000,
                    3485 if not stopped else 1485,
                    100.0,
                    not stopped,
                )
            )
    columns = [
        "patient",
        "session",
        "day",
        "date",
        "trains",
        "pulses",
        "duration_s",
        "intensity_pct_mso",
        "completed",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    # the conduct detail of each session (store migration 0008)
    real_left = frame["patient"].map(REAL_SIDE) == "left"
    return frame.assign(
        operator="unblinded_physician",
        coil_left=np.where(real_left, "real", "sham"),
        coil_right=np.where(real_left, "sham", "real"),
        interruptions=(~frame["completed"]).astype(int),
        interruption_cause=np.where(frame["completed"], None, "patient request"),
    )


def _observations() -> pd.DataFrame:
    rng = np.random.default_rng(20240311)
    rows = []
    for p, real in REAL_SIDE.items():
        base = PATIENTS.set_index("patient").loc[p]
        rows += [
            (p, pd.NA, "T0", "alsfrs_r", float(base["alsfrs_r"])),
            (p, pd.NA, "T0", "fvc_pct", base["fvc_pct"]),
        ]
        for side in ("left", "right"):
            fcr0 = float(rng.integers(3, 5))
            sum0 = float(rng.integers(24, 37))
            dyn0 = rng.normal(20.0, 5.0)
            cmap = {"cmap_apb_mv": rng.uniform(1.0, 8.0), "cmap_fcr_mv": rng.uniform(4.0, 16.0)}
            for t in SEEN[p][1:]:
                gain = GAIN[t] if side == real else 0.0
                rows.append((p, side, t, "mrc_fcr", min(5.0, fcr0 + float(gain >= 0.5))))
                rows.append((p, side, t, "mrc_sum", sum0 + round(2 * gain)))
                rows.append(
                    (p, side, t, "dynamometer_kg", round(dyn0 + 4 * gain + rng.normal(0, 0.8), 1))
                )
                if t in ("T0", "T2"):
                    rows += [
                        (p, side, t, m, round(v + rng.normal(0, 0.3), 2)) for m, v in cmap.items()
                    ]
    return pd.DataFrame(rows, columns=["patient", "side", "time", "measure", "value"])


def _biopsies() -> pd.DataFrame:
    rows = []
    for i, p in enumerate(["P01", "P02", "P03", "P04"]):
        for j, side in enumerate(("left", "right")):
            molecular = p in ("P01", "P02", "P03")
            morphometry = p in ("P01", "P02") and (p, side) != ("P02", "left")
            rows.append(
                (p, side, "T2", f"S{2 * i + j + 1:02d}", True, molecular, molecular, morphometry)
            )
    columns = ["patient", "side", "time", "sample", "ephys", "qpcr", "histology", "morphometry"]
    return pd.DataFrame(rows, columns=columns)


def _adverse_events() -> pd.DataFrame:
    rows = [
        ("P02", 1, 3, "T1", "local discomfort", "left", "mild", False, "stimulation", "resolved"),
        ("P03", 1, 14, "T2", "biopsy site pain", "right", "mild", False, "biopsy", "resolved"),
        ("P04", 1, 15, "T2", "biopsy site pain", "right", "mild", False, "biopsy", "resolved"),
        ("P05", 1, 9, "T2", "headache", pd.NA, "moderate", False, "none", "resolved"),
    ]
    columns = [
        "patient",
        "event",
        "onset_day",
        "time",
        "term",
        "side",
        "severity",
        "serious",
        "related_to",
        "outcome",
    ]
    # resolved the day after onset, nothing done (store migration 0008's columns)
    frame = pd.DataFrame(rows, columns=columns)
    relatedness = frame["related_to"].map(lambda r: "unrelated" if r == "none" else "probable")
    onset = pd.to_datetime("2016-03-08") + pd.to_timedelta(frame["onset_day"], unit="D")
    return frame.assign(
        relatedness=relatedness,
        end_day=frame["onset_day"] + 1,
        action="none",
        onset_date=onset.dt.strftime("%Y-%m-%d"),
        end_date=(onset + pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d"),
    )


def make_study(**meta) -> Study:
    allocation = pd.DataFrame(
        {
            "patient": list(REAL_SIDE),
            "sequence": range(1, 7),
            "stratum": None,
            "block": [1, 1, 2, 2, 3, 3],
            "block_size": 2,
            "real_side": list(REAL_SIDE.values()),
            "real_code": "X",
        }
    )
    tables = {
        "patients": PATIENTS,
        "allocation": allocation,
        "visits": _visits(),
        "observations": _observations(),
        "sessions": _sessions(),
        "adverse_events": _adverse_events(),
        "biopsies": _biopsies(),
    }
    meta = {
        "simulated": True,
        "seed": 20240311,
        "n_patients": 6,
        "generator": "nmmstrial 0.1.0",
    } | meta
    return Study(protocol=reference_protocol(), meta=meta, tables=tables)


@pytest.fixture(scope="session")
def study() -> Study:
    return make_study()


@pytest.fixture(scope="session")
def blinded_study() -> Study:
    return make_study(simulated=False, seed=None, blinded=True)


@pytest.fixture(scope="session")
def quiet_study(study) -> Study:
    """The same study with no adverse event reported."""
    tables = {k: v for k, v in study.tables.items() if k != "adverse_events"}
    return dataclasses.replace(study, tables=tables)


@pytest.fixture(scope="session")
def simulated_study() -> Study:
    """A full-size simulated trial (22 patients); the seed is fixed so counts are stable."""
    return simulate_trial(reference_protocol(), n_patients=22, seed=20240311)
