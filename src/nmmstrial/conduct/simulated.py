"""A simulated study recorded as a conducted one: each table entered by the role that
would enter it, and each allocation revealed once to the unblinded physician.

The demo's audit trail so reads like a real trial's (and verifies like one); the users
are named after their roles (see `cli.auth.demo_users`).
"""

from __future__ import annotations

from ..store import Author
from ..store.audit import AuditEntry
from ..study import Study

# Who enters each table in a running trial.
TABLE_ROLES = {
    "patients": "unblinded_physician",
    "allocation": "statistician",
    "visits": "assessor",
    "observations": "assessor",
    "sessions": "unblinded_physician",
    "adverse_events": "assessor",
    "biopsies": "lab",
    "qpcr": "lab",
    "oocytes": "electrophysiologist",
}


def conducted_authorship(study: Study, utc: str) -> tuple[dict[str, Author], list[AuditEntry]]:
    """Authors per table, and the reveal of every patient's allocation."""
    authors = {table: Author(role, role, utc) for table, role in TABLE_ROLES.items()}
    reveals = [
        AuditEntry(
            utc=utc,
            user="unblinded_physician",
            role="unblinded_physician",
            action="reveal",
            table="allocation",
            patient=row.patient,
            new=row.real_side,
        )
        for row in study.allocation.itertuples(index=False)
        if isinstance(row.patient, str)
    ]
    return authors, reveals
