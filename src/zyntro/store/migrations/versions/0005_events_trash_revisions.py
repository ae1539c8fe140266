"""events (the outbox of the events feed), the segment trash, and segment revisions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Self-contained: plain SQLAlchemy types, nothing from the live code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ID = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("id", _ID, nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("org_id", _ID, nullable=False),
        sa.Column("brand_id", _ID, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sa.UniqueConstraint("id", name=op.f("uq_events_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_org_id_seq"), ["org_id", "seq"], unique=False)

    op.create_table(
        "trashed_segments",
        sa.Column("id", _ID, nullable=False),
        sa.Column("brand_id", _ID, nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_by", sa.String(length=80), nullable=False),
        sa.Column("segment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_trashed_segments_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trashed_segments")),
    )
    with op.batch_alter_table("trashed_segments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trashed_segments_deleted_at"), ["deleted_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trashed_segments_brand_id_deleted_at"),
            ["brand_id", "deleted_at"],
            unique=False,
        )

    op.create_table(
        "segment_revisions",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("id", _ID, nullable=False),
        sa.Column("segment_id", _ID, nullable=False),
        sa.Column("brand_id", _ID, nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_segment_revisions_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_segment_revisions")),
        sa.UniqueConstraint("id", name=op.f("uq_segment_revisions_id")),
    )
    with op.batch_alter_table("segment_revisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_segment_revisions_segment_id_seq"), ["segment_id", "seq"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_segment_revisions_brand_id"), ["brand_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("segment_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segment_revisions_brand_id"))
        batch_op.drop_index(batch_op.f("ix_segment_revisions_segment_id_seq"))
    op.drop_table("segment_revisions")
    with op.batch_alter_table("trashed_segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trashed_segments_brand_id_deleted_at"))
        batch_op.drop_index(batch_op.f("ix_trashed_segments_deleted_at"))
    op.drop_table("trashed_segments")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_org_id_seq"))
        batch_op.drop_index(batch_op.f("ix_events_created_at"))
    op.drop_table("events")
