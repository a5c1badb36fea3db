"""The JSON API: its contract (shapes, statuses), through the conduct layer."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nmmstrial.cli import cli
from nmmstrial.store import open_study_db, verify_audit

from .conftest import PASSWORD

MRC = {"patient": "P01", "time": "T0", "measure": "mrc_fcr", "side": "left"}


def test_login_answers_user_and_role(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        response = client.post("/api/login", json={"user": "monitor", "password": PASSWORD})
        assert response.status_code == 200
        assert response.json() == {"user": "monitor", "role": "monitor"}
        assert client.get("/api/me").json() == {"user": "monitor", "role": "monitor"}


def test_patients_lists_visits_with_statuses(client_for):
    rows = client_for("assessor").get("/api/patients").json()
    assert [r["patient"] for r in rows] == ["P01", "P02"]
    assert [r["seq"] for r in rows] == [1, 2]
    assert set(rows[0]) == {"patient", "seq", "visits"}
    assert list(rows[0]["visits"]) == ["BV", "T0", "T1", "T2", "T3", "FU3M"]
    assert rows[0]["visits"]["BV"] == "done"
    assert set(rows[0]["visits"].values()) <= {"done", "due", "late", "missed", "planned"}


def test_first_entry_then_change_with_version_and_reason(client_for):
    client = client_for("assessor")
    first = client.post("/api/observations", json={**MRC, "value": 4})
    assert first.status_code == 201
    row = first.json()
    assert (row["value"], row["version"], row["entered_by"]) == (4.0, 1, "assessor")
    assert set(row) == {
        "patient",
        "side",
        "time",
        "measure",
        "value",
        "version",
        "entered_by",
        "entered_at",
    }
    no_reason = client.post("/api/observations", json={**MRC, "value": 3, "version": 1})
    assert no_reason.status_code == 422
    assert no_reason.json()["error"]["field"] == "reason"
    assert no_reason.json()["error"]["message"].endswith("needs a reason")  # no "(--reason)"
    changed = client.post(
        "/api/observations", json={**MRC, "value": 3, "version": 1, "reason": "re-examined"}
    )
    assert changed.status_code == 201 and changed.json()["version"] == 2
    rows = client.get("/api/observations", params={"patient": "P01", "time": "T0"}).json()
    assert [(r["measure"], r["side"], r["value"], r["version"]) for r in rows] == [
        ("mrc_fcr", "left", 3.0, 2)
    ]


def test_stale_version_is_a_conflict_naming_the_current_value(client_for):
    first, second = client_for("assessor"), client_for("assessor")
    assert first.post("/api/observations", json={**MRC, "value": 4}).status_code == 201
    assert (
        first.post(
            "/api/observations", json={**MRC, "value": 5, "version": 1, "reason": "typo"}
        ).status_code
        == 201
    )
    stale = second.post(
        "/api/observations", json={**MRC, "value": 3, "version": 1, "reason": "mine"}
    )
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert (error["code"], error["field"]) == ("conflict", "version")
    assert "now 5" in error["message"] and "assessor" in error["message"]
    assert error["current"]["value"] == 5.0 and error["current"]["version"] == 2
    # A first entry of a value someone else entered meanwhile is a conflict too.
    again = second.post("/api/observations", json={**MRC, "value": 2})
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"value": 6}, "value"),
        ({"value": "4"}, "value"),
        ({"value": True}, "value"),
        ({"patient": "P99"}, "patient"),
        ({"time": "T9"}, "time"),
        ({"time": "FU3M"}, "time"),
        ({"measure": "mrc_fcx"}, "measure"),
        ({"side": None}, "side"),
        ({"side": "both"}, "side"),
        ({"version": "1"}, "version"),
    ],
)
def test_invalid_entries_name_the_field(client_for, change, field):
    response = client_for("assessor").post("/api/observations", json={**MRC, "value": 4, **change})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["code"] == "invalid"


def test_out_of_range_names_patient_visit_measure_and_range(client_for):
    response = client_for("assessor").post("/api/observations", json={**MRC, "value": 6})
    message = response.json()["error"]["message"]
    for part in ("P01", "T0", "mrc_fcr", "0-5"):
        assert part in message


def test_nan_and_infinity_are_refused(client_for):
    client = client_for("assessor")
    for text in ("NaN", "Infinity", "-Infinity"):
        body = json.dumps({**MRC}).replace("}", f', "value": {text}}}')
        response = client.post(
            "/api/observations", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, text


@pytest.mark.parametrize("role", ["lab", "monitor", "statistician"])
def test_roles_that_do_not_enter_get_403(client_for, role):
    response = client_for(role).post("/api/observations", json={**MRC, "value": 4})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_cmap_is_the_electrophysiologists(client_for):
    cmap = {**MRC, "measure": "cmap_apb_mv", "value": 7.5}
    assert client_for("assessor").post("/api/observations", json=cmap).status_code == 403
    assert client_for("electrophysiologist").post("/api/observations", json=cmap).status_code == 201


def test_entry_after_lock_is_423_and_logged(client_for, study_db):
    client = client_for("assessor")
    result = CliRunner().invoke(
        cli,
        ["conduct", "lock", str(study_db), "--user", "monitor"],
        env={"NMMSTRIAL_PASSWORD": PASSWORD},
    )
    assert result.exit_code == 0, result.output
    response = client.post("/api/observations", json={**MRC, "value": 4})
    assert response.status_code == 423
    assert response.json()["error"]["code"] == "locked"
    assert all(
        set(r["visits"].values()) <= {"done", "locked", "missed", "late"}
        for r in client.get("/api/patients").json()
    )
    log = client_for("monitor").get("/api/audit").json()
    assert log[-1]["action"] == "refused" or any(r["action"] == "refused" for r in log)


def test_writing_routes_take_json_only(client_for):
    client = client_for("assessor")
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = client.post(
            "/api/observations", content=b"patient=P01", headers={"content-type": kind}
        )
        assert response.status_code == 415
        assert response.json()["error"]["code"] == "unsupported_media_type"
    assert client.get("/api/observations", params={"patient": "P01"}).json() == []


def test_errors_have_one_shape(client_for):
    client = client_for("assessor")
    responses = [
        client.get("/api/nowhere"),
        client.delete("/api/patients"),
        client.get("/api/observations"),
        client.post(
            "/api/observations", content=b"{no", headers={"content-type": "application/json"}
        ),
    ]
    assert [r.status_code for r in responses] == [404, 405, 422, 422]
    for response in responses:
        body = response.json()
        assert set(body) == {"error"}
        assert {"code", "message"} <= set(body["error"])
        assert "Traceback" not in response.text
    assert responses[3].json()["error"]["code"] == "invalid"


def test_reveal_is_for_the_unblinded_physician_and_logged(client_for):
    physician = client_for("unblinded_physician")
    response = physician.get("/api/reveal/P01")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"patient", "real_side", "sham_side"}
    assert {body["real_side"], body["sham_side"]} == {"left", "right"}
    log = client_for("monitor").get("/api/audit", params={"patient": "P01"}).json()
    reveals = [r for r in log if r["action"] == "reveal"]
    assert reveals and reveals[-1]["user"] == "unblinded_physician"
    assert reveals[-1]["new"] == "***"  # masked for the monitor


@pytest.mark.parametrize(
    "role", ["admin", "assessor", "electrophysiologist", "lab", "monitor", "statistician"]
)
def test_reveal_refuses_every_other_role_alike(client_for, role):
    client = client_for(role)
    bodies = {p: client.get(f"/api/reveal/{p}") for p in ("P01", "P02", "P99")}
    assert {r.status_code for r in bodies.values()} == {403}
    assert len({r.text for r in bodies.values()}) == 1


def test_audit_of_a_web_change_names_user_role_old_new_reason(client_for, study_db):
    client = client_for("assessor")
    client.post("/api/observations", json={**MRC, "value": 4})
    client.post("/api/observations", json={**MRC, "value": 3, "version": 1, "reason": "why"})
    log = client_for("monitor").get("/api/audit", params={"patient": "P01"}).json()
    update = [r for r in log if r["action"] == "update" and '"mrc_fcr"' in r["record"]][-1]
    assert (update["user"], update["role"], update["reason"]) == ("assessor", "assessor", "why")
    assert (json.loads(update["old"]), json.loads(update["new"])) == (4.0, 3.0)
    engine = open_study_db(study_db)
    with engine.connect() as connection:
        assert verify_audit(connection).ok
    engine.dispose()


def test_openapi_lists_every_route(client_for, app):
    schema = client_for("monitor").get("/api/openapi.json").json()
    paths = set(schema["paths"])
    for route in app.routes:
        path = getattr(route, "path", "")
        if path.startswith(("/static", "/api/openapi.json")) or not hasattr(route, "methods"):
            continue
        assert path in paths, path
