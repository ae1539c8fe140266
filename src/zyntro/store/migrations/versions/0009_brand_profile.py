"""brands.profile_*: the optional brand profile (what it sells, to whom, its voice)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_COLUMNS = ("profile_offering", "profile_audience", "profile_voice")


def upgrade() -> None:
    with op.batch_alter_table("brands", schema=None) as batch_op:
        for name in _COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("brands", schema=None) as batch_op:
        for name in reversed(_COLUMNS):
            batch_op.drop_column(name)
