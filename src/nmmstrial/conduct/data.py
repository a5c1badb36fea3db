"""Entering assessments, locking the database and unblinding: the rules, then the store.

Who may enter what: clinical measures by the assessor, CMAP by the electrophysiologist.
A locked database refuses every entry, and the refused attempt is itself recorded.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from ..capture.validate import validate_observations
from ..errors import AccessError, InvalidValueError
from ..store import Author, open_study_db, read_study
from ..store.changes import change_meta, log_event, read_meta, write_observations
from ..store.schema import audit_table
from .users import User, require_role

ENTRY_ROLES = {"cmap": ("electrophysiologist",)}
DEFAULT_ENTRY_ROLES = ("assessor",)


def entry_roles(measure: str) -> tuple[str, ...]:
    return ENTRY_ROLES.get(measure.split("_")[0], DEFAULT_ENTRY_ROLES)


def record_assessments(
    target: str,
    rows: pd.DataFrame,
    user: User,
    author: Author,
    *,
    source: str,
    visit_date: str | None = None,
) -> dict[str, int]:
    """Validate every row (protocol, patient, role) and write them all, or none; a visit
    first entered is recorded as done on `visit_date` (default: the author's day)."""
    visit_date = visit_date or author.utc[:10]
    study = read_study(target)
    if study.meta.get("locked"):
        log_event(
            target,
            author.entry(
                "refused",
                reason=f"entry after lock ({source})",
            ),
        )
        raise AccessError(f"{target}: the database is locked; no entry is accepted")
    validate_observations(rows, study.protocol, source=source)
    known = set(study.patients["patient"])
    for number, row in enumerate(rows.itertuples(index=False), start=1):
        if row.patient not in known:
            raise InvalidValueError(
                f"{source}, row {number}, field patient: {row.patient!r} is not enrolled"
            )
        allowed = entry_roles(row.measure)
        if user.role not in allowed:
            raise AccessError(
                f"{source}, row {number}: {user.name} ({user.role}) may not enter "
                f"{row.measure}; allowed: {', '.join(allowed)}"
            )
    return write_observations(target, rows, author, source=source, visit_date=visit_date)


def lock(target: str, user: User, author: Author, reason: str | None) -> dict:
    """Freeze trial data; the audit head at lock is recorded as the trail's anchor."""
    require_role(user, ("monitor", "admin"), "lock the database")
    engine = open_study_db(target)
    try:
        with engine.connect() as connection:
            if read_meta(connection).get("locked"):
                raise InvalidValueError(f"{target}: the database is already locked")
            head = connection.execute(
                select(audit_table.c.seq, audit_table.c.hash)
                .order_by(audit_table.c.seq.desc())
                .limit(1)
            ).first()
    finally:
        engine.dispose()
    anchor = {
        "utc": author.utc,
        "by": user.name,
        "head_seq": head.seq if head else 0,
        "head_hash": head.hash if head else None,
    }
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
