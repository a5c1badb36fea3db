"""Stimulation sessions, adherence and adverse events, as the trial records them.

Sessions are logged by the unblinded physician (who runs the stimulator); the record
holds what both arms received (the same trains and pulses, real coil on one side, sham
on the other), so it tells nothing about the allocation. Adverse events are reported by
the assessor or the physician; each gets the next event number of its patient.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ..errors import AccessError, InvalidValueError
from ..store import Author, read_study
from ..store.changes import add_rows
from ..study import Study
from .users import User, require_role

SEVERITIES = ("mild", "moderate", "severe")
RELATEDNESS = ("none", "stimulation", "biopsy")
OUTCOMES = ("resolved", "ongoing")


def _open(target: str) -> Study:
    study = read_study(target)
    if study.meta.get("locked"):
        raise AccessError(f"{target}: the database is locked; no entry is accepted")
    return study


def _enrolled(study: Study, patient: str) -> None:
    if patient not in set(study.patients["patient"]):
        raise InvalidValueError(f"{patient} is not enrolled")


def log_session(
    target: str,
    user: User,
    author: Author,
    *,
    patient: str,
    session: int,
    date: dt.date,
    trains: int | None = None,
    completed: bool = True,
) -> dict:
    """Record one session; trains default to the protocol's, pulses follow from them."""
    require_role(user, ("unblinded_physician",), "log stimulation sessions")
    study = _open(target)
    _enrolled(study, patient)
    stim = study.protocol.stimulation
    if not 1 <= session <= stim.sessions:
        raise InvalidValueError(f"session {session}: the protocol has sessions 1-{stim.sessions}")
    trains = stim.trains if trains is None else trains
    if not 0 <= trains <= stim.trains:
        raise InvalidValueError(f"trains {trains}: a session has 0-{stim.trains} trains")
    if trains < stim.trains and completed:
        raise InvalidValueError(
            f"{trains} of {stim.trains} trains: mark the session incomplete (--incomplete)"
        )
    t0 = study.visits.query("patient == @patient and time == 'T0'")
    day = (date - dt.date.fromisoformat(t0["date"].iloc[0])).days if len(t0) else None
    seconds = trains * stim.train_duration_s + max(trains - 1, 0) * stim.inter_train_interval_s
    row = {
        "patient": patient,
        "session": session,
        "day": day,
        "date": date.isoformat(),
        "trains": trains,
        "pulses": trains * stim.pulses_per_train,
        "duration_s": round(seconds),
        "intensity_pct_mso": stim.intensity_pct_mso,
        "completed": completed,
    }
    add_rows(target, "sessions", pd.DataFrame([row]), author)
    return row


def adherence(study: Study) -> pd.DataFrame:
    """Per patient: sessions done of planned and pulses delivered per arm of planned."""
    stim = study.protocol.stimulation
    sessions = study.sessions.groupby("patient").agg(
        sessions=("session", "nunique"), pulses=("pulses", "sum")
    )
    frame = sessions.reindex(study.patients["patient"], fill_value=0).reset_index()
    frame["sessions_planned"] = stim.sessions
    frame["pulses_planned"] = stim.pulses_per_course
    frame["pulses_pct"] = 100 * frame["pulses"] / stim.pulses_per_course
    return frame.rename(columns={"pulses": "pulses_per_arm"})


def report_adverse_event(
    target: str,
    user: User,
    author: Author,
    *,
    patient: str,
    term: str,
    onset: dt.date,
    severity: str,
    serious: bool,
    related_to: str,
    outcome: str,
    side: str | None = None,
    visit: str | None = None,
) -> dict:
    """Record an adverse event with the next event number of the patient."""
    require_role(user, ("assessor", "unblinded_physician"), "report adverse events")
    study = _open(target)
    _enrolled(study, patient)
    for value, allowed, name in (
        (severity, SEVERITIES, "severity"),
        (related_to, RELATEDNESS, "related_to"),
        (outcome, OUTCOMES, "outcome"),
    ):
        if value not in allowed:
            raise InvalidValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")
    if not term.strip():
        raise InvalidValueError("an adverse event needs its term (verbatim)")
    visits = [v.code for v in study.protocol.visits]
    if visit is not None and visit not in visits:
        raise InvalidValueError(f"visit {visit!r} is not one of {', '.join(visits)}")
    t0 = study.visits.query("patient == @patient and time == 'T0'")
    day = (onset - dt.date.fromisoformat(t0["date"].iloc[0])).days if len(t0) else None
    numbers = study.adverse_events.query("patient == @patient")["event"]
    row = {
        "patient": patient,
        "event": int(numbers.max()) + 1 if len(numbers) else 1,
        "onset_day": day,
        "time": visit,
        "term": term.strip(),
        "side": side,
        "severity": severity,
        "serious": serious,
        "related_to": related_to,
        "outcome": outcome,
    }
    add_rows(target, "adverse_events", pd.DataFrame([row]), author)
    return row
