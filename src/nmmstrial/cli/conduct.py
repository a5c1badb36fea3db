"""`nmmstrial conduct ...`: create a study and its users (enrolment, visits, lock to come)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import __version__
from ..conduct import ROLES, new_user, require_role
from ..protocol import load_protocol, reference_protocol
from ..store import Author, add_user, write_study
from ..store.engine import describe
from ..study import Study
from .auth import NEW_PASSWORD_ENV, login, read_password, user_option


@click.group()
def conduct() -> None:
    """Running the trial: the study, its users and roles."""


@conduct.command("init")
@click.argument("study_db")
@user_option
@click.option(
    "--protocol",
    "protocol_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Study definition YAML (default: the reference trial).",
)
def init(study_db: str, user_name: str, protocol_path: Path | None) -> None:
    """Create an empty, blinded study; --user becomes its first admin."""
    proto = load_protocol(protocol_path) if protocol_path else reference_protocol()
    admin = new_user(user_name, "admin", read_password())
    meta = {
        "name": proto.name,
        "simulated": False,
        "seed": None,
        "blinded": True,
        "generator": f"nmmstrial {__version__}",
    }
    study = Study(protocol=proto, meta=meta, tables={})
    write_study(study, study_db, author=Author.now(user_name, "admin"), users=[admin])
    click.echo(f"{describe(study_db)}: study {proto.name} created; admin {user_name}")


@conduct.command("user-add")
@click.argument("study_db")
@user_option
@click.option("--name", required=True, help="The new user's name.")
@click.option("--role", type=click.Choice(ROLES), required=True)
def user_add(study_db: str, user_name: str, name: str, role: str) -> None:
    """Add a user (admin only); the password from NMMSTRIAL_NEW_PASSWORD or asked twice."""
    admin = login(study_db, user_name)
    require_role(admin, ("admin",), "add users")
    record = new_user(name, role, read_password(NEW_PASSWORD_ENV, confirm=True))
    add_user(study_db, record, Author.now(admin.name, admin.role))
    click.echo(f"{describe(study_db)}: user {name} added as {role}")
