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
    # Plain ADD COLUMN on both databases: a batch may rebuild `brands` on SQLite, which the
    # segments and keys that reference it forbid while foreign keys are enforced.
    for name in _COLUMNS:
        op.add_column("brands", sa.Column(name, sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    for name in reversed(_COLUMNS):  # ALTER TABLE … DROP COLUMN (SQLite 3.35+)
        op.execute(f"ALTER TABLE brands DROP COLUMN {name}")
