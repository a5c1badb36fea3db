"""`nmmstrial export`: tidy tables and a data dictionary from a study database."""

from __future__ import annotations

from pathlib import Path

import click

from ..capture.exports import export_study
from ..store import read_study
from .auth import login


@click.command()
@click.argument("study_db")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True
)
@click.option(
    "--user",
    "user_name",
    help="Your user name; unblinded roles get real / sham and the allocation. "
    "Without it, the export is blinded.",
)
def export(study_db: str, out: Path, fmt: str, user_name: str | None) -> None:
    """Write STUDY_DB's tables (patients, observations, ...) as tidy files in OUT.

    Blinded (every role but the unblinded physician until the study is unblinded, and
    no --user): arms are the codes X / Y and the allocation is left out."""
    study = read_study(study_db)
    blinded = not login(study_db, user_name).sees_arms(study.meta) if user_name else True
    written = export_study(study, out, fmt=fmt, blinded=blinded)
    for path in written:
        click.echo(str(path))
