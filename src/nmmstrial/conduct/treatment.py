"""Stimulation sessions, adherence and adverse events, as the trial records them.

Sessions are logged by the unblinded physician (who runs the stimulator): date,
operator, trains and pulses (the same for both arms), interruptions and their cause,
and the coil that was on each forearm. The coils tell the allocation, so they are
sealed: left out of blinded exports, masked in the audit log for blinded readers, and
shown in adherence only to unblinded roles, where a session whose coils disagree with
the allocation counts as a protocol deviation (recorded as it happened, not refused).
Adverse events are reported by the assessor or the physician; each gets the next event
number of its patient, and is followed up (end, outcome, action) by an audited update.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ..errors import InvalidValueError
from ..store import Author
from ..store.changes import add_rows, allocation_of, update_row
from ..study import Study, real_sides
from ..tidy import SIDES
from .data import open_unlocked
from .users import User, require_role

SEVERITIES = ("mild", "moderate", "severe")
PROCEDURES = ("none", "stimulation", "biopsy")
# Causality to the suspected procedure, as the WHO-UMC scale grades it.
RELATEDNESS = ("unrelated", "unlikely", "possible", "probable", "definite")
OUTCOMES = ("resolved", "ongoing")
ACTIONS = (
    "none",
    "session_interrupted",
    "stimulation_stopped",
    "treatment_given",
    "withdrawn",
)
COILS = ("real", "sham")
# Who logs and reads the sessions (their coils tell the allocation).
SESSION_ROLES = ("unblinded_physician",)


def _enrolled(study: Study, patient: str) -> None:
    if patient not in set(study.patients["patient"]):
        raise InvalidValueError(f"{patient} is not enrolled", field="patient")


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
    operator: str | None = None,
    coils: dict[str, str] | None = None,
    interruptions: int = 0,
    interruption_cause: str | None = None,
) -> dict:
    """Record one session; trains default to the protocol's, pulses follow from them.

    The operator defaults to the acting user; the coils (side -> real/sham) to the
    patient's allocation. A session with interruptions, or not completed, needs the
    cause.
    """
    require_role(user, SESSION_ROLES, "log stimulation sessions")
    study = open_unlocked(target, author, f"session {session} of {patient}")
    _enrolled(study, patient)
    cause = (interruption_cause or "").strip() or None
    if interruptions < 0:
        raise InvalidValueError(
            f"interruptions {interruptions}: must be 0 or more", field="interruptions"
        )
    if cause and interruptions == 0:
        interruptions = 1
    if (interruptions or not completed) and cause is None:
        raise InvalidValueError(
            "an interrupted or incomplete session needs its cause (--interruption-cause)",
            field="interruption_cause",
        )
    coils = _coils(target, patient, coils)
    stim = study.protocol.stimulation
    if not 1 <= session <= stim.sessions:
        raise InvalidValueError(
            f"session {session}: the protocol has sessions 1-{stim.sessions}", field="session"
        )
    trains = stim.trains if trains is None else trains
    if not 0 <= trains <= stim.trains:
        raise InvalidValueError(
            f"trains {trains}: a session has 0-{stim.trains} trains", field="trains"
        )
    if trains < stim.trains and completed:
        raise InvalidValueError(
            f"{trains} of {stim.trains} trains: mark the session incomplete (--incomplete)",
            field="completed",
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
        "operator": (operator or "").strip() or user.name,
        "coil_left": coils["left"],
        "coil_right": coils["right"],
        "interruptions": interruptions,
        "interruption_cause": cause,
    }
    add_rows(target, "sessions", pd.DataFrame([row]), author)
    return row


def _coils(target: str, patient: str, given: dict[str, str] | None) -> dict[str, str]:
    """The coil on each side: as given, else as the allocation says."""
    allocated = allocation_of(target, patient)
    if allocated is None:
        raise InvalidValueError(
            f"{patient} is not randomized: no coil to put on either side", field="patient"
        )
    coils = {side: "real" if side == allocated["real_side"] else "sham" for side in SIDES}
    for side, coil in (given or {}).items():
        if coil is None:
            continue
        if side not in SIDES or coil not in COILS:
            raise InvalidValueError(
                f"coil {side}={coil!r}: a side is left or right, a coil real or sham",
                field=f"coil_{side}" if side in SIDES else "coils",
            )
        coils[side] = coil
    return coils


def session_log(study: Study, user: User, patient: str | None = None) -> pd.DataFrame:
    """The logged sessions (of `patient`), coils included: the unblinded physician only,
    who runs the stimulator (AccessError for every other role, whatever the patient)."""
    require_role(user, SESSION_ROLES, "see the stimulation sessions")
    sessions = study.sessions
    if patient is not None:
        sessions = sessions.loc[sessions["patient"] == patient]
    return sessions.sort_values(["patient", "session"]).reset_index(drop=True)


def adherence(study: Study, *, sees_arms: bool = False) -> pd.DataFrame:
    """Per patient: sessions done of planned, pulses delivered per arm of planned, and
    interruptions; for unblinded readers also the sessions whose coils disagree with
    the allocation (`coil_deviations`)."""
    stim = study.protocol.stimulation
    sessions = study.sessions.assign(interruptions=study.sessions["interruptions"].fillna(0))
    per_patient = sessions.groupby("patient").agg(
        sessions=("session", "nunique"),
        pulses=("pulses", "sum"),
        interruptions=("interruptions", "sum"),
    )
    frame = per_patient.reindex(study.patients["patient"], fill_value=0).reset_index()
    frame["sessions_planned"] = stim.sessions
    frame["pulses_planned"] = stim.pulses_per_course
    frame["pulses_pct"] = 100 * frame["pulses"] / stim.pulses_per_course
    if sees_arms:
        real_side = sessions["patient"].map(real_sides(study.allocation))
        expected_left = (real_side == "left").map({True: "real", False: "sham"})
        deviates = (sessions["coil_left"] != expected_left) | (
            sessions["coil_right"] == sessions["coil_left"]
        )
        counts = deviates.groupby(sessions["patient"]).sum()
        frame["coil_deviations"] = frame["patient"].map(counts).fillna(0).astype(int)
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
    relatedness: str | None = None,
    side: str | None = None,
    visit: str | None = None,
    end: dt.date | None = None,
    action: str = "none",
) -> dict:
    """Record an adverse event with the next event number of the patient."""
    require_role(user, AE_ROLES, "report adverse events")
    study = open_unlocked(target, author, f"adverse event of {patient}")
    _enrolled(study, patient)
    relatedness = relatedness or ("unrelated" if related_to == "none" else None)
    _check_choices(
        severity=severity,
        related_to=related_to,
        relatedness=relatedness,
        outcome=outcome,
        action=action,
    )
    _check_causality(related_to, relatedness)
    if not term.strip():
        raise InvalidValueError("an adverse event needs its term (verbatim)", field="term")
    visits = [v.code for v in study.protocol.visits]
    if visit is not None and visit not in visits:
        raise InvalidValueError(f"visit {visit!r} is not one of {', '.join(visits)}", field="visit")
    end_day = _end_day(study, patient, onset, end, outcome)
    numbers = study.adverse_events.query("patient == @patient")["event"]
    row = {
        "patient": patient,
        "event": int(numbers.max()) + 1 if len(numbers) else 1,
        "onset_day": _study_day(study, patient, onset),
        "time": visit,
        "term": term.strip(),
        "side": side,
        "severity": severity,
        "serious": serious,
        "related_to": related_to,
        "relatedness": relatedness,
        "outcome": outcome,
        "end_day": end_day,
        "onset_date": onset.isoformat(),
        "end_date": end.isoformat() if end else None,
        "action": action,
    }
    add_rows(target, "adverse_events", pd.DataFrame([row]), author)
    return row


AE_ROLES = ("assessor", "unblinded_physician")
CHOICES = {
    "severity": SEVERITIES,
    "related_to": PROCEDURES,
    "relatedness": RELATEDNESS,
    "outcome": OUTCOMES,
    "action": ACTIONS,
}


def _check_choices(**values: str | None) -> None:
    for name, value in values.items():
        if value is not None and value not in CHOICES[name]:
            raise InvalidValueError(
                f"{name} {value!r} is not one of {', '.join(CHOICES[name])}", field=name
            )


def _check_causality(related_to: str, relatedness: str | None) -> None:
    """A suspected procedure needs a causality grade; 'unrelated' suspects none."""
    if relatedness is None:
        raise InvalidValueError(
            f"an event suspected to be related to the {related_to} needs its causality: "
            f"relatedness one of {', '.join(RELATEDNESS[1:])}",
            field="relatedness",
        )
    if (related_to == "none") != (relatedness == "unrelated"):
        raise InvalidValueError(
            f"related_to {related_to!r} and relatedness {relatedness!r} disagree: "
            "'unrelated' goes with related_to none, any other grade with a procedure",
            field="relatedness",
        )


def _study_day(study: Study, patient: str, day: dt.date) -> int | None:
    t0 = study.visits.query("patient == @patient and time == 'T0'")
    return (day - dt.date.fromisoformat(t0["date"].iloc[0])).days if len(t0) else None


def _end_day(
    study: Study, patient: str, onset: dt.date | None, end: dt.date | None, outcome: str
) -> int | None:
    """The study day an event ended: only a resolved event has one, not before onset."""
    if end is None:
        return None
    if outcome != "resolved":
        raise InvalidValueError(
            "an event with an end date is resolved: give outcome resolved (--outcome resolved)",
            field="outcome",
        )
    if onset is not None and end < onset:
        raise InvalidValueError(f"end {end.isoformat()} is before the onset", field="end")
    return _study_day(study, patient, end)


def _stored_onset(study: Study, patient: str, stored: pd.Series) -> dt.date | None:
    """An event's onset date: as entered, else from its study day (events stored before
    dates were kept)."""
    if not pd.isna(stored["onset_date"]):
        return dt.date.fromisoformat(stored["onset_date"])
    t0 = study.visits.query("patient == @patient and time == 'T0'")
    if pd.isna(stored["onset_day"]) or not len(t0):
        return None
    return dt.date.fromisoformat(t0["date"].iloc[0]) + dt.timedelta(days=int(stored["onset_day"]))


def follow_up_adverse_event(
    target: str,
    user: User,
    author: Author,
    *,
    patient: str,
    event: int,
    reason: str | None = None,
    end: dt.date | None = None,
    **changes: str | bool | None,
) -> dict:
    """Update an adverse event (end, outcome, action, severity, seriousness, relatedness).

    Resolving an ongoing event (an end date, outcome resolved) is its follow-up and
    needs no reason; changing anything already recorded does.
    """
    require_role(user, AE_ROLES, "follow up adverse events")
    study = open_unlocked(target, author, f"adverse event {event} of {patient}")
    _enrolled(study, patient)
    unknown = set(changes) - {
        "outcome",
        "action",
        "severity",
        "serious",
        "related_to",
        "relatedness",
    }
    if unknown:
        raise InvalidValueError(
            f"adverse events have no field {', '.join(sorted(unknown))}",
            field=sorted(unknown)[0],
        )
    _check_choices(**{k: v for k, v in changes.items() if k != "serious"})
    events = study.adverse_events.query("patient == @patient and event == @event")
    if events.empty:
        raise InvalidValueError(f"{patient} has no adverse event {event}", field="event")
    stored = events.iloc[0]
    updates = {k: v for k, v in changes.items() if v is not None}
    if "related_to" in updates or "relatedness" in updates:
        _check_causality(
            updates.get("related_to", stored["related_to"]),
            updates.get("relatedness", stored["relatedness"]),
        )
    if end is not None:
        updates.setdefault("outcome", "resolved")
        onset = _stored_onset(study, patient, stored)
        updates["end_day"] = _end_day(study, patient, onset, end, updates["outcome"])
        updates["end_date"] = end.isoformat()
    elif updates.get("outcome") == "ongoing" and not pd.isna(stored["end_date"]):
        updates["end_day"] = updates["end_date"] = None
    resolving = set(updates) <= {"outcome", "end_day", "end_date", "action"} and (
        stored["outcome"] == "ongoing" and pd.isna(stored["end_date"])
    )
    return update_row(
        target,
        "adverse_events",
        {"patient": patient, "event": event},
        updates,
        author,
        reason=reason,
        needs_reason=not resolving,
    )
