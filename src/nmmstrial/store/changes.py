"""Changing a stored study: observations entered or corrected, and the study's state.

Each call is one transaction with its audit records: all of it is written, or none.
A changed value needs a reason (ICH E6: the original stays visible in the trail).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select, update

from ..errors import InvalidValueError, StoreError
from ..study import TABLES
from .audit import AuditEntry, _plain, append_audit, row_entries, row_key, row_value
from .engine import Target, describe, open_study_db, study_write
from .history import ObservationKey, check_versions
from .io import Author
from .schema import (
    BLANK_WHEN_MISSING,
    KEYS,
    NO_SIDE,
    randomization_table,
    study_table,
    trial_tables,
)

OBSERVATIONS = trial_tables["observations"]


def write_observations(
    target: Target,
    rows: pd.DataFrame,
    author: Author,
    *,
    source: str = "input",
    visit_date: str | None = None,
    versions: Mapping[ObservationKey, int | None] | None = None,
) -> dict[str, int]:
    """Insert new observations and update changed ones, audited, in one transaction.

    `rows` has patient, side, time, measure, value and optionally reason. An unchanged
    value is left alone; a changed one without a reason is refused, naming its row.
    Returns the counts inserted, updated and unchanged. `versions` (patient, side, time,
    measure -> version the change was based on, None for a first entry) are checked in
    the same transaction: a stale one raises StaleVersionError, nothing written.
    """
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    # Two sessions entering the same record at once: the later one loses, loudly.
    meanwhile = (
        f"conflict: a value in {source} was entered by someone else meanwhile; "
        "nothing written: look at the current values and enter again"
    )
    with study_write(target, conflict=lambda _detail: meanwhile) as connection:
        if versions:
            check_versions(connection, versions)
        entries = []
        for number, row in enumerate(rows.to_dict(orient="records"), start=1):
            kind, entry = _write_one(connection, row, author, f"{source}, row {number}")
            counts[kind] += 1
            if entry is not None:
                entries.append(entry)
        if visit_date is not None:
            entries += _record_visits(connection, rows, visit_date, author)
        append_audit(connection, entries)
    return counts


def _record_visits(
    connection: Connection, rows: pd.DataFrame, date: str, author: Author
) -> list[AuditEntry]:
    """A visit at which a value is first entered is recorded as done on `date`."""
    visits = trial_tables["visits"]
    entries = []
    for patient, time in rows[["patient", "time"]].drop_duplicates().itertuples(index=False):
        known = connection.execute(
            select(visits.c.time, visits.c.date).where(visits.c.patient == patient)
        ).all()
        if time in {row.time for row in known}:
            continue
        t0 = next((row.date for row in known if row.time == "T0"), None)
        day = (
            0
            if time == "T0"
            else ((dt.date.fromisoformat(date) - dt.date.fromisoformat(t0)).days if t0 else None)
        )
        record = {"patient": patient, "time": time, "day": day, "date": date, "status": "done"}
        connection.execute(visits.insert(), record)
        entries.append(
            author.entry(
                "insert",
                table="visits",
                record=row_key("visits", record),
                patient=patient,
                new=row_value("visits", record),
            )
        )
    return entries


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
        "table": "observations",
        "record": row_key("observations", values),
        "patient": values["patient"],
    }
    if existing is None:
        connection.execute(OBSERVATIONS.insert(), {**values, "side": stored_side})
        entry = author.entry("insert", new=row_value("observations", values), **common)
        return "inserted", entry
    if existing.value == values["value"]:
        return "unchanged", None
    reason = row.get("reason")
    if reason is None or (isinstance(reason, float) and pd.isna(reason)) or not str(reason).strip():
        raise InvalidValueError(
            f"{where}: {values['patient']} {values['time']} {values['measure']}"
            f"{' ' + side if side else ''} is already {existing.value:g}; "
            f"changing it to {values['value']:g} needs a reason (--reason)",
            field="reason",
        )
    connection.execute(
        update(OBSERVATIONS).where(OBSERVATIONS.c.id == existing.id).values(value=values["value"])
    )
    entry = author.entry(
        "update",
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
    with study_write(target) as connection:
        meta = read_meta(connection)
        entries = [
            author.entry(
                action,
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
    return meta


def log_event(target: Target, entry: AuditEntry) -> None:
    """Append one event (a refused attempt, a reveal) to the trail on its own."""
    with study_write(target) as connection:
        append_audit(connection, [entry])


ALLOCATION = trial_tables["allocation"]


def write_randomization(
    target: Target, entries: pd.DataFrame, sealed: dict, author: Author
) -> None:
    """Store a randomization list (entries not yet allocated) and its sealed description."""
    label = describe(target)
    with study_write(target) as connection:
        if connection.execute(select(randomization_table.c.id)).first() is not None:
            raise StoreError(f"{label}: the study already has a randomization list")
        if connection.execute(select(ALLOCATION.c.id)).first() is not None:
            raise StoreError(f"{label}: the study already has allocations")
        rows = [
            {**row, "stratum": row["stratum"] or NO_SIDE}
            for row in entries.astype(object).where(entries.notna(), None).to_dict("records")
        ]
        connection.execute(ALLOCATION.insert(), rows)
        connection.execute(
            randomization_table.insert(),
            {**sealed, "created_utc": author.utc, "created_by": author.user},
        )
        frame = entries.assign(stratum=entries["stratum"].replace("", None))
        audit = row_entries("allocation", frame, utc=author.utc, user=author.user, role=author.role)
        audit.append(
            author.entry(
                "randomize",
                table="randomization",
                record="list",
                new=sealed["sha256"],
            )
        )
        append_audit(connection, audit)


def read_randomization(connection: Connection) -> dict[str, Any] | None:
    row = connection.execute(select(randomization_table)).mappings().first()
    return dict(row) if row else None


def allocate(
    target: Target, patient: dict[str, Any], stratum: str | None, author: Author
) -> dict[str, Any]:
    """Record a new patient and give it the next free entry of its stratum, audited.

    Returns the allocation entry (sequence, stratum, real side): the caller decides
    what of it the user may see.
    """
    label = describe(target)
    with study_write(target) as connection:
        patients = trial_tables["patients"]
        exists = connection.execute(
            select(patients.c.id).where(patients.c.patient == patient["patient"])
        ).first()
        if exists is not None:
            raise InvalidValueError(f"{label}: patient {patient['patient']} is already enrolled")
        entry = (
            connection.execute(
                select(ALLOCATION)
                .where(ALLOCATION.c.stratum == (stratum or NO_SIDE), ALLOCATION.c.patient.is_(None))
                .order_by(ALLOCATION.c.sequence)
                .limit(1)
            )
            .mappings()
            .first()
        )
        if entry is None:
            raise InvalidValueError(
                f"{label}: no free entry left in stratum {stratum or '(none)'} of the list"
            )
        record = {**patient, "sequence": entry["sequence"]}
        connection.execute(patients.insert(), record)
        connection.execute(
            update(ALLOCATION)
            .where(ALLOCATION.c.id == entry["id"])
            .values(patient=patient["patient"])
        )
        full = {c: record.get(c) for c in TABLES["patients"]}
        key_values = {**dict(entry), "stratum": entry["stratum"] or None}
        append_audit(
            connection,
            [
                author.entry(
                    "insert",
                    table="patients",
                    record=row_key("patients", full),
                    patient=patient["patient"],
                    new=row_value("patients", full),
                ),
                author.entry(
                    "update",
                    table="allocation",
                    record=row_key("allocation", key_values),
                    patient=patient["patient"],
                    field="patient",
                    old="null",
                    new=json.dumps(patient["patient"]),
                ),
            ],
        )
    return {**dict(entry), "patient": patient["patient"]}


def allocation_of(target: Target, patient: str) -> dict[str, Any] | None:
    engine = open_study_db(target)
    try:
        with engine.connect() as connection:
            row = (
                connection.execute(select(ALLOCATION).where(ALLOCATION.c.patient == patient))
                .mappings()
                .first()
            )
    finally:
        engine.dispose()
    return dict(row) if row else None


def add_rows(target: Target, table: str, frame: pd.DataFrame, author: Author) -> int:
    """Insert new rows into a trial table with their audit records, all or none."""
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for row in rows:
        for column in BLANK_WHEN_MISSING.get(table, ()):
            row[column] = NO_SIDE if row[column] is None else row[column]
    with study_write(
        target,
        conflict=lambda detail: f"table {table}: {detail}; nothing written (imported before?)",
    ) as connection:
        connection.execute(trial_tables[table].insert(), rows)
        append_audit(
            connection,
            row_entries(table, frame, utc=author.utc, user=author.user, role=author.role),
        )
    return len(rows)


def update_row(
    target: Target,
    table: str,
    key: dict[str, Any],
    changes: dict[str, Any],
    author: Author,
    *,
    reason: str | None,
    needs_reason: bool = True,
) -> dict[str, Any]:
    """Change fields of one trial-table row, each change audited; return the row as stored.

    Unchanged fields are left alone. Changing a non-empty value needs a reason unless
    `needs_reason` is False (e.g. an ongoing adverse event's follow-up); filling an
    empty one does not. The row is read and written in one transaction.
    """
    label = describe(target)
    rows = trial_tables[table]
    with study_write(target) as connection:
        found = connection.execute(
            select(rows).where(*(rows.c[column] == value for column, value in key.items()))
        ).first()
        if found is None:
            raise InvalidValueError(f"{label}: table {table}: no row {row_key_of(key)}")
        stored = {column: found._mapping[column] for column in TABLES[table]}
        entries, values = [], {}
        for field, new in changes.items():
            old = stored[field]
            if old == new:
                continue
            if old is not None and needs_reason and not (reason and reason.strip()):
                raise InvalidValueError(
                    f"{label}: {table} {row_key_of(key)}: {field} is already {old}; "
                    f"changing it to {new} needs a reason (--reason)",
                    field="reason",
                )
            values[field] = new
            entries.append(
                author.entry(
                    "update",
                    table=table,
                    record=row_key(table, stored),
                    patient=stored.get("patient"),
                    field=field,
                    old=json.dumps(old),
                    new=json.dumps(new),
                    reason=reason,
                )
            )
        if values:
            connection.execute(update(rows).where(rows.c.id == found.id).values(**values))
            append_audit(connection, entries)
    return {**stored, **values}


def row_key_of(key: dict[str, Any]) -> str:
    return ", ".join(f"{column} {value}" for column, value in key.items())


def upsert_rows(
    target: Target,
    table: str,
    frame: pd.DataFrame,
    author: Author,
    *,
    reason: str | None = None,
    source: str = "input",
) -> dict[str, int]:
    """Insert new rows and update the changed fields of stored ones, in one transaction.

    Rows are matched on the table's key. A new row gets a whole-row insert record; a
    stored one a record per changed field (old, new, reason), as `update_row`: filling
    an empty field needs no reason, changing a value does, and without one nothing is
    written and the first such row is named. An unchanged row is left alone. Returns
    the counts inserted, updated and unchanged.
    """
    label = describe(target)
    rows = trial_tables[table]
    keys = KEYS[table]
    blank = BLANK_WHEN_MISSING.get(table, ())
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    with study_write(
        target, conflict=lambda detail: f"table {table}: {detail}; nothing written"
    ) as connection:
        entries: list[AuditEntry] = []
        for number, row in enumerate(records, start=1):
            row = {column: _plain(row[column]) for column in TABLES[table]}
            stored_row = {c: NO_SIDE if c in blank and v is None else v for c, v in row.items()}
            found = connection.execute(
                select(rows).where(*(rows.c[k] == stored_row[k] for k in keys))
            ).first()
            common = {
                "table": table,
                "record": row_key(table, row),
                "patient": row.get("patient"),
            }
            if found is None:
                connection.execute(rows.insert(), stored_row)
                entries.append(author.entry("insert", new=row_value(table, row), **common))
                counts["inserted"] += 1
                continue
            stored = {
                c: None if c in blank and found._mapping[c] == NO_SIDE else found._mapping[c]
                for c in TABLES[table]
            }
            changed = {c: v for c, v in row.items() if c not in keys and stored[c] != v}
            refilled = [c for c in changed if stored[c] is not None]
            if refilled and not (reason and reason.strip()):
                field = refilled[0]
                raise InvalidValueError(
                    f"{label}: {source}, row {number}: {table} "
                    f"{row_key_of({k: row[k] for k in keys})}: {field} is already "
                    f"{stored[field]}; changing it to {row[field]} needs a reason (--reason); "
                    "nothing written",
                    field="reason",
                )
            if not changed:
                counts["unchanged"] += 1
                continue
            connection.execute(
                update(rows)
                .where(rows.c.id == found.id)
                .values(**{c: stored_row[c] for c in changed})
            )
            entries += [
                author.entry(
                    "update",
                    field=column,
                    old=json.dumps(stored[column]),
                    new=json.dumps(value),
                    reason=reason if column in refilled else None,
                    **common,
                )
                for column, value in changed.items()
            ]
            counts["updated"] += 1
        append_audit(connection, entries)
    return counts
