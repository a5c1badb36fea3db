"""`nmmstrial assay qpcr ...`: read exports, fold changes, standard curves, real vs sham."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from ..assays.qpcr import compare_arms, read_qpcr_export, relative_expression, standard_curve
from ..conduct.lab import import_qpcr
from ..errors import InvalidValueError
from ..store import Author, read_study
from ..study import with_arm
from .auth import login
from .output import emit

FILE = click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON (full precision).")
UNDETERMINED = click.option(
    "--undetermined",
    default="exclude",
    show_default=True,
    metavar="exclude|censor=40|fail",
    help="Undetermined wells: leave out, set to C cycles, or refuse the file.",
)


@click.group()
def qpcr() -> None:
    """qPCR exports (QuantStudio, 7500, SDS, D&A .xlsx, tidy CSV): fold changes and tests."""


@qpcr.command("read")
@FILE
@JSON
def read_command(file, as_json):
    """Print the wells as read (ct null when undetermined) and the file's metadata."""
    emit(read_qpcr_export(file).to_dict(), as_json=as_json, title=f"qPCR wells: {file}")


def _efficiencies(specs: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for spec in specs:
        target, sep, value = spec.rpartition("=")
        try:
            out[target.strip()] = float(value)
        except ValueError:
            target = ""
        if not sep or not target.strip():
            raise InvalidValueError(f"--efficiency {spec!r}: write TARGET=E, e.g. GAPDH=1.95")
    return out


@qpcr.command("fold")
@FILE
@click.option("--reference", "references", multiple=True, required=True, help="Reference gene.")
@click.option("--calibrator", required=True, help="Sample whose fold is 1 (e.g. the sham side).")
@click.option("--target", "targets", multiple=True, help="Only these targets (default: all).")
@click.option(
    "--efficiency",
    "efficiency_specs",
    multiple=True,
    metavar="TARGET=E",
    help="Amplification factor E (1-2) of a gene; others assume 2. Repeatable.",
)
@click.option("--standard-curve", is_flag=True, help="E of every gene from its STANDARD wells.")
@click.option(
    "--error",
    type=click.Choice(["separate", "same"]),
    default="separate",
    show_default=True,
    help="Target and reference in separate tubes, or the same well (multiplex).",
)
@click.option(
    "--confidence", type=float, help="Level of the t interval (vendor RQ min/max); else +/- SD."
)
@UNDETERMINED
@click.option(
    "--ntc-margin",
    type=float,
    default=5.0,
    show_default=True,
    help="Refuse an NTC with Cq less than this many cycles after the latest sample Cq.",
)
@JSON
def fold_command(
    file,
    references,
    calibrator,
    targets,
    efficiency_specs,
    standard_curve,
    error,
    confidence,
    undetermined,
    ntc_margin,
    as_json,
):
    """Fold change per sample and target: 2^-ddCt, or efficiency-corrected (Pfaffl)."""
    if efficiency_specs and standard_curve:
        raise InvalidValueError("give --efficiency or --standard-curve, not both")
    result = relative_expression(
        read_qpcr_export(file),
        references=references,
        calibrator=calibrator,
        targets=targets or None,
        efficiencies=_efficiencies(efficiency_specs),
        use_standard_curve=standard_curve,
        error=error,
        confidence=confidence,
        undetermined=undetermined,
        ntc_margin=ntc_margin,
    )
    emit(result.to_dict(), as_json=as_json, title=f"Relative expression vs {calibrator}")


@qpcr.command("standard-curve")
@FILE
@click.option("--target", required=True, help="Target whose STANDARD wells are fitted.")
@JSON
def standard_curve_command(file, target, as_json):
    """Slope, intercept, R^2 and efficiency E = 10^(-1/slope) from the STANDARD wells."""
    export = read_qpcr_export(file)
    curve = standard_curve(export.wells, target, source=export.source)
    emit(curve, as_json=as_json, title=f"Standard curve: {target}")


def _references(specs: tuple[str, ...]) -> tuple[list[str], dict[str, list[str]]]:
    default, per_gene = [], {}
    for spec in specs:
        ref, sep, genes = spec.partition("=")
        if not sep:
            default.append(spec.strip())
            continue
        names = [g.strip() for g in genes.split(",") if g.strip()]
        if not ref.strip() or not names:
            raise InvalidValueError(f"--reference {spec!r}: write REF or REF=GENE1,GENE2")
        for gene in names:
            per_gene.setdefault(gene, []).append(ref.strip())
    return default, per_gene


@qpcr.command("import")
@FILE
@click.option("--study", "study_db", required=True, help="The study database to store into.")
@click.option("--user", "user_name", required=True, help="Your user name (lab or admin).")
@click.option(
    "--map",
    "sample_map",
    type=click.Path(path_type=Path, dir_okay=False),
    help="CSV sample,patient,side for plate sample names that are not biopsy sample ids.",
)
@click.option("--plate", help="Name of the plate (run); default: the file's name.")
def import_command(file, study_db, user_name, sample_map, plate):
    """Store every well of an instrument export in the study, linked to its biopsy."""
    user = login(study_db, user_name)
    count = import_qpcr(
        study_db,
        user,
        Author.now(user.name, user.role),
        file,
        sample_map=sample_map,
        plate=plate,
    )
    click.echo(f"{file}: {count} wells stored in {study_db}")


@qpcr.command("compare")
@click.argument("source")
@click.option(
    "--reference",
    "references",
    multiple=True,
    required=True,
    metavar="REF[=GENE,...]",
    help="Reference gene for all genes, or only for the genes listed (U6=miR-1,miR-206).",
)
@click.option("--gene", "genes", multiple=True, help="Only these genes (default: all).")
@click.option("--patient", "patients", multiple=True, help="Only these patients (default: all).")
@click.option("--user", "user_name", help="Your user name (with a study database).")
@UNDETERMINED
@JSON
def compare_command(source, references, genes, patients, user_name, undetermined, as_json):
    """Real vs sham within patients per gene: Wilcoxon and paired t on ddCt, folds.

    SOURCE is a study database (its stored wells; arms from the allocation, coded X / Y
    for blinded roles or without --user) or a tidy CSV (patient, side, sample, target,
    replicate, ct) with an `arm` column: real/sham, or X/Y when blinded (ddCt = X - Y).
    """
    default, per_gene = _references(references)
    if source.endswith((".db", ".sqlite", ".sqlite3")) or "://" in source:
        wells, label = _study_wells(source, user_name)
    else:
        export = read_qpcr_export(Path(source))
        wells, label = export.wells, export.source
    result = compare_arms(
        wells,
        references=default,
        gene_references=per_gene,
        genes=genes or None,
        patients=patients or None,
        undetermined=undetermined,
        source=label,
    )
    emit(result.to_dict(), as_json=as_json, title=f"Split-body comparison ({result.contrast})")


def _study_wells(study_db: str, user_name: str | None) -> tuple[pd.DataFrame, str]:
    """The study's stored sample wells with their arm, as the user may see it."""
    study = read_study(study_db)
    sees = login(study_db, user_name).sees_arms(study.meta) if user_name else False
    wells = study.qpcr.loc[study.qpcr["task"] == "UNKNOWN"]
    if wells.empty:
        raise InvalidValueError(f"{study_db}: the study has no qPCR wells; import an export first")
    wells = with_arm(wells, study.allocation, coded=not sees)
    wells = wells.assign(
        ct=wells["ct"].astype("float64"),
        undetermined=wells["ct"].isna().astype(bool),
        well_position=wells["plate"] + " " + wells["well"],
    )
    return wells, f"{study_db}, table qpcr"
