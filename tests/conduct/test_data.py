"""Entering, correcting, importing, locking and unblinding, through the CLI, on SQLite
and on PostgreSQL (when NMMSTRIAL_TEST_POSTGRES_URL names a server; CI starts one)."""

import json

import pytest
from click.testing import CliRunner

from nmmstrial.cli import cli
from nmmstrial.store import read_study

ENV = {"NMMSTRIAL_PASSWORD": "demo"}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    target = (
        tmp_path / "study.db"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    assert run("simulate", "--out", target, "--seed", 4, "--patients", 6).exit_code == 0
    return target


def assess(db, user, patient, visit, measure, side, value, *extra):
    """`conduct assess` as the user at the terminal types it."""
    fields = ("--user", user, "--patient", patient, "--visit", visit, "--measure", measure)
    return run("conduct", "assess", db, *fields, "--side", side, "--value", value, *extra)


def _value(path, patient, time, measure, side):
    obs = read_study(path).observations
    hit = obs[
        (obs.patient == patient)
        & (obs.time == time)
        & (obs.measure == measure)
        & (obs.side == side)
    ]
    return float(hit["value"].iloc[0])


def test_out_of_range_names_patient_visit_measure_and_range(db):
    before = read_study(db).observations
    result = assess(db, "assessor", "P01", "T1", "mrc_fcr", "left", 6)
    assert result.exit_code == 1
    assert "(P01, T1, left), field mrc_fcr: 6 is outside 0-5" in result.output
    assert read_study(db).observations.equals(before)


def test_a_change_needs_a_reason_and_is_audited(db):
    old = _value(db, "P01", "T1", "mrc_fcr", "left")
    new = 1.0 if old != 1.0 else 2.0
    args = (db, "assessor", "P01", "T1", "mrc_fcr", "left", new)
    result = assess(*args)
    assert result.exit_code == 1 and "needs a reason" in result.output
    assert assess(*args, "--reason", "re-examined").exit_code == 0
    assert _value(db, "P01", "T1", "mrc_fcr", "left") == new
    log = json.loads(
        run("audit", "log", db, "--user", "monitor", "--patient", "P01", "--json").output
    )
    last = [r for r in log if '"mrc_fcr"' in (r["record"] or "")][-1]  # then its total
    assert (last["action"], last["field"], last["reason"]) == ("update", "value", "re-examined")
    assert (json.loads(last["old"]), json.loads(last["new"])) == (old, new)
    assert run("audit", "verify", db, "--user", "monitor").exit_code == 0


def test_role_decides_who_enters_what(db):
    result = assess(db, "assessor", "P01", "T2", "cmap_apb_mv", "left", 3)
    assert result.exit_code == 1
    assert "assessor (assessor) may not enter cmap_apb_mv; allowed: electrophysiologist" in (
        result.output
    )


def test_import_is_all_or_nothing(db, tmp_path):
    csv = tmp_path / "visit.csv"
    csv.write_text(
        "patient,time,measure,side,value\nP02,T1,dynamometer_kg,left,20.5\nP02,T1,mrc_fcr,right,9\n"
    )
    before = read_study(db).observations
    result = run("conduct", "import", db, csv, "--user", "assessor")
    assert result.exit_code == 1
    assert "row 2 (P02, T1, right), field mrc_fcr: 9 is outside 0-5" in result.output
    assert read_study(db).observations.equals(before)


def test_lock_refuses_entries_and_logs_the_attempt_then_unblind(db, tmp_path):
    assert run("conduct", "unblind", db, "--user", "admin", "--reason", "x").exit_code == 1
    result = run("conduct", "lock", db, "--user", "assessor")
    assert result.exit_code == 1 and "may not lock" in result.output
    assert run("conduct", "lock", db, "--user", "monitor", "--reason", "LPLV").exit_code == 0
    result = assess(db, "assessor", "P01", "T1", "mrc_fcr", "left", 3, "--reason", "x")
    assert result.exit_code == 1 and "locked" in result.output
    log = json.loads(run("audit", "log", db, "--user", "monitor", "--json").output)
    assert log[-1]["action"] == "refused"
    assert run("audit", "verify", db, "--user", "monitor").exit_code == 0
    # Before unblinding, a blinded user's export shows codes; after it, the arms.
    out = CliRunner().invoke(
        cli,
        ["export", str(db), "--out", str(tmp_path / "a"), "--user", "statistician"],
        env=ENV,
    )
    assert out.exit_code == 0
    assert not (tmp_path / "a" / "allocation.csv").exists()
    assert (
        run("conduct", "unblind", db, "--user", "admin", "--reason", "final analysis").exit_code
        == 0
    )
    out = CliRunner().invoke(
        cli,
        ["export", str(db), "--out", str(tmp_path / "b"), "--user", "statistician"],
        env=ENV,
    )
    assert out.exit_code == 0
    assert (tmp_path / "b" / "allocation.csv").exists()


def test_report_for_a_blinded_role_shows_codes_only(db, tmp_path):
    blinded = CliRunner().invoke(
        cli, ["report", str(db), "--out", str(tmp_path / "b"), "--user", "assessor"], env=ENV
    )
    assert blinded.exit_code == 0, blinded.output
    page = (tmp_path / "b" / "index.html").read_text()
    assert "real - sham" not in page and ">real<" not in page
    assert "X - Y" in page or "Y - X" in page
    unblinded = CliRunner().invoke(
        cli,
        ["report", str(db), "--out", str(tmp_path / "u"), "--user", "unblinded_physician"],
        env=ENV,
    )
    assert unblinded.exit_code == 0
    assert "real - sham" in (tmp_path / "u" / "index.html").read_text()


def test_correcting_a_component_recomputes_its_total(db):
    before = _value(db, "P01", "T1", "mrc_sum", "left")
    old = _value(db, "P01", "T1", "mrc_fcr", "left")
    new = 1.0 if old != 1.0 else 2.0
    result = assess(db, "assessor", "P01", "T1", "mrc_fcr", "left", new, "--reason", "re-examined")
    assert result.exit_code == 0, result.output
    assert _value(db, "P01", "T1", "mrc_sum", "left") == before - old + new
    trials = ["dynamometer_kg_trial1", "dynamometer_kg_trial2", "dynamometer_kg_trial3"]
    values = [_value(db, "P01", "T2", m, "right") for m in trials]
    result = assess(
        db, "assessor", "P01", "T2", trials[0], "right", values[0] + 3, "--reason", "misread dial"
    )
    assert result.exit_code == 0, result.output
    mean = round((values[0] + 3 + values[1] + values[2]) / 3, 2)
    assert _value(db, "P01", "T2", "dynamometer_kg", "right") == pytest.approx(mean)
    log = json.loads(
        run("audit", "log", db, "--user", "monitor", "--patient", "P01", "--json").output
    )
    assert log[-1]["reason"] == f"recomputed from {trials[0]}"
    assert run("audit", "verify", db, "--user", "monitor").exit_code == 0
