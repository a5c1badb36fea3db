"""`nmmstrial demo`: simulate the reference trial, store it, and write its report."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..conduct.simulated import conducted_authorship
from ..protocol import reference_protocol
from ..report import write_report
from ..simulate import simulate_trial
from ..store import Author, read_study, write_study
from .auth import demo_users


@click.command()
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--seed", type=click.IntRange(min=0), default=2019, show_default=True)
def demo(out: Path, seed: int) -> None:
    """Simulate the reference trial into OUT/study.db and report it in OUT/index.html."""
    out.mkdir(parents=True, exist_ok=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        disable=not sys.stderr.isatty(),
        transient=True,
    ) as progress:
        task = progress.add_task("simulating the reference trial", total=3)
        study = simulate_trial(reference_protocol(), seed=seed)
        progress.update(task, advance=1, description="storing it in study.db")
        users, password = demo_users()
        authors, reveals = conducted_authorship(study, Author.now("nmmstrial", "admin").utc)
        write_study(
            study, out / "study.db", overwrite=True, users=users, authors=authors, events=reveals
        )
        progress.update(task, advance=1, description="writing the report")
        # The report is written from what was stored, so the demo shows the round trip.
        index = write_report(read_study(out / "study.db"), out)
        progress.update(task, advance=1)
    click.echo(str(index.resolve()))
    names = ", ".join(u.name for u in users)
    click.echo(f"users of {out / 'study.db'}: {names}; password: {password}", err=True)
