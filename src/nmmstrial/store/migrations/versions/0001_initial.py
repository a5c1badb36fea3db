"""The initial study database: the study row, the allocation and the trial tables.

Written out in full rather than built from `schema.py`, so that this revision keeps
creating the same tables when the schema moves on; a test checks the two agree.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _patient(table: str) -> list[sa.schema.SchemaItem]:
    """The patient column, a foreign key to patients (trial data only)."""
    return [
        sa.Column("patient", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient"], ["patients.patient"], name=op.f(f"fk_{table}_patient_patients")
        ),
    ]


def _side_check(table: str, column: str, *, allow_empty: bool) -> sa.CheckConstraint:
    allowed = "'left', 'right', ''" if allow_empty else "'left', 'right'"
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}_is_side"))


def _keys(table: str, *columns: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint(*columns, name=op.f(f"uq_{table}_{'_'.join(columns)}")),
    ]


def upgrade() -> None:
    op.create_table(
        "study",
        _id(),
        sa.Column("protocol", sa.Text(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_study_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study")),
    )
    op.create_table(
        "allocation",
        _id(),
        sa.Column("patient", sa.Text(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("real_side", sa.Text(), nullable=False),
        _side_check("allocation", "real_side", allow_empty=False),
        *_keys("allocation", "sequence"),
        sa.UniqueConstraint("patient", name=op.f("uq_allocation_patient")),
    )
    op.create_table(
        "patients",
        _id(),
        sa.Column("patient", sa.Text(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=True),
        sa.Column("enrolled_on", sa.Text(), nullable=True),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("sex", sa.Text(), nullable=True),
        sa.Column("disease_duration_months", sa.Double(), nullable=True),
        sa.Column("onset_side", sa.Text(), nullable=True),
        sa.Column("alsfrs_r", sa.Integer(), nullable=True),
        sa.Column("fvc_pct", sa.Double(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("biopsy", sa.Text(), nullable=True),
        _side_check("patients", "onset_side", allow_empty=False),
        *_keys("patients", "patient"),
        sa.UniqueConstraint("sequence", name=op.f("uq_patients_sequence")),
    )
    op.create_table(
        "visits",
        _id(),
        *_patient("visits"),
        sa.Column("time", sa.Text(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=True),
        sa.Column("date", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        *_keys("visits", "patient", "time"),
    )
    op.create_table(
        "observations",
        _id(),
        *_patient("observations"),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("time", sa.Text(), nullable=False),
        sa.Column("measure", sa.Text(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        _side_check("observations", "side", allow_empty=True),
        *_keys("observations", "patient", "side", "time", "measure"),
    )
    op.create_table(
        "sessions",
        _id(),
        *_patient("sessions"),
        sa.Column("session", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=True),
        sa.Column("date", sa.Text(), nullable=True),
        sa.Column("trains", sa.Integer(), nullable=True),
        sa.Column("pulses", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("intensity_pct_mso", sa.Double(), nullable=True),
        sa.Column("completed", sa.Boolean(), nullable=True),
        *_keys("sessions", "patient", "session"),
    )
    op.create_table(
        "adverse_events",
        _id(),
        *_patient("adverse_events"),
        sa.Column("event", sa.Integer(), nullable=False),
        sa.Column("onset_day", sa.Integer(), nullable=True),
        sa.Column("time", sa.Text(), nullable=True),
        sa.Column("term", sa.Text(), nullable=True),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=True),
        sa.Column("serious", sa.Boolean(), nullable=True),
        sa.Column("related_to", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        _side_check("adverse_events", "side", allow_empty=True),
        *_keys("adverse_events", "patient", "event"),
    )
    op.create_table(
        "biopsies",
        _id(),
        *_patient("biopsies"),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("time", sa.Text(), nullable=False),
        sa.Column("sample", sa.Text(), nullable=True),
        sa.Column("ephys", sa.Boolean(), nullable=True),
        sa.Column("qpcr", sa.Boolean(), nullable=True),
        sa.Column("histology", sa.Boolean(), nullable=True),
        sa.Column("morphometry", sa.Boolean(), nullable=True),
        _side_check("biopsies", "side", allow_empty=False),
        *_keys("biopsies", "patient", "side", "time"),
        sa.UniqueConstraint("sample", name=op.f("uq_biopsies_sample")),
    )


def downgrade() -> None:
    for table in (
        "biopsies",
        "adverse_events",
        "sessions",
        "observations",
        "visits",
        "patients",
        "allocation",
        "study",
    ):
        op.drop_table(table)
