"""Sessions of the browser app (only a hash of each session token is stored), and an
index of the audit trail by patient (versions of values are read off it).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.Text(), nullable=False),
        sa.Column("user", sa.Text(), nullable=False),
        sa.Column("created_utc", sa.Text(), nullable=False),
        sa.Column("last_seen_utc", sa.Text(), nullable=False),
        sa.Column("revoked_utc", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["user"], ["users.name"], name=op.f("fk_web_sessions_user_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_web_sessions_token_sha256")),
    )
    # A value's version and author are read off its patient's audit records.
    op.create_index("ix_audit_patient", "audit", ["patient"])


def downgrade() -> None:
    op.drop_index("ix_audit_patient", table_name="audit")
    op.drop_table("web_sessions")
