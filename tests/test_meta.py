"""House rules: every command has help, every package lists its public names."""

import importlib
import inspect

import click
import pandas as pd
import pytest
from click.testing import CliRunner

from nmmstrial.cli import cli
from nmmstrial.errors import InvalidValueError
from nmmstrial.tidy import check_tidy

PACKAGES = [
    "protocol",
    "simulate",
    "store",
    "capture",
    "report",
    "analysis",
    "conduct",
    "assays",
    "design",
    "web",
]


def _commands(group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize(("path", "command"), list(_commands(cli)), ids=lambda p: str(p))
def test_every_command_has_help(path, command):
    assert command.help, f"nmmstrial {' '.join(path)} has no help text"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_public_name(name):
    module = importlib.import_module(f"nmmstrial.{name}")
    public = {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and not inspect.ismodule(obj)
        and getattr(obj, "__module__", "").startswith(f"nmmstrial.{name}")
    }
    assert public <= set(module.__all__)
    for exported in module.__all__:
        assert hasattr(module, exported)


def test_check_tidy_names_the_bad_side():
    frame = pd.DataFrame(
        {
            "patient": ["P01", "P01"],
            "side": ["left", "up"],
            "time": ["T0"] * 2,
            "measure": ["mrc_fcr"] * 2,
            "value": [4.0, 4.0],
        }
    )
    with pytest.raises(InvalidValueError, match=r"row 2, field side: 'up' is not one of left"):
        check_tidy(frame)
    with pytest.raises(InvalidValueError, match="missing column"):
        check_tidy(frame.drop(columns="value"))
