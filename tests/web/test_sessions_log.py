"""The stimulation session log: the unblinded physician logs sessions (date, operator,
coils, trains and pulses, interruptions) and sees adherence; every other role gets the
same 403, whatever the patient."""

from __future__ import annotations

import re

import pytest

from .conftest import BLINDED


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_the_physician_logs_a_session_and_sees_adherence(client_for):
    doctor = client_for("unblinded_physician")
    page = doctor.get("/patients/P01/sessions")
    assert page.status_code == 200 and "No session logged yet" in page.text
    form = {
        "csrf_token": csrf(page.text),
        "session": "1",
        "date": "2026-11-20",
        "operator": "Dr <b>A</b>",
        "trains": "",
        "completed": "yes",
        "interruptions": "1",
        "interruption_cause": "",
    }
    refused = doctor.post("/patients/P01/sessions", data=form)
    assert refused.status_code == 422 and "needs its cause" in refused.text
    assert 'value="Dr &lt;b&gt;A&lt;/b&gt;"' in refused.text
    saved = doctor.post(
        "/patients/P01/sessions",
        data={**form, "interruption_cause": "patient asked for a pause"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    page = doctor.get(saved.headers["location"]).text
    assert "Saved: session 1" in page and "patient asked for a pause" in page
    assert "Dr &lt;b&gt;A&lt;/b&gt;" in page
    reveal = doctor.get("/api/reveal/P01").json()
    row = re.search(r"<tr><td>1</td>(.*?)</tr>", page, re.S).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert cells[3:5] == [
        "real" if reveal["real_side"] == "left" else "sham",
        "real" if reveal["real_side"] == "right" else "sham",
    ]
    overview = doctor.get("/sessions").text
    assert re.search(r"P01</a></th>\s*<td>1 of 10</td>", overview)
    assert "of 70,000" in overview


@pytest.mark.parametrize("role", BLINDED)
def test_blinded_roles_get_one_403_that_tells_nothing(client_for, role):
    client = client_for(role)
    bodies = {
        client.get(url).text
        for url in ("/sessions", *(f"/patients/{p}/sessions" for p in ("P01", "P02", "P99")))
    }
    assert len(bodies) == 1
    (body,) = bodies
    assert client.get("/sessions").status_code == 403
    assert not re.search(r"\b(real|sham|coil)", body, re.I)
