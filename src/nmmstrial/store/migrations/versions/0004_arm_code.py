"""The sealed code (X or Y) of the real arm, kept with the allocation.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("allocation", sa.Column("real_code", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("allocation", "real_code")
