"""The JSON API (`/api/...`): the same conduct-layer calls as the pages and the CLI.

Writing routes take `Content-Type: application/json` only (app.py answers 415 to any
other), so a cross-site form cannot post to them; they need no CSRF token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ..conduct.allocation import reveal
from ..conduct.data import record_assessments
from ..conduct.treatment import (
    ACTIONS,
    OUTCOMES,
    PROCEDURES,
    RELATEDNESS,
    SEVERITIES,
    report_adverse_event,
)
from ..conduct.visits import visit_overview
from ..errors import AccessError, InvalidValueError
from ..store import Author, audit_log, read_study
from ..store.changes import read_meta
from ..store.history import current_observations
from .app import WebError, clean, current_session, set_session_cookie
from .events import EVENT_TABLES, adverse_events, refusal_field
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


def author_of(request: Request, session: WebSession) -> Author:
    user = session.user
    return Author(user.name, user.role, request.app.state.settings.utc())


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
    try:
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
    except InvalidValueError as error:
        message = clean(request, str(error))
        raise WebError(422, "invalid", message, refusal_field(message)) from error
    study = read_study(target, tables=EVENT_TABLES)
    stored = next(e for e in adverse_events(study, body.patient) if e["event"] == row["event"])
    return JSONResponse(stored, status_code=201)
