import json

import yaml
from click.testing import CliRunner

from nmmstrial.cli import cli
from nmmstrial.protocol import reference_protocol_text


def test_show_prints_the_dose():
    result = CliRunner().invoke(cli, ["protocol", "show"])
    assert result.exit_code == 0, result.output
    assert "7,000 pulses in 3,485 s" in result.output
    assert "70,000 pulses" in result.output
    assert "mrc_fcr" in result.output
    assert "FU3M" in result.output


def test_show_json_has_the_derived_dose():
    result = CliRunner().invoke(cli, ["protocol", "show", "--json"])
    data = json.loads(result.output)
    assert data["stimulation"]["dose"]["pulses_per_course"] == 70000
    assert data["mrc_scale"] == "integer"


def test_show_a_file(tmp_path):
    data = yaml.safe_load(reference_protocol_text())
    data["name"] = "my-study"
    data["stimulation"]["trains"] = 100
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["protocol", "show", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert "my-study" in result.output
    assert "5,000 pulses in 2,485 s" in result.output


def test_malformed_file_is_one_line_and_exit_1(tmp_path):
    data = yaml.safe_load(reference_protocol_text())
    data["stimulation"]["frequency_hz"] = "fast"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["protocol", "show", "--file", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}: stimulation.frequency_hz:")
    assert "'fast'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
