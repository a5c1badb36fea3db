"""Oocytes: one row per voltage-clamped oocyte, linked to its patient, side and biopsy
sample, with its peak current, T0.5, EC50 and the recording it was measured from.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oocytes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient", sa.Text(), nullable=True),
        sa.Column("side", sa.Text(), nullable=True),
        sa.Column("sample", sa.Text(), nullable=False),
        sa.Column("oocyte", sa.Integer(), nullable=False),
        sa.Column("peak_na", sa.Double(), nullable=True),
        sa.Column("t05_s", sa.Double(), nullable=True),
        sa.Column("t05_censored", sa.Boolean(), nullable=True),
        sa.Column("ec50_um", sa.Double(), nullable=True),
        sa.Column("file", sa.Text(), nullable=True),
        sa.Column("sha256", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient"], ["patients.patient"], name=op.f("fk_oocytes_patient_patients")
        ),
        sa.ForeignKeyConstraint(
            ["sample"], ["biopsies.sample"], name=op.f("fk_oocytes_sample_biopsies")
        ),
        sa.CheckConstraint("side IN ('left', 'right')", name=op.f("ck_oocytes_side_is_side")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oocytes")),
        sa.UniqueConstraint("sample", "oocyte", name=op.f("uq_oocytes_sample_oocyte")),
    )


def downgrade() -> None:
    op.drop_table("oocytes")
