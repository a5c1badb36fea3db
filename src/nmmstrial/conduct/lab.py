"""Laboratory results entering the study: who may import them, and into what."""

from __future__ import annotations

from pathlib import Path

from ..assays.qpcr import read_qpcr_export
from ..capture.qpcr import read_sample_map, study_wells
from ..errors import AccessError
from ..store import Author, read_study
from ..store.changes import add_rows
from .users import User, require_role

LAB_ROLES = ("lab", "admin")


def import_qpcr(
    target: str,
    user: User,
    author: Author,
    path: Path,
    *,
    sample_map: Path | None = None,
    plate: str | None = None,
) -> int:
    """Store every well of one qPCR export (one plate), audited; return the well count.

    The plate is named by `plate`, else by the file's name; importing a plate twice
    is refused (its wells are already stored).
    """
    require_role(user, LAB_ROLES, "import laboratory results")
    study = read_study(target)
    if study.meta.get("locked"):
        raise AccessError(f"{target}: the database is locked; no import is accepted")
    export = read_qpcr_export(path)
    mapping = read_sample_map(sample_map) if sample_map else None
    wells = study_wells(export, study.biopsies, plate=plate or path.stem, sample_map=mapping)
    return add_rows(target, "qpcr", wells, author)
