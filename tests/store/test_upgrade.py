"""A study written by an older nmmstrial is refused with the way out, then upgraded."""

import pytest
from alembic import command
from click.testing import CliRunner

from nmmstrial.cli import cli
from nmmstrial.errors import StoreError
from nmmstrial.store import head_revision, make_engine, open_study_db, upgrade_study_db
from nmmstrial.store.engine import _alembic_config


def _old_study(path, revision="0003"):
    engine = make_engine(path)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)
    engine.dispose()


def test_old_schema_is_refused_with_the_command_to_run(tmp_path):
    path = tmp_path / "old.db"
    _old_study(path)
    with pytest.raises(StoreError, match=r"upgrade it with `nmmstrial upgrade .*old\.db`"):
        open_study_db(path)


def test_upgrade_brings_it_to_head_once(tmp_path):
    path = tmp_path / "old.db"
    _old_study(path)
    assert upgrade_study_db(path) == ("0003", head_revision())
    open_study_db(path).dispose()
    result = CliRunner().invoke(cli, ["upgrade", str(path)])
    assert result.exit_code == 0 and "already at schema revision" in result.output


def test_upgrade_refuses_what_is_not_a_study(tmp_path):
    with pytest.raises(StoreError, match="no such study database"):
        upgrade_study_db(tmp_path / "absent.db")
    assert not (tmp_path / "absent.db").exists()
