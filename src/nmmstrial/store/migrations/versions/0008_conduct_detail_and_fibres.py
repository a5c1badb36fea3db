"""What a session and an adverse event record beyond the first schema (operator, coil
per side, interruptions and their cause; causality, end and action taken), how an oocyte was
measured (parameters, version), and the fibres of the morphometry sections.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NEW_COLUMNS = {
    "sessions": [
        ("operator", sa.Text()),
        ("coil_left", sa.Text()),
        ("coil_right", sa.Text()),
        ("interruptions", sa.Integer()),
        ("interruption_cause", sa.Text()),
    ],
    "adverse_events": [
        ("relatedness", sa.Text()),
        ("end_day", sa.Integer()),
        ("action", sa.Text()),
    ],
    "oocytes": [("params", sa.Text()), ("version", sa.Text())],
}


def upgrade() -> None:
    for table, columns in NEW_COLUMNS.items():
        for name, sql_type in columns:
            op.add_column(table, sa.Column(name, sql_type, nullable=True))
    op.create_table(
        "fibres",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient", sa.Text(), nullable=True),
        sa.Column("side", sa.Text(), nullable=True),
        sa.Column("sample", sa.Text(), nullable=False),
        sa.Column("fibre", sa.Integer(), nullable=False),
        sa.Column("fibre_type", sa.Text(), nullable=True),
        sa.Column("min_feret_um", sa.Double(), nullable=True),
        sa.Column("area_um2", sa.Double(), nullable=True),
        sa.Column("file", sa.Text(), nullable=True),
        sa.Column("sha256", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient"], ["patients.patient"], name=op.f("fk_fibres_patient_patients")
        ),
        sa.ForeignKeyConstraint(
            ["sample"], ["biopsies.sample"], name=op.f("fk_fibres_sample_biopsies")
        ),
        sa.CheckConstraint("side IN ('left', 'right')", name=op.f("ck_fibres_side_is_side")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fibres")),
        sa.UniqueConstraint("sample", "fibre", name=op.f("uq_fibres_sample_fibre")),
    )


def downgrade() -> None:
    op.drop_table("fibres")
    for table, columns in NEW_COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, _ in columns:
                batch.drop_column(name)
