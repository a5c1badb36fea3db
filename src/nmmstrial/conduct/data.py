"""Entering assessments, locking the database and unblinding: the rules, then the store.

Who may enter what: clinical measures by the assessor, CMAP by the electrophysiologist.
A locked database refuses every entry, and the refused attempt is itself recorded.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from ..capture.validate import validate_observations
from ..errors import AccessError, InvalidValueError, LockedError
from ..store import Author, open_study_db, read_study
from ..store.audit import keyed_anchor
from ..store.changes import change_meta, log_event, read_meta, write_observations
from ..store.history import ObservationKey
from ..store.schema import audit_table
from ..study import Study
from .users import User, require_role

ENTRY_ROLES = {"cmap": ("electrophysiologist",)}
DEFAULT_ENTRY_ROLES = ("assessor",)


def entry_roles(measure: str) -> tuple[str, ...]:
    return ENTRY_ROLES.get(measure.split("_")[0], DEFAULT_ENTRY_ROLES)


def open_unlocked(
    target: str,
    author: Author,
    what: str,
    tables: tuple[str, ...] | None = None,
    patients: list[str] | None = None,
) -> Study:
    """The study (only `tables` and `patients`, if given), if it is not locked; else the
    attempt is recorded and refused."""
    study = read_study(target, tables=tables, patients=patients)
    if study.meta.get("locked"):
        log_event(target, author.entry("refused", reason=f"entry after lock ({what})"))
        raise LockedError(f"{target}: the database is locked; no entry is accepted")
    return study


def record_assessments(
    target: str,
    rows: pd.DataFrame,
    user: User,
    author: Author,
    *,
    source: str,
    visit_date: str | None = None,
    versions: Mapping[ObservationKey, int | None] | None = None,
) -> dict[str, int]:
    """Validate every row (protocol, patient, role) and write them all, or none; a visit
    first entered is recorded as done on `visit_date` (default: the author's day).

    `versions`: the version each change was based on (the web app's optimistic lock);
    a value changed meanwhile by someone else raises StaleVersionError."""
    visit_date = visit_date or author.utc[:10]
    # Entering needs the patients and their stored values (for the derived measures) only.
    study = open_unlocked(
        target,
        author,
        source,
        tables=("patients", "observations"),
        patients=sorted(set(rows["patient"].dropna().astype(str))),
    )
    validate_observations(rows, study.protocol, source=source)
    known = set(study.patients["patient"])
    for number, row in enumerate(rows.itertuples(index=False), start=1):
        if row.patient not in known:
            raise InvalidValueError(
                f"{source}, row {number}, field patient: {row.patient!r} is not enrolled",
                field="patient",
            )
        allowed = entry_roles(row.measure)
        if user.role not in allowed:
            raise AccessError(
                f"{source}, row {number}: {user.name} ({user.role}) may not enter "
                f"{row.measure}; allowed: {', '.join(allowed)}"
            )
    rows = pd.concat([rows, derived_rows(study, rows)], ignore_index=True)
    return write_observations(
        target, rows, author, source=source, visit_date=visit_date, versions=versions
    )


def derived_rows(study: Study, rows: pd.DataFrame) -> pd.DataFrame:
    """The derived measures (sums, means) that the entered rows change, recomputed from
    the stored components and the new ones, when every component is there.

    The reason names what changed, so the trail says why the total moved.
    """
    stored = study.observations
    entered = rows.assign(side=rows["side"].where(rows["side"].notna(), None))
    out = []
    for measure in study.protocol.measures:
        if not measure.derived:
            continue
        touched = entered[entered["measure"].isin(measure.components)]
        if touched.empty:
            continue
        for (patient, side, time), group in touched.groupby(
            ["patient", "side", "time"], dropna=False, sort=False
        ):
            side = None if pd.isna(side) else side
            at = stored[
                (stored["patient"] == patient)
                & (stored["time"] == time)
                & (stored["side"].isna() if side is None else stored["side"] == side)
            ]
            values = dict(zip(at["measure"], at["value"], strict=False))
            values.update(zip(group["measure"], group["value"], strict=False))
            parts = [values.get(c) for c in measure.components]
            if any(v is None or pd.isna(v) for v in parts):
                continue
            total = float(np.sum(parts)) if measure.derived == "sum" else float(np.mean(parts))
            out.append(
                {
                    "patient": patient,
                    "side": side,
                    "time": time,
                    "measure": measure.name,
                    "value": round(total, 6 if measure.derived == "sum" else 2),
                    "reason": f"recomputed from {', '.join(sorted(set(group['measure'])))}",
                }
            )
    return pd.DataFrame(out, columns=[*rows.columns.union(["reason"], sort=False)])


def lock(target: str, user: User, author: Author, reason: str | None) -> dict:
    """Freeze trial data; the audit head at lock is recorded as the trail's anchor (its
    keyed hash, see `store.audit.keyed_anchor`), for the monitor to keep."""
    require_role(user, ("monitor", "admin"), "lock the database")
    engine = open_study_db(target)
    try:
        with engine.connect() as connection:
            if read_meta(connection).get("locked"):
                raise InvalidValueError(f"{target}: the database is already locked")
            head = connection.execute(select(func.max(audit_table.c.seq))).scalar() or 0
            keyed = keyed_anchor(connection, head) if head else None
    finally:
        engine.dispose()
    anchor = {"utc": author.utc, "by": user.name, "head_seq": head, "anchor": keyed}
    change_meta(target, {"locked": anchor}, author, action="lock", reason=reason)
    return anchor


def unblind(target: str, user: User, author: Author, reason: str) -> None:
    """Record the unblinding of the whole study (admin, after lock, with a reason)."""
    require_role(user, ("admin",), "unblind the study")
    if not reason or not reason.strip():
        raise InvalidValueError("unblinding needs a reason (--reason)")
    engine = open_study_db(target)
    try:
        with engine.connect() as connection:
            meta = read_meta(connection)
    finally:
        engine.dispose()
    if not meta.get("locked"):
        raise InvalidValueError(f"{target}: lock the database before unblinding")
    if meta.get("unblinded"):
        raise InvalidValueError(f"{target}: the study is already unblinded")
    change_meta(
        target,
        {"unblinded": {"utc": author.utc, "by": user.name}},
        author,
        action="unblind",
        reason=reason,
    )
