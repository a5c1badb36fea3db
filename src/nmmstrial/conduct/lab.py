"""Laboratory results entering the study: who may import them, and into what."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..assays.ephys import measure_files
from ..assays.qpcr import read_qpcr_export
from ..capture.ephys import map_files, oocyte_rows, read_oocyte_map
from ..capture.qpcr import read_sample_map, study_wells
from ..store import Author
from ..store.changes import add_rows, upsert_rows
from .data import open_unlocked
from .users import User, require_role

LAB_ROLES = ("lab", "admin")
EPHYS_ROLES = ("electrophysiologist", "admin")


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
    study = open_unlocked(target, author, f"qPCR import of {path.name}")
    export = read_qpcr_export(path)
    mapping = read_sample_map(sample_map) if sample_map else None
    wells = study_wells(export, study.biopsies, plate=plate or path.stem, sample_map=mapping)
    return add_rows(target, "qpcr", wells, author)


@dataclass(frozen=True)
class EphysImport:
    """What `import_ephys` measured (`measure_recording` results), the files that failed
    ({file, error}), notes for the user and the rows stored (inserted, updated,
    unchanged)."""

    results: list[dict]
    errors: list[dict]
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def import_ephys(
    target: str,
    user: User,
    author: Author,
    paths: Sequence[Path],
    *,
    file_map: Path | None = None,
    kind: str = "auto",
    reason: str | None = None,
    progress: Callable[[Path], None] | None = None,
    **options,
) -> EphysImport:
    """Measure ABF recordings and store each oocyte's result, audited, all or none.

    Files map to oocytes as `capture.ephys` says (`file_map`, else SAMPLE_oocyteNN.abf);
    an unmapped file is refused before anything is measured. A file that cannot be read
    or measured is reported in `errors` and the others are still measured and stored.
    A new oocyte is inserted; a stored one is updated, a changed value needing `reason`.
    `options` go to `measure_recording` (window, sweeps, thresholds, clamp tolerance...).
    """
    require_role(user, EPHYS_ROLES, "import oocyte recordings")
    study = open_unlocked(target, author, "oocyte recordings")
    mapping = map_files(paths, study.biopsies, read_oocyte_map(file_map) if file_map else None)
    results, errors = measure_files(list(paths), progress=progress, **options)
    from .. import __version__

    rows, failed, notes = oocyte_rows(
        results, mapping, study.biopsies, study.oocytes, version=__version__, kind=kind
    )
    bad = {error["file"] for error in failed}
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    if not rows.empty:
        counts = upsert_rows(
            target, "oocytes", rows, author, reason=reason, source="oocyte recordings"
        )
    return EphysImport(
        results=[r for r in results if r["file"] not in bad],
        errors=errors + failed,
        notes=notes,
        counts=counts,
    )


@dataclass(frozen=True)
class Ec50Import:
    """What `import_ec50` fitted (`fit_dose_response` rows), the sheet's SHA-256 and
    the rows stored (inserted, updated, unchanged)."""

    fits: list[dict]
    sha256: str
    counts: dict[str, int] = field(default_factory=dict)


def import_ec50(
    target: str,
    user: User,
    author: Author,
    path: Path,
    *,
    conc: str,
    response: str,
    curve: str,
    model: str | None = None,
    se: str = "drc",
    reason: str | None = None,
) -> Ec50Import:
    """Fit a dose-response sheet, one curve per oocyte, and store each oocyte's EC50,
    audited, all or none.

    Curves map to oocytes as `capture.ephys.curve_oocytes` says (the sheet's `sample`
    and `oocyte` columns, else curves named SAMPLE-N or SAMPLE_oocyteNN); an unmapped
    curve refuses the whole sheet before anything is stored. Each oocyte's `params`
    gets an `ec50` entry: the sheet's name and SHA-256, the model and drc's b, c, d, e,
    the flags, the points and the options (`parameters`); `version` is nmmstrial's. A
    stored EC50 changes only with `reason`.
    """
    import hashlib

    from .. import __version__
    from ..assays.doseresponse import fit_dose_response
    from ..capture.ephys import curve_oocytes, ec50_rows
    from ..capture.imports import read_text_csv

    require_role(user, EPHYS_ROLES, "import dose-response fits")
    study = open_unlocked(target, author, "dose-response fits")
    path = Path(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    table = read_text_csv(path)
    curves = curve_oocytes(table, curve, study.biopsies, where=str(path))
    fits = fit_dose_response(
        table, conc, response, curve=curve, model=model, se=se, source=str(path)
    )
    rows = ec50_rows(
        fits,
        table,
        curves,
        study.biopsies,
        study.oocytes,
        curve=curve,
        dose=conc,
        response=response,
        sheet=path.name,
        sha256=digest,
        version=__version__,
        parameters={"conc": conc, "response": response, "curve": curve, "model": model, "se": se},
    )
    counts = upsert_rows(
        target, "oocytes", rows, author, reason=reason, source="dose-response fits"
    )
    return Ec50Import(fits=fits, sha256=digest, counts=counts)
