"""`nmmstrial audit ...`: read and verify a study's tamper-evident audit trail."""

from __future__ import annotations

import json

import click

from ..errors import NmmstrialError
from ..store import audit_log, open_study_db, verify_audit
from ..store.changes import read_meta
from ..store.engine import describe
from .auth import login, user_option
from .output import emit


@click.group()
def audit() -> None:
    """The audit trail: every change to trial data, hash-chained."""


def parse_anchor(value: str | None) -> tuple[int, str] | None:
    """SEQ:ANCHOR as `conduct lock` prints it."""
    if value is None:
        return None
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise click.BadParameter(
            f"{value!r}: give the anchor as `conduct lock` printed it, SEQ:64-hex-digits"
        )
    return int(seq), digest.lower()


@audit.command("verify")
@click.argument("study_db")
@user_option
@click.option(
    "--anchor",
    help="SEQ:ANCHOR printed by `conduct lock`, kept apart: the trail must still hold it.",
)
def verify(study_db: str, user_name: str, anchor: str | None) -> None:
    """Recompute the hash chain, check the lock's anchor (and --anchor) and the data
    against it; exit 0 only when intact.

    Any role may verify: it prints no trial values."""
    given = parse_anchor(anchor)
    login(study_db, user_name)
    engine = open_study_db(study_db)
    try:
        with engine.connect() as connection:
            check = verify_audit(connection, anchor=given)
    finally:
        engine.dispose()
    if not check.ok:
        where = f"first broken link: record {check.first_broken}: " if check.first_broken else ""
        raise NmmstrialError(f"{describe(study_db)}: audit check failed: {where}{check.message}")
    click.echo(f"{describe(study_db)}: {check.message}")


@audit.command("log")
@click.argument("study_db")
@click.option("--patient", help="Only the records of this patient.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@user_option
def log(study_db: str, patient: str | None, as_json: bool, user_name: str) -> None:
    """List the audit trail in chain order; for blinded roles, values that tell the
    allocation are masked."""
    user = login(study_db, user_name)
    engine = open_study_db(study_db)
    try:
        with engine.connect() as connection:
            meta = read_meta(connection)
            frame = audit_log(connection, patient=patient, blinded=not user.sees_arms(meta))
    finally:
        engine.dispose()
    records = json.loads(frame.to_json(orient="records"))
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    shown = [
        {
            k: r[k]
            for k in ("seq", "utc", "user", "role", "action", "table", "patient", "field", "reason")
        }
        for r in records
    ]
    emit({"audit": shown}, as_json=False, title=f"Audit trail of {describe(study_db)}")
