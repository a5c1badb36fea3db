"""A fuzz of every JSON route, generated from the OpenAPI schema (as schemathesis
would): arbitrary path and query values and JSON bodies, sent by a role that may write;
no answer is a 500, and every error has the one shape `{"error": {...}}`."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import PASSWORD

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
# Values that get past the first checks, so the fuzz also reaches the conduct layer.
LIKELY = st.sampled_from(
    [
        "P01",
        "P02",
        "P99",
        "T0",
        "FU3M",
        "mrc_fcr",
        "fvc_pct",
        "left",
        "right",
        "2026-11-20",
        "2026-02-30",
        "mild",
        "severe",
        "possible",
        "unrelated",
        "none",
        "ongoing",
        "resolved",
        "",
        "<script>",
        "\x00",
    ]
)
TEXT = st.text(max_size=20) | LIKELY
# Logging out would end the fuzzing session itself: it has its own tests.
SKIPPED = {("post", "/api/logout")}


def json_routes(app) -> list[tuple[str, str, list[str], list[str], list[str]]]:
    """(method, path, path params, query params, body properties) of every /api route."""
    schema = app.openapi()
    routes = []
    for path, ops in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, op in ops.items():
            if (method, path) in SKIPPED:
                continue
            params = op.get("parameters", [])
            in_path = [p["name"] for p in params if p["in"] == "path"]
            in_query = [p["name"] for p in params if p["in"] == "query"]
            body = []
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                model = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
                body = list(model["properties"])
            routes.append((method.upper(), path, in_path, in_query, body))
    return sorted(routes)


@st.composite
def requests(draw, routes):
    method, path, in_path, in_query, body = draw(st.sampled_from(routes))
    url = path
    for name in in_path:
        value = draw(TEXT.filter(bool))
        url = url.replace("{" + name + "}", quote(value, safe=""))
    query = draw(st.fixed_dictionaries({}, optional={name: TEXT for name in in_query}))
    content = None
    if method != "GET":
        fields = st.fixed_dictionaries({}, optional={name: TEXT | JSON for name in body})
        content = json.dumps(draw(fields | JSON), allow_nan=True)
    return method, url, query, content


@pytest.fixture
def clients(app):
    """One logged-in client per writing role (a fuzz example picks one)."""
    made = {}
    for role in ("assessor", "unblinded_physician", "monitor"):
        client = TestClient(app, raise_server_exceptions=False)
        response = client.post("/api/login", json={"user": role, "password": PASSWORD})
        assert response.status_code == 200
        made[role] = client
    yield made
    for client in made.values():
        client.close()


def test_the_schema_lists_the_json_routes(app):
    routes = {(method, path) for method, path, *_ in json_routes(app)}
    assert {("POST", "/api/observations"), ("POST", "/api/adverse-events")} <= routes
    assert ("GET", "/api/reveal/{patient}") in routes


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_no_json_route_answers_a_500(app, clients, data):
    method, url, query, content = data.draw(requests(json_routes(app)))
    client = clients[data.draw(st.sampled_from(sorted(clients)))]
    headers = {"content-type": "application/json"} if content is not None else {}
    response = client.request(method, url, params=query, content=content, headers=headers)
    assert response.status_code < 500, (method, url, query, content, response.text)
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        assert set(response.json()) == {"error"}, response.text
        assert {"code", "message"} <= set(response.json()["error"])
