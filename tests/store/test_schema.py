"""The migrations build exactly schema.py; engines and opening refuse what is not a study."""

from __future__ import annotations

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from nmmstrial.errors import StoreError
from nmmstrial.store import (
    NO_SIDE,
    create_study_db,
    head_revision,
    make_engine,
    metadata,
    open_study_db,
)
from nmmstrial.store.schema import trial_tables


def _diffs(engine):
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), metadata)


def test_migrated_sqlite_matches_schema(tmp_path):
    engine = create_study_db(tmp_path / "study.db")
    try:
        assert _diffs(engine) == []
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
        assert revision == head_revision()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_migrated_postgres_matches_schema(postgres_url):
    engine = create_study_db(postgres_url)
    try:
        assert _diffs(engine) == []
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = create_study_db(tmp_path / "study.db")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


def test_per_patient_measure_is_unique_without_a_side(tmp_path):
    # The reason sides are stored as '' and not NULL: NULLs never collide in a unique key.
    engine = create_study_db(tmp_path / "study.db")
    row = {"patient": "P01", "side": NO_SIDE, "time": "T0", "measure": "fvc_pct", "value": 80.0}
    try:
        with engine.begin() as connection:
            connection.execute(insert(trial_tables["patients"]), {"patient": "P01"})
            connection.execute(insert(trial_tables["observations"]), row)
        with pytest.raises(IntegrityError, match="UNIQUE"), engine.begin() as connection:
            connection.execute(insert(trial_tables["observations"]), row)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("table", "row", "message"),
    [
        (
            "observations",
            {"patient": "P09", "side": "left", "time": "T0", "measure": "m"},
            "FOREIGN",
        ),
        ("observations", {"patient": "P01", "side": "Left", "time": "T0", "measure": "m"}, "CHECK"),
        ("biopsies", {"patient": "P01", "side": NO_SIDE, "time": "T2"}, "CHECK"),
        ("allocation", {"stratum": "", "sequence": 1, "real_side": "both"}, "CHECK"),
    ],
)
def test_constraints_refuse_bad_rows(tmp_path, table, row, message):
    engine = create_study_db(tmp_path / "study.db")
    try:
        with engine.begin() as connection:
            connection.execute(insert(trial_tables["patients"]), {"patient": "P01"})
        with pytest.raises(IntegrityError, match=message), engine.begin() as connection:
            connection.execute(insert(trial_tables[table]), row)
    finally:
        engine.dispose()


def test_allocation_stands_apart_from_trial_data():
    allocation = metadata.tables["allocation"]
    assert not allocation.foreign_keys
    for table in metadata.tables.values():
        assert all(key.column.table is not allocation for key in table.foreign_keys)


def test_open_refuses_a_missing_path_and_creates_nothing(tmp_path):
    path = tmp_path / "missing.db"
    with pytest.raises(StoreError, match=r"missing\.db: no such study database; create one with"):
        open_study_db(path)
    with pytest.raises(StoreError, match="no such study database"):
        open_study_db(f"sqlite:///{path}")
    assert list(tmp_path.iterdir()) == []


def test_open_refuses_a_sqlite_file_that_is_not_a_study(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE patients (name TEXT)")
    connection.close()
    with pytest.raises(StoreError, match=r"other\.db: not an nmmstrial study database"):
        open_study_db(path)


def test_open_refuses_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("not a database, just notes\n" * 100)
    with pytest.raises(
        StoreError, match=r"notes\.db: cannot open the study database: .*not a database"
    ):
        open_study_db(path)


def test_open_refuses_an_unknown_schema_revision(tmp_path):
    path = tmp_path / "study.db"
    create_study_db(path).dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'abc123'")
    connection.close()
    with pytest.raises(StoreError, match="schema revision 'abc123', but this nmmstrial reads"):
        open_study_db(path)


def test_open_refuses_a_study_missing_tables(tmp_path):
    path = tmp_path / "study.db"
    create_study_db(path).dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE biopsies")
    connection.close()
    with pytest.raises(StoreError, match=r"missing table\(s\) biopsies"):
        open_study_db(path)


def test_create_refuses_an_existing_file(tmp_path):
    path = tmp_path / "study.db"
    create_study_db(path).dispose()
    with pytest.raises(StoreError, match="already exists"):
        create_study_db(path)


@pytest.mark.postgres
def test_create_refuses_a_database_holding_a_study(postgres_url):
    create_study_db(postgres_url).dispose()
    with pytest.raises(StoreError, match="already holds an nmmstrial study"):
        create_study_db(postgres_url)
    open_study_db(postgres_url).dispose()


def test_make_engine_reads_paths_and_urls(tmp_path):
    assert make_engine(tmp_path / "a.db").url.database == str(tmp_path / "a.db")
    assert (
        make_engine("postgresql+psycopg://u:secret@host/db").url.get_backend_name() == "postgresql"
    )
    with pytest.raises(StoreError, match="not a database URL SQLAlchemy knows"):
        make_engine("nonsense://")
