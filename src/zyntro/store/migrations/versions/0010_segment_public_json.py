"""segments.public_json: each segment's served JSON object, pre-encoded

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

A brand's served body is its segments' objects joined, so re-encoding it after a write reads
one column instead of decoding and encoding every field of every segment (docs/performance.md,
"Writes at scale"). NULL is allowed: a row written without it (a tool that copies rows) is
encoded from its columns when its brand's body is rebuilt.

The fill below is frozen as it was written: its SQL and encoding are this revision's own.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BATCH = 2000
_SEGMENTS = sa.text(
    "SELECT id, created_at, updated_at, initiated_by, segment_label, segment_tag, segment_type,"
    " segment_decision_drivers, segment_pain_points, segment_use_cases, segment_tone, reasoning"
    " FROM segments WHERE id > :after ORDER BY id LIMIT :batch"
)


def upgrade() -> None:
    # Plain ADD COLUMN: no batch rebuild of a table that may hold a million rows.
    op.add_column("segments", sa.Column("public_json", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    after = ""
    while True:
        rows = conn.execute(_SEGMENTS, {"after": after, "batch": _BATCH}).all()
        if not rows:
            return
        conn.execute(
            sa.text("UPDATE segments SET public_json = :body WHERE id = :id"),
            [{"body": orjson.dumps(_segment(row)), "id": row[0]} for row in rows],
        )
        after = rows[-1][0]


def downgrade() -> None:
    op.execute("ALTER TABLE segments DROP COLUMN public_json")  # SQLite 3.35+


def _segment(row: Any) -> dict[str, Any]:
    return {
        "segment_id": row[0],
        "created_at": _timestamp(row[1]),
        "updated_at": _timestamp(row[2]),
        "initiated_by": row[3],
        "segment_label": row[4],
        "segment_tag": row[5],
        "segment_type": row[6],
        "segment_decision_drivers": row[7],
        "segment_pain_points": _list(row[8]),
        "segment_use_cases": _list(row[9]),
        "segment_tone": row[10],
        "reasoning": row[11],
    }


def _timestamp(value: Any) -> str:
    return str(value)[:19].replace("T", " ")


def _list(value: Any) -> list[str]:
    return list(json.loads(value)) if isinstance(value, str) else list(value)
