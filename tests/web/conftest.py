"""A small conducted study for the web app: one user per role (password "demo"), a
sealed list, two enrolled patients whose visits are still to be entered."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from click.testing import CliRunner

pytest.importorskip("fastapi")  # the `web` extra; `make test` installs it

from fastapi.testclient import TestClient

from nmmstrial.cli import cli
from nmmstrial.conduct import ROLES, UNBLINDED_ROLES
from nmmstrial.web import Settings, create_app

PASSWORD = "demo"
PATIENTS = ("P01", "P02")
BLINDED = [role for role in ROLES if role not in UNBLINDED_ROLES]
# An adverse event as POST /api/adverse-events takes it; tests vary single fields.
EVENT = {
    "patient": "P01",
    "term": "headache",
    "onset": "2026-11-20",
    "end": None,
    "severity": "mild",
    "serious": False,
    "relatedness": "possible",
    "action": "none",
    "outcome": "ongoing",
}


def run(*args, **env):
    result = CliRunner().invoke(
        cli, [str(a) for a in args], env={"NMMSTRIAL_PASSWORD": PASSWORD, **env}
    )
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="session")
def template_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web-study")
    path = folder / "study.db"
    run("conduct", "init", path, "--user", "admin")
    for role in ROLES:
        if role != "admin":
            run(
                "conduct",
                "user-add",
                path,
                "--user",
                "admin",
                "--name",
                role,
                "--role",
                role,
                NMMSTRIAL_NEW_PASSWORD=PASSWORD,
            )
    # Seed fixed so the allocation (and so the leak tests' search) is the same each run.
    run(
        "design", "randomize", path, "--user", "statistician", "--n", 4, "--blocks", 2, "--seed", 11
    )
    template = json.loads(run("conduct", "eligibility-template", path, "--json").output)
    answers = {
        c["id"]: (c["kind"] == "inclusion") if c["type"] == "bool" else 4
        for c in template["criteria"]
    }
    answers_file = folder / "eligible.json"
    answers_file.write_text(json.dumps(answers))
    for patient in PATIENTS:
        run(
            "conduct",
            "enrol",
            path,
            "--user",
            "unblinded_physician",
            "--patient",
            patient,
            "--eligibility",
            answers_file,
        )
    return path


@pytest.fixture
def study_db(template_study, tmp_path):
    """A fresh copy of the template study for one test."""
    path = tmp_path / "study.db"
    shutil.copy(template_study, path)
    return path


@pytest.fixture
def settings():
    return Settings(slowdown_seconds=0.05, slowdown_max_seconds=0.2)


@pytest.fixture
def app(study_db, settings):
    return create_app(str(study_db), settings)


@pytest.fixture
def client_for(app):
    """A logged-in TestClient per role (each its own cookie jar)."""
    clients = []

    def make(role: str) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        response = client.post("/api/login", json={"user": role, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return client

    yield make
    for client in clients:
        client.close()


def today() -> str:
    return dt.date.today().isoformat()
