"""The JSON routes for the stimulation session log (`POST /api/sessions`) and the
follow-up of an adverse event (`POST /api/adverse-events/{id}`): the same services as
the pages and the CLI (`log_session`, `follow_up_adverse_event`), the same rules."""

from __future__ import annotations

import re

import pytest

from nmmstrial.conduct import ROLES
from nmmstrial.conduct.treatment import AE_ROLES, SESSION_ROLES
from nmmstrial.store import read_study

from .conftest import EVENT, run, today

SESSION = {"patient": "P01", "session": 1, "date": "2026-11-20"}


def lock(study_db) -> None:
    run("conduct", "lock", study_db, "--user", "monitor")


def audited(client_for, table: str) -> list[dict]:
    return [r for r in client_for("monitor").get("/api/audit").json() if r["table"] == table]


# Sessions


def test_the_physician_logs_a_session(client_for, study_db):
    doctor = client_for("unblinded_physician")
    stim = read_study(study_db).protocol.stimulation
    response = doctor.post("/api/sessions", json=SESSION)
    assert response.status_code == 201, response.text
    row = response.json()
    assert (row["patient"], row["session"], row["date"]) == ("P01", 1, "2026-11-20")
    assert (row["trains"], row["pulses"]) == (stim.trains, stim.trains * stim.pulses_per_train)
    assert row["completed"] is True and row["interruptions"] == 0
    assert row["operator"] == "unblinded_physician" and row["interruption_cause"] is None
    # The coils default to the allocation.
    real_side = doctor.get("/api/reveal/P01").json()["real_side"]
    assert row["coil_" + real_side] == "real"
    assert {row["coil_left"], row["coil_right"]} == {"real", "sham"}
    # The page shows it, as if logged there.
    assert "<tr><td>1</td>" in doctor.get("/patients/P01/sessions").text
    (record,) = audited(client_for, "sessions")
    assert (record["action"], record["user"]) == ("insert", "unblinded_physician")


def test_an_interrupted_incomplete_session_and_the_defaults(client_for, study_db):
    doctor = client_for("unblinded_physician")
    stim = read_study(study_db).protocol.stimulation
    body = {
        "patient": "P02",
        "session": 1,
        "operator": "Dr A",
        "trains": 2,
        "completed": False,
        "interruption_cause": "pain",
        "coil_left": "sham",
        "coil_right": "sham",
    }
    response = doctor.post("/api/sessions", json=body)
    assert response.status_code == 201, response.text
    row = response.json()
    assert row["date"] == today()  # the app's clock
    assert (row["trains"], row["pulses"]) == (2, 2 * stim.pulses_per_train)
    assert (row["completed"], row["interruptions"], row["interruption_cause"]) == (False, 1, "pain")
    assert (row["operator"], row["coil_left"], row["coil_right"]) == ("Dr A", "sham", "sham")
    # The same session again: a conflict, nothing written.
    again = doctor.post("/api/sessions", json=body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert len(audited(client_for, "sessions")) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"patient": "P99"}, "patient"),
        ({"session": 11}, "session"),
        ({"session": 0}, "session"),
        ({"session": "1"}, "session"),
        ({"trains": 999}, "trains"),
        ({"trains": 3}, "completed"),
        ({"interruptions": 1}, "interruption_cause"),
        ({"completed": False}, "interruption_cause"),
        ({"interruptions": -1}, "interruptions"),
        ({"interruptions": 2**40}, "interruptions"),
        ({"coil_left": "both"}, "coil_left"),
        ({"date": "20.11.2026"}, "date"),
        ({"completed": "no"}, "completed"),
        ({"pulses": 100}, "pulses"),
        ({"patient": None}, "patient"),
    ],
)
def test_invalid_sessions_get_422_naming_the_field(client_for, change, field):
    response = client_for("unblinded_physician").post("/api/sessions", json={**SESSION, **change})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid", field)
    assert audited(client_for, "sessions") == []


def test_the_conduct_layers_message_is_kept_without_its_command_line_hint(client_for):
    response = client_for("unblinded_physician").post(
        "/api/sessions", json={**SESSION, "interruptions": 1}
    )
    error = response.json()["error"]
    assert error["message"] == "an interrupted or incomplete session needs its cause"
    assert error["field"] == "interruption_cause"


@pytest.mark.parametrize("role", [r for r in ROLES if r not in SESSION_ROLES])
def test_other_roles_get_one_403_whatever_the_patient(client_for, role):
    client = client_for(role)
    bodies = set()
    for body in (
        SESSION,
        {**SESSION, "patient": "P02"},
        {**SESSION, "patient": "P99"},
        {**SESSION, "coil_left": "real", "coil_right": "sham"},
        {**SESSION, "session": 11},
    ):
        response = client.post("/api/sessions", json=body)
        assert response.status_code == 403, response.text
        bodies.add(response.text)
    assert len(bodies) == 1
    (body,) = bodies
    assert response.json()["error"]["code"] == "forbidden"
    assert not re.search(r"\b(real|sham|coil|P0\d|P99)", body, re.I)
    assert audited(client_for, "sessions") == []


def test_sessions_after_lock_are_423(client_for, study_db):
    doctor, assessor = client_for("unblinded_physician"), client_for("assessor")
    lock(study_db)
    response = doctor.post("/api/sessions", json=SESSION)
    assert response.status_code == 423 and response.json()["error"]["code"] == "locked"
    assert assessor.post("/api/sessions", json=SESSION).status_code == 403
    assert audited(client_for, "sessions") == []


# Follow-ups of adverse events


def test_an_event_is_resolved_then_corrected_with_a_reason(client_for):
    assessor = client_for("assessor")
    assert assessor.post("/api/adverse-events", json=EVENT).status_code == 201
    resolved = assessor.post(
        "/api/adverse-events/P01:1", json={"end": "2026-11-22", "action": "treatment_given"}
    )
    assert resolved.status_code == 200, resolved.text
    event = resolved.json()
    assert (event["id"], event["outcome"], event["end"]) == ("P01:1", "resolved", "2026-11-22")
    assert event["action"] == "treatment_given" and event["term"] == "headache"
    assert event == assessor.get("/api/adverse-events?patient=P01").json()[0]
    # Correcting a recorded value needs a reason (422 naming it); then it is audited.
    correction = {"severity": "moderate", "serious": True}
    needs = assessor.post("/api/adverse-events/P01:1", json=correction)
    assert needs.status_code == 422 and needs.json()["error"]["field"] == "reason"
    assert "needs a reason" in needs.json()["error"]["message"]
    doctor = client_for("unblinded_physician")
    done = doctor.post("/api/adverse-events/P01:1", json={**correction, "reason": "re-graded"})
    assert done.status_code == 200, done.text
    assert (done.json()["severity"], done.json()["serious"]) == ("moderate", True)
    changes = [r for r in audited(client_for, "adverse_events") if r["action"] == "update"]
    assert {(r["field"], r["user"], r["reason"]) for r in changes} >= {
        ("severity", "unblinded_physician", "re-graded"),
        ("serious", "unblinded_physician", "re-graded"),
    }
    # Reopening: outcome ongoing clears the end (a correction, so with a reason).
    reopened = assessor.post(
        "/api/adverse-events/P01:1", json={"outcome": "ongoing", "reason": "not over"}
    )
    assert (reopened.json()["outcome"], reopened.json()["end"]) == ("ongoing", None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end": "2026-11-01"}, "end"),
        ({"end": "22.11.2026"}, "end"),
        ({"end": "2026-11-22", "outcome": "ongoing"}, "outcome"),
        ({"outcome": "finished"}, "outcome"),
        ({"related_to": "none", "reason": "x"}, "relatedness"),
        ({"serious": "yes"}, "serious"),
        ({"colour": "red"}, "colour"),
        ({"term": "migraine"}, "term"),
    ],
)
def test_invalid_follow_ups_get_422_naming_the_field(client_for, change, field):
    assessor = client_for("assessor")
    assert assessor.post("/api/adverse-events", json=EVENT).status_code == 201
    response = assessor.post("/api/adverse-events/P01:1", json=change)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert [r["action"] for r in audited(client_for, "adverse_events")] == ["insert"]


@pytest.mark.parametrize("event", ["P01:2", "P99:1", "P01", "P01:x", "P01:-1", ":1", "P01:1:1"])
def test_an_unknown_event_is_404(client_for, event):
    assessor = client_for("assessor")
    assert assessor.post("/api/adverse-events", json=EVENT).status_code == 201
    response = assessor.post(f"/api/adverse-events/{event}", json={"outcome": "resolved"})
    assert response.status_code == 404, response.text
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("role", [r for r in ROLES if r not in AE_ROLES])
def test_other_roles_may_not_follow_up_whatever_the_id(client_for, role):
    assert client_for("assessor").post("/api/adverse-events", json=EVENT).status_code == 201
    client = client_for(role)
    bodies = set()
    for event in ("P01:1", "P01:2", "P99:1", "nothing"):
        response = client.post(f"/api/adverse-events/{event}", json={"outcome": "resolved"})
        assert response.status_code == 403, response.text
        bodies.add(response.text)
    assert len(bodies) == 1
    assert client_for("monitor").get("/api/adverse-events").json()[0]["outcome"] == "ongoing"


def test_follow_ups_after_lock_are_423(client_for, study_db):
    assessor = client_for("assessor")
    assert assessor.post("/api/adverse-events", json=EVENT).status_code == 201
    lock(study_db)
    response = assessor.post("/api/adverse-events/P01:1", json={"end": "2026-11-22"})
    assert response.status_code == 423 and response.json()["error"]["code"] == "locked"
    assert assessor.get("/api/adverse-events").json()[0]["outcome"] == "ongoing"


# Both


@pytest.mark.parametrize(
    ("role", "url", "body"),
    [
        ("unblinded_physician", "/api/sessions", '{"patient": "P01", "session": 1}'),
        ("assessor", "/api/adverse-events/P01:1", '{"end": "2026-11-22"}'),
    ],
)
@pytest.mark.parametrize(
    "kind", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"]
)
def test_the_writing_routes_take_json_only(client_for, role, url, body, kind):
    client = client_for(role)
    assert client_for("assessor").post("/api/adverse-events", json=EVENT).status_code == 201
    response = client.post(url, content=body, headers={"content-type": kind})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert audited(client_for, "sessions") == []
    assert client.get("/api/adverse-events").json()[0]["outcome"] == "ongoing"
