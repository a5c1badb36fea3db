"""The visit schedule: which visits are done, due, late, upcoming or missed.

Target dates count from the patient's T0 visit (or, before T0 is done, from the day of
enrolment, which is the screening visit BV); each visit's window is the protocol's.
Enrolment is the screening visit: BV counts as done on the enrolment day. Policy:
- done: recorded as done, within its window;
- late: recorded as done outside its window, or its window has closed without it for
  up to `LATE_DAYS` days (still worth doing, flagged);
- missed: recorded as missed, or its window closed more than `LATE_DAYS` days ago;
- due: its window is open today and it is not recorded;
- upcoming: its window opens after today.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ..protocol import Protocol

LATE_DAYS = 30
SCHEDULE_COLUMNS = (
    "patient",
    "time",
    "target_date",
    "window_start",
    "window_end",
    "date",
    "status",
)


def visit_schedule(
    protocol: Protocol, patients: pd.DataFrame, visits: pd.DataFrame, today: dt.date
) -> pd.DataFrame:
    """One row per patient and protocol visit, with SCHEDULE_COLUMNS."""
    rows = []
    recorded = {(v.patient, v.time): v for v in visits.itertuples(index=False)}
    codes = [v.code for v in protocol.visits]
    screening = protocol.visit("BV") if "BV" in codes else None
    for patient in patients.itertuples(index=False):
        anchor = _anchor(patient, recorded, screening)
        for visit in protocol.visits:
            target = anchor + dt.timedelta(days=visit.day) if anchor else None
            start = target - dt.timedelta(days=visit.window_before) if target else None
            end = target + dt.timedelta(days=visit.window_after) if target else None
            record = recorded.get((patient.patient, visit.code))
            date = (
                dt.date.fromisoformat(record.date)
                if record is not None and isinstance(record.date, str)
                else None
            )
            status = _status(record, date, start, end, today)
            if record is None and screening is not None and visit.code == screening.code:
                date = _enrolled(patient)
                status = "done" if date else status
            rows.append((patient.patient, visit.code, target, start, end, date, status))
    frame = pd.DataFrame(rows, columns=list(SCHEDULE_COLUMNS))
    for column in ("target_date", "window_start", "window_end", "date"):
        frame[column] = frame[column].map(lambda d: d.isoformat() if d else None)
    return frame


def _enrolled(patient) -> dt.date | None:
    text = patient.enrolled_on
    return dt.date.fromisoformat(text) if isinstance(text, str) else None


def _anchor(patient, recorded, screening) -> dt.date | None:
    """The date of day 0: the T0 visit's, else the enrolment (screening) day moved to T0."""
    done = recorded.get((patient.patient, "T0"))
    if done is not None and isinstance(done.date, str) and done.status == "done":
        return dt.date.fromisoformat(done.date)
    enrolled = _enrolled(patient)
    if enrolled is None:
        return None
    return enrolled - dt.timedelta(days=screening.day if screening is not None else 0)


def _status(record, date, start, end, today: dt.date) -> str:
    if record is not None and record.status == "missed":
        return "missed"
    if record is not None and record.status == "done":
        if date is None or start is None or start <= date <= end:
            return "done"
        return "late"
    if start is None:
        return "upcoming"
    if today < start:
        return "upcoming"
    if today <= end:
        return "due"
    return "late" if (today - end).days <= LATE_DAYS else "missed"


# What the visit overview (web app, `GET /api/patients`) calls the schedule's statuses.
OVERVIEW_STATUS = {"upcoming": "planned"}


def visit_overview(study, today: dt.date) -> list[dict]:
    """Per patient: `{"patient", "seq", "visits": {code: status}}`, in enrolment order.

    Statuses are the schedule's (done, late, missed, due), with "planned" for a visit
    whose window has not opened. Once the database is locked, a visit that can no longer
    be entered (due or planned) is "locked"; done, late and missed ones keep their
    status. Nothing here depends on the allocation, so every role may read it.
    """
    schedule = visit_schedule(study.protocol, study.patients, study.visits, today)
    locked = bool(study.meta.get("locked"))
    statuses: dict[str, dict[str, str]] = {}
    for row in schedule.itertuples(index=False):
        status = OVERVIEW_STATUS.get(row.status, row.status)
        if locked and status in ("due", "planned"):
            status = "locked"
        statuses.setdefault(row.patient, {})[row.time] = status
    out = []
    for patient in study.patients.itertuples(index=False):
        seq = patient.sequence
        out.append(
            {
                "patient": patient.patient,
                "seq": None if pd.isna(seq) else int(seq),
                "visits": statuses.get(patient.patient, {}),
            }
        )
    return out
