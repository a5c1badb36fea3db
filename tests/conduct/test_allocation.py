"""Randomization, enrolment and reveal through the CLI: concealment holds for every role."""

import json

import pytest
from click.testing import CliRunner

from nmmstrial.cli import cli
from nmmstrial.design.randomization import parse_strata, randomization_list

ENV = {"NMMSTRIAL_PASSWORD": "pw", "NMMSTRIAL_NEW_PASSWORD": "pw"}
BLINDED = ("statistician", "assessor", "monitor", "lab")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


@pytest.fixture
def study(tmp_path):
    db = tmp_path / "trial.db"
    assert run("conduct", "init", db, "--user", "boss").exit_code == 0
    for role in (*BLINDED, "unblinded_physician"):
        assert (
            run(
                "conduct", "user-add", db, "--user", "boss", "--name", role, "--role", role
            ).exit_code
            == 0
        )
    return db


def _answers(tmp_path, db, **changes):
    template = json.loads(run("conduct", "eligibility-template", db, "--json").output)
    answers = {
        c["id"]: (c["kind"] == "inclusion") if c["type"] == "bool" else 3.0
        for c in template["criteria"]
    }
    answers.update(changes)
    path = tmp_path / f"answers-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(answers))
    return path


def test_list_is_balanced_blocked_and_reproducible():
    one = randomization_list(22, blocks=(2, 4), seed=11)
    again = randomization_list(22, blocks=(2, 4), seed=11)
    assert one.entries.equals(again.entries) and one.sha256 == again.sha256
    assert (one.entries.real_side.value_counts() == 11).all()
    for _, block in one.entries.groupby("block"):
        assert (block.real_side == "left").sum() == (block.real_side == "right").sum()
        assert len(block) == block.block_size.iloc[0]
    strata = randomization_list(8, strata=parse_strata("site=A,B;onset=left,right"), seed=1)
    assert len(strata.entries) == 4 * 8
    assert set(strata.balance()["real_left"]) == {4}


def test_summary_never_shows_the_sequence(study):
    result = run(
        "design", "randomize", study, "--user", "statistician", "--n", 10, "--seed", 3, "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert set(summary) >= {"n", "blocks", "strata", "balance", "sha256"}
    assert "real_side" not in result.output and "left" not in json.dumps(summary["sha256"])
    assert run("design", "randomize", study, "--user", "assessor", "--n", 10).exit_code == 1


def test_only_the_unblinded_physician_sees_the_list_and_the_reveal(study, tmp_path):
    assert (
        run("design", "randomize", study, "--user", "statistician", "--n", 6, "--seed", 3).exit_code
        == 0
    )
    enrol = run(
        "conduct",
        "enrol",
        study,
        "--user",
        "unblinded_physician",
        "--patient",
        "P01",
        "--eligibility",
        _answers(tmp_path, study),
    )
    assert enrol.exit_code == 0, enrol.output
    assert "sequence number 1" in enrol.output
    assert "left" not in enrol.output and "right" not in enrol.output
    shown = json.loads(
        run("design", "show-list", study, "--user", "unblinded_physician", "--json").output
    )
    assert [e["seq"] for e in shown["entries"]] == [1, 2, 3, 4, 5, 6]
    assert shown["entries"][0]["patient"] == "P01"
    revealed = json.loads(
        run(
            "conduct",
            "reveal",
            study,
            "--user",
            "unblinded_physician",
            "--patient",
            "P01",
            "--json",
        ).output
    )
    assert revealed["real_side"] == shown["entries"][0]["real_side"]
    assert {revealed["real_side"], revealed["sham_side"]} == {"left", "right"}
    for role in BLINDED:
        for args in (
            ("design", "show-list", study),
            ("conduct", "reveal", study, "--patient", "P01"),
        ):
            result = run(*args, "--user", role)
            assert result.exit_code == 1
            assert "left" not in result.output and "right" not in result.output
        log = run("audit", "log", study, "--user", role, "--json").output
        assert '"left"' not in log and '"right"' not in log
    log = json.loads(run("audit", "log", study, "--user", "monitor", "--json").output)
    assert [r["action"] for r in log].count("reveal") == 1
    assert [r["action"] for r in log].count("read") == 1
    assert run("audit", "verify", study, "--user", "monitor").exit_code == 0


def test_ineligible_patient_is_not_randomized(study, tmp_path):
    assert run("design", "randomize", study, "--user", "statistician", "--n", 4).exit_code == 0
    bad = _answers(tmp_path, study, exc_1=True)
    result = run(
        "conduct",
        "enrol",
        study,
        "--user",
        "unblinded_physician",
        "--patient",
        "P01",
        "--eligibility",
        bad,
    )
    assert result.exit_code == 1
    assert "criterion exc_1 not met" in result.output
    weak = _answers(tmp_path, study, mrc_fcr_left=5.0, mrc_fdp_left=2.0)
    result = run(
        "conduct",
        "enrol",
        study,
        "--user",
        "unblinded_physician",
        "--patient",
        "P01",
        "--eligibility",
        weak,
    )
    assert result.exit_code == 1 and "not eligible" in result.output
    good = _answers(tmp_path, study)
    first = run(
        "conduct",
        "enrol",
        study,
        "--user",
        "unblinded_physician",
        "--patient",
        "P01",
        "--eligibility",
        good,
    )
    assert "sequence number 1" in first.output
    again = run(
        "conduct",
        "enrol",
        study,
        "--user",
        "unblinded_physician",
        "--patient",
        "P01",
        "--eligibility",
        good,
    )
    assert again.exit_code == 1 and "already enrolled" in again.output
