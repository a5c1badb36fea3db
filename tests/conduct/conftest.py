"""A simulated study (seed 3) for the laboratory imports, copied fresh for each test."""

import shutil

import pytest
from click.testing import CliRunner

from nmmstrial.cli import cli


@pytest.fixture(scope="session")
def simulated(tmp_path_factory):
    path = tmp_path_factory.mktemp("simulated") / "study.db"
    result = CliRunner().invoke(
        cli, ["simulate", "--out", str(path), "--seed", "3"], env={"NMMSTRIAL_PASSWORD": "demo"}
    )
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def study(simulated, tmp_path):
    path = tmp_path / "study.db"
    shutil.copy(simulated, path)
    return path
