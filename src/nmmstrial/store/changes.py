"""Changing a stored study: observations entered or corrected, and the study's state.

Each call is one transaction with its audit records: all of it is written, or none.
A changed value needs a reason (ICH E6: the original stays visible in the trail).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..errors import InvalidValueError, StoreError
from .audit import AuditEntry, append_audit, row_key, row_value
from .engine import Target, describe, error_line, open_study_db
from .io import Author
from .schema import NO_SIDE, study_table, trial_tables

OBSERVATIONS = trial_tables["observations"]


def write_observations(
    target: Target, rows: pd.DataFrame, author: Author, *, source: str = "input"
) -> dict[str, int]:
    """Insert new observations and update changed ones, audited, in one transaction.

    `rows` has patient, side, time, measure, value and optionally reason. An unchanged
    value is left alone; a changed one without a reason is refused, naming its row.
    Returns the counts inserted, updated and unchanged.
    """
    label = describe(target)
    engine = open_study_db(target)
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    try:
        with engine.begin() as connection:
            entries = []
            for number, row in enumerate(rows.to_dict(orient="records"), start=1):
                kind, entry = _write_one(connection, row, author, f"{source}, row {number}")
                counts[kind] += 1
                if entry is not None:
                    entries.append(entry)
            append_audit(connection, entries)
    except SQLAlchemyError as error:
        raise StoreError(f"{label}: nothing written: {error_line(error)}") from error
    finally:
        engine.dispose()
    return counts


def _write_one(
    connection: Connection, row: dict[str, Any], author: Author, where: str
) -> tuple[str, AuditEntry | None]:
    side = row.get("side")
    side = None if side is None or (isinstance(side, float) and pd.isna(side)) else side
    values = {
        "patient": row["patient"],
        "side": side,
        "time": row["time"],
        "measure": row["measure"],
        "value": float(row["value"]),
    }
    stored_side = NO_SIDE if side is None else side
    existing = connection.execute(
        select(OBSERVATIONS.c.id, OBSERVATIONS.c.value).where(
            OBSERVATIONS.c.patient == values["patient"],
            OBSERVATIONS.c.side == stored_side,
            OBSERVATIONS.c.time == values["time"],
            OBSERVATIONS.c.measure == values["measure"],
        )
    ).first()
    common = {
        "utc": author.utc,
        "user": author.user,
        "role": author.role,
        "table": "observations",
        "record": row_key("observations", values),
        "patient": values["patient"],
    }
    if existing is None:
        connection.execute(OBSERVATIONS.insert(), {**values, "side": stored_side})
        entry = AuditEntry(action="insert", new=row_value("observations", values), **common)
        return "inserted", entry
    if existing.value == values["value"]:
        return "unchanged", None
    reason = row.get("reason")
    if reason is None or (isinstance(reason, float) and pd.isna(reason)) or not str(reason).strip():
        raise InvalidValueError(
            f"{where}: {values['patient']} {values['time']} {values['measure']}"
            f"{' ' + side if side else ''} is already {existing.value:g}; "
            f"changing it to {values['value']:g} needs a reason (--reason)"
        )
    connection.execute(
        update(OBSERVATIONS).where(OBSERVATIONS.c.id == existing.id).values(value=values["value"])
    )
    entry = AuditEntry(
        action="update",
        field="value",
        old=json.dumps(existing.value),
        new=json.dumps(values["value"]),
        reason=str(reason),
        **common,
    )
    return "updated", entry


def read_meta(connection: Connection) -> dict[str, Any]:
    return json.loads(connection.execute(select(study_table.c.meta)).scalar_one())


def change_meta(
    target: Target, changes: dict[str, Any], author: Author, *, action: str, reason: str | None
) -> dict[str, Any]:
    """Set keys of the study's meta (lock, unblinding), audited; return the new meta."""
    engine = open_study_db(target)
    try:
        with engine.begin() as connection:
            meta = read_meta(connection)
            entries = [
                AuditEntry(
                    utc=author.utc,
                    user=author.user,
                    role=author.role,
                    action=action,
                    table="study",
                    record="meta",
                    field=key,
                    old=json.dumps(meta.get(key)),
                    new=json.dumps(value),
                    reason=reason,
                )
                for key, value in changes.items()
            ]
            meta.update(changes)
            connection.execute(update(study_table).values(meta=json.dumps(meta)))
            append_audit(connection, entries)
    finally:
        engine.dispose()
    return meta


def log_event(target: Target, entry: AuditEntry) -> None:
    """Append one event (a refused attempt, a reveal) to the trail on its own."""
    engine = open_study_db(target)
    try:
        with engine.begin() as connection:
            append_audit(connection, [entry])
    finally:
        engine.dispose()
