"""Stimulation sessions, adherence and adverse events through the CLI."""

import json

import pytest
from click.testing import CliRunner

from nmmstrial.cli import cli

ENV = {"NMMSTRIAL_PASSWORD": "demo"}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "study.db"
    assert run("simulate", "--out", path, "--seed", 2, "--patients", 4).exit_code == 0
    return path


def _session(db, number, *extra, user="unblinded_physician"):
    return run(
        "conduct",
        "session",
        db,
        "--user",
        user,
        "--patient",
        "P01",
        "--session",
        number,
        "--date",
        "2015-01-05",
        *extra,
    )


def test_sessions_adherence_and_roles(db):
    assert _session(db, 11).exit_code == 1  # the protocol has sessions 1-10
    result = _session(db, 3, "--trains", "80")
    assert result.exit_code == 1 and "mark the session incomplete" in result.output
    refused = _session(db, 3, user="assessor")
    assert refused.exit_code == 1 and "may not log stimulation sessions" in refused.output
    rows = json.loads(run("conduct", "adherence", db, "--user", "assessor", "--json").output)
    first = next(r for r in rows["adherence"] if r["patient"] == "P01")
    assert (first["sessions"], first["sessions_planned"]) == (10, 10)
    assert (first["pulses_per_arm"], first["pulses_planned"]) == (70000, 70000)
    again = _session(db, 3, "--trains", "80", "--incomplete")
    assert again.exit_code == 1 and "nothing written" in again.output  # session 3 exists


def test_adverse_event_numbers_and_validation(db):
    base = [
        "conduct",
        "adverse-event",
        db,
        "--user",
        "assessor",
        "--patient",
        "P02",
        "--term",
        "muscle cramps",
        "--onset",
        "2015-01-10",
        "--severity",
        "mild",
        "--related",
        "none",
    ]
    first = run(*base)
    assert first.exit_code == 0, first.output
    second = run(*base, "--visit", "FU3M", "--outcome", "resolved")
    assert "adverse event" in second.output
    numbers = [int(s.split("adverse event ")[1].split()[0]) for s in (first.output, second.output)]
    assert numbers[1] == numbers[0] + 1
    bad = run(*base[:-2], "--related", "magic")
    assert bad.exit_code == 2  # click names the allowed values
    assert run(*base, "--visit", "T9").exit_code == 1
    assert run("audit", "verify", db, "--user", "monitor").exit_code == 0
