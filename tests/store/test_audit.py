"""The audit trail detects every direct edit of the file: of itself or of trial data."""

import json
import sqlite3

import pytest
from click.testing import CliRunner

from nmmstrial.cli import cli
from nmmstrial.conduct import new_user
from nmmstrial.store import (
    AuditEntry,
    Author,
    append_audit,
    audit_log,
    open_study_db,
    read_study,
    verify_audit,
    write_study,
)

AUTHOR = Author(user="assessor1", role="assessor", utc="2026-11-25T10:00:00+00:00")


# scrypt hashes are slow on purpose: make the users once.
USERS = [new_user(role, role, "s3cret") for role in ("monitor", "unblinded_physician")]


@pytest.fixture
def db(tmp_path, small_study):
    path = tmp_path / "study.db"
    write_study(small_study, path, author=AUTHOR, users=USERS)
    return path


def _check(path):
    engine = open_study_db(path)
    try:
        with engine.connect() as connection:
            return verify_audit(connection)
    finally:
        engine.dispose()


def _sql(path, *statements):
    connection = sqlite3.connect(path)
    with connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()


def test_a_written_study_verifies(db, small_study):
    check = _check(db)
    assert check.ok, check.message
    rows = sum(len(frame) for frame in small_study.tables.values())
    assert check.entries == rows + len(USERS) + 1  # + the sealed list's "randomize"


def test_edited_record_is_found(db):
    _sql(db, "UPDATE audit SET user = 'mallory' WHERE seq = 5")
    check = _check(db)
    assert (check.ok, check.first_broken) == (False, 5)
    assert "record 5 was altered" in check.message


def test_deleted_record_is_found(db):
    _sql(db, "DELETE FROM audit WHERE seq = 7")
    check = _check(db)
    assert (check.ok, check.first_broken) == (False, 7)
    assert "record 7 is missing" in check.message


def test_reordered_records_are_found(db):
    _sql(
        db,
        "UPDATE audit SET seq = -1 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = 4",
        "UPDATE audit SET seq = 4 WHERE seq = -1",
    )
    check = _check(db)
    assert (check.ok, check.first_broken) == (False, 3)


def test_direct_data_edit_insert_and_delete_are_found(db, tmp_path):
    _sql(db, "UPDATE observations SET value = value + 0.5 WHERE id = 1")
    check = _check(db)
    assert not check.ok
    assert "table observations" in check.message and "without an audit record" in check.message

    fresh = tmp_path / "fresh.db"
    fresh.write_bytes(db.read_bytes())  # an untouched copy verifies like the original
    _sql(fresh, "UPDATE observations SET value = value - 0.5 WHERE id = 1")
    assert _check(fresh).ok
    _sql(fresh, "DELETE FROM sessions WHERE id = 2")
    assert "deleted without an audit record" in _check(fresh).message


def test_an_audited_update_verifies(db):
    engine = open_study_db(db)
    try:
        with engine.begin() as connection:
            row = connection.exec_driver_sql(
                "SELECT patient, side, time, measure, value FROM observations WHERE id = 1"
            ).one()
            connection.exec_driver_sql("UPDATE observations SET value = 3 WHERE id = 1")
            key = {
                "measure": row.measure,
                "patient": row.patient,
                "side": row.side,
                "time": row.time,
            }
            append_audit(
                connection,
                [
                    AuditEntry(
                        utc=AUTHOR.utc,
                        user="assessor1",
                        role="assessor",
                        action="update",
                        table="observations",
                        record=json.dumps(key, sort_keys=True, separators=(",", ":")),
                        patient=row.patient,
                        field="value",
                        old=json.dumps(row.value),
                        new="3.0",
                        reason="transcription error",
                    )
                ],
            )
        with engine.connect() as connection:
            assert verify_audit(connection).ok
            log = audit_log(connection, patient=row.patient)
    finally:
        engine.dispose()
    last = log.iloc[-1]
    assert (last["action"], last["field"], last["reason"]) == (
        "update",
        "value",
        "transcription error",
    )


def test_log_masks_the_allocation_for_blinded_readers(db):
    engine = open_study_db(db)
    try:
        with engine.connect() as connection:
            blinded = audit_log(connection, blinded=True)
            open_ = audit_log(connection, blinded=False)
    finally:
        engine.dispose()
    sealed = blinded[blinded["table"] == "allocation"]
    assert len(sealed) > 0
    assert (sealed["new"] == "***").all()
    assert not blinded["new"].fillna("").str.contains("real_side").any()
    assert open_[open_["table"] == "allocation"]["new"].str.contains("real_side").all()


def _cli(*args, password="s3cret"):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"NMMSTRIAL_PASSWORD": password})


def test_cli_verify_exit_codes(db):
    result = _cli("audit", "verify", db, "--user", "monitor")
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    _sql(db, "DELETE FROM audit WHERE seq = 2")
    result = _cli("audit", "verify", db, "--user", "monitor")
    assert result.exit_code == 1
    assert "first broken link: record 2" in result.output


def test_cli_log_masks_for_blinded_roles_only(db):
    blinded = json.loads(_cli("audit", "log", db, "--user", "monitor", "--json").output)
    assert {
        "seq",
        "utc",
        "user",
        "role",
        "action",
        "table",
        "record",
        "patient",
        "field",
        "old",
        "new",
        "reason",
        "prev_hash",
        "hash",
    } <= set(blinded[0])
    assert "real_side" not in json.dumps(blinded)
    unblinded = _cli("audit", "log", db, "--user", "unblinded_physician", "--json").output
    assert "real_side" in unblinded


def test_cli_wrong_password_prints_nothing(db):
    result = _cli("audit", "log", db, "--user", "monitor", "--json", password="wrong")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: login failed: unknown user or wrong password"
    result = _cli("audit", "log", db, "--user", "nobody", "--json")
    assert result.output.strip() == "Error: login failed: unknown user or wrong password"


def test_sealed_list_round_trips(db, small_study):
    assert small_study.randomization is not None
    assert read_study(db).randomization == small_study.randomization


def test_simulate_records_a_conducted_trial(tmp_path):
    path = tmp_path / "sim.db"
    result = CliRunner().invoke(
        cli,
        ["simulate", "--out", str(path), "--seed", "2", "--patients", "4"],
        env={"NMMSTRIAL_PASSWORD": "s3cret"},
    )
    assert result.exit_code == 0, result.output
    log = json.loads(_cli("audit", "log", path, "--user", "monitor", "--json").output)
    by_table = {(r["table"], r["user"]) for r in log if r["action"] == "insert"}
    assert ("observations", "assessor") in by_table
    assert ("patients", "unblinded_physician") in by_table
    reveals = [r for r in log if r["action"] == "reveal"]
    assert len(reveals) == 4 and {r["new"] for r in reveals} == {"***"}
    shown = json.loads(
        _cli("design", "show-list", path, "--user", "unblinded_physician", "--json").output
    )
    assert [e["patient"] for e in shown["entries"]] == ["P01", "P02", "P03", "P04"]
    assert _cli("audit", "verify", path, "--user", "monitor").exit_code == 0


def _lock(db):
    locked = _cli("conduct", "lock", db, "--user", "monitor", "--reason", "last visit")
    assert locked.exit_code == 0, locked.output
    return locked.output.split("audit anchor ")[1].split()[0]


def test_truncating_the_tail_is_found_by_the_lock_anchor(db):
    anchor = _lock(db)
    assert _cli("audit", "verify", db, "--user", "monitor", "--anchor", anchor).exit_code == 0
    head = int(anchor.split(":")[0])
    # The tail after the lock record, and the lock record's anchor target, cut off: a
    # valid shorter chain, whose data still agree (only users and events were cut).
    _sql(db, f"DELETE FROM audit WHERE seq >= {head}")
    result = _cli("audit", "verify", db, "--user", "monitor")
    assert result.exit_code == 1 and f"names record {head}, which is gone" in result.output
    # The same with the lock's record in the meta edited away: the kept anchor finds it.
    _sql(db, "UPDATE study SET meta = json_remove(meta, '$.locked')")
    assert _cli("audit", "verify", db, "--user", "monitor").exit_code == 0
    kept = _cli("audit", "verify", db, "--user", "monitor", "--anchor", anchor)
    assert kept.exit_code == 1 and "which is gone: truncated" in kept.output


def test_the_anchor_is_keyed_so_it_does_not_commit_to_guessable_sides(db):
    anchor = _lock(db)
    seq, value = anchor.split(":")
    connection = sqlite3.connect(db)
    (bare,) = connection.execute(f"SELECT hash FROM audit WHERE seq = {seq}").fetchone()
    connection.close()
    assert len(value) == 64 and value != bare  # HMAC with the sealed salt, not the hash
    wrong = f"{seq}:{'0' * 64}"
    result = _cli("audit", "verify", db, "--user", "monitor", "--anchor", wrong)
    assert (
        result.exit_code == 1 and f"record {seq} does not match the anchor given" in result.output
    )
    bad = _cli("audit", "verify", db, "--user", "monitor", "--anchor", "12:abc")
    assert bad.exit_code == 2 and "SEQ:64-hex-digits" in bad.output
