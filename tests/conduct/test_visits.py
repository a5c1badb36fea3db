"""The visit schedule, through the CLI, on a study conducted from scratch."""

import datetime as dt
import json

import pandas as pd
from click.testing import CliRunner

from nmmstrial.cli import cli
from nmmstrial.conduct.visits import visit_schedule
from nmmstrial.protocol import reference_protocol

ENV = {"NMMSTRIAL_PASSWORD": "pw", "NMMSTRIAL_NEW_PASSWORD": "pw"}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


def test_schedule_policy_on_a_table():
    protocol = reference_protocol()
    patients = pd.DataFrame({"patient": ["P01"], "enrolled_on": ["2026-01-01"]})
    visits = pd.DataFrame(
        {
            "patient": ["P01", "P01", "P01"],
            "time": ["T0", "T1", "T2"],
            "date": ["2026-01-08", "2026-01-20", None],
            "status": ["done", "done", "missed"],
        }
    )
    schedule = visit_schedule(protocol, patients, visits, dt.date(2026, 2, 20)).set_index("time")
    assert schedule.loc["BV", "status"] == "done"  # enrolment is the screening visit
    assert schedule.loc["T0", "target_date"] == "2026-01-08"
    assert schedule.loc["T0", "status"] == "done"
    assert schedule.loc["T1", "status"] == "late"  # done on day 12, window 6-8
    assert schedule.loc["T2", "status"] == "missed"
    assert schedule.loc["T3", "target_date"] == "2026-02-21"
    assert schedule.loc["T3", "status"] == "due"  # window 18-24 Feb
    assert schedule.loc["FU3M", "status"] == "upcoming"
    later = visit_schedule(protocol, patients, visits, dt.date(2026, 3, 20)).set_index("time")
    assert later.loc["T3", "status"] == "late"  # closed 24 Feb, under 30 days ago
    assert (
        visit_schedule(protocol, patients, visits, dt.date(2026, 5, 1))
        .set_index("time")
        .loc["T3", "status"]
        == "missed"
    )


def test_entering_a_visit_records_it_and_the_schedule_follows(tmp_path):
    db = tmp_path / "trial.db"
    assert run("conduct", "init", db, "--user", "boss").exit_code == 0
    for role in ("statistician", "unblinded_physician", "assessor"):
        assert (
            run(
                "conduct", "user-add", db, "--user", "boss", "--name", role, "--role", role
            ).exit_code
            == 0
        )
    assert run("design", "randomize", db, "--user", "statistician", "--n", 4).exit_code == 0
    template = json.loads(run("conduct", "eligibility-template", db, "--json").output)
    answers = {
        c["id"]: (c["kind"] == "inclusion") if c["type"] == "bool" else 3
        for c in template["criteria"]
    }
    (tmp_path / "a.json").write_text(json.dumps(answers))
    assert (
        run(
            "conduct",
            "enrol",
            db,
            "--user",
            "unblinded_physician",
            "--patient",
            "P01",
            "--eligibility",
            tmp_path / "a.json",
        ).exit_code
        == 0
    )
    result = run(
        "conduct",
        "assess",
        db,
        "--user",
        "assessor",
        "--patient",
        "P01",
        "--visit",
        "T0",
        "--measure",
        "mrc_fcr",
        "--side",
        "left",
        "--value",
        4,
        "--date",
        "2026-03-02",
    )
    assert result.exit_code == 0, result.output
    out = run("conduct", "visits", db, "--user", "assessor", "--today", "2026-03-10", "--json")
    visits = {v["time"]: v for v in json.loads(out.output)["visits"]}
    assert visits["T0"]["status"] == "done" and visits["T0"]["date"] == "2026-03-02"
    assert visits["T1"]["target_date"] == "2026-03-09"
    assert visits["T1"]["status"] == "due"
    assert run("audit", "verify", db, "--user", "assessor").exit_code == 0
