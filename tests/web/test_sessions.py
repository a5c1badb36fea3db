"""Logins and sessions: cookie flags, CSRF, idle timeout, logout, slow-down, audit."""

from __future__ import annotations

import datetime as dt
import re
import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from nmmstrial.store import open_study_db
from nmmstrial.store.schema import web_sessions_table
from nmmstrial.web import Settings, create_app
from nmmstrial.web.sessions import COOKIE, token_sha256

from .conftest import PASSWORD


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def login(client, user="assessor", password=PASSWORD):
    return client.post("/api/login", json={"user": user, "password": password})


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def audit(study_db):
    engine = open_study_db(study_db)
    from nmmstrial.store import audit_log

    with engine.connect() as connection:
        frame = audit_log(connection, blinded=True)
    engine.dispose()
    return frame


def test_cookie_is_httponly_strict_and_secure_over_https(study_db):
    app = create_app(str(study_db))
    with TestClient(app) as client:
        cookie = login(client).headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
        assert "Secure" not in cookie  # http://testserver: plain http
    with TestClient(app, base_url="https://testserver") as client:
        assert "Secure" in login(client).headers["set-cookie"]


def test_only_a_hash_of_the_token_is_stored(study_db, app):
    with TestClient(app) as client:
        login(client)
        token = client.cookies[COOKIE]
    engine = open_study_db(study_db)
    with engine.connect() as connection:
        rows = connection.execute(select(web_sessions_table)).all()
    engine.dispose()
    assert [r.token_sha256 for r in rows] == [token_sha256(token)]
    assert all(token not in str(tuple(r)) for r in rows)


def test_unknown_user_and_wrong_password_get_the_same_answer(app):
    with TestClient(app) as client:
        unknown, wrong = login(client, "nobody"), login(client, "assessor", "nope")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert "set-cookie" not in unknown.headers and "set-cookie" not in wrong.headers


def test_logins_failures_and_logouts_are_audited(app, study_db):
    with TestClient(app) as client:
        login(client, "assessor", "nope")
        login(client)
        client.post("/api/logout")
    log = audit(study_db)
    actions = log[log["table"] == "web"][["user", "action"]].values.tolist()
    assert actions == [["assessor", "login-failed"], ["assessor", "login"], ["assessor", "logout"]]


def test_a_logged_out_cookie_is_refused(app):
    with TestClient(app) as client:
        login(client)
        token = client.cookies[COOKIE]
        assert client.post("/api/logout").status_code == 200
    with TestClient(app) as other:
        other.cookies.set(COOKIE, token)
        assert other.get("/api/patients").status_code == 401
        page = other.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login"


def test_idle_session_ends_after_the_timeout(study_db):
    clock = Clock()
    app = create_app(str(study_db), Settings(idle_minutes=15, clock=clock))
    with TestClient(app) as client:
        login(client)
        clock.now += dt.timedelta(minutes=14)
        assert client.get("/api/patients").status_code == 200  # and touched
        clock.now += dt.timedelta(minutes=14)
        assert client.get("/api/patients").status_code == 200
        clock.now += dt.timedelta(minutes=15, seconds=1)
        assert client.get("/api/patients").status_code == 401
        clock.now += dt.timedelta(seconds=1)
        assert client.get("/api/patients").status_code == 401  # never revived
    log = audit(study_db)
    assert log["reason"].str.contains("idle for more than 15 minutes").any()


def test_idle_timeout_is_configurable(study_db):
    clock = Clock()
    app = create_app(str(study_db), Settings(idle_minutes=2, clock=clock))
    with TestClient(app) as client:
        login(client)
        clock.now += dt.timedelta(minutes=3)
        assert client.get("/api/patients").status_code == 401


def test_form_post_without_or_with_a_wrong_csrf_token_is_403(client_for):
    client = client_for("assessor")
    page = client.get("/patients/P01/visits/T0")
    token = csrf_of(page.text)
    form = {"visit_date": "2026-11-25", "v.mrc_fcr.left": "4"}
    for bad in ({}, {"csrf_token": "x" * len(token)}):
        response = client.post("/patients/P01/visits/T0", data={**form, **bad})
        assert response.status_code == 403
        assert "Traceback" not in response.text
    assert client.get("/api/observations", params={"patient": "P01"}).json() == []
    ok = client.post(
        "/patients/P01/visits/T0", data={**form, "csrf_token": token}, follow_redirects=False
    )
    assert ok.status_code == 303


def test_logout_form_needs_the_token(client_for):
    client = client_for("assessor")
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/api/me").status_code == 200
    token = csrf_of(client.get("/").text)
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/api/me").status_code == 401


def test_login_form_checks_its_token_and_sets_the_session(app):
    with TestClient(app) as client:
        assert (
            client.post("/login", data={"user": "assessor", "password": PASSWORD}).status_code
            == 403
        )
        token = csrf_of(client.get("/login").text)
        failed = client.post(
            "/login", data={"user": "assessor", "password": "x", "csrf_token": token}
        )
        assert failed.status_code == 401 and "unknown user or wrong password" in failed.text
        token = csrf_of(failed.text)
        response = client.post(
            "/login",
            data={"user": "assessor", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert client.get("/api/me").json()["user"] == "assessor"


def test_repeated_failures_slow_that_name_only(study_db):
    settings = Settings(slowdown_after=3, slowdown_seconds=0.3, slowdown_max_seconds=0.3)
    app = create_app(str(study_db), settings)
    with TestClient(app) as client:
        for _ in range(2):
            assert login(client, "assessor", "nope").status_code == 401
        start = time.monotonic()
        assert login(client, "assessor", "nope").status_code == 401  # third: not yet slowed
        assert time.monotonic() - start < 0.3
        start = time.monotonic()
        slowed = login(client, "assessor", PASSWORD)  # from the fourth: waits, then checks
        assert time.monotonic() - start >= 0.3
        assert slowed.status_code == 200
        start = time.monotonic()
        assert login(client, "monitor", PASSWORD).status_code == 200
        assert time.monotonic() - start < 0.3


def test_security_headers(client_for):
    response = client_for("assessor").get("/")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
