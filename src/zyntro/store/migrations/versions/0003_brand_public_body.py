"""brands.public_body: the pre-encoded fetchAudiences body of each brand

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

The fill below is frozen as it was written: its SQL and body encoding are this revision's
own, so later changes to the live queries or response code cannot change what it does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_MORE = "You can ask your member in-charge to add more audiences if you like."
_SEGMENTS = sa.text(
    "SELECT id, created_at, updated_at, initiated_by, segment_label, segment_tag, segment_type,"
    " segment_decision_drivers, segment_pain_points, segment_use_cases, segment_tone, reasoning"
    " FROM segments WHERE brand_id = :brand_id"
    " ORDER BY created_at, id"
)


def upgrade() -> None:
    with op.batch_alter_table("brands", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_body", sa.LargeBinary(), nullable=True))
    # Fill it for brands that already have segments (the service keeps it from now on).
    conn = op.get_bind()
    brand_ids = [row[0] for row in conn.execute(sa.text("SELECT DISTINCT brand_id FROM segments"))]
    for brand_id in brand_ids:
        rows = conn.execute(_SEGMENTS, {"brand_id": brand_id}).all()
        conn.execute(
            sa.text("UPDATE brands SET public_body = :body WHERE id = :brand_id"),
            {"body": _body(rows), "brand_id": brand_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("brands", schema=None) as batch_op:
        batch_op.drop_column("public_body")


def _body(rows: Sequence[Any]) -> bytes:
    count = len(rows)
    noun = "audience segment has" if count == 1 else "audience segments have"
    return orjson.dumps(
        {
            "status": "success",
            "message": f"{count} {noun} been defined for your brand. {_MORE}",
            "data": [_segment(row) for row in rows],
        }
    )


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
