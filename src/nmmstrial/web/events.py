"""Adverse events and stimulation sessions as the app shows them: records shaped for the
JSON API and the pages (pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from ..study import Study

# Read per request by the adverse-event and session routes (small tables).
EVENT_TABLES = ("patients", "visits", "adverse_events")
SESSION_TABLES = ("patients", "visits", "allocation", "sessions")


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def t0_date(study: Study, patient: str) -> dt.date | None:
    """Day 0 of the patient, as the conduct layer counts study days (its T0 visit)."""
    visits = study.visits
    rows = visits.loc[(visits["patient"] == patient) & (visits["time"] == "T0"), "date"]
    dates = [d for d in rows if isinstance(d, str)]
    return dt.date.fromisoformat(dates[0]) if dates else None


def _date(day0: dt.date | None, day: Any) -> str | None:
    day = _plain(day)
    if day0 is None or day is None:
        return None
    return (day0 + dt.timedelta(days=int(day))).isoformat()


def event_id(patient: str, event: int) -> str:
    return f"{patient}:{event}"


def adverse_events(study: Study, patient: str | None = None) -> list[dict[str, Any]]:
    """The stored adverse events (of `patient`), oldest first, with their `id`.

    `onset` and `end` are the dates as entered; `onset_day` and `end_day` the study days
    (T0 = day 0), null while the patient has no T0 date to count from. An event stored
    before dates were kept gets its dates back from its days.
    """
    frame = study.adverse_events
    if patient is not None:
        frame = frame.loc[frame["patient"] == patient]
    frame = frame.sort_values(["patient", "event"])
    out = []
    for row in frame.to_dict(orient="records"):
        row = {k: _plain(v) for k, v in row.items()}
        day0 = t0_date(study, row["patient"])
        out.append(
            {
                "id": event_id(row["patient"], int(row["event"])),
                "patient": row["patient"],
                "event": int(row["event"]),
                "term": row["term"],
                "onset": row["onset_date"] or _date(day0, row["onset_day"]),
                "end": row["end_date"] or _date(day0, row["end_day"]),
                "onset_day": row["onset_day"],
                "end_day": row["end_day"],
                "severity": row["severity"],
                "serious": None if row["serious"] is None else bool(row["serious"]),
                "related_to": row["related_to"],
                "relatedness": row["relatedness"],
                "action": row["action"],
                "outcome": row["outcome"],
                "side": row["side"],
                "visit": row["time"],
            }
        )
    return out


def plain_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts of plain Python values (missing: None)."""
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
