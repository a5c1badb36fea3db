"""The study commands end to end on a temporary directory, through the real CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from nmmstrial.cli import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_simulate_export_report(tmp_path):
    db = tmp_path / "study.db"
    result = run("simulate", "--out", db, "--seed", 4, "--patients", 8)
    assert result.exit_code == 0, result.output
    assert db.exists()

    result = run("export", db, "--out", tmp_path / "export")
    assert result.exit_code == 0, result.output
    patients = pd.read_csv(tmp_path / "export" / "patients.csv")
    assert len(patients) == 8
    for column in ("patient", "age", "sex", "disease_duration_months", "alsfrs_r", "fvc_pct"):
        assert column in patients.columns
    obs = pd.read_csv(tmp_path / "export" / "observations.csv")
    assert list(obs.columns) == ["patient", "side", "time", "measure", "value", "arm"]
    assert (tmp_path / "export" / "dictionary.csv").exists()

    result = run("report", db, "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "report" / "index.html").read_text()
    assert "seed 4" in html


def test_same_seed_gives_byte_identical_exports(tmp_path):
    outputs = []
    for name, seed in (("a", 9), ("b", 9), ("c", 10)):
        db = tmp_path / f"{name}.db"
        assert run("simulate", "--out", db, "--seed", seed).exit_code == 0
        assert run("export", db, "--out", tmp_path / name).exit_code == 0
        files = sorted((tmp_path / name).iterdir())
        outputs.append({f.name: f.read_bytes() for f in files})
    assert outputs[0] == outputs[1]
    assert outputs[0]["observations.csv"] != outputs[2]["observations.csv"]


def test_demo_writes_study_and_report(tmp_path):
    out = tmp_path / "demo"
    result = run("demo", "--out", out, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str((out / "index.html").resolve())
    assert "password: demo" in result.stderr
    assert (out / "study.db").exists()
    assert (out / "figures" / "strength.svg").exists()


def test_existing_database_is_not_overwritten(tmp_path):
    db = tmp_path / "study.db"
    assert run("simulate", "--out", db, "--seed", 1).exit_code == 0
    before = db.read_bytes()
    result = run("simulate", "--out", db, "--seed", 2)
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert db.read_bytes() == before
    assert run("simulate", "--out", db, "--seed", 2, "--force").exit_code == 0


def test_missing_database_is_one_line_no_traceback_nothing_written(tmp_path):
    missing = tmp_path / "absent.db"
    for args in (
        ["export", missing, "--out", tmp_path / "x"],
        ["report", missing, "--out", tmp_path / "y"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "nmmstrial.cli", *map(str, args)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 1
        assert proc.stderr.startswith(f"Error: {missing}: no such study database")
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not missing.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_bad_protocol_for_simulate_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmrc_scale: decimal\n")
    db = tmp_path / "study.db"
    result = run("simulate", "--out", db, "--seed", 1, "--protocol", bad)
    assert result.exit_code == 1
    assert "mrc_scale" in result.output
    assert not db.exists()
    assert [p.name for p in Path(tmp_path).iterdir()] == ["bad.yaml"]


def test_analyze_writes_csv_and_json(tmp_path):
    db = tmp_path / "study.db"
    assert run("simulate", "--out", db, "--seed", 5).exit_code == 0
    result = run("analyze", db, "--plan", "recommended", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["plan"] == "recommended"
    assert (tmp_path / "out" / "analysis-recommended.csv").exists()
    saved = json.loads((tmp_path / "out" / "analysis-recommended.json").read_text())
    assert saved == data
    result = run("analyze", db, "--plan", "paper")
    assert result.exit_code == 0
    assert "Mann-Whitney U" in result.output
    assert "p = 0.71" in result.output


def test_export_is_blinded_unless_an_unblinded_user_asks(tmp_path):
    db = tmp_path / "study.db"
    assert run("simulate", "--out", db, "--seed", 3).exit_code == 0
    env = {"NMMSTRIAL_PASSWORD": "demo"}
    for user, blinded in (("assessor", True), ("unblinded_physician", False), (None, True)):
        out = tmp_path / f"export-{user}"
        args = ["export", str(db), "--out", str(out)] + (["--user", user] if user else [])
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        arms = set(pd.read_csv(out / "observations.csv")["arm"].dropna())
        assert arms == ({"X", "Y"} if blinded else {"real", "sham"})
        assert (out / "allocation.csv").exists() is not blinded
    bad = CliRunner().invoke(
        cli,
        ["export", str(db), "--out", str(tmp_path / "x"), "--user", "assessor"],
        env={"NMMSTRIAL_PASSWORD": "nope"},
    )
    assert bad.exit_code == 1
    assert not (tmp_path / "x").exists()
