"""webhook_deliveries: an index of each webhook's due deliveries

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29

The claim reads one webhook's due deliveries at a time. With only the (state, next_attempt_at)
index, that read walked every due delivery of every webhook until it found this one's: a
paused endpoint's backlog (due, and left alone while it is paused) was walked again for each
other webhook at each claim, and cost the deliverer a fifth of its CPU in the delivery
benchmark (docs/performance.md, "Webhook delivery").
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_NAME = "ix_webhook_deliveries_webhook_id_state_next_attempt_at"


def upgrade() -> None:
    op.create_index(_NAME, "webhook_deliveries", ["webhook_id", "state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index(_NAME, table_name="webhook_deliveries")
