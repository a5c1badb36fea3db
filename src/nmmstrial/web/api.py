"""The JSON API (`/api/...`): the same conduct-layer calls as the pages and the CLI.

Writing routes take `Content-Type: application/json` only (app.py answers 415 to any
other), so a cross-site form cannot post to them; they need no CSRF token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ..conduct.allocation import reveal
from ..conduct.data import record_assessments
from ..conduct.treatment import (
    ACTIONS,
    COILS,
    OUTCOMES,
    PROCEDURES,
    RELATEDNESS,
    SEVERITIES,
    follow_up_adverse_event,
    log_session,
    report_adverse_event,
    session_log,
)
from ..conduct.visits import visit_overview
from ..errors import AccessError, InvalidValueError
from ..store import audit_log, read_study
from ..store.changes import read_meta
from ..store.history import current_observations
from .app import WebError, author_of, current_session, set_session_cookie
from .events import EVENT_TABLES, SESSION_TABLES, adverse_events, plain_rows
from .sessions import COOKIE, LOGIN_FAILED_MESSAGE, WebSession

router = APIRouter(prefix="/api", tags=["api"])

Session = Annotated[WebSession, Depends(current_session)]


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class ObservationBody(BaseModel):
    """One value entered or changed; `version` is the one the change was based on."""

    model_config = ConfigDict(extra="forbid")
    patient: Annotated[str, Field(strict=True, min_length=1, max_length=100)]
    time: Annotated[str, Field(strict=True, min_length=1, max_length=100)]
    measure: Annotated[str, Field(strict=True, min_length=1, max_length=100)]
    side: Annotated[str | None, Field(strict=True, max_length=100)] = None
    value: Annotated[float, Field(strict=True, allow_inf_nan=False)]
    reason: Annotated[str | None, Field(strict=True, max_length=2000)] = None
    version: Annotated[int | None, Field(strict=True, ge=1)] = None


Text = Annotated[str, Field(strict=True, min_length=1, max_length=100)]


def _iso_date(value: Any) -> Any:
    """A date only as the text YYYY-MM-DD (not a number or another format)."""
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("give the date as YYYY-MM-DD")
    return value


Day = Annotated[dt.date, BeforeValidator(_iso_date)]


class AdverseEventBody(BaseModel):
    """An adverse event as reported (the issue's contract, plus optional `related_to`,
    `side` and `visit`)."""

    model_config = ConfigDict(extra="forbid")
    patient: Text
    term: Annotated[str, Field(strict=True, min_length=1, max_length=500)]
    onset: Day
    end: Day | None = None
    severity: Literal[SEVERITIES]  # type: ignore[valid-type]
    serious: Annotated[bool, Field(strict=True)]
    relatedness: Literal[RELATEDNESS]  # type: ignore[valid-type]
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    outcome: Literal[OUTCOMES]  # type: ignore[valid-type]
    # The suspected procedure: by default none for "unrelated", else the stimulation.
    related_to: Literal[PROCEDURES] | None = None  # type: ignore[valid-type]
    side: Literal["left", "right"] | None = None
    visit: Text | None = None


# Whole numbers as the database can store them (the conduct layer checks their range).
Count = Annotated[int, Field(strict=True, ge=-(2**31), le=2**31 - 1)]


class SessionBody(BaseModel):
    """A stimulation session as `conduct session` takes it; pulses follow from trains."""

    model_config = ConfigDict(extra="forbid")
    patient: Text
    session: Count
    date: Day | None = None  # default: today
    operator: Annotated[str | None, Field(strict=True, max_length=100)] = None
    coil_left: Literal[COILS] | None = None  # type: ignore[valid-type]
    coil_right: Literal[COILS] | None = None  # type: ignore[valid-type]
    trains: Count | None = None  # default: the protocol's
    completed: Annotated[bool, Field(strict=True)] = True
    interruptions: Count = 0
    interruption_cause: Annotated[str | None, Field(strict=True, max_length=500)] = None


class FollowUpBody(BaseModel):
    """The follow-up of an adverse event: only the keys given (not null) change."""

    model_config = ConfigDict(extra="forbid")
    end: Day | None = None
    outcome: Literal[OUTCOMES] | None = None  # type: ignore[valid-type]
    action: Literal[ACTIONS] | None = None  # type: ignore[valid-type]
    severity: Literal[SEVERITIES] | None = None  # type: ignore[valid-type]
    serious: Annotated[bool | None, Field(strict=True)] = None
    related_to: Literal[PROCEDURES] | None = None  # type: ignore[valid-type]
    relatedness: Literal[RELATEDNESS] | None = None  # type: ignore[valid-type]
    reason: Annotated[str | None, Field(strict=True, max_length=2000)] = None


def today(request: Request) -> dt.date:
    return request.app.state.settings.clock().date()


@router.post("/login")
async def login(request: Request, body: LoginBody) -> JSONResponse:
    """Log in: 200 `{"user", "role"}` and the session cookie; 401 otherwise (one message
    for an unknown user and a wrong password; repeated failures of a name are slowed)."""
    sessions = request.app.state.sessions
    delay = await run_in_threadpool(sessions.delay, body.user)
    if delay:
        await asyncio.sleep(delay)
    try:
        user, token = await run_in_threadpool(sessions.login, body.user, body.password)
    except AccessError as error:
        raise WebError(401, "unauthenticated", LOGIN_FAILED_MESSAGE) from error
    response = JSONResponse({"user": user.name, "role": user.role})
    set_session_cookie(request, response, token)
    return response


@router.post("/logout")
def logout(request: Request, session: Session) -> JSONResponse:
    """End the session (its cookie is refused from now on)."""
    request.app.state.sessions.logout(session)
    response = JSONResponse({"user": session.user.name, "logged_out": True})
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/me")
def me(session: Session) -> dict[str, Any]:
    """Who is logged in."""
    return {"user": session.user.name, "role": session.user.role}


@router.get("/patients")
def patients(request: Request, session: Session) -> list[dict[str, Any]]:
    """Every patient with its sequence number and each visit's status (no allocation)."""
    study = request.app.state.studies.get()
    day = today(request)
    studies = request.app.state.studies
    return studies.derived(study, f"overview {day}", lambda s: visit_overview(s, day))


@router.get("/observations")
def observations(
    request: Request,
    session: Session,
    patient: Annotated[str, Query(max_length=100)],
    time: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    """Current values of a patient (at a visit), with version, who entered them and when."""
    engine = request.app.state.sessions.engine
    with engine.connect() as connection:
        return current_observations(connection, patient, time)


@router.post("/observations", status_code=201)
def enter_observation(request: Request, session: Session, body: ObservationBody) -> JSONResponse:
    """Enter a value (no `version`) or change one (the `version` it was based on and a
    `reason`): 201 with the stored row; 422 invalid, 409 stale version, 403 role, 423
    locked."""
    target = request.app.state.target
    row = {
        "patient": body.patient,
        "side": body.side,
        "time": body.time,
        "measure": body.measure,
        "value": body.value,
        "reason": body.reason,
    }
    key = (body.patient, body.side, body.time, body.measure)
    with request.app.state.write_lock:
        record_assessments(
            target,
            pd.DataFrame([row]),
            session.user,
            author_of(request, session),
            source="entry",
            versions={key: body.version},
        )
        engine = request.app.state.sessions.engine
        with engine.connect() as connection:
            stored = current_observations(connection, body.patient, body.time)
    current = next(r for r in stored if (r["patient"], r["side"], r["time"], r["measure"]) == key)
    return JSONResponse(current, status_code=201)


@router.get("/reveal/{patient}")
def reveal_side(request: Request, session: Session, patient: str) -> dict[str, Any]:
    """The side to stimulate: the unblinded physician only (logged as `conduct reveal`);
    every other role gets the same 403 whatever the patient."""
    result = reveal(request.app.state.target, session.user, author_of(request, session), patient)
    return {k: result[k] for k in ("patient", "real_side", "sham_side")}


@router.get("/audit")
def audit(
    request: Request,
    session: Session,
    patient: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    """The audit trail as `audit log --json` (allocation values masked for blinded roles)."""
    engine = request.app.state.sessions.engine
    with engine.connect() as connection:
        meta = read_meta(connection)
        frame = audit_log(connection, patient=patient, blinded=not session.user.sees_arms(meta))
    return json.loads(frame.to_json(orient="records"))


@router.get("/adverse-events")
def list_adverse_events(
    request: Request,
    session: Session,
    patient: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    """The adverse events (of `patient`), oldest first, each with its `id`."""
    study = read_study(request.app.state.target, tables=EVENT_TABLES)
    return adverse_events(study, patient)


@router.post("/adverse-events", status_code=201)
def report_event(request: Request, session: Session, body: AdverseEventBody) -> JSONResponse:
    """Report an adverse event (assessor or unblinded physician): 201 with the stored
    record and its `id`; 422 naming the `field`; 403 other roles; 423 after lock."""
    related_to = body.related_to or ("none" if body.relatedness == "unrelated" else "stimulation")
    target = request.app.state.target
    with request.app.state.write_lock:
        row = report_adverse_event(
            target,
            session.user,
            author_of(request, session),
            patient=body.patient,
            term=body.term,
            onset=body.onset,
            end=body.end,
            severity=body.severity,
            serious=body.serious,
            related_to=related_to,
            relatedness=body.relatedness,
            action=body.action,
            outcome=body.outcome,
            side=body.side,
            visit=body.visit,
        )
    study = read_study(target, tables=EVENT_TABLES)
    stored = next(e for e in adverse_events(study, body.patient) if e["event"] == row["event"])
    return JSONResponse(stored, status_code=201)


_EVENT_NUMBER = re.compile(r"[0-9]{1,9}")


@router.post("/adverse-events/{id}")
def follow_up_event(
    request: Request,
    session: Session,
    id: Annotated[str, PathParam(max_length=200)],
    body: FollowUpBody,
) -> dict[str, Any]:
    """Follow up the adverse event `id` (`P01:1`, as listed): end, outcome, action, and
    corrections (severity, serious, related_to, relatedness) with a `reason`; resolving
    an ongoing event needs none. 200 with the updated record; 404 unknown id; 422 naming
    the `field`; 403 roles other than the assessor and the unblinded physician; 423."""
    patient, _, number = id.rpartition(":")
    # A malformed id is an event that does not exist (no event 0): the service checks
    # the role first, so every other role gets the same 403 whatever the id.
    event = int(number) if _EVENT_NUMBER.fullmatch(number) else 0
    changes = body.model_dump(exclude={"end", "reason"})
    try:
        with request.app.state.write_lock:
            follow_up_adverse_event(
                request.app.state.target,
                session.user,
                author_of(request, session),
                patient=patient,
                event=event,
                reason=body.reason,
                end=body.end,
                **changes,
            )
    except InvalidValueError as error:
        if error.field in ("patient", "event"):
            raise WebError(
                404, "not_found", f"no adverse event {id!r}: see GET /api/adverse-events"
            ) from error
        raise
    study = read_study(request.app.state.target, tables=EVENT_TABLES)
    return next(e for e in adverse_events(study, patient) if e["event"] == event)


@router.post("/sessions", status_code=201)
def log_stimulation_session(request: Request, session: Session, body: SessionBody) -> JSONResponse:
    """Log a stimulation session (unblinded physician; every other role the same 403,
    before anything is read): 201 with the stored session, coils included; 422 naming
    the `field`; 409 a session of that number already logged; 423 after lock."""
    target = request.app.state.target
    with request.app.state.write_lock:
        row = log_session(
            target,
            session.user,
            author_of(request, session),
            patient=body.patient,
            session=body.session,
            date=body.date or today(request),
            trains=body.trains,
            completed=body.completed,
            operator=body.operator,
            coils={"left": body.coil_left, "right": body.coil_right},
            interruptions=body.interruptions,
            interruption_cause=body.interruption_cause,
        )
    study = read_study(target, tables=SESSION_TABLES)
    logged = plain_rows(session_log(study, session.user, body.patient))
    stored = next(r for r in logged if r["session"] == row["session"])
    return JSONResponse(stored, status_code=201)
