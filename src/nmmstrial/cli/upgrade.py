"""`nmmstrial upgrade`: bring a study database to this version's schema."""

from __future__ import annotations

import click

from ..store import upgrade_study_db
from ..store.engine import describe


@click.command()
@click.argument("study_db")
def upgrade(study_db: str) -> None:
    """Migrate STUDY_DB from an older nmmstrial's schema (trial data are not changed)."""
    before, after = upgrade_study_db(study_db)
    if before == after:
        click.echo(f"{describe(study_db)}: already at schema revision {after}")
    else:
        click.echo(f"{describe(study_db)}: schema revision {before} -> {after}")
