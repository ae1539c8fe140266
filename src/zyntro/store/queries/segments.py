"""Queries of segments, their pages, and the Idempotency-Key records of their creation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zyntro.domain import (
    EDITABLE_FIELDS,
    LIST_FIELDS,
    Segment,
)
from zyntro.store.tables import (
    brands,
    idempotency_keys,
    segments,
)


def segment_from_row(row: sa.Row[Any]) -> Segment:
    content: dict[str, Any] = {
        name: tuple(getattr(row, name)) if name in LIST_FIELDS else getattr(row, name)
        for name in EDITABLE_FIELDS
    }
    return Segment(
        id=row.id,
        brand_id=row.brand_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        initiated_by=row.initiated_by,
        **content,
    )


_SEGMENT_ORDER = (segments.c.created_at, segments.c.id)


def brand_segments(conn: sa.Connection, brand_id: str) -> list[Segment]:
    rows = conn.execute(
        sa.select(segments).where(segments.c.brand_id == brand_id).order_by(*_SEGMENT_ORDER)
    )
    return [segment_from_row(row) for row in rows]


def get_segment(conn: sa.Connection, segment_id: str) -> Segment | None:
    row = conn.execute(sa.select(segments).where(segments.c.id == segment_id)).first()
    return segment_from_row(row) if row else None


def segment_owners(conn: sa.Connection, segment_ids: Sequence[str]) -> dict[str, str]:
    """segment id -> brand id, for those of `segment_ids` that exist (any brand)."""
    owners: dict[str, str] = {}
    for start in range(0, len(segment_ids), 500):
        chunk = list(segment_ids[start : start + 500])
        rows = conn.execute(
            sa.select(segments.c.id, segments.c.brand_id).where(segments.c.id.in_(chunk))
        )
        owners.update({row.id: row.brand_id for row in rows})
    return owners


def _segment_values(segment: Segment) -> dict[str, Any]:
    return {
        "brand_id": segment.brand_id,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
        "initiated_by": segment.initiated_by,
        **{
            name: list(value) if name in LIST_FIELDS else value
            for name, value in segment.editable().items()
        },
    }


def insert_segments(conn: sa.Connection, rows: Sequence[Segment]) -> None:
    if rows:
        conn.execute(segments.insert(), [{"id": s.id, **_segment_values(s)} for s in rows])


def replace_segment(conn: sa.Connection, segment: Segment) -> int:
    """Write the segment's values over its row; how many rows (0: it is gone)."""
    return int(
        conn.execute(
            segments.update().where(segments.c.id == segment.id).values(**_segment_values(segment))
        ).rowcount
    )


def delete_segment(conn: sa.Connection, segment_id: str) -> int:
    """Delete a segment's row; how many rows (0: it was gone already)."""
    return int(conn.execute(segments.delete().where(segments.c.id == segment_id)).rowcount)


def segment_counts(conn: sa.Connection, org_id: str) -> dict[str, int]:
    """brand id -> number of segments, for the brands of an organization that have any."""
    rows = conn.execute(
        sa.select(segments.c.brand_id, sa.func.count().label("n"))
        .join(brands, brands.c.id == segments.c.brand_id)
        .where(brands.c.org_id == org_id)
        .group_by(segments.c.brand_id)
    )
    return {row.brand_id: int(row.n) for row in rows}


def _matching(
    query: sa.Select[Any], segment_type: str | None, search: str | None
) -> sa.Select[Any]:
    """Only segments of a type, and (`search`) whose label, tag or type contains the text."""
    if segment_type is not None:
        query = query.where(segments.c.segment_type == segment_type)
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            sa.or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (
                        segments.c.segment_label,
                        segments.c.segment_tag,
                        segments.c.segment_type,
                    )
                )
            )
        )
    return query


def segment_facets(
    conn: sa.Connection, brand_id: str, segment_type: str | None, search: str | None
) -> tuple[int, list[str]]:
    """How many of a brand's segments match, and every type the brand's segments have."""
    count = sa.select(sa.func.count()).select_from(segments).where(segments.c.brand_id == brand_id)
    total = int(conn.execute(_matching(count, segment_type, search)).scalar_one())
    types = conn.execute(
        sa.select(segments.c.segment_type)
        .where(segments.c.brand_id == brand_id)
        .distinct()
        .order_by(segments.c.segment_type)
    ).scalars()
    return total, list(types)


def segments_page(
    conn: sa.Connection,
    brand_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    segment_type: str | None = None,
    updated_since: datetime | None = None,
    search: str | None = None,
) -> list[Segment]:
    """Up to `limit` segments of a brand in the endpoint's order, after a keyset position."""
    query = _matching(
        sa.select(segments).where(segments.c.brand_id == brand_id), segment_type, search
    )
    if updated_since is not None:
        query = query.where(segments.c.updated_at >= updated_since)
    if after is not None:
        created_at, segment_id = after
        query = query.where(
            sa.or_(
                segments.c.created_at > created_at,
                sa.and_(segments.c.created_at == created_at, segments.c.id > segment_id),
            )
        )
    rows = conn.execute(query.order_by(*_SEGMENT_ORDER).limit(limit))
    return [segment_from_row(row) for row in rows]


def org_segments(
    conn: sa.Connection,
    org_id: str,
    *,
    brand_id: str | None = None,
    segment_type: str | None = None,
    segment_tag: str | None = None,
) -> Iterator[Segment]:
    """The segments of an organization's brands (or of one of them), by type and tag when
    given, brand by brand in the endpoint's order; read lazily, so a caller may stop early."""
    query = (
        sa.select(segments)
        .join(brands, brands.c.id == segments.c.brand_id)
        .where(brands.c.org_id == org_id)
    )
    if brand_id is not None:
        query = query.where(segments.c.brand_id == brand_id)
    if segment_type is not None:
        query = query.where(segments.c.segment_type == segment_type)
    if segment_tag is not None:
        query = query.where(segments.c.segment_tag == segment_tag)
    rows = conn.execute(query.order_by(segments.c.brand_id, *_SEGMENT_ORDER))
    for row in rows:
        yield segment_from_row(row)


def get_idempotency_record(conn: sa.Connection, member_id: str, key: str) -> Any:
    """(request_hash, response, created_at) stored for a member's Idempotency-Key, or None."""
    return conn.execute(
        sa.select(idempotency_keys).where(
            idempotency_keys.c.member_id == member_id, idempotency_keys.c.key == key
        )
    ).first()


def insert_idempotency_record(
    conn: sa.Connection,
    member_id: str,
    key: str,
    request_hash: str,
    response: str,
    moment: datetime,
) -> None:
    conn.execute(
        idempotency_keys.insert().values(
            member_id=member_id,
            key=key,
            request_hash=request_hash,
            response=response,
            created_at=moment,
        )
    )


def prune_idempotency_records(conn: sa.Connection, before: datetime) -> None:
    conn.execute(idempotency_keys.delete().where(idempotency_keys.c.created_at < before))
