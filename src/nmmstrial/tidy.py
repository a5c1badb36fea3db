"""The shared vocabulary of tidy frames (DESIGN.md) and a check that a frame follows it.

Observations are long: one row per patient, side, time and measure. Measures taken
once per patient (ALSFRS-R, FVC) have no side: `side` is missing (NA) for them.
Visit codes are the protocol's (`TIMES` are the reference trial's), so they are
checked against the protocol in `capture.validate`, not here.
"""

from __future__ import annotations

import pandas as pd

from .errors import InvalidValueError

SIDES = ("left", "right")
ARMS = ("real", "sham")
ARM_CODES = ("X", "Y")
TIMES = ("BV", "T0", "T1", "T2", "T3", "FU3M")
OBSERVATION_COLUMNS = ("patient", "side", "time", "measure", "value")


def check_tidy(frame: pd.DataFrame, *, source: str = "observations") -> pd.DataFrame:
    """Return `frame` if it has the observation columns and every side is left, right
    or missing; raise InvalidValueError naming the first offending row otherwise."""
    missing = [c for c in OBSERVATION_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidValueError(
            f"{source}: missing column(s) {', '.join(missing)}; "
            f"required: {', '.join(OBSERVATION_COLUMNS)}"
        )
    side = frame["side"]
    bad = (side.notna() & ~side.isin(SIDES)).to_numpy()
    if bad.any():
        row = int(bad.nonzero()[0][0])
        raise InvalidValueError(
            f"{source}, row {row + 1}, field side: {side.iloc[row]!r} is not one of "
            f"{', '.join(SIDES)} (or empty for a per-patient measure)",
            field="side",
        )
    return frame
