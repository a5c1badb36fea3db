"""`nmmstrial export`: tidy tables and a data dictionary from a study database."""

from __future__ import annotations

from pathlib import Path

import click

from ..capture.exports import export_study
from ..store import read_study


@click.command()
@click.argument("study_db")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True
)
def export(study_db: str, out: Path, fmt: str) -> None:
    """Write STUDY_DB's tables (patients, observations, ...) as tidy files in OUT."""
    written = export_study(read_study(study_db), out, fmt=fmt)
    for path in written:
        click.echo(str(path))
