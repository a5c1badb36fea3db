"""Dose-response fits into the study: `assay ephys dose-response --study`, one curve
per oocyte, checked against drc's estimates for real data sets (R reference fits)."""

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from nmmstrial import __version__
from nmmstrial.cli import cli
from nmmstrial.store import read_study

ENV = {"NMMSTRIAL_PASSWORD": "demo"}
DATA = Path(__file__).parents[1] / "assays" / "data" / "dose_response"
EXPECTED = json.loads((DATA / "expected.json").read_text())


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


def fit(sheet, study, *args):
    return run(
        "assay", "ephys", "dose-response", sheet, "--study", study, "--user", "electrophysiologist",
        *args,
    )  # fmt: skip


def samples(study):
    biopsies = read_study(study).biopsies
    return list(biopsies.loc[biopsies["ephys"].astype(bool), "sample"][:2])


def oocyte(study, sample, number):
    oocytes = read_study(study).oocytes
    row = oocytes.loc[(oocytes["sample"] == sample) & (oocytes["oocyte"] == number)]
    assert len(row) == 1
    return row.iloc[0]


def alba_sheet(tmp_path, names):
    """drc's S.alba data with each herbicide's curve named after an oocyte."""
    frame = pd.read_csv(DATA / "drc_S.alba.csv")
    frame["curve"] = frame["Herbicide"].map(names)
    path = tmp_path / "alba.csv"
    frame.to_csv(path, index=False)
    return path


def test_each_curve_stores_its_oocytes_ec50_with_the_sheet_and_version(study, tmp_path):
    first, second = samples(study)
    names = {"Glyphosate": f"{first}-91", "Bentazone": f"{second}_oocyte92"}
    sheet = alba_sheet(tmp_path, names)
    result = fit(
        sheet, study, "--conc", "Dose", "--response", "DryMatter", "--curve", "curve", "--json"
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["stored"]["inserted"] == 2
    digest = hashlib.sha256(sheet.read_bytes()).hexdigest()
    for herbicide, (sample, number) in {
        "Glyphosate": (first, 91),
        "Bentazone": (second, 92),
    }.items():
        row = oocyte(study, sample, number)
        expected = EXPECTED[f"S.alba_{herbicide}"]["estimate"]
        assert row["ec50_um"] == pytest.approx(expected["e"], rel=1e-4)
        entry = json.loads(row["params"])["ec50"]
        assert entry["sha256"] == digest and entry["sheet"] == "alba.csv"
        assert entry["model"] == "ll4"
        assert entry["b"] == pytest.approx(expected["b"], rel=1e-3)
        assert entry["parameters"] == {
            "conc": "Dose", "response": "DryMatter", "curve": "curve", "model": None, "se": "drc",
        }  # fmt: skip
        assert len(entry["points"]) == (32 if herbicide == "Glyphosate" else 36)
        assert row["version"] == __version__
        biopsy = read_study(study).biopsies.set_index("sample").loc[sample]
        assert (row["patient"], row["side"]) == (biopsy["patient"], biopsy["side"])
    audit = json.loads(run("audit", "log", study, "--user", "monitor", "--json").output)
    inserts = [e for e in audit if e["table"] == "oocytes" and e["action"] == "insert"]
    assert [e["user"] for e in inserts[-2:]] == ["electrophysiologist"] * 2
    assert run("audit", "verify", study, "--user", "monitor").exit_code == 0


def test_a_stored_oocyte_keeps_its_peak_and_a_changed_ec50_needs_a_reason(study, tmp_path):
    oocytes = read_study(study).oocytes
    first, number = oocytes.loc[oocytes["ec50_um"].isna(), ["sample", "oocyte"]].iloc[0]
    number = int(number)
    before = oocyte(study, first, number)
    frame = pd.read_csv(DATA / "drc_secalonic.csv").assign(sample=first, oocyte=number, curve="c1")
    sheet = tmp_path / "secalonic.csv"
    frame.to_csv(sheet, index=False)
    args = ("--conc", "dose", "--response", "rootl", "--curve", "curve")
    result = fit(sheet, study, *args)
    assert result.exit_code == 0, result.output
    after = oocyte(study, first, number)
    assert after["peak_na"] == before["peak_na"]
    # c is not identified on these 7 means: LL.3, drc's e 0.08149
    assert after["ec50_um"] == pytest.approx(EXPECTED["secalonic_LL3"]["estimate"]["e"], rel=1e-3)
    refused = fit(sheet, study, *args, "--model", "ll4")
    assert refused.exit_code == 1 and "reason" in refused.output.lower()
    assert oocyte(study, first, number)["ec50_um"] == after["ec50_um"]
    changed = fit(sheet, study, *args, "--model", "ll4", "--reason", "LL.4 as planned")
    assert changed.exit_code == 0, changed.output
    assert oocyte(study, first, number)["ec50_um"] == pytest.approx(
        EXPECTED["secalonic"]["estimate"]["e"], rel=1e-3
    )
    audit = json.loads(run("audit", "log", study, "--user", "monitor", "--json").output)
    reasons = [e["reason"] for e in audit if e["table"] == "oocytes" and e["field"] == "ec50_um"]
    assert reasons[-1] == "LL.4 as planned"


def test_a_curve_naming_no_oocyte_of_the_study_stores_nothing(study, tmp_path):
    first, _ = samples(study)
    sheet = alba_sheet(tmp_path, {"Glyphosate": f"{first}-91", "Bentazone": "NOPE-3"})
    result = fit(sheet, study, "--conc", "Dose", "--response", "DryMatter", "--curve", "curve")
    assert result.exit_code == 1
    assert "sample NOPE is not a biopsy sample of the study" in result.output
    oocytes = read_study(study).oocytes
    assert not ((oocytes["sample"] == first) & (oocytes["oocyte"] == 91)).any()


def test_storing_needs_a_curve_and_a_user(study):
    sheet = DATA / "drc_ryegrass.csv"
    no_curve = fit(sheet, study, "--conc", "conc", "--response", "rootl")
    assert no_curve.exit_code == 1 and "--study needs --curve" in no_curve.output
    no_user = run("assay", "ephys", "dose-response", sheet, "--conc", "conc", "--response",
                  "rootl", "--study", study)  # fmt: skip
    assert no_user.exit_code == 1 and "--study and --user go together" in no_user.output
