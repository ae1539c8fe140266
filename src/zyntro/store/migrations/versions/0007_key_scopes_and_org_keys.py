"""organization keys, scopes, brand limits, allowlists, rolled secrets, usage per day

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

Self-contained: plain SQLAlchemy types and SQL of its own, nothing from the live code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("scopes", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("brands", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("allowlist", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("previous_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("previous_until", sa.DateTime(), nullable=True))
    # Every existing key is personal: its organization is its member's.
    op.execute(
        sa.text(
            "UPDATE api_keys SET org_id = "
            "(SELECT members.org_id FROM members WHERE members.id = api_keys.member_id)"
        )
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column("org_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("member_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.create_index(batch_op.f("ix_api_keys_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_api_keys_previous_digest"),
            ["previous_digest"],
            unique=True,
            sqlite_where=sa.text("previous_digest IS NOT NULL"),
            postgresql_where=sa.text("previous_digest IS NOT NULL"),
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_org_id_organizations"), "organizations", ["org_id"], ["id"]
        )
        batch_op.create_check_constraint(
            "org_key_scopes", "member_id IS NOT NULL OR scopes IS NOT NULL"
        )
    op.create_table(
        "api_key_usage",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_api_key_usage_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("key_id", "day", name=op.f("pk_api_key_usage")),
    )


def downgrade() -> None:
    op.drop_table("api_key_usage")
    # Organization keys have no member to fall back to: they go.
    op.execute(sa.text("DELETE FROM api_keys WHERE member_id IS NULL"))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint("org_key_scopes", type_="check")
        batch_op.drop_constraint(batch_op.f("fk_api_keys_org_id_organizations"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_api_keys_previous_digest"))
        batch_op.drop_index(batch_op.f("ix_api_keys_org_id"))
        batch_op.alter_column("member_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("previous_until")
        batch_op.drop_column("previous_digest")
        batch_op.drop_column("allowlist")
        batch_op.drop_column("brands")
        batch_op.drop_column("scopes")
        batch_op.drop_column("org_id")
