"""Adverse events keep their onset and end dates as entered, beside the study days
(which need a T0 date to count from: an event before T0 had no date at all).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ("onset_date", "end_date")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("adverse_events", sa.Column(name, sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("adverse_events") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
