"""`nmmstrial assay ephys ...`: the contract's flags, JSON fields, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from nmmstrial.cli import Root
from nmmstrial.cli.assay_ephys import ephys

DATA = Path(__file__).parent / "data"
EPHYS = DATA / "ephys"


@click.group(cls=Root)
def root() -> None:
    """The root group, as the lead mounts `ephys` under `nmmstrial assay`."""


root.add_command(ephys)


def run(*args: str):
    return CliRunner().invoke(root, ["ephys", *map(str, args)])


def test_info_json_fields():
    result = run("info", EPHYS / "2018_11_16_sh_0006.abf", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for key in (
        "abf_version",
        "sweeps",
        "sample_interval_us",
        "sample_rate_hz",
        "sweep_length_s",
        "sweep_interval_s",
        "protocol",
        "holding_mV",
        "channels",
        "tags",
        "warnings",
    ):
        assert key in out
    assert out["channels"] == [{"index": 0, "name": "IN 0", "units": "pA"}]
    assert out["tags"][0]["sweep"] == 36


def test_iv_json_with_override():
    result = run(
        "iv",
        EPHYS / "17o19020.abf",
        "--window",
        "0.7687:0.8687",
        "--units",
        "0=uA",
        "--scale",
        "0=0.001",
        "--json",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["current_units"] == "uA"
    assert out["reversal_mV"] == pytest.approx(-21.2, abs=0.1)
    assert set(out["sweeps"][0]) >= {
        "sweep",
        "command_mV",
        "measured_mV",
        "current",
        "clamp_ok",
        "excluded",
    }


def test_measure_batch_reports_bad_files_and_measures_the_rest(tmp_path):
    (tmp_path / "notes.abf").write_text("not a recording\n")
    (tmp_path / "cut.abf").write_bytes((EPHYS / "File_axon_7.abf").read_bytes()[:40_000])
    (tmp_path / "File_axon_7.abf").write_bytes((EPHYS / "File_axon_7.abf").read_bytes())
    result = run("measure", tmp_path, "--window", "0.5:2.5", "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert [Path(f["file"]).name for f in out["files"]] == ["File_axon_7.abf"]
    assert sorted(Path(e["file"]).name for e in out["errors"]) == ["cut.abf", "notes.abf"]
    sweep = out["files"][0]["sweeps"][1]
    assert set(sweep) >= {
        "sweep",
        "baseline",
        "peak",
        "t05_s",
        "t05_censored",
        "residual",
        "response",
        "clamp_ok",
        "excluded",
    }
    assert out["files"][0]["window"] == {"start_s": 0.5, "end_s": 2.5, "source": "user"}
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 2
    assert any("notes.abf" in line for line in errors)
    assert any("cut.abf" in line for line in errors)


def test_measure_sweep_out_of_range_names_it():
    result = run("measure", EPHYS / "File_axon_7.abf", "--window", "0.5:2.5", "--sweeps", "1,40")
    assert result.exit_code == 1
    assert "sweep 40 out of range" in result.stderr


def test_measure_without_window_is_a_clear_error():
    result = run("measure", EPHYS / "File_axon_7.abf")
    assert result.exit_code == 1
    assert "no application window" in result.stderr


def test_dose_response_json_fields_and_fallback():
    result = run(
        "dose-response",
        DATA / "dose_response" / "drc_secalonic.csv",
        "--conc",
        "dose",
        "--response",
        "rootl",
        "--json",
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["curves"]
    for key in (
        "curve",
        "model",
        "b",
        "c",
        "d",
        "e",
        "se_e",
        "ec50_ci_wald",
        "ec50_ci_log",
        "ec50_ci_profile",
        "hill_slope",
        "log_ec50",
        "ed10",
        "ed90",
        "flags",
    ):
        assert key in row
    assert row["model"] == "ll3"
    assert row["flags"] == ["lower_plateau_not_identified"]
    assert "LL.3" in result.stderr


def test_dose_response_per_curve_table():
    result = run(
        "dose-response",
        DATA / "dose_response" / "drc_S.alba.csv",
        "--conc",
        "Dose",
        "--response",
        "DryMatter",
        "--curve",
        "Herbicide",
        "--model",
        "ll4",
    )
    assert result.exit_code == 0, result.output
    assert "Glyphosate" in result.stdout
    assert "Bentazone" in result.stdout


def test_dose_response_negative_dose(tmp_path):
    path = tmp_path / "drc.csv"
    path.write_text("conc,peak\n0,0\n1,1\n-3,2\n10,3\n30,4\n")
    result = run("dose-response", path, "--conc", "conc", "--response", "peak")
    assert result.exit_code == 1
    assert "row 3, column conc: dose -3 is negative" in result.stderr


@pytest.mark.parametrize("command", sorted(ephys.commands))
def test_every_command_has_help(command):
    assert ephys.commands[command].help
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.output


def test_measure_an_iv_protocol_says_it_is_not_an_application():
    # 17o19000's digital outputs mark the epoch before each voltage step, not ACh
    result = run("measure", EPHYS / "17o19000.abf")
    assert result.exit_code == 1
    assert "no application window" in result.stderr
    assert "voltage-step protocol" in result.stderr and "--window" in result.stderr
