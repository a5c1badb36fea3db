"""The app on PostgreSQL (CI starts a server; NMMSTRIAL_TEST_POSTGRES_URL names it)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from nmmstrial.conduct import ROLES
from nmmstrial.web import create_app

from .conftest import PASSWORD, run


@pytest.mark.postgres
def test_login_entry_conflict_and_logout_on_postgres(postgres_url, tmp_path):
    run("conduct", "init", postgres_url, "--user", "admin")
    for role in ROLES:
        if role != "admin":
            run("conduct", "user-add", postgres_url, "--user", "admin", "--name", role,
                "--role", role, NMMSTRIAL_NEW_PASSWORD=PASSWORD)  # fmt: skip
    run("design", "randomize", postgres_url, "--user", "statistician", "--n", 2, "--blocks", 2)
    template = json.loads(run("conduct", "eligibility-template", postgres_url, "--json").output)
    answers = {
        c["id"]: (c["kind"] == "inclusion") if c["type"] == "bool" else 4
        for c in template["criteria"]
    }
    (tmp_path / "eligible.json").write_text(json.dumps(answers))
    run("conduct", "enrol", postgres_url, "--user", "unblinded_physician", "--patient", "P01",
        "--eligibility", tmp_path / "eligible.json")  # fmt: skip
    app = create_app(postgres_url)
    row = {"patient": "P01", "time": "T0", "measure": "fvc_pct", "value": 80}
    with TestClient(app) as client:
        client.post("/api/login", json={"user": "assessor", "password": PASSWORD})
        assert client.get("/api/patients").json()[0]["patient"] == "P01"
        assert client.post("/api/observations", json=row).status_code == 201
        assert client.post("/api/observations", json={**row, "value": 81}).status_code == 409
        changed = client.post(
            "/api/observations", json={**row, "value": 81, "version": 1, "reason": "typo"}
        )
        assert changed.status_code == 201 and changed.json()["version"] == 2
        assert client.post("/api/logout").status_code == 200
        assert client.get("/api/patients").status_code == 401
