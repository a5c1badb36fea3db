"""The study report in the app: as `report --user` writes it, X / Y for blinded roles."""

from __future__ import annotations

import re

import pytest

from .conftest import BLINDED


@pytest.mark.parametrize("role", ["statistician", "unblinded_physician"])
def test_the_report_is_served_for_each_audience(client_for, role):
    client = client_for(role)
    response = client.get("/report")
    assert response.status_code == 200, response.text[:2000]
    assert "img-src data:" in response.headers["content-security-policy"]
    arms = re.search(r"<dt>Arms</dt><dd>(.*?)</dd>", response.text).group(1)
    assert arms == ("X / Y" if role in BLINDED else "real / sham")


def test_assessors_get_the_coded_report_until_unblinding(client_for):
    assert "<dd>X / Y</dd>" in client_for("assessor").get("/report").text


def test_the_dashboard_shows_the_flow_in_patients_only(client_for):
    doctor = client_for("unblinded_physician")
    page = doctor.get("/patients/P01/sessions").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token, "session": "1", "date": "2026-11-20", "completed": "yes"}
    assert doctor.post("/patients/P01/sessions", data=form).status_code == 200
    dashboard = client_for("assessor").get("/").text
    flow = dict(
        re.findall(
            r'<tr id="flow-(\w+)"><th scope="row">[^<]*</th><td class="count">(\d+)', dashboard
        )
    )
    assert flow["enrolled"] == flow["randomized"] == flow["visit_BV"] == "2"
    assert flow["stimulation_started"] == "1" and flow["treated"] == "0"
    assert flow["visit_T0"] == "0"
