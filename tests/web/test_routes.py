"""Every route x every role: the expected status is declared once, in ROUTES, and the
test fails when the app has a route without a row (or a row without a route). A
hypothesis fuzz of the writing endpoint checks that no body gets a 500."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nmmstrial.conduct import ROLES

from .conftest import EVENT, PASSWORD

ANONYMOUS = "anonymous"
ENTRY = {"patient": "P01", "time": "T0", "measure": "fvc_pct", "value": 80}
EVENT = {**EVENT, "relatedness": "unrelated"}
SESSION = {"patient": "P01", "session": 1, "date": "2026-11-20"}


def every(status: int, anonymous: int, **roles: int) -> dict[str, int]:
    return {**{role: status for role in ROLES}, ANONYMOUS: anonymous, **roles}


# (method, path) -> (request keywords, status per role). Form POSTs are sent without
# their CSRF token: 403 for every logged-in role, the login page for anonymous.
ROUTES: dict[tuple[str, str], tuple[dict, dict[str, int]]] = {
    ("GET", "/login"): ({}, every(200, 200)),
    ("POST", "/login"): ({"data": {"user": "x", "password": "y"}}, every(403, 403)),
    ("POST", "/logout"): ({"data": {}}, every(403, 303)),
    ("GET", "/"): ({}, every(200, 303)),
    ("GET", "/audit"): ({}, every(200, 303)),
    ("GET", "/enrol"): ({}, every(200, 303)),
    ("POST", "/enrol"): ({"data": {}}, every(403, 303)),
    ("GET", "/study"): ({}, every(200, 303)),
    ("POST", "/study/lock"): ({"data": {}}, every(403, 303)),
    ("POST", "/study/unblind"): ({"data": {}}, every(403, 303)),
    ("GET", "/patients/{patient}/visits/{time}"): ({}, every(200, 303)),
    ("POST", "/patients/{patient}/visits/{time}"): ({"data": {}}, every(403, 303)),
    ("GET", "/patients/{patient}/reveal"): ({}, every(200, 303)),
    ("POST", "/patients/{patient}/reveal"): ({"data": {}}, every(403, 303)),
    ("GET", "/patients/{patient}/adverse-events"): ({}, every(200, 303)),
    ("POST", "/patients/{patient}/adverse-events"): ({"data": {}}, every(403, 303)),
    ("POST", "/patients/{patient}/adverse-events/follow-up"): ({"data": {}}, every(403, 303)),
    ("GET", "/report"): ({}, every(200, 303)),
    ("GET", "/sessions"): ({}, every(403, 303, unblinded_physician=200)),
    ("GET", "/patients/{patient}/sessions"): ({}, every(403, 303, unblinded_physician=200)),
    ("POST", "/patients/{patient}/sessions"): ({"data": {}}, every(403, 303)),
    ("POST", "/api/login"): ({"json": {"user": "nobody", "password": "x"}}, every(401, 401)),
    ("POST", "/api/logout"): ({"json": {}}, every(200, 401)),
    ("GET", "/api/me"): ({}, every(200, 401)),
    ("GET", "/api/patients"): ({}, every(200, 401)),
    ("GET", "/api/observations"): ({"params": {"patient": "P01"}}, every(200, 401)),
    ("POST", "/api/observations"): ({"json": ENTRY}, every(403, 401, assessor=201)),
    ("GET", "/api/reveal/{patient}"): ({}, every(403, 401, unblinded_physician=200)),
    ("GET", "/api/audit"): ({}, every(200, 401)),
    ("GET", "/api/adverse-events"): ({"params": {"patient": "P01"}}, every(200, 401)),
    ("POST", "/api/adverse-events"): (
        {"json": EVENT},
        every(403, 401, assessor=201, unblinded_physician=201),
    ),
    # After the row above: the assessor and the physician have reported P01:1.
    ("POST", "/api/adverse-events/{id}"): (
        {"json": {"end": "2026-11-22", "action": "treatment_given"}},
        every(403, 401, assessor=200, unblinded_physician=200),
    ),
    ("POST", "/api/sessions"): ({"json": SESSION}, every(403, 401, unblinded_physician=201)),
    ("GET", "/api/openapi.json"): ({}, every(200, 200)),
}


def schema_routes(client) -> set[tuple[str, str]]:
    schema = client.get("/api/openapi.json").json()
    routes = {(m.upper(), path) for path, ops in schema["paths"].items() for m in ops}
    return routes | {("GET", "/api/openapi.json")}


def test_every_route_has_a_row(app):
    with TestClient(app) as client:
        assert schema_routes(client) == set(ROUTES)


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_every_route_answers_each_role_as_declared(app, role):
    got = {}
    # Logging out last, so the other routes run with the session.
    order = sorted(ROUTES, key=lambda route: "logout" in route[1])
    with TestClient(app, raise_server_exceptions=False) as client:
        if role != ANONYMOUS:
            client.post("/api/login", json={"user": role, "password": PASSWORD})
        for method, path in order:
            kwargs, _ = ROUTES[(method, path)]
            url = path.replace("{patient}", "P01").replace("{time}", "T0")
            url = url.replace("{id}", "P01:1")
            response = client.request(method, url, follow_redirects=False, **kwargs)
            got[(method, path)] = response.status_code
            assert "Traceback" not in response.text
    want = {route: statuses[role] for route, (_, statuses) in ROUTES.items()}
    assert got == want


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "patient": st.sampled_from(["P01", "P02", "P99", ""]) | JSON,
        "time": st.sampled_from(["T0", "T1", "FU3M", "X"]) | JSON,
        "measure": st.sampled_from(["mrc_fcr", "fvc_pct", "alsfrs_r", "cmap_apb_mv"]) | JSON,
        "side": st.sampled_from(["left", "right", None, "up"]) | JSON,
        "value": st.floats(allow_nan=True, allow_infinity=True) | JSON,
        "reason": st.text(max_size=20) | JSON,
        "version": st.integers(min_value=-2, max_value=5) | JSON,
    },
)


@pytest.fixture
def assessor(client_for):
    return client_for("assessor")


# One client for all examples (a function-scoped fixture is shared by them, on purpose).
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=FIELDS | JSON)
def test_no_body_gets_a_500(assessor, body):
    response = assessor.post(
        "/api/observations",
        content=json.dumps(body, allow_nan=True),
        headers={"content-type": "application/json"},
    )
    assert response.status_code in (201, 403, 409, 422), response.text
    if response.status_code != 201:
        assert set(response.json()) == {"error"}
