"""`nmmstrial report`: the HTML report of a study database."""

from __future__ import annotations

from pathlib import Path

import click

from ..report import write_report
from ..store import read_study


@click.command()
@click.argument("study_db")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
def report(study_db: str, out: Path) -> None:
    """Write a self-contained OUT/index.html (figures also as PNG and SVG)."""
    click.echo(str(write_report(read_study(study_db), out)))
