"""Blinding holds in the browser: for every blinded role, every page and endpoint
answers exactly the same on two studies that differ only in their allocation, and no
answer (body, headers, cookies) says real or sham.

The comparison is the strong test: a side name (left / right) is on every visit form,
so a search for it proves nothing, while any answer that depends on the allocation
differs between the two studies.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
import sqlite3

import pytest
from fastapi.testclient import TestClient

from nmmstrial.store import open_study_db, verify_audit
from nmmstrial.store.audit import _ENTRY_COLUMNS as ENTRY_COLUMNS
from nmmstrial.store.audit import GENESIS, AuditEntry, entry_hash
from nmmstrial.web import Settings, create_app

from .conftest import BLINDED, EVENT, PASSWORD

NOON = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
TOKENS = re.compile(r'(name="csrf_token" value=")[^"]+(")|(nmmstrial_\w+=)[^;]+')
WORDS = re.compile(r"\b(real|sham)\b", re.I)
EVENT = {**EVENT, "term": "local redness", "side": "left"}


def flipped(path, out, *, codes=False):
    """A copy of the study with every allocated side the other way round, its audit
    trail rewritten to match and re-chained, so that it verifies like the original.

    With `codes`, the X / Y code of the real arm is swapped too: the arm coded X is then
    on the same side as in the original, so a report coded X / Y reads the same, while
    anything that tells which code or side is real differs."""
    shutil.copy(path, out)
    swap = {"left": "right", "right": "left"}
    swap_code = {"X": "Y", "Y": "X"}
    with sqlite3.connect(out) as connection:
        connection.execute(
            "UPDATE allocation SET real_side = CASE real_side WHEN 'left' THEN 'right' "
            "ELSE 'left' END"
        )
        if codes:
            connection.execute(
                "UPDATE allocation SET real_code = CASE real_code WHEN 'X' THEN 'Y' "
                "WHEN 'Y' THEN 'X' END"
            )
        columns = ["seq", *(f'"{c}"' if c == "user" else c for c in ENTRY_COLUMNS)]
        rows = connection.execute(f"SELECT {', '.join(columns)} FROM audit ORDER BY seq").fetchall()
        prev = GENESIS
        for seq, *fields in rows:
            entry = AuditEntry(*fields)
            if entry.table == "allocation" and entry.new and entry.new.startswith("{"):
                values = json.loads(entry.new)
                values["real_side"] = swap[values["real_side"]]
                if codes and values.get("real_code") in swap_code:
                    values["real_code"] = swap_code[values["real_code"]]
                entry = dataclasses.replace(
                    entry, new=json.dumps(values, sort_keys=True, separators=(",", ":"))
                )
            elif entry.action == "reveal" and entry.new in swap:
                entry = dataclasses.replace(entry, new=swap[entry.new])
            digest = entry_hash(seq, entry, prev)
            connection.execute(
                "UPDATE audit SET new = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (entry.new, prev, digest, seq),
            )
            prev = digest
    connection.close()
    return out


@pytest.fixture
def twins(study_db, tmp_path):
    """Three apps, same data and clock: the original, its allocation flipped, and its
    allocation and arm codes flipped (X on the same sides); the physician revealed P01
    and logged its first session."""
    apps = []
    paths = (
        study_db,
        flipped(study_db, tmp_path / "flipped.db"),
        flipped(study_db, tmp_path / "flipped-codes.db", codes=True),
    )
    for path in paths:
        app = create_app(str(path), Settings(clock=lambda: NOON))
        with TestClient(app) as client:
            client.post("/api/login", json={"user": "unblinded_physician", "password": PASSWORD})
            client.get("/api/reveal/P01")
            # A session logged: its coils (sealed) differ between the twins.
            page = client.get("/patients/P01/sessions").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            form = {"csrf_token": token, "session": "1", "date": "2026-11-20", "completed": "yes"}
            logged = client.post("/patients/P01/sessions", data=form, follow_redirects=False)
            assert logged.status_code == 303, logged.text
            client.post("/api/logout")
        apps.append(app)
    return apps


def requests_for(app) -> list[tuple[str, str, dict]]:
    """Every GET route of the app with its path parameters filled, plus failed requests."""
    calls = []
    # From the schema: it lists every route (app.routes holds included routers as such).
    paths = [path for path, ops in app.openapi()["paths"].items() if "get" in ops]
    assert len(paths) > 10 and "/" in paths
    for path in paths:
        url = path.replace("{patient}", "P01").replace("{time}", "T0")
        calls.append(("GET", url, {}))
        if "{patient}" in path:
            calls.append(("GET", path.replace("{patient}", "P02").replace("{time}", "T0"), {}))
            calls.append(("GET", path.replace("{patient}", "P99").replace("{time}", "T0"), {}))
    calls += [
        ("GET", "/api/observations?patient=P01", {}),
        ("GET", "/api/audit?patient=P01", {}),
        ("GET", "/audit?patient=P01", {}),
        ("GET", "/static/style.css", {}),
        ("GET", "/static/app.js", {}),
        (
            "POST",
            "/api/observations",
            {
                "json": {
                    "patient": "P01",
                    "time": "T0",
                    "measure": "mrc_fcr",
                    "side": "left",
                    "value": 9,
                }
            },
        ),
        (
            "POST",
            "/api/observations",
            {"json": {"patient": "P01", "time": "T0", "measure": "mrc_fcr", "value": 3}},
        ),
        ("POST", "/api/adverse-events", {"json": EVENT}),
        ("POST", "/api/adverse-events", {"json": {**EVENT, "severity": "x"}}),
        ("GET", "/api/adverse-events?patient=P01", {}),
        ("GET", "/patients/P01/adverse-events", {}),
        ("POST", "/patients/P01/sessions", {"data": {}}),
        # The JSON session log: the same 403 for a new session, one logged (whose coils
        # differ between the twins), an unknown patient and an invalid body.
        ("POST", "/api/sessions", {"json": {"patient": "P01", "session": 2}}),
        ("POST", "/api/sessions", {"json": {"patient": "P01", "session": 1}}),
        ("POST", "/api/sessions", {"json": {"patient": "P02", "session": 1, "coil_left": "real"}}),
        ("POST", "/api/sessions", {"json": {"patient": "P99", "session": 1}}),
        ("POST", "/api/sessions", {"json": {"patient": "P01", "session": "x"}}),
        # Follow-ups: of the event reported above (the assessor's), refused, unknown.
        ("POST", "/api/adverse-events/P01:1", {"json": {"end": "2026-11-22"}}),
        ("POST", "/api/adverse-events/P01:1", {"json": {"severity": "severe"}}),
        ("POST", "/api/adverse-events/P01:9", {"json": {"outcome": "resolved"}}),
        ("POST", "/api/adverse-events/P99:1", {"json": {"outcome": "resolved"}}),
        ("GET", "/api/adverse-events?patient=P01", {}),
    ]
    return calls


def answer(client, method, url, kwargs) -> str:
    response = client.request(method, url, **kwargs)
    headers = "\n".join(f"{k}: {v}" for k, v in sorted(response.headers.items()))
    return TOKENS.sub(
        lambda m: (m.group(1) or m.group(3) or "") + "~" + (m.group(2) or ""),
        f"{response.status_code}\n{headers}\n{response.text}",
    )


# Answers coded X / Y (the study report): the same on the twins whose X arm is on the
# same sides, and without the arms' names in a contrast or the sealed side. "real" and
# "sham" may appear there as design words (each patient has one real and one sham arm).
CODED = {("GET", "/report")}
CODED_LEAKS = re.compile(r"real - sham|sham - real|real_side|, real arm|, sham arm|real on the")


@pytest.mark.parametrize("role", BLINDED)
def test_no_answer_to_a_blinded_role_depends_on_the_allocation(twins, role):
    answers = []
    for app in twins:
        with TestClient(app, raise_server_exceptions=False) as client:
            login = answer(
                client, "POST", "/api/login", {"json": {"user": role, "password": PASSWORD}}
            )
            got = {}
            for method, url, kwargs in requests_for(app):
                key = (method, url)
                while key in got:  # the same route again, with another body
                    key = (method, key[1] + "#")
                got[key] = answer(client, method, url, kwargs)
            got[("POST", "/api/login")] = login
        answers.append(got)
    a, b, c = answers
    assert a.keys() == b.keys() == c.keys()
    assert a.keys() >= CODED
    # The JSON writes reached the rules they are meant to test (not a 401 or 415).
    statuses = {key: int(text[:3]) for key, text in a.items()}
    sessions = [v for (_, url), v in statuses.items() if url.startswith("/api/sessions")]
    assert sessions == [403, 403, 403, 403, 422]
    follow = [v for (_, url), v in statuses.items() if url.startswith("/api/adverse-events/")]
    assert follow == ([200, 422, 404, 404] if role == "assessor" else [403] * 4)
    for key in a:
        assert a[key] == c[key], f"{role}: {key} depends on the allocation"
        if key in CODED:
            assert "X / Y" in a[key] and not CODED_LEAKS.search(a[key]), f"{role}: {key}"
            continue
        assert a[key] == b[key], f"{role}: {key} depends on the allocation"
        assert not WORDS.search(a[key]), f"{role}: {key} says {WORDS.search(a[key]).group()}"


def test_the_coded_report_follows_the_sides_coded_x(twins):
    """The control of CODED: with values entered, a blinded report changes when the arm
    coded X changes side, and reads the same when only which code is real changes."""
    pages = []
    for app in twins:
        with TestClient(app) as client:
            client.post("/api/login", json={"user": "assessor", "password": PASSWORD})
            # Unequal per patient: the two arms' means differ whatever the sides.
            for patient, values in (("P01", (5, 1)), ("P02", (4, 4))):
                for side, value in zip(("left", "right"), values, strict=True):
                    entry = {"patient": patient, "time": "T0", "measure": "mrc_fcr"}
                    response = client.post(
                        "/api/observations", json={**entry, "side": side, "value": value}
                    )
                    assert response.status_code == 201, response.text
            client.post("/api/logout")
            client.post("/api/login", json={"user": "statistician", "password": PASSWORD})
            pages.append(client.get("/report").text)
    assert pages[0] != pages[1]
    assert pages[0] == pages[2]


def test_the_twins_verify_and_differ_for_the_unblinded_physician(twins):
    for app in twins:
        engine = open_study_db(app.state.target)
        with engine.connect() as connection:
            assert verify_audit(connection).ok
        engine.dispose()
    sides = []
    for app in twins:
        with TestClient(app) as client:
            client.post("/api/login", json={"user": "unblinded_physician", "password": PASSWORD})
            sides.append(client.get("/api/reveal/P01").json()["real_side"])
    assert sides[0] != sides[1] == sides[2]
    codes = []
    for app in twins:
        with sqlite3.connect(app.state.target) as connection:
            codes.append(connection.execute("SELECT DISTINCT real_code FROM allocation").fetchall())
        connection.close()
    assert codes[0] == codes[1] != codes[2]
