"""The study database's tables: a `study` row and one table per entry of `study.TABLES`.

The columns and their types come from `TABLES`, so the database cannot drift from the
frames; this module adds what only a database has: keys, foreign keys, checks. The
tables are created only by the migrations (`migrations/versions`), and a test checks
that the migrated database matches this metadata.

Choices:
- Every table has an autoincrement `id`, so rows read back in the order written.
- A side is stored NOT NULL, with `NO_SIDE` ('') for "no side" (per-patient measures,
  systemic adverse events). SQL treats NULLs as distinct, so a NULL side would let a
  per-patient measure be entered twice at one visit; '' keeps the unique key working on
  SQLite and PostgreSQL alike. Readers turn it back into NA.
- qPCR wells are keyed by plate, well and target (a duplex well holds two targets).
  Non-template controls belong to no patient: their patient and side are NULL, which
  the foreign key to patients and the side check both let through; sample wells carry
  the patient and side of their biopsy sample.
- Oocytes are keyed by biopsy sample and oocyte number, the sample a foreign key to
  the biopsies (an oocyte carries one biopsy's membranes).
- The allocation has no foreign key to or from trial data: it is sealed apart (a
  randomization list also holds sequence numbers no patient has been given yet).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

from ..study import TABLES
from ..tidy import SIDES

NO_SIDE = ""

# Columns holding a side, and whether it may be empty (stored as NO_SIDE, never NULL).
SIDE_COLUMNS = {
    ("patients", "onset_side"): False,
    ("allocation", "real_side"): False,
    ("observations", "side"): True,
    ("adverse_events", "side"): True,
    ("biopsies", "side"): False,
    ("qpcr", "side"): False,
    ("oocytes", "side"): False,
    ("fibres", "side"): False,
}

# Columns whose missing value is stored as '' (NOT NULL, so unique keys hold), read as NA.
BLANK_WHEN_MISSING: dict[str, tuple[str, ...]] = {
    "observations": ("side",),
    "adverse_events": ("side",),
    "allocation": ("stratum",),
}

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQL_TYPES: dict[str, type[TypeEngine]] = {
    "string": Text,
    "Int64": Integer,
    "float64": Double,
    "boolean": Boolean,
}

# The columns that identify a row: NOT NULL and unique together.
KEYS: dict[str, tuple[str, ...]] = {
    "patients": ("patient",),
    "allocation": ("stratum", "sequence"),
    "visits": ("patient", "time"),
    "observations": ("patient", "side", "time", "measure"),
    "sessions": ("patient", "session"),
    "adverse_events": ("patient", "event"),
    "biopsies": ("patient", "side", "time"),
    "qpcr": ("plate", "well", "target"),
    "oocytes": ("sample", "oocyte"),
    "fibres": ("sample", "fibre"),
}

# NOT NULL beyond the keys and the optional sides: an allocation needs its side.
_REQUIRED = {"allocation": ("real_side",)}

# Further columns unique on their own (NULL allowed: a list entry not yet allocated).
# A patient's sequence number is unique only within its stratum (the allocation's key).
_UNIQUE = {"allocation": ("patient",), "biopsies": ("sample",)}

# Foreign keys beyond every trial table's patient: an oocyte carries one biopsy's
# membranes, a fibre belongs to one biopsy's section.
_FOREIGN = {("oocytes", "sample"): "biopsies.sample", ("fibres", "sample"): "biopsies.sample"}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

study_table = Table(
    "study",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("protocol", Text, nullable=False),  # the study definition, YAML
    Column("meta", Text, nullable=False),  # what describes the data set, JSON
    CheckConstraint("id = 1", name="one_row"),
)


def _side_check(column: str, allow_empty: bool) -> CheckConstraint:
    allowed = [*SIDES, NO_SIDE] if allow_empty else list(SIDES)
    values = ", ".join(f"'{side}'" for side in allowed)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_is_side")


def _trial_table(name: str) -> Table:
    keys = KEYS[name]
    columns = [Column("id", Integer, primary_key=True)]
    for column, (dtype, _) in TABLES[name].items():
        foreign = (
            [ForeignKey("patients.patient")]
            if column == "patient" and name not in ("patients", "allocation")
            else []
        )
        if (name, column) in _FOREIGN:
            foreign.append(ForeignKey(_FOREIGN[(name, column)]))
        # An optional side is stored as NO_SIDE, so it is never NULL either.
        required = column in (*keys, *_REQUIRED.get(name, ())) or SIDE_COLUMNS.get(
            (name, column), False
        )
        columns.append(Column(column, SQL_TYPES[dtype](), *foreign, nullable=not required))
    constraints = [UniqueConstraint(*keys)]
    constraints += [UniqueConstraint(column) for column in _UNIQUE.get(name, ())]
    constraints += [
        _side_check(column, allow_empty)
        for (table, column), allow_empty in SIDE_COLUMNS.items()
        if table == name
    ]
    return Table(name, metadata, *columns, *constraints)


trial_tables: dict[str, Table] = {name: _trial_table(name) for name in TABLES}


# The audit trail: append-only, one row per change, each row holding the hash of the one
# before it (see audit.py). `seq` is given by the writer, not autoincremented, so a gap
# left by a deleted row shows.
audit_table = Table(
    "audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("utc", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("table_name", Text),
    Column("record", Text),
    Column("patient", Text),
    Column("field", Text),
    Column("old", Text),
    Column("new", Text),
    Column("reason", Text),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    # A value's version and author are read off its patient's records (history.py).
    Index("ix_audit_patient", "patient"),
)


# Users of the study: the password only as a salted scrypt hash (conduct/users.py).
users_table = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("role", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    CheckConstraint(
        "role IN ('statistician', 'unblinded_physician', 'assessor', 'electrophysiologist', "
        "'lab', 'monitor', 'admin')",
        name="role_is_known",
    ),
)


# The sealed randomization list's description: seed and salt are as secret as the list.
randomization_table = Table(
    "randomization",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seed", Text, nullable=False),
    Column("n", Integer, nullable=False),
    Column("blocks", Text, nullable=False),  # JSON list
    Column("strata", Text, nullable=False),  # JSON mapping
    Column("salt", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("created_utc", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    CheckConstraint("id = 1", name="one_list"),
)


# Sessions of the browser app (web/sessions.py): the token itself is never stored, only
# its SHA-256, so a copy of the database cannot be used to take over a session. Not
# trial data: logins and logouts go to the audit trail, last-seen updates do not.
web_sessions_table = Table(
    "web_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_sha256", Text, nullable=False, unique=True),
    Column("user", Text, ForeignKey("users.name"), nullable=False),
    Column("created_utc", Text, nullable=False),
    Column("last_seen_utc", Text, nullable=False),
    Column("revoked_utc", Text),
)
