"""The pages: dashboard and the visit form generated from the protocol."""

from __future__ import annotations

import html
import re

from .conftest import today

FORM = "/patients/P01/visits/T0"


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)


def hidden(text: str) -> dict[str, str]:
    """The hidden inputs of the visit form (token and versions), as a browser sends them."""
    return dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', text))


def save(client, values: dict, **extra):
    page = client.get(FORM).text
    data = {**hidden(page), "visit_date": today(), **values, **extra}
    return client.post(FORM, data=data, follow_redirects=False)


def stored(client) -> dict:
    rows = client.get("/api/observations", params={"patient": "P01", "time": "T0"}).json()
    return {(r["measure"], r["side"]): r for r in rows}


def complete_t0() -> dict[str, str]:
    values = {}
    for muscle in ("deltoid", "biceps", "triceps", "ecr", "fcr", "fdp", "edc", "apb"):
        values[f"v.mrc_{muscle}.left"] = "4"
        values[f"v.mrc_{muscle}.right"] = "5"
    for trial, kg in ((1, "20"), (2, "22"), (3, "24")):
        values[f"v.dynamometer_kg_trial{trial}.left"] = kg
        values[f"v.dynamometer_kg_trial{trial}.right"] = "18,5"
    for item in range(1, 13):
        values[f"v.alsfrs_r_q{item:02d}"] = "3"
    values["v.fvc_pct"] = "88"
    return values


def test_dashboard_shows_patients_visits_and_counts(client_for):
    page = client_for("monitor").get("/")
    assert page.status_code == 200
    for text in ("P01", "P02", "BV", "T0", "FU3M", "planned", "done"):
        assert text in page.text
    assert '<td class="count">2</td>' in page.text  # BV done for both patients


def test_the_form_is_generated_from_the_protocol(client_for):
    page = client_for("assessor").get(FORM).text
    for name in (
        "v.mrc_fcr.left",
        "v.mrc_apb.right",
        "v.dynamometer_kg_trial3.left",
        "v.alsfrs_r_q12",
        "v.fvc_pct",
        "v.cmap_apb_mv.left",
    ):
        assert f'name="{name}"' in page, name
    # Derived measures are computed, never typed; CMAP is not the assessor's.
    assert 'name="v.mrc_sum.left"' not in page and 'id="v.mrc_sum.left"' in page
    assert re.search(r'name="v\.cmap_apb_mv\.left"[^>]*disabled', page, re.S)
    assert 'name="v.alsfrs_r_q01"' in page and "0-4 points" in page
    assert 'name="csrf_token"' in page


def test_a_complete_visit_is_saved_with_totals_and_means(client_for):
    client = client_for("assessor")
    response = save(client, complete_t0())
    assert response.status_code == 303, response.text
    values = stored(client)
    assert values[("mrc_sum", "left")]["value"] == 32
    assert values[("dynamometer_kg", "left")]["value"] == 22
    assert values[("dynamometer_kg", "right")]["value"] == 18.5
    assert values[("alsfrs_r", None)]["value"] == 36
    assert values[("mrc_sum", "right")]["value"] == 40
    page = client.get(response.headers["location"]).text
    assert "Saved:" in page and "assessor, " in page  # who entered it, and when


def test_out_of_range_is_shown_at_its_field_and_nothing_is_saved(client_for):
    client = client_for("assessor")
    values = {**complete_t0(), "v.mrc_fcr.left": "6", "v.fvc_pct": "abc"}
    response = save(client, values)
    assert response.status_code == 422
    page = response.text
    error = re.search(r'id="v\.mrc_fcr\.left\.error"[^>]*>([^<]+)<', page).group(1)
    assert "0-5" in error
    assert "not a number" in re.search(r'id="v\.fvc_pct\.error"[^>]*>([^<]+)<', page).group(1)
    # The other values are kept, the wrong ones too, so they can be fixed.
    assert 'name="v.mrc_fcr.left" value="6"' in page
    assert 'name="v.alsfrs_r_q05" value="3"' in page
    assert stored(client) == {}


def test_a_changed_value_needs_a_reason(client_for):
    client = client_for("assessor")
    save(client, complete_t0())
    response = save(client, {"v.fvc_pct": "90"})
    assert response.status_code == 422
    assert "needs a reason" in response.text and "fvc_pct" in response.text
    assert stored(client)[("fvc_pct", None)]["value"] == 88
    response = save(client, {"v.fvc_pct": "90"}, reason="misread the spirometer")
    assert response.status_code == 303
    row = stored(client)[("fvc_pct", None)]
    assert (row["value"], row["version"]) == (90, 2)


def test_two_users_editing_the_same_visit_conflict(client_for):
    first, second = client_for("assessor"), client_for("assessor")
    save(first, complete_t0())
    page_a, page_b = first.get(FORM).text, second.get(FORM).text
    a = first.post(
        FORM,
        data={**hidden(page_a), "visit_date": today(), "v.fvc_pct": "91", "reason": "first"},
        follow_redirects=False,
    )
    assert a.status_code == 303
    b = second.post(
        FORM, data={**hidden(page_b), "visit_date": today(), "v.fvc_pct": "92", "reason": "second"}
    )
    assert b.status_code == 409
    assert "changed meanwhile" in b.text and "91" in b.text
    assert 'name="v.fvc_pct" value="92"' in b.text  # what the second user typed is kept
    assert stored(first)[("fvc_pct", None)]["value"] == 91


def test_roles_without_entries_see_the_form_read_only(client_for):
    page = client_for("monitor").get(FORM).text
    assert "does not enter these measures" in page
    inputs = re.findall(r'<input id="v\.[^>]*>', page, re.S)
    assert inputs and all("disabled" in tag for tag in inputs)
    assert "Save visit" not in page


def test_unknown_patient_or_visit_is_a_404_page(client_for):
    client = client_for("assessor")
    for url in ("/patients/P99/visits/T0", "/patients/P01/visits/T9"):
        response = client.get(url)
        assert response.status_code == 404
        assert "<html" in response.text and "Traceback" not in response.text


def test_user_input_is_escaped(client_for):
    client = client_for("assessor")
    response = save(client, {"v.fvc_pct": "<script>alert(1)</script>"})
    assert response.status_code == 422
    assert "<script>alert(1)</script>" not in response.text
    assert html.escape("<script>alert(1)</script>") in response.text or (
        "&lt;script&gt;" in response.text
    )


def test_pages_need_a_session(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        for url in ("/", FORM, "/audit"):
            response = client.get(url, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"] == "/login"


def test_audit_page_shows_old_and_new_values_and_reasons(client_for):
    client = client_for("assessor")
    save(client, complete_t0())
    save(client, {"v.fvc_pct": "95"}, reason="recount")
    page = client_for("monitor").get("/audit", params={"patient": "P01"}).text
    assert "recount" in page and "88.0" in page and "95.0" in page


def test_reveal_page_reveals_to_the_physician_only(client_for):
    physician = client_for("unblinded_physician")
    page = physician.get("/patients/P01/reveal").text
    shown = physician.post("/patients/P01/reveal", data={"csrf_token": csrf_of(page)})
    assert shown.status_code == 200
    assert re.search(r'id="real-side">(left|right)<', shown.text)
    assessor = client_for("assessor")
    token = csrf_of(assessor.get("/patients/P01/reveal").text)
    refusals = [
        assessor.post(f"/patients/{p}/reveal", data={"csrf_token": token}) for p in ("P01", "P99")
    ]
    assert [r.status_code for r in refusals] == [403, 403]
    assert refusals[0].text == refusals[1].text
    assert 'id="real-side"' not in refusals[0].text


def eligible_form(client, patient):
    page = client.get("/enrol").text
    data = {"csrf_token": csrf_of(page), "patient": patient}
    for name, kind in re.findall(r'name="(c\.(inc|exc)_\d+)" value="yes"', page):
        data[name] = "yes" if kind == "inc" else "no"
    for name in re.findall(r'<input id="(c\.mrc_[a-z]+_(?:left|right))"', page):
        data[name] = "4"
    return data


def test_enrolment_with_the_checklist(client_for):
    physician = client_for("unblinded_physician")
    data = eligible_form(physician, "P03")
    refused = physician.post("/enrol", data={**data, "c.exc_1": "yes"})
    assert refused.status_code == 422 and "criterion exc_1 not met" in refused.text
    assert 'id="c.exc_1.error"' in refused.text
    assert "P03" not in [r["patient"] for r in physician.get("/api/patients").json()]
    done = physician.post("/enrol", data=data)
    assert done.status_code == 200 and "P03 enrolled and randomized, sequence number" in done.text
    assert "P03" in [r["patient"] for r in physician.get("/api/patients").json()]
    assessor = client_for("assessor")
    assert assessor.post("/enrol", data=eligible_form(assessor, "P04")).status_code == 403


def test_lock_and_unblind_pages(client_for):
    monitor, admin = client_for("monitor"), client_for("admin")
    token = csrf_of(admin.get("/study").text)
    early = admin.post("/study/unblind", data={"csrf_token": token, "reason": "x"})
    assert early.status_code == 422 and "lock the database before unblinding" in early.text
    page = monitor.get("/study").text
    assert "Lock the database" in page
    locked = monitor.post(
        "/study/lock", data={"csrf_token": csrf_of(page), "reason": "LPLV"}, follow_redirects=False
    )
    assert locked.status_code == 303
    assert "Audit anchor:" in monitor.get("/study").text
    assessor = client_for("assessor")
    assert save(assessor, {"v.fvc_pct": "80"}).status_code == 423
    done = admin.post("/study/unblind", data={"csrf_token": token, "reason": "analysis"})
    assert done.status_code == 200 and "Unblinded on" in done.text


def test_audit_page_filters_and_shows_the_check(client_for):
    client = client_for("assessor")
    save(client, complete_t0())
    monitor = client_for("monitor")
    page = monitor.get("/audit", params={"user": "assessor", "table": "visits"}).text
    assert "audit verify: intact" in page
    assert "1 record." in page
    none = monitor.get("/audit", params={"since": "2999-01-01"}).text
    assert "0 records." in none


def test_emergency_unblinding_is_logged_with_its_reason(client_for):
    physician = client_for("unblinded_physician")
    token = csrf_of(physician.get("/patients/P02/reveal").text)
    shown = physician.post(
        "/patients/P02/reveal", data={"csrf_token": token, "emergency": "anaphylaxis, ICU"}
    )
    assert shown.status_code == 200 and "emergency unblinding" in shown.text
    log = client_for("monitor").get("/api/audit", params={"patient": "P02"}).json()
    reveal = [r for r in log if r["action"] == "reveal"][-1]
    assert reveal["reason"] == "emergency unblinding: anaphylaxis, ICU"
    assert reveal["new"] == "***"
