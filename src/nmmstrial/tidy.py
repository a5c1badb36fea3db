"""The shared vocabulary of tidy frames (DESIGN.md) and a check that a frame follows it.

Observations are long: one row per patient, side, time and measure. Measures taken
once per patient (ALSFRS-R, FVC) have no side: `side` is missing (NA) for them.
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
    """Return `frame` if it has the observation columns and known sides and times.

    Raises InvalidValueError naming the first offending row and field.
    """
    missing = [c for c in OBSERVATION_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidValueError(
            f"{source}: missing column(s) {', '.join(missing)}; "
            f"required: {', '.join(OBSERVATION_COLUMNS)}"
        )
    for column, allowed in (("side", SIDES), ("time", TIMES)):
        values = frame[column]
        bad = values.notna() & ~values.isin(allowed)
        if column == "time":
            bad = ~values.isin(allowed)
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise InvalidValueError(
                f"{source}, row {row + 1}, field {column}: {values.iloc[row]!r} is not "
                f"one of {', '.join(allowed)}"
            )
    return frame
