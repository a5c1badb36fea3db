"""qPCR wells: one row per well and target, sample wells linked to their patient and
side, non-template controls with neither.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qpcr",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient", sa.Text(), nullable=True),
        sa.Column("side", sa.Text(), nullable=True),
        sa.Column("sample", sa.Text(), nullable=True),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("replicate", sa.Integer(), nullable=True),
        sa.Column("ct", sa.Double(), nullable=True),
        sa.Column("task", sa.Text(), nullable=True),
        sa.Column("plate", sa.Text(), nullable=False),
        sa.Column("well", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient"], ["patients.patient"], name=op.f("fk_qpcr_patient_patients")
        ),
        sa.CheckConstraint("side IN ('left', 'right')", name=op.f("ck_qpcr_side_is_side")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qpcr")),
        sa.UniqueConstraint("plate", "well", "target", name=op.f("uq_qpcr_plate_well_target")),
    )


def downgrade() -> None:
    op.drop_table("qpcr")
