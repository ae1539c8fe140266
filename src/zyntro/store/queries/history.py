"""The segment trash and the segments' revisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zyntro.store.queries.bulk import insert_rows
from zyntro.store.tables import segment_revisions, trashed_segments


def insert_trashed(
    conn: sa.Connection, segment_id: str, brand_id: str, moment: datetime, by: str, segment: str
) -> None:
    conn.execute(
        trashed_segments.insert().values(
            id=segment_id, brand_id=brand_id, deleted_at=moment, deleted_by=by, segment=segment
        )
    )


def get_trashed(conn: sa.Connection, segment_id: str) -> sa.Row[Any] | None:
    """(id, brand_id, deleted_at, deleted_by, segment JSON) of a trashed segment, or None."""
    return conn.execute(
        sa.select(trashed_segments).where(trashed_segments.c.id == segment_id)
    ).first()


def trashed_page(
    conn: sa.Connection,
    brand_id: str,
    *,
    limit: int,
    before: tuple[datetime, str] | None = None,
) -> list[sa.Row[Any]]:
    """A brand's trash, the latest deleted first, after a keyset position."""
    query = sa.select(trashed_segments).where(trashed_segments.c.brand_id == brand_id)
    if before is not None:
        deleted_at, segment_id = before
        query = query.where(
            sa.or_(
                trashed_segments.c.deleted_at < deleted_at,
                sa.and_(
                    trashed_segments.c.deleted_at == deleted_at,
                    trashed_segments.c.id < segment_id,
                ),
            )
        )
    order = (trashed_segments.c.deleted_at.desc(), trashed_segments.c.id.desc())
    return list(conn.execute(query.order_by(*order).limit(limit)))


def count_trashed(conn: sa.Connection, brand_id: str) -> int:
    """How many segments are in a brand's trash (the index on brand_id, deleted_at)."""
    query = sa.select(sa.func.count()).where(trashed_segments.c.brand_id == brand_id)
    return int(conn.execute(query).scalar_one())


def delete_trashed(conn: sa.Connection, segment_id: str) -> int:
    return conn.execute(
        trashed_segments.delete().where(trashed_segments.c.id == segment_id)
    ).rowcount


def purge_trash(conn: sa.Connection, before: datetime, limit: int) -> list[str]:
    """Delete up to `limit` segments trashed before `before`, and their revisions; their ids.
    Another process purging at the same time deletes each row once: what is gone is skipped."""
    ids = list(
        conn.execute(
            sa.select(trashed_segments.c.id)
            .where(trashed_segments.c.deleted_at < before)
            .order_by(trashed_segments.c.deleted_at)
            .limit(limit)
        ).scalars()
    )
    if ids:
        conn.execute(trashed_segments.delete().where(trashed_segments.c.id.in_(ids)))
        conn.execute(segment_revisions.delete().where(segment_revisions.c.segment_id.in_(ids)))
    return ids


def insert_revisions(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Each row: id, segment_id, brand_id, action, actor, at, before, after (JSON or None)."""
    insert_rows(conn, segment_revisions, _REVISION_COLUMNS, rows)


_REVISION_COLUMNS = ("id", "segment_id", "brand_id", "action", "actor", "at", "before", "after")


def revisions_page(
    conn: sa.Connection, segment_id: str, *, limit: int, before_seq: int | None = None
) -> list[sa.Row[Any]]:
    """A segment's revisions, the latest first; `seq` is the keyset position."""
    query = sa.select(segment_revisions).where(segment_revisions.c.segment_id == segment_id)
    if before_seq is not None:
        query = query.where(segment_revisions.c.seq < before_seq)
    return list(conn.execute(query.order_by(segment_revisions.c.seq.desc()).limit(limit)))


def count_revisions(conn: sa.Connection, segment_id: str) -> int:
    query = sa.select(sa.func.count()).where(segment_revisions.c.segment_id == segment_id)
    return int(conn.execute(query).scalar_one())


def get_revision(conn: sa.Connection, revision_id: str) -> sa.Row[Any] | None:
    return conn.execute(
        sa.select(segment_revisions).where(segment_revisions.c.id == revision_id)
    ).first()
