"""Persistence only: the study database's schema, engines, migrations, study I/O."""

from .engine import create_study_db, head_revision, make_engine, open_study_db
from .io import read_study, write_study
from .schema import NO_SIDE, metadata

__all__ = [
    "NO_SIDE",
    "create_study_db",
    "head_revision",
    "make_engine",
    "metadata",
    "open_study_db",
    "read_study",
    "write_study",
]
