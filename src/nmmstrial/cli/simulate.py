"""`nmmstrial simulate`: a synthetic reference trial written to a study database."""

from __future__ import annotations

from pathlib import Path

import click

from ..conduct.simulated import conducted_authorship
from ..protocol import load_protocol, reference_protocol
from ..simulate import simulate_trial
from ..store import Author, write_study
from ..store.engine import describe
from .auth import demo_users


@click.command()
@click.option("--out", "out", required=True, help="Study database: a path (SQLite) or a URL.")
@click.option("--seed", type=click.IntRange(min=0), required=True, help="Random seed (recorded).")
@click.option("--patients", type=click.IntRange(min=2), default=22, show_default=True)
@click.option(
    "--protocol",
    "protocol_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Study definition YAML (default: the reference trial).",
)
@click.option("--force", is_flag=True, help="Replace an existing study database.")
def simulate(out: str, seed: int, patients: int, protocol_path: Path | None, force: bool) -> None:
    """Simulate a study calibrated to the reference paper and store it (no report)."""
    proto = load_protocol(protocol_path) if protocol_path else reference_protocol()
    study = simulate_trial(proto, n_patients=patients, seed=seed)
    users, password = demo_users()
    authors, reveals = conducted_authorship(study, Author.now("nmmstrial", "admin").utc)
    write_study(study, out, overwrite=force, users=users, authors=authors, events=reveals)
    click.echo(describe(out))  # a URL is printed without its password
    names = ", ".join(u.name for u in users)
    click.echo(f"users: {names}; password: {password}", err=True)
