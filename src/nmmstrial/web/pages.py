"""The HTML pages: plain forms that work without JavaScript, each POST checked for the
session's CSRF token (`csrf_token`), each action a conduct-layer call."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
import tempfile
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from ..capture.validate import validate_observations
from ..conduct.allocation import eligibility_template, enrol, reveal
from ..conduct.data import lock, record_assessments, unblind
from ..conduct.treatment import (
    ACTIONS,
    AE_ROLES,
    COILS,
    OUTCOMES,
    PROCEDURES,
    RELATEDNESS,
    SEVERITIES,
    adherence,
    follow_up_adverse_event,
    log_session,
    report_adverse_event,
    session_log,
)
from ..conduct.users import seen_by
from ..conduct.visits import visit_overview
from ..errors import (
    AccessError,
    InvalidValueError,
    NmmstrialError,
    StaleVersionError,
)
from ..report import flow_so_far, write_report
from ..store import audit_log, read_study, verify_audit
from ..store.changes import read_meta
from ..store.history import current_observations
from ..store.schema import audit_table, trial_tables
from .app import (
    CsrfRefused,
    WebError,
    author_of,
    classify,
    clean,
    current_session,
    set_session_cookie,
)
from .events import EVENT_TABLES, SESSION_TABLES, adverse_events, plain_rows
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
    day = request.app.state.settings.clock().date()
    rows = request.app.state.studies.derived(
        study, f"overview {day}", lambda s: visit_overview(s, day)
    )
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
        flow=request.app.state.studies.derived(study, "flow", lambda s: _flow(request, s)),
    )


def _flow(request: Request, study) -> list[dict[str, Any]]:
    """The flow so far; of the sessions it needs only who had which session completed,
    read in one query (the dashboard is read after every save)."""
    table = trial_tables["sessions"]
    columns = (table.c.patient, table.c.session, table.c.completed)
    with request.app.state.sessions.engine.connect() as connection:
        rows = connection.execute(select(*columns)).all()
    sessions = pd.DataFrame(rows, columns=["patient", "session", "completed"])
    return flow_so_far(study, sessions).to_dict(orient="records")


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
    author = author_of(request, session)
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
    author = author_of(request, session)
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
    author = author_of(request, session)
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
    author = author_of(request, session)
    reason = data.get("reason", "").strip() or None
    await run_in_threadpool(lock, request.app.state.target, session.user, author, reason)
    return RedirectResponse("/study?done=locked", status_code=303)


@router.post("/study/unblind")
async def unblind_submit(request: Request, session: Session) -> Response:
    """Unblind the study (admin, after lock, with a reason)."""
    data = await form_of(request, session)
    author = author_of(request, session)
    reason = data.get("reason", "")
    await run_in_threadpool(unblind, request.app.state.target, session.user, author, reason)
    return RedirectResponse("/study?done=unblinded", status_code=303)


EVENT_FORM_FIELDS = ("term", "onset", "end", "severity", "related_to", "relatedness")
EVENT_FORM_FIELDS += ("action", "outcome", "side", "visit")
EVENT_CHOICES = {
    "severity": SEVERITIES,
    "related_to": PROCEDURES,
    "relatedness": RELATEDNESS,
    "outcome": OUTCOMES,
    "action": ACTIONS,
    "side": ("", "left", "right"),
}


def _events_page(
    request: Request, session: WebSession, patient: str, status: int = 200, **extra: Any
) -> Response:
    study = read_study(request.app.state.target, tables=EVENT_TABLES)
    if patient not in set(study.patients["patient"]):
        raise WebError(404, "not_found", f"{patient} is not enrolled")
    context = {"form": {}, "errors": {}, "follow": {}, **extra}
    return render(
        request,
        "adverse_events.html",
        status,
        session=session,
        patient=patient,
        events=adverse_events(study, patient),
        visits=[v.code for v in study.protocol.visits],
        choices=EVENT_CHOICES,
        may_enter=session.user.role in AE_ROLES,
        locked=bool(study.meta.get("locked")),
        **context,
    )


@router.get("/patients/{patient}/adverse-events")
def events_page(request: Request, session: Session, patient: str) -> Response:
    """The patient's adverse events, the form to report one and to follow each up."""
    return _events_page(request, session, patient, done=request.query_params.get("done"))


def refusal(request: Request, error: InvalidValueError, fields) -> dict[str, str]:
    """The conduct layer's refusal, shown next to its field when the form has it, else
    at the top of the form."""
    field = error.field if error.field in fields else "form"
    return {field: clean(request, str(error))}


def _day(text: str, name: str, errors: dict[str, str]) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[name] = f"{text!r}: enter the date as YYYY-MM-DD"
        return None


@router.post("/patients/{patient}/adverse-events")
async def events_submit(request: Request, session: Session, patient: str) -> Response:
    """Report an adverse event (assessor or unblinded physician)."""
    data = await form_of(request, session)
    return await run_in_threadpool(_report_event, request, session, patient, data)


def _report_event(request, session, patient, data) -> Response:
    errors: dict[str, str] = {}
    onset = _day(data.get("onset", ""), "onset", errors)
    if onset is None and "onset" not in errors:
        errors["onset"] = "enter the date of onset (YYYY-MM-DD)"
    end = _day(data.get("end", ""), "end", errors)
    relatedness = data.get("relatedness") or None
    related_to = data.get("related_to") or (
        "none" if relatedness in (None, "unrelated") else "stimulation"
    )
    if errors:
        return _events_page(request, session, patient, 422, form=data, errors=errors)
    author = author_of(request, session)
    try:
        with request.app.state.write_lock:
            row = report_adverse_event(
                request.app.state.target,
                session.user,
                author,
                patient=patient,
                term=data.get("term", "")[:500],
                onset=onset,
                end=end,
                severity=data.get("severity", ""),
                serious=data.get("serious") == "yes",
                related_to=related_to,
                relatedness=relatedness,
                action=data.get("action") or "none",
                outcome=data.get("outcome") or "ongoing",
                side=data.get("side") or None,
                visit=data.get("visit") or None,
            )
    except InvalidValueError as error:
        errors = refusal(request, error, EVENT_FORM_FIELDS)
        return _events_page(request, session, patient, 422, form=data, errors=errors)
    return RedirectResponse(
        f"/patients/{patient}/adverse-events?done={row['event']}", status_code=303
    )


@router.post("/patients/{patient}/adverse-events/follow-up")
async def events_follow_up(request: Request, session: Session, patient: str) -> Response:
    """Follow up an adverse event (end, outcome, action); a correction needs a reason."""
    data = await form_of(request, session)
    return await run_in_threadpool(_follow_up, request, session, patient, data)


def _follow_up(request, session, patient, data) -> Response:
    errors: dict[str, str] = {}
    event_text = data.get("event", "")
    end = _day(data.get("end", ""), "end", errors)
    if not event_text.isdigit():
        errors["event"] = "choose the event to follow up"
    follow = {"event": event_text, **data}
    if errors:
        return _events_page(request, session, patient, 422, follow=follow, follow_errors=errors)
    author = author_of(request, session)
    try:
        with request.app.state.write_lock:
            follow_up_adverse_event(
                request.app.state.target,
                session.user,
                author,
                patient=patient,
                event=int(event_text),
                reason=data.get("reason", "").strip() or None,
                end=end,
                outcome=data.get("outcome") or None,
                action=data.get("action") or None,
            )
    except InvalidValueError as error:
        errors = refusal(request, error, ("event", "end", "outcome", "reason"))
        return _events_page(request, session, patient, 422, follow=follow, follow_errors=errors)
    return RedirectResponse(
        f"/patients/{patient}/adverse-events?done={int(event_text)}", status_code=303
    )


def _adherence_rows(study) -> list[dict[str, Any]]:
    return plain_rows(adherence(study, sees_arms=True))


@router.get("/sessions")
def sessions_overview(request: Request, session: Session) -> Response:
    """Adherence per patient: sessions done of planned, pulses per arm of planned,
    interruptions, coil deviations (unblinded physician only; others the same 403)."""
    study = read_study(request.app.state.target, tables=SESSION_TABLES)
    session_log(study, session.user)  # the role check, before anything is shown
    return render(
        request,
        "sessions.html",
        session=session,
        patient=None,
        adherence=_adherence_rows(study),
        stim=study.protocol.stimulation,
    )


def _sessions_page(request, session, patient, status=200, **extra) -> Response:
    study = read_study(request.app.state.target, tables=SESSION_TABLES)
    rows = plain_rows(session_log(study, session.user, patient))
    if patient not in set(study.patients["patient"]):
        raise WebError(404, "not_found", f"{patient} is not enrolled")
    stim = study.protocol.stimulation
    done = {r["session"] for r in rows}
    following = next((n for n in range(1, stim.sessions + 1) if n not in done), None)
    context = {"form": {}, "errors": {}, **extra}
    return render(
        request,
        "sessions.html",
        status,
        session=session,
        patient=patient,
        rows=rows,
        adherence=[r for r in _adherence_rows(study) if r["patient"] == patient],
        stim=stim,
        following=following,
        today=request.app.state.settings.clock().date().isoformat(),
        coils=COILS,
        locked=bool(study.meta.get("locked")),
        **context,
    )


@router.get("/patients/{patient}/sessions")
def sessions_page(request: Request, session: Session, patient: str) -> Response:
    """The patient's stimulation sessions and the form to log one (unblinded physician)."""
    return _sessions_page(request, session, patient, done=request.query_params.get("done"))


@router.post("/patients/{patient}/sessions")
async def sessions_submit(request: Request, session: Session, patient: str) -> Response:
    """Log a stimulation session (unblinded physician only)."""
    data = await form_of(request, session)
    return await run_in_threadpool(_log_session, request, session, patient, data)


SESSION_FORM_FIELDS = ("session", "date", "trains", "interruptions", "interruption_cause")


def _log_session(request, session, patient, data) -> Response:
    errors: dict[str, str] = {}
    numbers: dict[str, int | None] = {}
    for name in ("session", "trains", "interruptions"):
        text = data.get(name, "").strip()
        if text and not text.isdigit():
            errors[name] = f"{text!r} is not a whole number"
        numbers[name] = int(text) if text.isdigit() else None
    if numbers["session"] is None and "session" not in errors:
        errors["session"] = "enter the session number"
    day = _day(data.get("date", ""), "date", errors)
    if day is None and "date" not in errors:
        errors["date"] = "enter the session date (YYYY-MM-DD)"
    if errors:
        return _sessions_page(request, session, patient, 422, form=data, errors=errors)
    author = author_of(request, session)
    try:
        with request.app.state.write_lock:
            row = log_session(
                request.app.state.target,
                session.user,
                author,
                patient=patient,
                session=numbers["session"],
                date=day,
                trains=numbers["trains"],
                completed=data.get("completed") == "yes",
                operator=data.get("operator", "")[:100],
                coils={
                    "left": data.get("coil_left") or None,
                    "right": data.get("coil_right") or None,
                },
                interruptions=numbers["interruptions"] or 0,
                interruption_cause=data.get("interruption_cause", "")[:500],
            )
    except InvalidValueError as error:
        errors = refusal(request, error, SESSION_FORM_FIELDS)
        return _sessions_page(request, session, patient, 422, form=data, errors=errors)
    return RedirectResponse(f"/patients/{patient}/sessions?done={row['session']}", status_code=303)


# The report's own page: its inline style and embedded figures, nothing else.
REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; form-action 'none'"
)


@router.get("/report")
def report_page(request: Request, session: Session) -> Response:
    """The study report as `nmmstrial report --user` writes it for this user: arms coded
    X / Y for blinded roles until the study is unblinded, real / sham otherwise."""
    target = request.app.state.target
    with request.app.state.sessions.engine.connect() as connection:
        head = connection.execute(select(func.max(audit_table.c.seq))).scalar()

    def render_report() -> str:
        study = seen_by(read_study(target), session.user)
        with tempfile.TemporaryDirectory(prefix="nmmstrial-report-") as folder:
            return write_report(study, folder).read_text(encoding="utf-8")

    blinded = not session.user.sees_arms(request.app.state.studies.get().meta)
    page = request.app.state.reports.get(head, blinded, render_report)
    return HTMLResponse(page, headers={"Content-Security-Policy": REPORT_POLICY})
