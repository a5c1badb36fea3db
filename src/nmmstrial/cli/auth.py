"""Logging in on the command line: `--user NAME`, the password from the environment or
a prompt; never a hang when there is no terminal to ask on."""

from __future__ import annotations

import os
import sys

import click

from ..conduct import ROLES, User, authenticate, new_user
from ..conduct.users import seen_by
from ..errors import AccessError
from ..store import study_users
from ..study import Study

PASSWORD_ENV = "NMMSTRIAL_PASSWORD"
NEW_PASSWORD_ENV = "NMMSTRIAL_NEW_PASSWORD"
DEMO_PASSWORD = "demo"


def user_option(func):
    return click.option("--user", "user_name", required=True, help="Your user name.")(func)


def read_password(envvar: str = PASSWORD_ENV, *, confirm: bool = False) -> str:
    value = os.environ.get(envvar)
    if value:
        return value
    if not sys.stdin.isatty():
        raise AccessError(f"no password: set {envvar} (there is no terminal to ask on)")
    return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)


def login(study_db: str, user_name: str) -> User:
    """The logged-in user of `study_db`, or AccessError (same text for any failure)."""
    return authenticate(study_users(study_db), user_name, read_password())


def demo_users() -> tuple[list, str]:
    """One user per role, named after it, with NMMSTRIAL_PASSWORD or 'demo'."""
    password = os.environ.get(PASSWORD_ENV) or DEMO_PASSWORD
    return [new_user(role, role, password) for role in ROLES], password


def as_seen_by(study_db: str, user_name: str | None, study: Study) -> Study:
    """The study as `user_name` may see it: arms coded X / Y for blinded roles until the
    study is unblinded. Without a user, the study's own setting stands."""
    if not user_name:
        return study
    return seen_by(study, login(study_db, user_name))
