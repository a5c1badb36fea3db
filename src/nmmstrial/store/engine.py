"""Engines for study databases: a SQLite file by path, or a SQLAlchemy URL (PostgreSQL).

One study is one database. A study database is created only by the Alembic migrations
shipped in `migrations/`, run here with a Config built in code (no alembic.ini), so the
schema and its revision always travel together.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from ..errors import ConflictError, StoreError
from .schema import metadata

MIGRATIONS = Path(__file__).parent / "migrations"

Target = str | os.PathLike[str]


def target_url(target: Target) -> URL:
    """A URL for `target`: anything with '://' is a URL, anything else a SQLite file path."""
    text = os.fspath(target)
    if "://" not in text:
        return URL.create("sqlite", database=text)
    try:
        return make_url(text)
    except ArgumentError as error:
        raise StoreError(f"{text}: not a database URL or a file path: {error}") from error


def sqlite_path(target: Target) -> Path | None:
    """The file behind a SQLite target; None for other databases and in-memory SQLite."""
    url = target_url(target)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def describe(target: Target) -> str:
    """How error messages name a target: the path, or the URL without its password."""
    path = sqlite_path(target)
    if path is not None:
        return str(path)
    return target_url(target).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the report, the web app) work while someone enters data;
    # SQLite enforces foreign keys only when asked, per connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(target: Target) -> Engine:
    """An Engine for a SQLite file path or a URL (`sqlite:///...`, `postgresql+psycopg://...`).

    SQLite connections run in WAL mode with foreign keys on. Connecting to a missing
    SQLite file creates it: use `open_study_db` to open an existing study.
    """
    url = target_url(target)
    try:
        engine = create_engine(url)
    except ArgumentError as error:
        raise StoreError(
            f"{describe(target)}: not a database URL SQLAlchemy knows: {error}"
        ) from error
    except ModuleNotFoundError as error:
        raise StoreError(
            f"{describe(target)}: the database driver is not installed ({error.name}); "
            "for PostgreSQL: pip install 'nmmstrial[postgres]'"
        ) from error
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


# pg_advisory_xact_lock's key for study writes ("nmms" in ASCII).
WRITE_LOCK_KEY = 0x6E6D6D73


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the database's write lock from its first statement.

    What it reads (a value's version, a stored value, the audit head) is then the latest
    committed state and stays so until it commits: check-then-write is atomic across
    processes (a CLI run beside the app, two servers on one database), not only within
    one. SQLite: a write statement that changes nothing takes the write lock, waiting up
    to the busy timeout; PostgreSQL: a transaction-level advisory lock.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})
        else:
            connection.exec_driver_sql("UPDATE study SET meta = meta WHERE 0")
        yield connection


@contextmanager
def study_write(
    target: Target, *, conflict: Callable[[str], str] | None = None
) -> Iterator[Connection]:
    """One all-or-nothing change to the study at `target`, under its write lock (`writing`).

    A database error becomes one StoreError saying nothing was written; with `conflict`,
    a clash on a unique key (IntegrityError) becomes a ConflictError with the message
    `conflict(driver detail)`. The engine is closed either way.
    """
    label = describe(target)
    engine = open_study_db(target)
    try:
        with writing(engine) as connection:
            yield connection
    except IntegrityError as error:
        if conflict is None:
            raise StoreError(f"{label}: nothing written: {error_line(error)}") from error
        raise ConflictError(f"{label}: {conflict(error_line(error))}") from error
    except SQLAlchemyError as error:
        raise StoreError(f"{label}: nothing written: {error_line(error)}") from error
    finally:
        engine.dispose()


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    # Config values go through configparser interpolation: escape '%' in the path.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The schema revision this version of nmmstrial writes and reads (read once: the
    shipped migrations do not change while nmmstrial runs)."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise StoreError(f"{MIGRATIONS}: no migrations found; the installation is broken")
    return head


def migrate(connection: Connection) -> None:
    """Bring the database on `connection` to the head revision, in its transaction."""
    command.upgrade(_alembic_config(connection), "head")


def check_study_db(connection: Connection, label: str) -> None:
    """Raise StoreError unless the database is an nmmstrial study at the head revision."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None:
        raise StoreError(f"{label}: not an nmmstrial study database (no schema revision)")
    head = head_revision()
    if revision != head:
        older = revision in _ancestors(head)
        raise StoreError(
            f"{label}: schema revision {revision!r}, but this nmmstrial reads {head!r}; "
            + (
                f"upgrade it with `nmmstrial upgrade {label}`"
                if older
                else "open it with the nmmstrial version that wrote it"
            )
        )
    present = set(inspect(connection).get_table_names())
    missing = [name for name in metadata.tables if name not in present]
    if missing:
        raise StoreError(
            f"{label}: not an nmmstrial study database (missing table(s) {', '.join(missing)})"
        )


def error_line(error: SQLAlchemyError) -> str:
    """The driver's message on one line (PostgreSQL adds a DETAIL line naming the key)."""
    reason = getattr(error, "orig", None) or error
    return "; ".join(line.strip() for line in str(reason).splitlines() if line.strip())


def create_study_db(target: Target) -> Engine:
    """Create an empty study database by running the migrations; return its Engine.

    Refuses a SQLite file that exists and a database that already holds a study.
    """
    label = describe(target)
    path = sqlite_path(target)
    if path is not None and path.exists():
        raise StoreError(f"{label}: already exists; choose a new path for the study database")
    engine = make_engine(target)
    try:
        with engine.begin() as connection:
            if MigrationContext.configure(connection).get_current_revision() is not None:
                raise StoreError(f"{label}: already holds an nmmstrial study")
            migrate(connection)
    except BaseException as error:
        engine.dispose()
        if isinstance(error, SQLAlchemyError):
            raise StoreError(
                f"{label}: cannot create the study database: {error_line(error)}"
            ) from error
        raise
    return engine


def open_study_db(target: Target) -> Engine:
    """Open an existing study database; return its Engine (the caller disposes of it).

    A missing SQLite file is refused before connecting, since connecting would create it.
    """
    label = describe(target)
    path = sqlite_path(target)
    if path is not None and not path.is_file():
        raise StoreError(
            f"{label}: no such study database; create one with "
            f"`nmmstrial simulate --out {label}` or `nmmstrial demo`"
        )
    engine = make_engine(target)
    try:
        with engine.connect() as connection:
            check_study_db(connection, label)
    except BaseException as error:
        engine.dispose()
        if isinstance(error, SQLAlchemyError):
            raise StoreError(
                f"{label}: cannot open the study database: {error_line(error)}"
            ) from error
        raise
    return engine


def _ancestors(head: str) -> set[str]:
    scripts = ScriptDirectory.from_config(_alembic_config())
    return {rev.revision for rev in scripts.iterate_revisions(head, "base")} - {head}


def upgrade_study_db(target: Target) -> tuple[str, str]:
    """Migrate a study written by an older nmmstrial to this one's schema, in one
    transaction; return the revisions before and after. Trial data are not changed."""
    label = describe(target)
    path = sqlite_path(target)
    if path is not None and not path.is_file():
        raise StoreError(f"{label}: no such study database")
    engine = make_engine(target)
    try:
        with engine.begin() as connection:
            before = MigrationContext.configure(connection).get_current_revision()
            if before is None:
                raise StoreError(f"{label}: not an nmmstrial study database (no schema revision)")
            head = head_revision()
            if before != head and before not in _ancestors(head):
                raise StoreError(f"{label}: schema revision {before!r} is newer than {head!r}")
            migrate(connection)
    except SQLAlchemyError as error:
        raise StoreError(f"{label}: cannot upgrade: {error_line(error)}") from error
    finally:
        engine.dispose()
    return before, head
