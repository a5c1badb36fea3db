"""Adverse events in the app: the JSON contract (POST / GET /api/adverse-events) and the
patient's page (list, report, follow-up), every value escaped."""

from __future__ import annotations

import re

import pytest

from .conftest import EVENT


def test_an_event_is_stored_and_listed(client_for):
    client = client_for("assessor")
    response = client.post("/api/adverse-events", json=EVENT)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["id"] == "P01:1" and stored["event"] == 1
    assert stored["term"] == "headache" and stored["related_to"] == "stimulation"
    assert stored["relatedness"] == "possible" and stored["serious"] is False
    second = client.post(
        "/api/adverse-events", json={**EVENT, "relatedness": "unrelated", "term": "cold"}
    )
    assert second.json()["id"] == "P01:2" and second.json()["related_to"] == "none"
    listed = client_for("monitor").get("/api/adverse-events", params={"patient": "P01"}).json()
    assert [e["id"] for e in listed] == ["P01:1", "P01:2"]
    assert client.get("/api/adverse-events", params={"patient": "P02"}).json() == []


def test_the_unblinded_physician_may_report_and_others_may_not(client_for):
    doctor = client_for("unblinded_physician")
    assert doctor.post("/api/adverse-events", json=EVENT).status_code == 201
    for role in ("statistician", "electrophysiologist", "lab", "monitor", "admin"):
        response = client_for(role).post("/api/adverse-events", json=EVENT)
        assert response.status_code == 403, role
        assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"severity": "fatal"}, "severity"),
        ({"relatedness": "related"}, "relatedness"),
        ({"serious": "no"}, "serious"),
        ({"onset": "20.11.2026"}, "onset"),
        ({"end": "2026-11-01", "outcome": "resolved"}, "end"),
        ({"end": "2026-11-22"}, "outcome"),
        ({"term": "   "}, "term"),
        ({"patient": "P99"}, "patient"),
        ({"related_to": "none"}, "relatedness"),
        ({"action": "amputation"}, "action"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_fields_get_422_naming_the_field(client_for, change, field):
    client = client_for("assessor")
    response = client.post("/api/adverse-events", json={**EVENT, **change})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert client.get("/api/adverse-events").json() == []


def test_a_stored_script_is_shown_as_text(client_for):
    client = client_for("assessor")
    term = "<script>alert('x')</script> & rash"
    assert client.post("/api/adverse-events", json={**EVENT, "term": term}).status_code == 201
    page = client_for("monitor").get("/patients/P01/adverse-events").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; rash" in page


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_the_form_reports_keeps_values_and_follows_up(client_for):
    client = client_for("assessor")
    page = client.get("/patients/P01/adverse-events")
    assert page.status_code == 200 and "Report an adverse event" in page.text
    token = csrf(page.text)
    form = {
        "csrf_token": token,
        "term": "tingling",
        "onset": "yesterday",
        "severity": "mild",
        "relatedness": "probable",
        "action": "none",
        "outcome": "ongoing",
    }
    refused = client.post("/patients/P01/adverse-events", data=form)
    assert refused.status_code == 422
    assert "enter the date as YYYY-MM-DD" in refused.text and 'value="tingling"' in refused.text
    saved = client.post(
        "/patients/P01/adverse-events", data={**form, "onset": "2026-11-20"}, follow_redirects=False
    )
    assert saved.status_code == 303
    (event,) = client.get("/api/adverse-events?patient=P01").json()
    assert event["related_to"] == "stimulation" and event["relatedness"] == "probable"
    # Resolving an ongoing event needs no reason; correcting the action afterwards does.
    follow = {"csrf_token": token, "event": "1", "end": "2026-11-22", "action": "treatment_given"}
    done = client.post("/patients/P01/adverse-events/follow-up", data=follow)
    assert done.status_code == 200 and "Saved: adverse event 1" in done.text
    (event,) = client.get("/api/adverse-events?patient=P01").json()
    assert event["outcome"] == "resolved" and event["action"] == "treatment_given"
    change = {"csrf_token": token, "event": "1", "action": "none"}
    needs = client.post("/patients/P01/adverse-events/follow-up", data=change)
    assert needs.status_code == 422 and "reason" in needs.text
    ok = client.post("/patients/P01/adverse-events/follow-up", data={**change, "reason": "typo"})
    assert ok.status_code == 200
    assert client.get("/api/adverse-events?patient=P01").json()[0]["action"] == "none"
    audit = client_for("monitor").get("/api/audit?patient=P01").json()
    assert any(r["table"] == "adverse_events" and r["reason"] == "typo" for r in audit)


def test_other_roles_see_the_list_without_the_form(client_for):
    page = client_for("lab").get("/patients/P01/adverse-events")
    assert page.status_code == 200 and "Report an adverse event" not in page.text
    assert client_for("lab").get("/patients/P99/adverse-events").status_code == 404
