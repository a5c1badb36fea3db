"""The audit trail: who changed what, when, from what to what, and why; tamper-evident.

Every write of trial data appends audit records in the same transaction. Records are
never updated or deleted by nmmstrial, and each holds the SHA-256 of its own content
and of the record before it (a hash chain), so an edited, deleted, inserted or
reordered record breaks the chain at that point. `verify_audit` also compares the
trial tables with the last value the trail records for every row, so a direct edit of
trial data that bypassed the trail is found too.

Policy: a record names a whole row (`record` = the row's key as JSON, `new` = the row
as JSON) on insert and delete; a field-level update names `field` with `old` and `new`.
Truncating the tail of a chain leaves a valid shorter chain: the chain's head is
anchored at database lock (conduct layer) for that reason. The anchor is keyed
(HMAC-SHA256 of the head's hash, keyed with the sealed randomization list's salt), so
that handing it to a blinded monitor gives nothing to test guessed allocations
against: a bare hash commits to every earlier record, sealed sides included, and with
two candidates per side a short list could be searched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select

from ..study import TABLES
from .schema import (
    BLANK_WHEN_MISSING,
    KEYS,
    NO_SIDE,
    audit_table,
    randomization_table,
    study_table,
    trial_tables,
)

GENESIS = "0" * 64
MASK = "***"
# Tables whose values tell the allocation; masked for blinded readers of the log.
SEALED_TABLES = ("allocation",)
# Fields that tell it inside otherwise blinded tables (which coil was on which side).
SEALED_FIELDS = {"sessions": ("coil_left", "coil_right")}


@dataclass(frozen=True)
class AuditEntry:
    """One change, as it is chained (seq and hashes are added when appended)."""

    utc: str
    user: str
    role: str
    action: str
    table: str | None = None
    record: str | None = None
    patient: str | None = None
    field: str | None = None
    old: str | None = None
    new: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AuditCheck:
    """The outcome of `verify_audit`: intact, or the first broken link and why."""

    ok: bool
    entries: int
    first_broken: int | None
    message: str


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(seq: int, entry: AuditEntry, prev_hash: str) -> str:
    """SHA-256 over the sequence number, every field of the entry and the previous hash."""
    return hashlib.sha256(_canonical([seq, *astuple(entry), prev_hash]).encode()).hexdigest()


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: NA becomes None, numpy scalars Python ones."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def row_key(table: str, row: dict[str, Any]) -> str:
    return _canonical({k: _plain(row[k]) for k in KEYS[table]})


def row_value(table: str, row: dict[str, Any]) -> str:
    return _canonical({k: _plain(row[k]) for k in TABLES[table]})


def row_entries(
    table: str, frame: pd.DataFrame, *, utc: str, user: str, role: str, action: str = "insert"
) -> list[AuditEntry]:
    """One entry per row of a trial-data frame (insert or delete of whole rows)."""
    entries = []
    for row in frame.to_dict(orient="records"):
        patient = _plain(row.get("patient")) if "patient" in row else None
        value = row_value(table, row)
        entries.append(
            AuditEntry(
                utc=utc,
                user=user,
                role=role,
                action=action,
                table=table,
                record=row_key(table, row),
                patient=patient,
                old=value if action == "delete" else None,
                new=value if action != "delete" else None,
            )
        )
    return entries


def append_audit(connection: Connection, entries: Iterable[AuditEntry]) -> int:
    """Chain `entries` after the current head, in the caller's transaction; return the count."""
    head = connection.execute(
        select(audit_table.c.seq, audit_table.c.hash).order_by(audit_table.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    rows = []
    for entry in entries:
        seq += 1
        digest = entry_hash(seq, entry, prev)
        record = dict(zip(_ENTRY_COLUMNS, astuple(entry), strict=True))
        rows.append({"seq": seq, **record, "prev_hash": prev, "hash": digest})
        prev = digest
    if rows:
        connection.execute(audit_table.insert(), rows)
    return len(rows)


# AuditEntry fields, in order, as the table names them (`table` is a reserved word).
_ENTRY_COLUMNS = (
    "utc",
    "user",
    "role",
    "action",
    "table_name",
    "record",
    "patient",
    "field",
    "old",
    "new",
    "reason",
)


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(*(getattr(row, column) for column in _ENTRY_COLUMNS))


def keyed_anchor(connection: Connection, seq: int) -> str | None:
    """The anchor of record `seq`: HMAC-SHA256 of its hash, keyed with the sealed list's
    salt (the bare hash when the study has no list, and so no secret to keep)."""
    record_hash = connection.execute(
        select(audit_table.c.hash).where(audit_table.c.seq == seq)
    ).scalar()
    if record_hash is None:
        return None
    salt = connection.execute(select(randomization_table.c.salt)).scalar()
    if salt is None:
        return record_hash
    return hmac.new(salt.encode(), record_hash.encode(), hashlib.sha256).hexdigest()


def _anchors(connection: Connection, given: tuple[int, str] | None) -> list[tuple]:
    """(seq, anchor, keyed, where from): the one recorded at lock, and one given."""
    anchors = []
    meta = json.loads(connection.execute(select(study_table.c.meta)).scalar_one())
    locked = meta.get("locked")
    if isinstance(locked, dict) and locked.get("head_seq"):
        if locked.get("anchor"):
            anchors.append((int(locked["head_seq"]), locked["anchor"], True, "recorded at lock"))
        elif locked.get("head_hash"):  # locked before anchors were keyed: the bare hash
            anchors.append(
                (int(locked["head_seq"]), locked["head_hash"], False, "recorded at lock")
            )
    if given is not None:
        anchors.append((given[0], given[1], True, "given"))
    return anchors


def _check_anchors(connection: Connection, given: tuple[int, str] | None, n: int) -> AuditCheck:
    """Each anchor's record must still be there, with the hash the anchor was made from."""
    for seq, anchor, keyed, where in _anchors(connection, given):
        stored = connection.execute(
            select(audit_table.c.hash).where(audit_table.c.seq == seq)
        ).scalar()
        if stored is None:
            return AuditCheck(
                False, n, seq, f"the anchor {where} names record {seq}, which is gone: truncated"
            )
        expected = keyed_anchor(connection, seq) if keyed else stored
        if not hmac.compare_digest(anchor, expected):
            return AuditCheck(
                False, n, seq, f"record {seq} does not match the anchor {where}: rewritten"
            )
    return AuditCheck(True, n, None, "")


def verify_audit(connection: Connection, *, anchor: tuple[int, str] | None = None) -> AuditCheck:
    """Recompute the chain, check the lock's anchor (and `anchor`, kept by a monitor, as
    (seq, value)), then check the trial tables against the trail's last values."""
    rows = connection.execute(select(audit_table).order_by(audit_table.c.seq)).all()
    prev, state = GENESIS, {}
    for expected, row in enumerate(rows, start=1):
        if row.seq != expected:
            return AuditCheck(
                False, len(rows), expected, f"record {expected} is missing (next is {row.seq})"
            )
        if row.prev_hash != prev:
            return AuditCheck(
                False, len(rows), row.seq, f"record {row.seq} does not follow record {row.seq - 1}"
            )
        if entry_hash(row.seq, _entry(row), prev) != row.hash:
            return AuditCheck(False, len(rows), row.seq, f"record {row.seq} was altered")
        prev = row.hash
        if row.table_name not in trial_tables or not row.record:
            continue  # users, reveals, locks: chained, but not trial data
        if row.field is None:
            state[(row.table_name, row.record)] = (row.seq, row.new)
        else:
            current = state.get((row.table_name, row.record), (row.seq, None))[1]
            values = json.loads(current) if current else {}
            values[row.field] = json.loads(row.new) if row.new is not None else None
            state[(row.table_name, row.record)] = (row.seq, _canonical(values))
    anchored = _check_anchors(connection, anchor, len(rows))
    if not anchored.ok:
        return anchored
    return _compare_data(connection, state, len(rows))


def _compare_data(connection: Connection, state: dict, n: int) -> AuditCheck:
    """Every current row must be the trail's last value for it, and no audited row gone."""
    seen = set()
    for name, table in trial_tables.items():
        columns = list(TABLES[name])
        for row in connection.execute(select(*(table.c[c] for c in columns))).all():
            values = dict(zip(columns, row, strict=True))
            for column in BLANK_WHEN_MISSING.get(name, ()):
                if values.get(column) == NO_SIDE:
                    values[column] = None
            key = (name, row_key(name, values))
            seen.add(key)
            audited = state.get(key)
            if audited is None or audited[1] is None:
                return AuditCheck(
                    False, n, None, f"table {name}, row {key[1]}: no audit record for this row"
                )
            if json.loads(audited[1]) != json.loads(row_value(name, values)):
                return AuditCheck(
                    False,
                    n,
                    None,
                    f"table {name}, row {key[1]}: differs from the audit trail "
                    f"(last recorded in record {audited[0]}); changed without an audit record",
                )
    for key, (seq, value) in state.items():
        if value is not None and key not in seen:
            return AuditCheck(
                False,
                n,
                None,
                f"table {key[0]}, row {key[1]}: deleted without an audit record "
                f"(last recorded in record {seq})",
            )
    return AuditCheck(True, n, None, f"intact: {n} records, chain and data agree")


def audit_log(
    connection: Connection, *, patient: str | None = None, blinded: bool = True
) -> pd.DataFrame:
    """The trail in chain order; for blinded readers, sealed values are masked."""
    query = select(audit_table).order_by(audit_table.c.seq)
    if patient is not None:
        query = query.where(audit_table.c.patient == patient)
    frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=LOG_COLUMNS_DB)
    frame = frame.rename(columns={"table_name": "table"})
    if blinded:
        sealed = frame["table"].isin(SEALED_TABLES) | frame["action"].isin(("reveal",))
        for table, fields in SEALED_FIELDS.items():
            sealed |= (frame["table"] == table) & frame["field"].isin(fields)
        for column in ("record", "old", "new"):
            frame[column] = frame[column].where(~sealed | frame[column].isna(), MASK)
        for table, fields in SEALED_FIELDS.items():
            for column in ("old", "new"):
                rows = (frame["table"] == table) & frame["field"].isna() & frame[column].notna()
                frame.loc[rows, column] = [
                    _masked_row(value, fields) for value in frame.loc[rows, column]
                ]
        # Every hash commits to all the records before it, sealed values included: with
        # two possible sides per value, a blinded reader could hash each candidate and
        # compare with a later hash. So blinded readers see no hashes; `audit verify`
        # checks the chain for every role and prints none.
        for column in ("prev_hash", "hash"):
            frame[column] = frame[column].where(frame[column].isna(), MASK)
    return frame


def _masked_row(value: str, fields: Sequence[str]) -> str:
    """A whole row's JSON (an insert or delete) with its sealed fields masked."""
    row = json.loads(value)
    return _canonical({k: MASK if k in fields and v is not None else v for k, v in row.items()})


LOG_COLUMNS_DB: Sequence[str] = ("seq", *_ENTRY_COLUMNS, "prev_hash", "hash")
