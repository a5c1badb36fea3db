"""A lab scientist's qPCR export into the study, and the split-body comparison from it."""

import json

import pytest
from click.testing import CliRunner

from nmmstrial.assays.qpcr.writer import quantstudio_text
from nmmstrial.cli import cli
from nmmstrial.store import read_study

ENV = {"NMMSTRIAL_PASSWORD": "demo"}
REFS = ["--reference", "GAPDH", "--reference", "U6=miR-1,miR-24,miR-206"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    path = tmp_path_factory.mktemp("lab") / "study.db"
    assert run("simulate", "--out", path, "--seed", 3).exit_code == 0
    return path


def test_import_stores_every_well_once_and_audited(study, tmp_path):
    stored = read_study(study).qpcr
    plate = stored[stored.plate == stored.plate.iloc[0]]
    export = tmp_path / "run_2015_03_02.txt"
    export.write_text(quantstudio_text(plate, experiment="rerun", endogenous="GAPDH, U6"))
    result = run(
        "assay", "qpcr", "import", export, "--study", study, "--user", "lab", "--plate", "RERUN"
    )
    assert result.exit_code == 0, result.output
    assert f"{len(plate)} wells stored" in result.output
    rerun = read_study(study).qpcr.query("plate == 'RERUN'")
    assert rerun["ct"].isna().sum() == plate["ct"].isna().sum()  # Undetermined kept
    assert (rerun.loc[rerun.task == "NTC", "patient"].isna()).all()
    again = run(
        "assay", "qpcr", "import", export, "--study", study, "--user", "lab", "--plate", "RERUN"
    )
    assert again.exit_code == 1 and "nothing written" in again.output
    refused = run("assay", "qpcr", "import", export, "--study", study, "--user", "assessor")
    assert refused.exit_code == 1 and "may not import" in refused.output
    assert run("audit", "verify", study, "--user", "monitor").exit_code == 0


def test_unknown_sample_is_named(study, tmp_path):
    stored = read_study(study).qpcr
    plate = stored[stored.plate == stored.plate.iloc[0]].copy()
    plate.loc[plate.task == "UNKNOWN", "sample"] = plate.loc[
        plate.task == "UNKNOWN", "sample"
    ].replace(plate["sample"].iloc[0], "B999")
    export = tmp_path / "bad.txt"
    export.write_text(quantstudio_text(plate, experiment="bad", endogenous="GAPDH"))
    result = run("assay", "qpcr", "import", export, "--study", study, "--user", "lab")
    assert result.exit_code == 1
    assert "sample B999 is not a biopsy sample of the study" in result.output


def test_compare_from_the_study_is_blinded_unless_unblinded_user(study):
    blinded = json.loads(
        run("assay", "qpcr", "compare", study, *REFS, "--user", "assessor", "--json").output
    )
    assert blinded["contrast"] in ("X - Y", "Y - X")
    unblinded = json.loads(
        run(
            "assay", "qpcr", "compare", study, *REFS, "--user", "unblinded_physician", "--json"
        ).output
    )
    assert unblinded["contrast"] == "real - sham"
    murf = next(g for g in unblinded["genes"] if g["gene"] == "MuRF-1")
    assert murf["n"] == 7 and murf["geomean_fold"] < 1  # down in the real arm, as the paper
