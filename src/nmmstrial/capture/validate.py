"""Checking observations against the protocol before anything is stored.

The first offending row is reported with its patient, visit, side and field, and
what the protocol allows; nothing is stored when any row is wrong.
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from ..errors import InvalidValueError
from ..protocol import Protocol
from ..tidy import SIDES, check_tidy


def _suggest(value: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(value, allowed, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def validate_observations(
    obs: pd.DataFrame, protocol: Protocol, *, source: str = "observations"
) -> pd.DataFrame:
    """Return `obs` if every row is a known measure at one of its visits, with the
    side the protocol asks for, a numeric value within range, and MRC grades on the
    study's scale. Raise InvalidValueError on the first row that is not."""
    check_tidy(obs, source=source)
    visits = [v.code for v in protocol.visits]
    measures = {m.name: m for m in protocol.measures}
    grades = np.array(sorted(protocol.mrc_grades.values()))
    seen: set[tuple] = set()
    for row, rec in enumerate(obs.itertuples(index=False), start=1):
        side = None if pd.isna(rec.side) else rec.side
        where = f"{source}, row {row} ({rec.patient}, {rec.time}{', ' + side if side else ''})"
        if rec.time not in visits:
            raise InvalidValueError(
                f"{where}, field time: unknown visit {rec.time!r}"
                f"{_suggest(str(rec.time), visits)}; "
                f"visits: {', '.join(visits)}",
                field="time",
            )
        measure = measures.get(rec.measure)
        if measure is None:
            names = list(measures)
            raise InvalidValueError(
                f"{where}, field measure: unknown measure {rec.measure!r}"
                f"{_suggest(str(rec.measure), names)}; see `nmmstrial protocol show`",
                field="measure",
            )
        field = f"{where}, field {measure.name}"
        if rec.time not in measure.visits:
            raise InvalidValueError(
                f"{field}: not collected at {rec.time}; collected at {', '.join(measure.visits)}",
                field="time",
            )
        if measure.per == "side" and side not in SIDES:
            raise InvalidValueError(
                f"{field}: needs a side (left or right), got {rec.side!r}", field="side"
            )
        if measure.per == "patient" and side is not None:
            raise InvalidValueError(
                f"{field}: is recorded once per patient, without a side", field="side"
            )
        try:
            value = float(rec.value)
        except (TypeError, ValueError):
            raise InvalidValueError(
                f"{field}: {rec.value!r} is not a number", field="value"
            ) from None
        if not measure.min <= value <= measure.max:
            raise InvalidValueError(
                f"{field}: {value:g} is outside {measure.min:g}-{measure.max:g} {measure.unit}",
                field="value",
            )
        if measure.kind == "mrc" and not np.isclose(grades, value, atol=1e-6).any():
            allowed = ", ".join(protocol.mrc_grades)
            raise InvalidValueError(
                f"{field}: {value:g} is not a grade of the {protocol.mrc_scale} "
                f"MRC scale ({allowed})",
                field="value",
            )
        if measure.kind == "integer" and value != round(value):
            raise InvalidValueError(f"{field}: {value:g} is not a whole number", field="value")
        key = (rec.patient, side, rec.time, rec.measure)
        if key in seen:
            raise InvalidValueError(f"{field}: recorded twice", field="measure")
        seen.add(key)
    return obs
