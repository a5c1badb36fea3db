"""Stimulation sessions, adherence and adverse events through the CLI, on a study
conducted from scratch (one enrolled patient, P01), on SQLite and on PostgreSQL (when
NMMSTRIAL_TEST_POSTGRES_URL names a server; CI starts one)."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from nmmstrial.cli import cli

ENV = {"NMMSTRIAL_PASSWORD": "pw", "NMMSTRIAL_NEW_PASSWORD": "pw"}
ROLES = ("statistician", "unblinded_physician", "assessor", "monitor")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    path = (
        tmp_path / "trial.db"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    assert run("conduct", "init", path, "--user", "admin").exit_code == 0
    for role in ROLES:
        added = run("conduct", "user-add", path, "--user", "admin", "--name", role, "--role", role)
        assert added.exit_code == 0, added.output
    assert run("design", "randomize", path, "--user", "statistician", "--n", 4).exit_code == 0
    template = json.loads(run("conduct", "eligibility-template", path, "--json").output)
    answers = {
        c["id"]: (c["kind"] == "inclusion") if c["type"] == "bool" else 3
        for c in template["criteria"]
    }
    (tmp_path / "eligible.json").write_text(json.dumps(answers))
    enrolled = run(
        "conduct",
        "enrol",
        path,
        "--user",
        "unblinded_physician",
        "--patient",
        "P01",
        "--eligibility",
        tmp_path / "eligible.json",
    )
    assert enrolled.exit_code == 0, enrolled.output
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
        "2026-01-05",
        *extra,
    )


def _real_side(db):
    shown = run("conduct", "reveal", db, "--user", "unblinded_physician", "--patient", "P01")
    revealed = json.loads(
        run(
            "conduct", "reveal", db, "--user", "unblinded_physician", "--patient", "P01", "--json"
        ).output
    )
    assert shown.exit_code == 0
    return revealed["real_side"]


def _adherence(db, user):
    rows = json.loads(run("conduct", "adherence", db, "--user", user, "--json").output)
    return next(r for r in rows["adherence"] if r["patient"] == "P01")


def test_sessions_record_operator_coils_and_interruptions(db, tmp_path):
    assert _session(db, 11).exit_code == 1  # the protocol has sessions 1-10
    short = _session(db, 1, "--trains", "80")
    assert short.exit_code == 1 and "mark the session incomplete" in short.output
    no_cause = _session(db, 1, "--trains", "80", "--incomplete")
    assert no_cause.exit_code == 1 and "needs its cause" in no_cause.output
    refused = _session(db, 1, user="assessor")
    assert refused.exit_code == 1 and "may not log stimulation sessions" in refused.output

    real = _real_side(db)
    first = _session(db, 1, "--operator", "Dr. Rossi")
    assert first.exit_code == 0, first.output
    assert f"coils left {'real' if real == 'left' else 'sham'}" in first.output
    stopped = _session(
        db, 2, "--trains", "80", "--incomplete", "--interruption-cause", "coil overheating"
    )
    assert stopped.exit_code == 0, stopped.output
    assert "nothing written" in _session(db, 2).output  # session 2 is stored
    # A session with both coils sham is recorded as it happened: a protocol deviation.
    assert _session(db, 3, "--coil-left", "sham", "--coil-right", "sham").exit_code == 0

    seen = _adherence(db, "unblinded_physician")
    assert (seen["sessions"], seen["sessions_planned"]) == (3, 10)
    assert seen["pulses_per_arm"] == 7000 + 80 * 50 + 7000
    assert seen["pulses_planned"] == 70000
    assert (seen["interruptions"], seen["coil_deviations"]) == (1, 1)
    blinded = _adherence(db, "assessor")
    assert "coil_deviations" not in blinded and blinded["sessions"] == 3

    export = tmp_path / "export"
    assert run("export", db, "--out", export, "--user", "assessor").exit_code == 0
    sessions = (export / "sessions.csv").read_text()
    assert "Dr. Rossi" in sessions and "coil overheating" in sessions
    assert "coil_left" not in sessions and "real" not in sessions.lower()
    log = run("audit", "log", db, "--user", "monitor", "--patient", "P01", "--json").output
    assert "Dr. Rossi" in log and '\\"coil_left\\":\\"***\\"' in log
    assert '"real' not in log and '"sham' not in log
    assert run("audit", "verify", db, "--user", "monitor").exit_code == 0


def _event(db, *extra):
    return run(
        "conduct",
        "adverse-event",
        db,
        "--user",
        "assessor",
        "--patient",
        "P01",
        "--term",
        "muscle cramps",
        "--onset",
        "2026-01-10",
        "--severity",
        "mild",
        "--related",
        "none",
        *extra,
    )


def _update(db, *extra):
    return run(
        "conduct",
        "adverse-event-update",
        db,
        "--user",
        "assessor",
        "--patient",
        "P01",
        "--event",
        1,
        *extra,
    )


def test_adverse_events_are_numbered_validated_and_followed_up(db, tmp_path):
    first = _event(db)
    assert first.exit_code == 0, first.output
    second = _event(db, "--visit", "FU3M", "--outcome", "resolved", "--end", "2026-01-12")
    assert "adverse event 2 recorded" in second.output
    assert _event(db, "--related", "magic").exit_code == 2  # click names the allowed values
    assert _event(db, "--visit", "T9").exit_code == 1
    ended_early = _event(db, "--outcome", "resolved", "--end", "2026-01-09")
    assert ended_early.exit_code == 1 and "before the onset" in ended_early.output
    open_end = _event(db, "--end", "2026-01-12")
    assert open_end.exit_code == 1 and "--outcome resolved" in open_end.output
    ungraded = _event(db, "--related", "stimulation")
    assert ungraded.exit_code == 1 and "needs its causality" in ungraded.output
    disagree = _event(db, "--relatedness", "probable")  # related to none, yet probable
    assert disagree.exit_code == 1 and "disagree" in disagree.output
    assert _event(db, "--related", "stimulation", "--relatedness", "possible").exit_code == 0

    # Resolving the ongoing event is its follow-up: no reason needed.
    resolved = _update(db, "--end", "2026-01-20", "--action", "treatment_given")
    assert resolved.exit_code == 0, resolved.output
    assert "is resolved (action treatment_given)" in resolved.output
    # Correcting what is recorded needs a reason, and is audited with it.
    correction = _update(db, "--severity", "moderate")
    assert correction.exit_code == 1 and "needs a reason" in correction.output
    assert _update(db, "--severity", "moderate", "--reason", "source data").exit_code == 0
    assert _update(db, "--event", 9).exit_code == 1

    export = tmp_path / "export"
    assert run("export", db, "--out", export, "--user", "assessor").exit_code == 0
    events = pd.read_csv(export / "adverse_events.csv", dtype=str).set_index("event")
    assert list(events.loc["3", ["related_to", "relatedness"]]) == ["stimulation", "possible"]
    first = events.loc["1"]
    assert (first["action"], first["severity"]) == ("treatment_given", "moderate")
    # P01 has no T0 yet: no study days, but the dates as entered are kept.
    assert (first["onset_date"], first["end_date"]) == ("2026-01-10", "2026-01-20")
    assert pd.isna(first["onset_day"]) and pd.isna(first["end_day"])
    log = json.loads(run("audit", "log", db, "--user", "monitor", "--json").output)
    severity = [e for e in log if e["field"] == "severity"]
    assert [(e["old"], e["new"], e["reason"]) for e in severity] == [
        ('"mild"', '"moderate"', "source data")
    ]
    assert run("audit", "verify", db, "--user", "monitor").exit_code == 0


def test_a_locked_study_refuses_sessions_and_events_and_logs_the_attempt(db):
    assert run("conduct", "lock", db, "--user", "monitor").exit_code == 0
    assert _session(db, 1).exit_code == 1
    assert _event(db).exit_code == 1
    log = json.loads(run("audit", "log", db, "--user", "monitor", "--json").output)
    refused = [e["reason"] for e in log if e["action"] == "refused"]
    assert refused == [
        "entry after lock (session 1 of P01)",
        "entry after lock (adverse event of P01)",
    ]
    assert run("audit", "verify", db, "--user", "monitor").exit_code == 0
