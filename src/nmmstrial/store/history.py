"""Where each current value came from, read off the audit trail: its version (1 for the
first entry, +1 per change), who entered it and when.

The trail is the record of every change (audit.py), so versions need no column of
their own and cannot disagree with it. A change based on an older version than the
stored one is refused (`check_versions`, called inside the writing transaction), so
two people editing the same visit never overwrite each other silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from ..errors import StaleVersionError
from .schema import NO_SIDE, audit_table, trial_tables

# An observation's identity: (patient, side or None, time, measure).
ObservationKey = tuple[str, str | None, str, str]

OBSERVATIONS = trial_tables["observations"]


def observation_versions(
    connection: Connection, patient: str, time: str | None = None
) -> dict[ObservationKey, dict[str, Any]]:
    """Per observation of `patient` (at `time`): version, entered_by, entered_at."""
    query = (
        select(audit_table.c.record, audit_table.c.user, audit_table.c.utc)
        .where(
            audit_table.c.table_name == "observations",
            audit_table.c.patient == patient,
            audit_table.c.action.in_(("insert", "update")),
        )
        .order_by(audit_table.c.seq)
    )
    out: dict[ObservationKey, dict[str, Any]] = {}
    for row in connection.execute(query):
        record = json.loads(row.record)
        if time is not None and record.get("time") != time:
            continue
        key = (record["patient"], record.get("side") or None, record["time"], record["measure"])
        version = out.get(key, {}).get("version", 0) + 1
        out[key] = {"version": version, "entered_by": row.user, "entered_at": row.utc}
    return out


def current_observations(
    connection: Connection, patient: str, time: str | None = None
) -> list[dict[str, Any]]:
    """The stored values of `patient` (at `time`), each with its version and author, in the
    order they were first entered."""
    query = (
        select(OBSERVATIONS).where(OBSERVATIONS.c.patient == patient).order_by(OBSERVATIONS.c.id)
    )
    if time is not None:
        query = query.where(OBSERVATIONS.c.time == time)
    history = observation_versions(connection, patient, time)
    rows = []
    for row in connection.execute(query).mappings():
        side = None if row["side"] == NO_SIDE else row["side"]
        key = (row["patient"], side, row["time"], row["measure"])
        known = history.get(key, {"version": None, "entered_by": None, "entered_at": None})
        rows.append(
            {
                "patient": row["patient"],
                "side": side,
                "time": row["time"],
                "measure": row["measure"],
                "value": row["value"],
                **known,
            }
        )
    return rows


def check_versions(connection: Connection, versions: Mapping[ObservationKey, int | None]) -> None:
    """Raise StaleVersionError unless every observation is still at the given version
    (None: not entered yet)."""
    by_visit: dict[tuple[str, str], dict] = {}
    for key, expected in versions.items():
        visit = (key[0], key[2])
        if visit not in by_visit:
            by_visit[visit] = {
                (r["patient"], r["side"], r["time"], r["measure"]): r
                for r in current_observations(connection, *visit)
            }
        current = by_visit[visit].get(key)
        if (current["version"] if current else None) == expected:
            continue
        patient, side, time, measure = key
        what = f"{patient} {time} {measure}{' ' + side if side else ''}"
        if current is None:
            raise StaleVersionError(
                f"conflict: {what} no longer has a value; nothing written: reload and enter again",
                current={},
            )
        raise StaleVersionError(
            f"conflict: {what} was changed meanwhile: it is now {current['value']:g} "
            f"(version {current['version']}), entered by {current['entered_by']} at "
            f"{current['entered_at']}; nothing written: look at the current value and enter "
            "again",
            current=current,
        )
