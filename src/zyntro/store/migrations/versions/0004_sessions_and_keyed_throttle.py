"""dashboard sessions in the database; progressive sign-in locks under HMAC-keyed rows

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Self-contained: plain SQLAlchemy types and SQL of its own, nothing from the live code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_dashboard_sessions_member_id_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
    )
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dashboard_sessions_member_id"), ["member_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dashboard_sessions_created_at"), ["created_at"], unique=False
        )
    # The rows were keyed by plain SHA-256 digests, which the new keys never match: they are
    # at most 15 minutes of failures, so they go rather than linger.
    op.execute(sa.text("DELETE FROM sign_in_throttle"))
    with op.batch_alter_table("sign_in_throttle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lockouts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM sign_in_throttle"))
    with op.batch_alter_table("sign_in_throttle", schema=None) as batch_op:
        batch_op.drop_column("lockouts")
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_sessions_created_at"))
        batch_op.drop_index(batch_op.f("ix_dashboard_sessions_member_id"))
    op.drop_table("dashboard_sessions")
