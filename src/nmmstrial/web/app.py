"""The browser app: `create_app(STUDY)` over a study database (SQLite path or URL).

Every route calls the conduct layer's functions, as the CLI does: no business rule lives
in a route. This module holds what all routes share: the session of a request, the
one error shape (`{"error": {"code", "message", "field"?}}` on /api, an HTML page
elsewhere, never a traceback), the JSON-only rule for writing API calls, and security
headers.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import (
    AccessError,
    ConflictError,
    InvalidValueError,
    LockedError,
    NmmstrialError,
    StaleVersionError,
    StoreError,
)
from ..store import Author, open_study_db, read_study
from ..store.engine import describe
from ..store.schema import audit_table
from ..study import Study
from .sessions import COOKIE, SessionStore, Settings, WebSession

HERE = Path(__file__).parent
log = logging.getLogger("nmmstrial.web")

# HTTP status and error code per refusal of the conduct layer (most specific first).
ERROR_STATUS: tuple[tuple[type[NmmstrialError], int, str], ...] = (
    (StaleVersionError, 409, "conflict"),
    (ConflictError, 409, "conflict"),
    (LockedError, 423, "locked"),
    (AccessError, 403, "forbidden"),
    (InvalidValueError, 422, "invalid"),
    (StoreError, 503, "unavailable"),
    (NmmstrialError, 400, "refused"),
)
HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    422: "invalid",
    423: "locked",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
    # Pages hold trial data: not kept by the browser after logout.
    "Cache-Control": "no-store",
}


OVERVIEW_TABLES = ("patients", "visits")


class StudyCache:
    """The study's protocol, meta, patients and visits as last read, reused while the
    audit trail's head is unchanged.

    Every change of trial data, meta (lock, unblinding) and users appends an audit
    record in its own transaction, so an unchanged head means an unchanged study; a
    read costs one indexed query instead of reading every table. Only read by routes.
    """

    def __init__(self, target: str, engine) -> None:
        self.target, self.engine = target, engine
        self.lock = threading.Lock()
        self.head: int | None = None
        self.study: Study | None = None
        self.results: dict[str, Any] = {}

    def get(self) -> Study:
        with self.engine.connect() as connection:
            head = connection.execute(select(func.max(audit_table.c.seq))).scalar()
        # One reader at a time: after a write, the first request reads the study and
        # the others waiting here reuse it, instead of all reading it at once.
        with self.lock:
            if self.study is None or head != self.head:
                # The small tables the pages need; observations are read per patient
                # and visit. A write meanwhile: read again at the next request.
                self.study = read_study(self.target, tables=OVERVIEW_TABLES)
                self.head = head
                self.results = {}
            return self.study

    def derived(self, study: Study, name: str, compute):
        """`compute(study)`, kept with the cached study until it is read again (e.g. the
        dashboard's flow); computed afresh for a study that is no longer the cached one."""
        with self.lock:
            if study is not self.study:
                return compute(study)
            if name not in self.results:
                self.results[name] = compute(study)
            return self.results[name]


class ReportCache:
    """The study report as last rendered per audience (blinded or not), kept while the
    audit trail's head is unchanged: rendering it takes seconds (its figures)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pages: dict[tuple[int | None, bool], str] = {}

    def get(self, head: int | None, blinded: bool, render) -> str:
        with self.lock:  # one rendering at a time; the others wait and reuse it
            key = (head, blinded)
            if key not in self.pages:
                self.pages = {k: v for k, v in self.pages.items() if k[0] == head}
                self.pages[key] = render()
            return self.pages[key]


class NotLoggedIn(Exception):
    """No live session: 401 on the API, the login page for HTML."""


class CsrfRefused(Exception):
    """A form POST without the session's CSRF token: 403, nothing written."""


class WebError(Exception):
    """An error a route answers directly (status, code, message, field)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def is_api(request: Request) -> bool:
    return request.url.path == "/api" or request.url.path.startswith("/api/")


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    error.update(extra)
    return {"error": error}


def classify(error: NmmstrialError) -> tuple[int, str]:
    for kind, status, code in ERROR_STATUS:
        if isinstance(error, kind):
            return status, code
    return 400, "refused"  # pragma: no cover - NmmstrialError is last above


def create_app(target: str, settings: Settings | None = None) -> FastAPI:
    """The app over the study at `target` (a SQLite path or a database URL)."""
    settings = settings or Settings()
    engine = open_study_db(target)  # refuses what is not a study, before serving

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        engine.dispose()

    app = FastAPI(
        title="nmmstrial",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url=None,  # the interactive docs load scripts from a CDN; not on a ward PC
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.target = str(target)
    app.state.label = describe(target)
    app.state.settings = settings
    app.state.sessions = SessionStore(engine, settings)
    app.state.studies = StudyCache(str(target), engine)
    # One write at a time from this app: the version check and the write then see the
    # same state (another process's concurrent write still fails loudly, never silently).
    app.state.write_lock = threading.Lock()
    app.state.reports = ReportCache()
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    _install_handlers(app)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if is_api(request) and request.method in ("POST", "PUT", "PATCH", "DELETE"):
            kind = request.headers.get("content-type", "")
            empty = not kind and request.headers.get("content-length", "0") == "0"
            if not empty and kind.split(";")[0].strip().lower() != "application/json":
                return JSONResponse(
                    error_body(
                        "unsupported_media_type", "send the body as Content-Type: application/json"
                    ),
                    status_code=415,
                    headers=SECURITY_HEADERS,
                )
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    from . import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    return app


# "(--reason)": how the command line names a field; the page and the JSON name it apart.
_CLI_HINT = re.compile(r" \(--[^)]*\)")


def clean(request: Request, message: str) -> str:
    """A message without the study's path or URL (the server's business, not the user's)
    and without command-line hints."""
    for label in {request.app.state.target, request.app.state.label}:
        message = message.replace(f"{label}: ", "").replace(label, "the study")
    return _CLI_HINT.sub("", message)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, _error: NotLoggedIn):
        if is_api(request):
            return JSONResponse(
                error_body("unauthenticated", "log in first (POST /api/login)"), status_code=401
            )
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _error: CsrfRefused):
        return error_response(
            request, 403, "csrf", "the form is stale or was not sent by this app; reload it"
        )

    @app.exception_handler(WebError)
    async def web_error(request: Request, error: WebError):
        return error_response(request, error.status, error.code, error.message, error.field)

    @app.exception_handler(NmmstrialError)
    async def refused(request: Request, error: NmmstrialError):
        status, code = classify(error)
        message = clean(request, str(error))
        extra = {}
        field = None
        if isinstance(error, StaleVersionError):
            field, extra = "version", {"current": error.current}
        elif isinstance(error, InvalidValueError):
            field = error.field  # the JSON key, as the conduct layer names it
        return error_response(request, status, code, message, field, **extra)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        first = error.errors()[0] if error.errors() else {}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        field = loc[0] if loc else None
        if first.get("type") == "json_invalid":
            message, field = "the body is not valid JSON", None
        elif first.get("type") == "missing":
            message = f"{field} is required"
        else:
            message = f"{field}: {first.get('msg', 'invalid')}" if field else "invalid request"
        return error_response(request, 422, "invalid", message, field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        code = HTTP_CODES.get(error.status_code, "error")
        message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
        return error_response(request, error.status_code, code, message, headers=error.headers)

    @app.exception_handler(Exception)
    async def crashed(request: Request, error: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            request, 500, "internal", "internal error: the request was not completed"
        )


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict | None = None,
    **extra: Any,
) -> Response:
    """The one error shape: JSON on /api, a page elsewhere."""
    if is_api(request):
        return JSONResponse(
            error_body(code, message, field, **extra), status_code=status, headers=headers
        )
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message, "session": None},
        status_code=status,
        headers=headers,
    )


def author_of(request: Request, session: WebSession) -> Author:
    """Who writes, as the audit trail records it, stamped by the app's clock."""
    user = session.user
    return Author(user.name, user.role, request.app.state.settings.utc())


def current_session(request: Request) -> WebSession:
    """The request's live session (dependency); NotLoggedIn otherwise."""
    session = request.app.state.sessions.resolve(request.cookies.get(COOKIE))
    if session is None:
        raise NotLoggedIn()
    return session


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """HttpOnly, SameSite=Strict, Secure over https (or as configured); no max-age, so
    the browser forgets it when it closes; the server ends it when idle anyway."""
    secure = request.app.state.settings.secure_cookies
    if secure is None:
        secure = request.url.scheme == "https"
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/")
