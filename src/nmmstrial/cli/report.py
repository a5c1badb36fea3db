"""`nmmstrial report`: the HTML report of a study database."""

from __future__ import annotations

from pathlib import Path

import click

from ..report import write_report
from ..store import read_study
from .auth import as_seen_by


@click.command()
@click.argument("study_db")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--user",
    "user_name",
    help="Your user name: blinded roles get arm codes X / Y until the study is unblinded.",
)
@click.option(
    "--recordings",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of the study's ABF files, for the example recordings (SHA-256 checked).",
)
def report(study_db: str, out: Path, user_name: str | None, recordings: Path | None) -> None:
    """Write a self-contained OUT/index.html (figures also as PNG and SVG).

    Without --user the study's own setting applies: a simulated study is reported
    unblinded (its banner says so), a conducted one blinded."""
    study = read_study(study_db)
    study = as_seen_by(study_db, user_name, study)
    click.echo(str(write_report(study, out, recordings=recordings)))
