"""Persistence only: the study database's schema, engines, migrations, study I/O, audit."""

from .audit import AuditCheck, AuditEntry, append_audit, audit_log, verify_audit
from .engine import (
    create_study_db,
    head_revision,
    make_engine,
    open_study_db,
    upgrade_study_db,
)
from .io import Author, add_user, read_study, study_users, write_study
from .schema import NO_SIDE, metadata

__all__ = [
    "NO_SIDE",
    "AuditCheck",
    "AuditEntry",
    "Author",
    "add_user",
    "append_audit",
    "audit_log",
    "create_study_db",
    "head_revision",
    "make_engine",
    "metadata",
    "open_study_db",
    "read_study",
    "study_users",
    "upgrade_study_db",
    "verify_audit",
    "write_study",
]
