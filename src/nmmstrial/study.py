"""A study's data in memory: the protocol and one tidy frame per table.

Every module that produces or consumes trial data (simulate, store, export, report)
passes a `Study`. `TABLES` is the single description of those frames: column names,
dtypes and meaning; the export's data dictionary is printed from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .errors import InvalidValueError
from .protocol import Protocol
from .tidy import ARM_CODES, ARMS

# dtype per column: "string", "Int64", "float64", "boolean" (pandas nullable types,
# so a missing value stays missing and never becomes 0 or "nan").
TABLES: dict[str, dict[str, tuple[str, str]]] = {
    "patients": {
        "patient": ("string", "study id, e.g. P01 (never a name)"),
        "sequence": ("Int64", "randomization sequence number"),
        "enrolled_on": ("string", "date of the screening visit (BV), ISO 8601"),
        "age": ("Int64", "age in years at baseline"),
        "sex": ("string", "male / female"),
        "disease_duration_months": ("float64", "months from symptom onset to baseline"),
        "onset_side": ("string", "side of first symptoms: left / right"),
        "alsfrs_r": ("Int64", "ALSFRS-R total at baseline (0-48)"),
        "fvc_pct": ("float64", "forced vital capacity at baseline, % predicted"),
        "status": ("string", "completed / withdrawn"),
        "biopsy": ("string", "done / refused / not_applicable"),
    },
    "allocation": {
        "patient": ("string", "study id (empty until the entry is allocated)"),
        "sequence": ("Int64", "randomization sequence number within the stratum"),
        "stratum": ("string", "stratum, e.g. site=A|onset=left; empty without strata"),
        "block": ("Int64", "permuted block number within the stratum"),
        "block_size": ("Int64", "size of that block"),
        "real_side": (
            "string",
            "side that received real stimulation (sealed: unblinded roles only)",
        ),
        "real_code": ("string", "the code (X or Y) standing for the real arm when blinded"),
    },
    "visits": {
        "patient": ("string", "study id"),
        "time": ("string", "visit code: BV, T0, T1, T2, T3, FU3M"),
        "day": ("Int64", "study day (T0 = day 0)"),
        "date": ("string", "visit date, ISO 8601"),
        "status": ("string", "done / missed"),
    },
    "observations": {
        "patient": ("string", "study id"),
        "side": ("string", "left / right; empty for measures taken once per patient"),
        "time": ("string", "visit code"),
        "measure": ("string", "measure name from the protocol (units there)"),
        "value": ("float64", "the observed value, in the measure's unit"),
    },
    "sessions": {
        "patient": ("string", "study id"),
        "session": ("Int64", "session number, 1-based"),
        "day": ("Int64", "study day (T0 = day 0)"),
        "date": ("string", "session date, ISO 8601"),
        "trains": ("Int64", "trains delivered to each arm"),
        "pulses": ("Int64", "pulses delivered to each arm"),
        "duration_s": ("Int64", "session duration in seconds"),
        "intensity_pct_mso": ("float64", "intensity, % of maximum stimulator output"),
        "completed": ("boolean", "session delivered in full"),
        "operator": ("string", "who delivered the session (user name or initials)"),
        "coil_left": ("string", "coil on the left forearm: real / sham (sealed)"),
        "coil_right": ("string", "coil on the right forearm: real / sham (sealed)"),
        "interruptions": ("Int64", "times the session was interrupted"),
        "interruption_cause": ("string", "why it was interrupted; empty when it was not"),
    },
    "adverse_events": {
        "patient": ("string", "study id"),
        "event": ("Int64", "event number within the patient"),
        "onset_day": ("Int64", "study day of onset"),
        "time": ("string", "visit at which it was reported"),
        "term": ("string", "verbatim term"),
        "side": ("string", "left / right if local, else empty"),
        "severity": ("string", "mild / moderate / severe"),
        "serious": ("boolean", "serious adverse event (ICH E2A)"),
        "related_to": ("string", "suspected trial procedure: none / stimulation / biopsy"),
        "relatedness": (
            "string",
            "causality to that procedure: unrelated / unlikely / possible / probable / definite",
        ),
        "outcome": ("string", "resolved / ongoing"),
        "end_day": ("Int64", "study day the event ended; empty while ongoing"),
        "onset_date": ("string", "date of onset, ISO 8601"),
        "end_date": ("string", "date the event ended, ISO 8601; empty while ongoing"),
        "action": (
            "string",
            "action taken: none / session_interrupted / stimulation_stopped / "
            "treatment_given / withdrawn",
        ),
    },
    "biopsies": {
        "patient": ("string", "study id"),
        "side": ("string", "left / right"),
        "time": ("string", "visit of the biopsy (T2)"),
        "sample": ("string", "sample id, blinded to arm"),
        "ephys": ("boolean", "membranes used for oocyte voltage clamp"),
        "qpcr": ("boolean", "RNA used for qPCR"),
        "histology": ("boolean", "sections stained (H&E, myosin)"),
        "morphometry": ("boolean", "at least 50 countable fibres: measured"),
    },
    "qpcr": {
        "patient": ("string", "study id; empty for a non-template control"),
        "side": ("string", "left / right (the biopsy's side); empty for a control"),
        "sample": ("string", "sample name as on the plate: the biopsy sample id, or NTC"),
        "target": ("string", "assay: gene or miRNA, references included (GAPDH, U6)"),
        "replicate": ("Int64", "technical replicate within plate, sample and target, 1-based"),
        "ct": ("float64", "threshold cycle; missing = Undetermined (no amplification)"),
        "task": ("string", "UNKNOWN (a sample) / NTC (non-template control)"),
        "plate": ("string", "plate (run) the well belongs to: one instrument export each"),
        "well": ("string", "well position on that plate, e.g. A1"),
    },
    "oocytes": {
        "patient": ("string", "study id"),
        "side": ("string", "left / right (the biopsy's side)"),
        "sample": ("string", "biopsy sample id whose membranes the oocyte carries"),
        "oocyte": ("Int64", "oocyte number within the sample, 1-based"),
        "peak_na": ("float64", "peak ACh current magnitude (500 uM, 4 s, -60 mV), nA"),
        "t05_s": (
            "float64",
            "T0.5 during a 30-s application, s; the censoring time when not reached; "
            "empty when not measured",
        ),
        "t05_censored": ("boolean", "T0.5 not reached before the end of the application"),
        "ec50_um": ("float64", "ACh EC50 of the oocyte's dose-response fit, uM; empty if none"),
        "file": (
            "string",
            "the ABF recording T0.5 (else the peak) was measured from; empty when none",
        ),
        "sha256": ("string", "SHA-256 of that file; empty when none"),
        "params": ("string", "measurement parameters (JSON: window and its source, ...)"),
        "version": ("string", "nmmstrial version that measured the file"),
    },
    "fibres": {
        "patient": ("string", "study id"),
        "side": ("string", "left / right (the biopsy's side)"),
        "sample": ("string", "biopsy sample id of the section"),
        "fibre": ("Int64", "fibre number within the section (label), 1-based"),
        "fibre_type": ("string", "slow / fast / hybrid; empty when not typed"),
        "min_feret_um": ("float64", "minimum Feret diameter, um"),
        "area_um2": ("float64", "cross-sectional area, um^2; empty when not measured"),
        "file": ("string", "the image, mask or table the fibre was measured from"),
        "sha256": ("string", "SHA-256 of that file; empty when none"),
    },
}


# Empty tables as `conform` makes them, copied on each use: a Study read with only a few
# of its tables (the web app, entries) would otherwise spend most of its time on them.
_EMPTY: dict[str, pd.DataFrame] = {}


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return `frame` with exactly `table`'s columns, in order, with its dtypes."""
    spec = TABLES[table]
    missing = [c for c in spec if c not in frame.columns]
    if missing:
        raise InvalidValueError(f"{table}: missing column(s) {', '.join(missing)}")
    if len(frame) == 0:
        return empty_table(table)
    return _conform(frame, spec)


def empty_table(table: str) -> pd.DataFrame:
    """`table` with no rows, its columns and dtypes (a copy of one made once)."""
    if table not in _EMPTY:
        _EMPTY[table] = _conform(pd.DataFrame(columns=list(TABLES[table])), TABLES[table])
    return _EMPTY[table].copy()


def _conform(frame: pd.DataFrame, spec: dict[str, tuple[str, str]]) -> pd.DataFrame:
    out = frame.loc[:, list(spec)].copy()
    for column, (dtype, _) in spec.items():
        out[column] = out[column].astype(dtype)
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class Study:
    """One trial: its protocol, what describes the data set, and a frame per table.

    `randomization` is the sealed description of the list behind the allocation (seed,
    blocks, strata, salt, fingerprint): as secret as the allocation itself.
    """

    protocol: Protocol
    meta: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    randomization: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in TABLES:
            frame = self.tables.get(name)
            self.tables[name] = empty_table(name) if frame is None else conform(frame, name)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)


def arm_codes(allocation: pd.DataFrame) -> dict[str, str]:
    """{"real": code, "sham": other code}: the sealed key of the blinded X / Y labels.

    The code of the real arm is drawn at randomization and kept with the allocation, so
    knowing the convention of another study tells nothing; a list without one (older
    studies) uses X for real.
    """
    codes = allocation["real_code"].dropna().unique() if "real_code" in allocation else []
    if len(codes) > 1:
        raise InvalidValueError("allocation: more than one code for the real arm")
    real = str(codes[0]) if len(codes) else ARM_CODES[0]
    if real not in ARM_CODES:
        raise InvalidValueError(f"allocation: real_code {real!r} is not X or Y")
    return {"real": real, "sham": ARM_CODES[1 - ARM_CODES.index(real)]}


def real_sides(allocation: pd.DataFrame) -> pd.Series:
    """The real side per allocated patient (list entries not yet given are left out)."""
    allocated = allocation.loc[allocation["patient"].notna()]
    return allocated.set_index("patient")["real_side"]


def with_arm(frame: pd.DataFrame, allocation: pd.DataFrame, *, coded: bool = False) -> pd.DataFrame:
    """Add `arm` to a frame with `patient` and `side`, from the allocation: real / sham,
    or with `coded`, the blinded codes X / Y (the same code for the same arm throughout).

    Rows without a side (per-patient measures) get a missing arm. The allocation is
    sealed in a running trial: only the conduct and output layers call this, and they
    show blinded users the codes only.
    """
    labels = arm_codes(allocation) if coded else {arm: arm for arm in ARMS}
    real = real_sides(allocation)
    side_real = frame["patient"].map(real)
    arm = pd.Series(pd.NA, index=frame.index, dtype="string")
    has_side = frame["side"].notna() & side_real.notna()
    arm[has_side & (frame["side"] == side_real)] = labels["real"]
    arm[has_side & (frame["side"] != side_real)] = labels["sham"]
    return frame.assign(arm=arm)
