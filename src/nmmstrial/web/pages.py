"""The HTML pages: plain forms that work without JavaScript, each POST checked for the
session's CSRF token (`csrf_token`), each action a conduct-layer call."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..capture.validate import validate_observations
from ..conduct.allocation import eligibility_template, enrol, reveal
from ..conduct.data import lock, record_assessments, unblind
from ..conduct.visits import visit_overview
from ..errors import (
    AccessError,
    InvalidValueError,
    NmmstrialError,
    StaleVersionError,
)
from ..store import Author, audit_log, verify_audit
from ..store.changes import read_meta
from ..store.history import current_observations
from .app import CsrfRefused, WebError, classify, clean, current_session, set_session_cookie
from .forms import cells, fill_stored, parse_value, show_value, visit_sections
from .sessions import COOKIE, LOGIN_CSRF_COOKIE, LOGIN_FAILED_MESSAGE, WebSession, csrf_matches

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)

Session = Annotated[WebSession, Depends(current_session)]
STATUSES = ("done", "late", "due", "missed", "planned", "locked")


def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context, status_code=status)


async def form_of(request: Request, session: WebSession | None) -> dict[str, str]:
    """The posted form, once its CSRF token is checked (403 and nothing done if not)."""
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    expected = session.csrf if session else request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not csrf_matches(expected, data.get("csrf_token")):
        raise CsrfRefused()
    return data


def _login_page(request: Request, status: int = 200, **context: Any) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", status, csrf_token=token, session=None, **context)
    secure = request.app.state.settings.secure_cookies
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" if secure is None else secure,
        path="/login",
    )
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    """The login form."""
    return _login_page(request)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    """Log in from the form; on success, the dashboard."""
    data = await form_of(request, None)
    name, password = data.get("user", "")[:200], data.get("password", "")[:1000]
    sessions = request.app.state.sessions
    delay = await run_in_threadpool(sessions.delay, name)
    if delay:
        await asyncio.sleep(delay)
    try:
        _user, token = await run_in_threadpool(sessions.login, name, password)
    except AccessError:
        return _login_page(request, 401, error=LOGIN_FAILED_MESSAGE, user=name)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout_submit(request: Request, session: Session) -> Response:
    """Log out (a POST with the CSRF token, so no link or image can log anyone out)."""
    await form_of(request, session)
    request.app.state.sessions.logout(session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
def dashboard(request: Request, session: Session) -> Response:
    """Patients x visits with each visit's status, and counts per visit."""
    study = request.app.state.studies.get()
    rows = visit_overview(study, request.app.state.settings.clock().date())
    visits = [v for v in study.protocol.visits]
    counts = {
        v.code: {s: sum(1 for r in rows if r["visits"].get(v.code) == s) for s in STATUSES}
        for v in visits
    }
    return render(
        request,
        "dashboard.html",
        session=session,
        study=study.protocol.name,
        locked=bool(study.meta.get("locked")),
        visits=visits,
        rows=rows,
        counts=counts,
        statuses=STATUSES,
    )


def _visit_context(request: Request, session: WebSession, patient: str, time: str):
    """The study and the form's sections for `patient` at `time`, stored values filled."""
    study = request.app.state.studies.get()
    if patient not in set(study.patients["patient"]):
        raise WebError(404, "not_found", f"{patient} is not enrolled")
    codes = [v.code for v in study.protocol.visits]
    if time not in codes:
        raise WebError(404, "not_found", f"no visit {time}; visits: {', '.join(codes)}")
    sections = visit_sections(study.protocol, time, session.user.role)
    with request.app.state.sessions.engine.connect() as connection:
        stored = current_observations(connection, patient, time)
    fill_stored(study.protocol, sections, stored)
    return study, sections


def _visit_page(request, session, study, patient, time, sections, status=200, **extra):
    visit = study.protocol.visit(time)
    return render(
        request,
        "visit.html",
        status,
        session=session,
        patient=patient,
        visit=visit,
        sections=sections,
        locked=bool(study.meta.get("locked")),
        editable=any(c.editable for _, c in cells(sections)),
        visit_date=extra.pop("visit_date", request.app.state.settings.clock().date().isoformat()),
        **extra,
    )


@router.get("/patients/{patient}/visits/{time}")
def visit_form(request: Request, session: Session, patient: str, time: str) -> Response:
    """The visit form, generated from the protocol, with who entered each value when."""
    study, sections = _visit_context(request, session, patient, time)
    saved = request.query_params.get("saved")
    return _visit_page(request, session, study, patient, time, sections, saved=saved)


@router.post("/patients/{patient}/visits/{time}")
async def visit_save(request: Request, session: Session, patient: str, time: str) -> Response:
    """Save the visit form: every value or none, through the conduct layer."""
    data = await form_of(request, session)
    return await run_in_threadpool(_save_visit, request, session, patient, time, data)


def _save_visit(request, session, patient, time, data) -> Response:
    study, sections = _visit_context(request, session, patient, time)
    protocol = study.protocol
    reason = data.get("reason", "").strip()
    visit_date = data.get("visit_date", "").strip()
    page_errors: list[str] = []
    rows, versions, errors = [], {}, 0
    for row, cell in cells(sections):
        text = data.get(cell.name)
        if text is None or not cell.editable:
            continue
        based_on = data.get(cell.version_name, "")
        cell.text = text.strip()
        if not cell.text:
            if cell.stored is not None:
                cell.error = "a stored value cannot be removed here; enter the corrected value"
                errors += 1
            continue
        try:
            value = parse_value(protocol, row.measure, cell.text)
        except ValueError as error:
            cell.error, errors = str(error), errors + 1
            continue
        if cell.stored is not None and abs(cell.stored - value) < 1e-9:
            continue
        entry = {
            "patient": patient,
            "side": cell.side,
            "time": time,
            "measure": row.measure.name,
            "value": value,
        }
        try:
            validate_observations(pd.DataFrame([entry]), protocol, source="visit form")
        except InvalidValueError as error:
            cell.error, errors = str(error).split(": ", 1)[-1], errors + 1
            continue
        if cell.stored is not None:
            entry["reason"] = reason or None
        rows.append(entry)
        versions[(patient, cell.side, time, row.measure.name)] = (
            int(based_on) if based_on.isdigit() else None
        )
    try:
        dt.date.fromisoformat(visit_date)
    except ValueError:
        page_errors.append(f"visit date {visit_date!r}: enter it as YYYY-MM-DD")
        errors += 1
    reason_error = None
    if not errors and any(r.get("reason", "x") is None for r in rows):
        changed = ", ".join(
            f"{r['measure']}{' ' + r['side'] if r['side'] else ''}" for r in rows if "reason" in r
        )
        reason_error = f"changing a saved value needs a reason ({changed})"
        errors += 1
    if errors:
        return _visit_page(
            request,
            session,
            study,
            patient,
            time,
            sections,
            422,
            page_errors=page_errors,
            reason=reason,
            reason_error=reason_error,
            visit_date=visit_date,
        )
    if not rows:
        return RedirectResponse(f"/patients/{patient}/visits/{time}?saved=0", status_code=303)
    author = Author(session.user.name, session.user.role, request.app.state.settings.utc())
    frame = pd.DataFrame(rows, columns=["patient", "side", "time", "measure", "value", "reason"])
    try:
        with request.app.state.write_lock:
            counts = record_assessments(
                request.app.state.target,
                frame,
                session.user,
                author,
                source="visit form",
                visit_date=visit_date,
                versions=versions,
            )
    except NmmstrialError as error:
        status, _code = classify(error)
        message = clean(request, str(error))
        if isinstance(error, StaleVersionError):
            _mark_conflicts(request, study, sections, patient, time)
        return _visit_page(
            request,
            session,
            study,
            patient,
            time,
            sections,
            status,
            page_errors=[message],
            reason=reason,
            visit_date=visit_date,
        )
    done = counts["inserted"] + counts["updated"]
    return RedirectResponse(f"/patients/{patient}/visits/{time}?saved={done}", status_code=303)


def _mark_conflicts(request, study, sections, patient, time) -> None:
    """After a conflict: each value someone else changed meanwhile, shown beside its field
    (the typed values are kept; the version is now the current one)."""
    with request.app.state.sessions.engine.connect() as connection:
        stored = current_observations(connection, patient, time)
    by_key = {(r["measure"], r["side"]): r for r in stored}
    for row, cell in cells(sections):
        now = by_key.get((cell.measure, cell.side))
        if now is None or now["version"] == cell.version:
            continue
        shown = show_value(study.protocol, row.measure, now["value"])
        cell.error = (
            f"changed meanwhile to {shown} by {now['entered_by']} at {now['entered_at']}; "
            "check and save again"
        )
        cell.stored, cell.version = now["value"], now["version"]
        cell.entered_by, cell.entered_at = now["entered_by"], now["entered_at"]


AUDIT_FILTERS = ("patient", "user", "table", "action")


@router.get("/audit")
def audit_page(
    request: Request,
    session: Session,
    patient: str | None = None,
    user: str | None = None,
    table: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    """The audit trail, newest first, filtered by patient, user, table, action and UTC
    date; allocation values masked for blinded roles; the chain's check on top."""
    with request.app.state.sessions.engine.connect() as connection:
        meta = read_meta(connection)
        frame = audit_log(
            connection, patient=patient or None, blinded=not session.user.sees_arms(meta)
        )
        check = verify_audit(connection)
    chosen = {"patient": patient, "user": user, "table": table, "action": action}
    for column, value in chosen.items():
        if value and column != "patient":
            frame = frame[frame[column] == value]
    if since:
        frame = frame[frame["utc"].str[:10] >= since]
    if until:
        frame = frame[frame["utc"].str[:10] <= until]
    records = frame.iloc[::-1].head(500)
    records = records.astype(object).where(records.notna(), None)
    return render(
        request,
        "audit.html",
        session=session,
        filters={**chosen, "since": since, "until": until},
        records=records.to_dict(orient="records"),
        total=len(frame),
        check=check,
    )


@router.get("/patients/{patient}/reveal")
def reveal_page(request: Request, session: Session, patient: str) -> Response:
    """The reveal form: the side to stimulate is shown only after the POST (logged)."""
    return render(request, "reveal.html", session=session, patient=patient, result=None)


@router.post("/patients/{patient}/reveal")
async def reveal_submit(request: Request, session: Session, patient: str) -> Response:
    """Reveal the side to stimulate (unblinded physician only; an audit record)."""
    data = await form_of(request, session)
    author = Author(session.user.name, session.user.role, request.app.state.settings.utc())
    emergency = data.get("emergency", "").strip() or None
    result = await run_in_threadpool(
        lambda: reveal(request.app.state.target, session.user, author, patient, emergency=emergency)
    )
    return render(
        request, "reveal.html", session=session, patient=patient, result=result, emergency=emergency
    )


def _criteria(request: Request) -> list[dict]:
    return eligibility_template(request.app.state.studies.get().protocol)


@router.get("/enrol")
def enrol_page(request: Request, session: Session) -> Response:
    """The eligibility checklist of the protocol, to enrol and randomize a patient."""
    return render(request, "enrol.html", session=session, criteria=_criteria(request), form={})


@router.post("/enrol")
async def enrol_submit(request: Request, session: Session) -> Response:
    """Enrol an eligible patient and randomize it (unblinded physician; the conduct layer
    refuses an ineligible one, naming the criterion, and writes nothing)."""
    data = await form_of(request, session)
    return await run_in_threadpool(_enrol, request, session, data)


def _enrol(request: Request, session: WebSession, data: dict[str, str]) -> Response:
    criteria = _criteria(request)
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for criterion in criteria:
        text = data.get(f"c.{criterion['id']}", "").strip()
        if criterion["type"] == "bool":
            if text in ("yes", "no"):
                answers[criterion["id"]] = text == "yes"
        elif text:
            try:
                answers[criterion["id"]] = float(text.replace(",", "."))
            except ValueError:
                errors[criterion["id"]] = f"{text!r} is not a number"
    patient = data.get("patient", "").strip()
    stratum = data.get("stratum", "").strip() or None
    context = {"session": session, "criteria": criteria, "form": data, "errors": errors}
    if errors or not patient:
        message = "enter the patient's study id" if not patient else "fix the marked answers"
        return render(request, "enrol.html", 422, message=message, **context)
    author = Author(session.user.name, session.user.role, request.app.state.settings.utc())
    try:
        result = enrol(
            request.app.state.target,
            session.user,
            author,
            patient=patient,
            answers=answers,
            stratum=stratum,
            today=request.app.state.settings.clock().date(),
        )
    except NmmstrialError as error:
        status, _code = classify(error)
        message = clean(request, str(error))
        failed = re.search(r"criterion (\w+)", message)
        if failed:
            errors[failed.group(1)] = "not met"
        return render(request, "enrol.html", status, message=message, **context)
    return render(
        request, "enrol.html", session=session, criteria=criteria, form={}, enrolled=result
    )


@router.get("/study")
def study_page(request: Request, session: Session) -> Response:
    """The study's state: lock (with the audit anchor) and unblinding, and their forms."""
    study = request.app.state.studies.get()
    done = (
        request.query_params.get("done")
        if request.query_params.get("done")
        in (
            "locked",
            "unblinded",
        )
        else None
    )
    return render(request, "study.html", session=session, meta=study.meta, done=done)


@router.post("/study/lock")
async def lock_submit(request: Request, session: Session) -> Response:
    """Lock the database (monitor or admin): entries are refused from then on."""
    data = await form_of(request, session)
    author = Author(session.user.name, session.user.role, request.app.state.settings.utc())
    reason = data.get("reason", "").strip() or None
    await run_in_threadpool(lock, request.app.state.target, session.user, author, reason)
    return RedirectResponse("/study?done=locked", status_code=303)


@router.post("/study/unblind")
async def unblind_submit(request: Request, session: Session) -> Response:
    """Unblind the study (admin, after lock, with a reason)."""
    data = await form_of(request, session)
    author = Author(session.user.name, session.user.role, request.app.state.settings.utc())
    reason = data.get("reason", "")
    await run_in_threadpool(unblind, request.app.state.target, session.user, author, reason)
    return RedirectResponse("/study?done=unblinded", status_code=303)
