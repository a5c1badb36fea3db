"""write_study / read_study: exact round trips, all-or-nothing writes, clear refusals."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from nmmstrial.errors import StoreError
from nmmstrial.store import open_study_db, read_study, write_study
from nmmstrial.study import Study


def assert_same_study(got: Study, want: Study) -> None:
    assert got.protocol.model_dump() == want.protocol.model_dump()
    assert got.meta == want.meta
    assert list(got.tables) == list(want.tables)
    for name, frame in want.tables.items():
        pd.testing.assert_frame_equal(got.tables[name], frame, check_exact=True, obj=name)


def with_table(study: Study, name: str, frame: pd.DataFrame) -> Study:
    return Study(protocol=study.protocol, meta=study.meta, tables={**study.tables, name: frame})


def test_round_trip_on_sqlite(tmp_path, study):
    path = tmp_path / "study.db"
    assert write_study(study, path) == path
    got = read_study(path)
    assert_same_study(got, study)
    assert got.observations["value"].iloc[0] == 11 / 3
    assert got.observations["side"].isna().tolist() == study.observations["side"].isna().tolist()
    # The temporary file was renamed into place and the WAL checkpointed: one file.
    assert [p.name for p in tmp_path.iterdir()] == ["study.db"]


def test_round_trip_of_a_simulated_study(tmp_path, simulated_study):
    write_study(simulated_study, tmp_path / "sim.db")
    assert_same_study(read_study(tmp_path / "sim.db"), simulated_study)


def test_round_trip_of_an_empty_study(tmp_path, study):
    empty = Study(protocol=study.protocol, meta={})
    write_study(empty, f"sqlite:///{tmp_path / 'empty.db'}")
    assert_same_study(read_study(tmp_path / "empty.db"), empty)


def test_rows_come_back_in_the_order_written(tmp_path, study):
    reordered = with_table(study, "observations", study.observations.iloc[::-1])
    write_study(reordered, tmp_path / "study.db")
    assert_same_study(read_study(tmp_path / "study.db"), reordered)


def test_refuses_to_overwrite_unless_asked(tmp_path, study, simulated_study):
    path = tmp_path / "study.db"
    write_study(study, path)
    with pytest.raises(StoreError, match=r"study\.db: already exists"):
        write_study(simulated_study, path)
    assert_same_study(read_study(path), study)
    write_study(simulated_study, path, overwrite=True)
    assert_same_study(read_study(path), simulated_study)
    assert [p.name for p in tmp_path.iterdir()] == ["study.db"]


def test_duplicate_observation_is_refused_and_writes_nothing(tmp_path, study):
    observations = pd.concat([study.observations, study.observations.iloc[[2]]])
    with pytest.raises(
        StoreError,
        match=r"table observations, rows 3, 8 repeat patient=P01, side=\(none\), time=T0, "
        r"measure=alsfrs_r; each must be unique, nothing written",
    ):
        write_study(with_table(study, "observations", observations), tmp_path / "study.db")
    assert list(tmp_path.iterdir()) == []


def test_failure_inside_the_database_leaves_no_file(tmp_path, study):
    # An observation of a patient who is not enrolled: only the foreign key catches it,
    # after the schema and earlier tables were written to the temporary file.
    stray = pd.DataFrame(
        {
            "patient": ["P99"],
            "side": ["left"],
            "time": ["T0"],
            "measure": ["mrc_fcr"],
            "value": [4.0],
        }
    )
    observations = pd.concat([study.observations, stray])
    with pytest.raises(StoreError, match=r"table observations: FOREIGN KEY constraint failed"):
        write_study(with_table(study, "observations", observations), tmp_path / "study.db")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_study(tmp_path, study):
    path = tmp_path / "study.db"
    write_study(study, path)
    bad = with_table(study, "allocation", study.allocation.assign(real_side="both"))
    with pytest.raises(StoreError, match="table allocation: CHECK constraint failed"):
        write_study(bad, path, overwrite=True)
    assert_same_study(read_study(path), study)
    assert [p.name for p in tmp_path.iterdir()] == ["study.db"]


def test_meta_must_be_json(tmp_path, study):
    odd = Study(
        protocol=study.protocol, meta={"when": pd.Timestamp("2020-01-01")}, tables=study.tables
    )
    with pytest.raises(StoreError, match="study meta must be JSON data"):
        write_study(odd, tmp_path / "study.db")
    assert list(tmp_path.iterdir()) == []


def test_refuses_a_missing_directory(tmp_path, study):
    with pytest.raises(StoreError, match="does not exist"):
        write_study(study, tmp_path / "nowhere" / "study.db")


def test_read_refuses_a_missing_path_and_creates_nothing(tmp_path):
    with pytest.raises(StoreError, match=r"absent\.db: no such study database; create one with"):
        read_study(tmp_path / "absent.db")
    assert list(tmp_path.iterdir()) == []


def test_read_refuses_a_study_without_its_row(tmp_path, study):
    path = tmp_path / "study.db"
    write_study(study, path)
    with sqlite3.connect(path) as connection:
        connection.execute("DELETE FROM study")
    connection.close()
    with pytest.raises(StoreError, match="holds no study"):
        read_study(path)


def test_written_file_is_in_wal_mode(tmp_path, study):
    write_study(study, tmp_path / "study.db")
    engine = open_study_db(tmp_path / "study.db")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_round_trip_on_postgres(postgres_url, study, simulated_study):
    write_study(study, postgres_url)
    assert_same_study(read_study(postgres_url), study)
    with pytest.raises(StoreError, match="already holds a study"):
        write_study(simulated_study, postgres_url)
    write_study(simulated_study, postgres_url, overwrite=True)
    assert_same_study(read_study(postgres_url), simulated_study)


@pytest.mark.postgres
def test_failed_write_on_postgres_leaves_the_database_as_it_was(postgres_url, study):
    stray = study.observations.iloc[[0]].assign(patient="P99")
    bad = with_table(study, "observations", pd.concat([study.observations, stray]))
    with pytest.raises(StoreError, match=r"table observations: .*foreign key"):
        write_study(bad, postgres_url)
    with pytest.raises(StoreError, match="not an nmmstrial study database"):
        read_study(postgres_url)
    write_study(study, postgres_url)
    with pytest.raises(StoreError, match="table observations"):
        write_study(bad, postgres_url, overwrite=True)
    assert_same_study(read_study(postgres_url), study)
