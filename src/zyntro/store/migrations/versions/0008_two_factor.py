"""two-factor sign-in: members' TOTP secrets and recovery codes, the organization's
requirement, and each member's last sign-in

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-29

Self-contained: plain SQLAlchemy types, nothing from the live code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "two_factor",
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_two_factor_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_two_factor")),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_recovery_codes_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", "digest", name=op.f("pk_recovery_codes")),
    )
    # Plain ADD COLUMN on both databases: a batch would rebuild these tables on SQLite, which
    # the rows that reference them (brands, keys) forbid while foreign keys are enforced.
    op.add_column(
        "organizations",
        sa.Column("require_two_factor", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("members", sa.Column("last_sign_in_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), for the same reason as above.
    op.execute("ALTER TABLE members DROP COLUMN last_sign_in_at")
    op.execute("ALTER TABLE organizations DROP COLUMN require_two_factor")
    op.drop_table("recovery_codes")
    op.drop_table("two_factor")
