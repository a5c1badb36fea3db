"""Blinding holds: every route a blinded role has to the data shows arm codes only.

For each blinded role, on a simulated (hence fully conducted) study: the export, the
report, the analysis plans, the qPCR comparison, the audit log, the list and the
reveal. The unblinded physician is the control: the same routes do name the arms.
"""

import json
import re

import pytest
from click.testing import CliRunner

from nmmstrial.cli import cli

ENV = {"NMMSTRIAL_PASSWORD": "demo"}
BLINDED = ("statistician", "assessor", "electrophysiologist", "lab", "monitor", "admin")
ARM_WORDS = re.compile(r"\b(real|sham)\b", re.IGNORECASE)
# What would tell the allocation: a contrast or an arm named, the sealed side, or the
# codes in an order that follows real / sham rather than their own (Y before X).
ARM_CONTRASTS = re.compile(
    r"real - sham|sham - real|, real arm|, sham arm|real_side|Y - X|Y / X|Y vs X"
    r'|class="arm">Y</th>\s*<th colspan="3" class="arm">X'  # a table with Y before X
)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    path = tmp_path_factory.mktemp("blind") / "study.db"
    assert run("simulate", "--out", path, "--seed", 12, "--patients", 8).exit_code == 0
    return path


def _routes(study, out, user):
    refs = ["--reference", "GAPDH", "--reference", "U6=miR-1,miR-24,miR-206"]
    yield "analyze", run("analyze", study, "--plan", "recommended", "--user", user, "--json").output
    yield "analyze paper", run("analyze", study, "--plan", "paper", "--user", user, "--json").output
    yield "qpcr", run("assay", "qpcr", "compare", study, *refs, "--user", user, "--json").output
    yield "fibres", run("assay", "fibres", "compare", study, "--user", user, "--json").output
    yield "audit", run("audit", "log", study, "--user", user, "--json").output
    assert run("report", study, "--out", out / "report", "--user", user).exit_code == 0
    yield "report", (out / "report" / "index.html").read_text()


@pytest.mark.parametrize("role", BLINDED)
def test_no_route_tells_a_blinded_role_the_allocation(study, tmp_path, role):
    assert run("export", study, "--out", tmp_path / "export", "--user", role).exit_code == 0
    for path in (tmp_path / "export").iterdir():
        assert not ARM_WORDS.search(path.read_text()), path.name
    for name, text in _routes(study, tmp_path, role):
        assert not ARM_CONTRASTS.search(text), name
        assert '"left"' not in text or (name == "audit" and '"side": "left"' not in text)
    for args in (("design", "show-list", study), ("conduct", "reveal", study, "--patient", "P01")):
        result = run(*args, "--user", role)
        assert result.exit_code == 1
        assert "left" not in result.output and "right" not in result.output


def test_the_unblinded_physician_sees_the_arms(study, tmp_path):
    texts = dict(_routes(study, tmp_path, "unblinded_physician"))
    assert "real - sham" in texts["analyze"]
    assert "real - sham" in texts["qpcr"]
    assert '"contrast": "real - sham"' in texts["fibres"]
    assert "real_side" in texts["audit"]
    revealed = json.loads(
        run(
            "conduct",
            "reveal",
            study,
            "--patient",
            "P01",
            "--user",
            "unblinded_physician",
            "--json",
        ).output
    )
    assert revealed["real_side"] in ("left", "right")
