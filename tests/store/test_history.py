"""Versions and authors read off the audit trail; stale versions refused in the write."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from nmmstrial.errors import StaleVersionError
from nmmstrial.store import Author, audit_log, open_study_db, write_study
from nmmstrial.store.audit import append_audit
from nmmstrial.store.changes import _write_one, write_observations
from nmmstrial.store.engine import writing
from nmmstrial.store.history import current_observations

KEY = ("P01", "left", "T0", "mrc_fcr")


def entry(value) -> dict:
    patient, side, time, measure = KEY
    return {
        "patient": patient,
        "side": side,
        "time": time,
        "measure": measure,
        "value": value,
        "reason": "re-examined",
    }


def author(user: str) -> Author:
    return Author(user, "assessor", "2026-11-25T10:00:00+00:00")


def change(path, value, *, version, user="b"):
    rows = pd.DataFrame([entry(value)])
    return write_observations(path, rows, author(user), versions={KEY: version})


def stored(path):
    engine = open_study_db(path)
    with engine.connect() as connection:
        rows = current_observations(connection, "P01", "T0")
    engine.dispose()
    return {(r["measure"], r["side"]): r for r in rows}


def test_versions_count_the_changes_and_name_the_last_author(study, tmp_path):
    path = write_study(study, tmp_path / "study.db", author=Author("a", "assessor", "t0"))
    first = stored(path)[("mrc_fcr", "left")]
    assert (first["version"], first["entered_by"], first["entered_at"]) == (1, "a", "t0")
    assert stored(path)[("alsfrs_r", None)]["side"] is None
    change(path, 2.0, version=1)
    now = stored(path)[("mrc_fcr", "left")]
    assert (now["value"], now["version"], now["entered_by"]) == (2.0, 2, "b")


def test_a_stale_version_is_refused_and_nothing_written(study, tmp_path):
    path = write_study(study, tmp_path / "study.db")
    change(path, 2.0, version=1)
    with pytest.raises(StaleVersionError, match="now 2 \\(version 2\\), entered by b") as error:
        change(path, 3.0, version=1, user="c")
    assert error.value.current["version"] == 2
    assert stored(path)[("mrc_fcr", "left")]["value"] == 2.0
    with pytest.raises(StaleVersionError):
        change(path, 3.0, version=None)  # a "first entry" of a value that exists


def test_blinded_log_shows_no_hash_since_every_hash_commits_to_the_allocation(study, tmp_path):
    path = write_study(study, tmp_path / "study.db")
    engine = open_study_db(path)
    with engine.connect() as connection:
        blinded = audit_log(connection, blinded=True)
        full = audit_log(connection, blinded=False)
    engine.dispose()
    assert (blinded["hash"] == "***").all() and (blinded["prev_hash"] == "***").all()
    assert not (full["hash"] == "***").any()


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, study, tmp_path):
    """The study in a SQLite file, or in a PostgreSQL schema (skipped without a server)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return write_study(study, url or tmp_path / "study.db")


def test_a_change_made_meanwhile_in_another_process_is_not_overwritten(target):
    # Writer A holds a write transaction and changes the value; writer B (another
    # process: its own engine) checks its version meanwhile. B must wait for A and then
    # see A's change (409), not read the old version, pass, and overwrite A on commit.
    refused = []

    def writer_b():
        try:
            change(target, 3.0, version=1, user="c")
        except StaleVersionError as error:
            refused.append(error)

    engine = open_study_db(target)
    b = threading.Thread(target=writer_b)
    try:
        with writing(engine) as connection:
            b.start()
            time.sleep(0.5)  # B is at its version check by now
            _, audit_entry = _write_one(connection, entry(2.0), author("b"), "test")
            append_audit(connection, [audit_entry])
        b.join(timeout=30)
    finally:
        engine.dispose()
    assert len(refused) == 1 and refused[0].current["version"] == 2
    now = stored(target)[("mrc_fcr", "left")]
    assert (now["value"], now["version"], now["entered_by"]) == (2.0, 2, "b")
