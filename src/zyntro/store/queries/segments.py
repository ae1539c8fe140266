"""Queries of segments, their pages, and the Idempotency-Key records of their creation."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from zyntro.domain import (
    EDITABLE_FIELDS,
    LIST_FIELDS,
    Segment,
)
from zyntro.store.queries.bulk import bulk_insert
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


# The served shape's columns, in its key order, as the driver hands them: the timestamps as
# SQLite's text or psycopg's naive UTC datetime (`responses.stamp` formats either), the list
# columns as their stored JSON text (cast, or psycopg decodes it with the stdlib's json).
# SQLAlchemy's DateTime and JSON result types cost several times more a row than the encoding.
_PUBLIC_COLUMNS = (
    segments.c.id,
    sa.type_coerce(segments.c.created_at, sa.String()),
    sa.type_coerce(segments.c.updated_at, sa.String()),
    segments.c.initiated_by,
    segments.c.segment_label,
    segments.c.segment_tag,
    segments.c.segment_type,
    segments.c.segment_decision_drivers,
    sa.cast(segments.c.segment_pain_points, sa.Text()),  # psycopg would decode json itself
    sa.cast(segments.c.segment_use_cases, sa.Text()),
    segments.c.segment_tone,
    segments.c.reasoning,
)


def brand_public_json(
    conn: sa.Connection, brand_id: str, limit: int | None = None
) -> list[bytes | None]:
    """Each segment's served JSON object, in the served order (None where a row was written
    without it), the first `limit` of them: the one read of the body rebuild
    (service/recording.py)."""
    query = sa.select(segments.c.public_json).where(segments.c.brand_id == brand_id)
    return [row[0] for row in conn.execute(query.order_by(*_SEGMENT_ORDER).limit(limit))]


def brand_public_rows(conn: sa.Connection, brand_id: str) -> list[sa.Row[Any]]:
    """The rows of a brand's served body, in the served order: the columns of `to_public`,
    list fields as JSON text (the rebuild's fallback for rows without `public_json`)."""
    query = sa.select(*_PUBLIC_COLUMNS).where(segments.c.brand_id == brand_id)
    return list(conn.execute(query.order_by(*_SEGMENT_ORDER)))


def count_brand_segments(conn: sa.Connection, brand_id: str) -> int:
    """How many segments a brand has (the per-brand cap counts these)."""
    query = sa.select(sa.func.count()).select_from(segments).where(segments.c.brand_id == brand_id)
    return int(conn.execute(query).scalar_one())


def get_segment(conn: sa.Connection, segment_id: str) -> Segment | None:
    row = conn.execute(sa.select(segments).where(segments.c.id == segment_id)).first()
    return segment_from_row(row) if row else None


def _with_ids(conn: sa.Connection, query: sa.Select[Any], ids: list[str]) -> sa.Select[Any]:
    """`query` over the segments whose id is among `ids`. PostgreSQL: a join with `unnest` of
    one array parameter, looked up by the primary key whatever the length. (`id = ANY(array)`
    went wrong: once psycopg prepared it, the generic plan chosen while the table was small
    was a scan comparing every row with every id, and an import into a growing table slowed
    to minutes.) SQLite: an `IN` list."""
    if conn.dialect.name == "postgresql":
        wanted = (
            sa.func.unnest(sa.bindparam("ids", ids, type_=ARRAY(sa.String())))
            .table_valued("id")
            .render_derived(name="wanted")
        )
        return query.join_from(wanted, segments, segments.c.id == wanted.c.id)
    return query.where(segments.c.id.in_(ids))


def _chunks(conn: sa.Connection, ids: Sequence[str]) -> list[list[str]]:
    size = 10_000 if conn.dialect.name == "postgresql" else 500  # SQLite: bound variables
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


def segments_by_id(conn: sa.Connection, segment_ids: Sequence[str]) -> dict[str, Segment]:
    """segment id -> segment, for those of `segment_ids` that exist (any brand)."""
    found: dict[str, Segment] = {}
    for chunk in _chunks(conn, segment_ids):
        rows = conn.execute(_with_ids(conn, sa.select(segments), chunk))
        found.update((row.id, segment_from_row(row)) for row in rows)
    return found


def segment_owners(conn: sa.Connection, segment_ids: Sequence[str]) -> dict[str, str]:
    """segment id -> brand id, for those of `segment_ids` that exist (any brand)."""
    owners: dict[str, str] = {}
    for chunk in _chunks(conn, segment_ids):
        rows = conn.execute(_with_ids(conn, sa.select(segments.c.id, segments.c.brand_id), chunk))
        owners.update({row.id: row.brand_id for row in rows})
    return owners


def _segment_values(segment: Segment) -> dict[str, Any]:
    return {
        "public_json": orjson.dumps(segment.to_public()),
        "brand_id": segment.brand_id,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
        "initiated_by": segment.initiated_by,
        **{
            name: list(value) if name in LIST_FIELDS else value
            for name, value in segment.editable().items()
        },
    }


_COPY_COLUMNS = (
    "id",
    "brand_id",
    "created_at",
    "updated_at",
    "initiated_by",
    *EDITABLE_FIELDS,
    "public_json",
)


def insert_segments(
    conn: sa.Connection, rows: Sequence[Segment], public_json: Sequence[bytes] | None = None
) -> None:
    """Insert new segments; `public_json`, when given, holds each one's encoded public object
    (an import has already encoded it for the revision and the event)."""
    if not rows:
        return
    if len(rows) == 1 and public_json is None:
        conn.execute(segments.insert(), [{"id": s.id, **_segment_values(s)} for s in rows])
        return
    # Many rows (an import): COPY on PostgreSQL (psycopg's executemany of INSERTs took 3.7 s
    # for 20k rows), one plain executemany on SQLite; the stored values are those the INSERT
    # stores (lists as the JSON type writes them).
    encoded = public_json or [orjson.dumps(s.to_public()) for s in rows]
    bulk_insert(
        conn,
        segments,
        _COPY_COLUMNS,
        [
            (
                s.id,
                s.brand_id,
                s.created_at,
                s.updated_at,
                s.initiated_by,
                s.segment_label,
                s.segment_tag,
                s.segment_type,
                s.segment_decision_drivers,
                json.dumps(list(s.segment_pain_points)),
                json.dumps(list(s.segment_use_cases)),
                s.segment_tone,
                s.reasoning,
                public,
            )
            for s, public in zip(rows, encoded, strict=True)
        ],
    )


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
    among: Collection[str] | None = None,
    segment_type: str | None = None,
    segment_tag: str | None = None,
) -> Iterator[Segment]:
    """The segments of an organization's brands (or of one of them, or of those `among`), by
    type and tag when given, brand by brand in the endpoint's order; read lazily, so a caller
    may stop early."""
    query = (
        sa.select(segments)
        .join(brands, brands.c.id == segments.c.brand_id)
        .where(brands.c.org_id == org_id)
    )
    if brand_id is not None:
        query = query.where(segments.c.brand_id == brand_id)
    if among is not None:
        query = query.where(segments.c.brand_id.in_(sorted(among)))
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
