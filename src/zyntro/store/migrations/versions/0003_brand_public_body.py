"""brands.public_body: the pre-encoded fetchAudiences body of each brand

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("brands", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_body", sa.LargeBinary(), nullable=True))
    # Fill it for brands that already have segments (the service keeps it from now on).
    from zyntro.store import queries

    conn = op.get_bind()
    brand_ids = [row[0] for row in conn.execute(sa.text("SELECT DISTINCT brand_id FROM segments"))]
    for brand_id in brand_ids:
        queries.refresh_brand_body(conn, brand_id)


def downgrade() -> None:
    with op.batch_alter_table("brands", schema=None) as batch_op:
        batch_op.drop_column("public_body")
