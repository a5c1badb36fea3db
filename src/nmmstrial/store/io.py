"""Write a whole `Study` to a database and read it back, unchanged.

Round trip: `read_study` returns frames equal to the written ones (same values, dtypes
and row order), the same protocol and the same meta. Rows come back in the order they
were written: every table has an autoincrement `id` and reads sort by it. A missing
side is stored as '' (see `schema.NO_SIDE`) and read back as NA.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import SQLAlchemyError

from ..conduct.users import UserRecord
from ..errors import StoreError
from ..protocol import Protocol, protocol_from_text
from ..study import TABLES, Study
from .audit import AuditEntry, append_audit, row_entries
from .engine import (
    Target,
    check_study_db,
    describe,
    error_line,
    make_engine,
    migrate,
    open_study_db,
    sqlite_path,
    study_write,
)
from .schema import (
    BLANK_WHEN_MISSING,
    KEYS,
    NO_SIDE,
    metadata,
    randomization_table,
    study_table,
    trial_tables,
    users_table,
)


def protocol_yaml(protocol: Protocol) -> str:
    """The study definition as YAML that `protocol_from_text` reads back to an equal model."""
    return yaml.safe_dump(protocol.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def _meta_json(meta: dict[str, Any], label: str) -> str:
    try:
        return json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise StoreError(
            f"{label}: study meta must be JSON data (text, numbers, booleans, lists, "
            f"mappings): {error}"
        ) from error


def _check_keys(frame: pd.DataFrame, table: str, label: str) -> None:
    """Name the rows that repeat a key: clearer than the database's constraint message."""
    keys = frame[list(KEYS[table])]
    keys = keys.astype(object).where(keys.notna(), None)
    repeated = keys.duplicated(keep=False)
    if not repeated.any():
        return
    key = tuple(keys[repeated].iloc[0])
    rows = [str(i + 1) for i, row in enumerate(keys.itertuples(index=False)) if tuple(row) == key]
    values = ", ".join(
        f"{name}={'(none)' if value is None else value}"
        for name, value in zip(keys.columns, key, strict=True)
    )
    raise StoreError(
        f"{label}: table {table}, rows {', '.join(rows)} repeat {values}; "
        "each must be unique, nothing written"
    )


def _records(frame: pd.DataFrame, table: str) -> list[dict[str, Any]]:
    columns = {
        column: [None if pd.isna(value) else value for value in frame[column].tolist()]
        for column in TABLES[table]
    }
    for column in BLANK_WHEN_MISSING.get(table, ()):
        columns[column] = [NO_SIDE if v is None else v for v in columns[column]]
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


@dataclass(frozen=True)
class Author:
    """Who writes, and when: the audit trail's user, role and UTC time of a write."""

    user: str
    role: str
    utc: str

    @classmethod
    def now(cls, user: str, role: str) -> Author:
        return cls(user, role, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def entry(self, action: str, **fields: str | None) -> AuditEntry:
        """An audit record of this author's `action` (table, record, patient, ...)."""
        return AuditEntry(utc=self.utc, user=self.user, role=self.role, action=action, **fields)


def _insert_users(connection: Connection, users: Sequence[UserRecord], author: Author) -> None:
    """Users in the same transaction as the study; the trail names them, never the hash."""
    if not users:
        return
    connection.execute(
        users_table.insert(),
        [{"name": u.name, "role": u.role, "password_hash": u.password_hash} for u in users],
    )
    append_audit(
        connection,
        [
            author.entry(
                "user-add",
                table="users",
                record=u.name,
                new=u.role,
            )
            for u in users
        ],
    )


def add_user(target: Target, record: UserRecord, author: Author) -> None:
    """Add one user to an existing study, audited, in one transaction."""
    label = describe(target)
    with study_write(target) as connection:
        if record.name in read_users(connection):
            raise StoreError(f"{label}: user {record.name!r} already exists")
        _insert_users(connection, [record], author)


def study_users(target: Target) -> dict[str, UserRecord]:
    """The users of the study at `target`, for logging in."""
    engine = open_study_db(target)
    try:
        with engine.connect() as connection:
            return read_users(connection)
    finally:
        engine.dispose()


def read_users(connection: Connection) -> dict[str, UserRecord]:
    rows = connection.execute(
        select(users_table.c.name, users_table.c.role, users_table.c.password_hash)
    ).all()
    return {row.name: UserRecord(row.name, row.role, row.password_hash) for row in rows}


@dataclass(frozen=True)
class _Job:
    """Who writes what: the default author, authors per table, users, further events."""

    author: Author
    authors: Mapping[str, Author]
    users: Sequence[UserRecord]
    events: Sequence[AuditEntry]


def _insert(connection: Connection, study: Study, label: str, job: _Job) -> None:
    _insert_users(connection, job.users, job.author)
    meta = _meta_json(study.meta, label)
    connection.execute(
        study_table.insert(), {"id": 1, "protocol": protocol_yaml(study.protocol), "meta": meta}
    )
    # TABLES lists patients before the tables that refer to them.
    for name, table in trial_tables.items():
        rows = _records(study.tables[name], name)
        if not rows:
            continue
        try:
            connection.execute(table.insert(), rows)
        except SQLAlchemyError as error:
            raise StoreError(
                f"{label}: table {name}: {error_line(error)}; nothing written"
            ) from error
        author = job.authors.get(name, job.author)
        entries = row_entries(
            name, study.tables[name], utc=author.utc, user=author.user, role=author.role
        )
        append_audit(connection, entries)
    if study.randomization is not None:
        author = job.authors.get("allocation", job.author)
        sealed = {**study.randomization, "created_utc": author.utc, "created_by": author.user}
        connection.execute(randomization_table.insert(), sealed)
        append_audit(
            connection,
            [
                author.entry(
                    "randomize",
                    table="randomization",
                    record="list",
                    new=study.randomization["sha256"],
                )
            ],
        )
    append_audit(connection, job.events)


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _write_sqlite(study: Study, path: Path, overwrite: bool, job: _Job) -> None:
    """Build the database in a temporary file beside `path`, then move it into place."""
    if path.exists() and not overwrite:
        raise StoreError(
            f"{path}: already exists; choose a new path, or replace it (--force; overwrite=True)"
        )
    if not path.parent.is_dir():
        raise StoreError(f"{path}: the directory {path.parent} does not exist")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        engine = make_engine(temporary)
        try:
            with engine.begin() as connection:
                migrate(connection)
                _insert(connection, study, str(path), job)
        finally:
            # Closing the last connection checkpoints the WAL into the file itself.
            engine.dispose()
        # A stale WAL beside the old file would be replayed into the new one.
        Path(f"{path}-wal").unlink(missing_ok=True)
        Path(f"{path}-shm").unlink(missing_ok=True)
        os.replace(temporary, path)
    except BaseException as error:
        _remove_sqlite_files(temporary)
        if isinstance(error, SQLAlchemyError):
            raise StoreError(f"{path}: cannot write the study: {error_line(error)}") from error
        if isinstance(error, OSError):
            reason = error.strerror or error
            raise StoreError(f"{path}: cannot write the study: {reason}") from error
        raise


def _write_url(study: Study, target: Target, overwrite: bool, job: _Job) -> None:
    """Write in one transaction: on any error the database is left as it was."""
    label = describe(target)
    engine = make_engine(target)
    try:
        with engine.begin() as connection:
            if MigrationContext.configure(connection).get_current_revision() is None:
                migrate(connection)
            elif not overwrite:
                raise StoreError(
                    f"{label}: already holds a study; replace it with --force (overwrite=True)"
                )
            else:
                check_study_db(connection, label)
                for table in reversed(metadata.sorted_tables):
                    connection.execute(delete(table))
            _insert(connection, study, label, job)
    except SQLAlchemyError as error:
        raise StoreError(f"{label}: cannot write the study: {error_line(error)}") from error
    finally:
        engine.dispose()


def write_study(
    study: Study,
    target: Target,
    *,
    overwrite: bool = False,
    author: Author | None = None,
    authors: Mapping[str, Author] | None = None,
    users: Sequence[UserRecord] = (),
    events: Sequence[AuditEntry] = (),
) -> Target:
    """Write `study` to a new database at `target` (a SQLite path or a URL); return `target`.

    All or nothing. A SQLite file is built under a temporary name in the same directory
    and renamed into place at the end, so a failure leaves no file behind; another
    database is written in one transaction. An existing study is replaced (a new study,
    audit trail included) only with `overwrite=True`. Every row written gets its audit
    record, by `authors[table]` or else `author` (default "nmmstrial" as admin, now), in
    the same transaction; so do the study's `users` (stored with their password hashes
    only), its sealed randomization list and any further `events` (e.g. reveals).
    """
    job = _Job(author or Author.now("nmmstrial", "admin"), authors or {}, users, events)
    label = describe(target)
    for name in TABLES:
        _check_keys(study.tables[name], name, label)
    path = sqlite_path(target)
    if path is not None:
        _write_sqlite(study, path, overwrite, job)
    else:
        _write_url(study, target, overwrite, job)
    return target


def _frame(
    connection: Connection, name: str, patients: Sequence[str] | None = None
) -> pd.DataFrame:
    table = trial_tables[name]
    columns = list(TABLES[name])
    query = select(*(table.c[column] for column in columns)).order_by(table.c.id)
    if patients is not None and "patient" in columns:
        query = query.where(table.c.patient.in_(list(patients)))
    result = connection.execute(query).all()
    # Object columns until `conform`: letting pandas infer would turn Int64 into floats.
    data = {
        column: pd.Series([row[i] for row in result], dtype=object)
        for i, column in enumerate(columns)
    }
    for column in BLANK_WHEN_MISSING.get(name, ()):
        data[column] = data[column].where(data[column] != NO_SIDE, None)
    return pd.DataFrame(data, columns=columns)


def read_study(
    target: Target,
    *,
    tables: Sequence[str] | None = None,
    patients: Sequence[str] | None = None,
) -> Study:
    """Read the study at `target` (a SQLite path or a URL), as it was written.

    `tables`: read only these trial tables (the others come back empty), for readers
    that need a few small ones on every request (the web app's dashboard).
    `patients`: only these patients' rows (entering one visit needs no other)."""
    label = describe(target)
    engine = open_study_db(target)
    try:
        with engine.connect() as connection:
            row = connection.execute(select(study_table.c.protocol, study_table.c.meta)).first()
            if row is None:
                raise StoreError(f"{label}: the study database holds no study (no study row)")
            frames = {name: _frame(connection, name, patients) for name in (tables or TABLES)}
            sealed = connection.execute(select(randomization_table)).mappings().first()
    except SQLAlchemyError as error:
        raise StoreError(f"{label}: cannot read the study: {error_line(error)}") from error
    finally:
        engine.dispose()
    protocol = protocol_from_text(row.protocol, source=f"{label}, table study, protocol")
    try:
        meta = json.loads(row.meta)
    except json.JSONDecodeError as error:
        raise StoreError(f"{label}: table study, meta: not valid JSON: {error}") from error
    randomization = None
    if sealed is not None:
        randomization = {k: sealed[k] for k in ("seed", "n", "blocks", "strata", "salt", "sha256")}
    return Study(protocol=protocol, meta=meta, tables=frames, randomization=randomization)
