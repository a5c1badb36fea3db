"""Stratified randomization lists: stratum and block on each allocation entry, the
sequence unique within its stratum, and the sealed description of the list.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("allocation") as batch:
        batch.add_column(sa.Column("stratum", sa.Text(), nullable=True))
        batch.add_column(sa.Column("block", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("block_size", sa.Integer(), nullable=True))
    op.execute("UPDATE allocation SET stratum = '' WHERE stratum IS NULL")
    with op.batch_alter_table("allocation") as batch:
        batch.alter_column("stratum", existing_type=sa.Text(), nullable=False)
        batch.drop_constraint("uq_allocation_sequence", type_="unique")
        batch.create_unique_constraint("uq_allocation_stratum_sequence", ["stratum", "sequence"])
    with op.batch_alter_table("patients") as batch:
        batch.drop_constraint("uq_patients_sequence", type_="unique")
    op.create_table(
        "randomization",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Text(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("blocks", sa.Text(), nullable=False),
        sa.Column("strata", sa.Text(), nullable=False),
        sa.Column("salt", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("created_utc", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_randomization_one_list")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_randomization")),
    )


def downgrade() -> None:
    op.drop_table("randomization")
    with op.batch_alter_table("patients") as batch:
        batch.create_unique_constraint("uq_patients_sequence", ["sequence"])
    with op.batch_alter_table("allocation") as batch:
        batch.drop_constraint("uq_allocation_stratum_sequence", type_="unique")
        batch.create_unique_constraint("uq_allocation_sequence", ["sequence"])
        batch.drop_column("block_size")
        batch.drop_column("block")
        batch.drop_column("stratum")
