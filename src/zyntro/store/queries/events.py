"""The events feed (the outbox): write an event, read an organization's events after a cursor.

Positions are (txid, seq). On PostgreSQL `txid` is the id of the transaction that wrote the row
and `seq` comes from a sequence taken before commit, so rows can commit out of `seq` order; a
reader therefore only sees rows whose transaction is older than every transaction still open
(`txid_snapshot_xmin`), and pages in (txid, seq) order: nothing can later commit below a
position it has handed out. On SQLite writers take turns, `txid` is 0 and `seq` is the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from zyntro.store.tables import events

Position = tuple[int, int]  # (txid, seq)
START: Position = (0, 0)


def _is_postgresql(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def insert_event(
    conn: sa.Connection,
    *,
    event_id: str,
    event_type: str,
    org_id: str,
    brand_id: str | None,
    moment: datetime,
    body: str,
) -> None:
    txid: sa.ColumnElement[int] | int = sa.func.txid_current() if _is_postgresql(conn) else 0
    conn.execute(
        events.insert().values(
            id=event_id,
            txid=txid,
            type=event_type,
            org_id=org_id,
            brand_id=brand_id,
            created_at=moment,
            body=body,
        )
    )


def _after(position: Position) -> sa.ColumnElement[bool]:
    txid, seq = position
    return sa.or_(events.c.txid > txid, sa.and_(events.c.txid == txid, events.c.seq > seq))


def _at_or_before(position: Position) -> sa.ColumnElement[bool]:
    txid, seq = position
    return sa.or_(events.c.txid < txid, sa.and_(events.c.txid == txid, events.c.seq <= seq))


def events_head(conn: sa.Connection, org_id: str | None) -> Position | None:
    """The highest position a reader may see now (of one organization, or of all), or None."""
    query = sa.select(events.c.txid, events.c.seq)
    if org_id is not None:
        query = query.where(events.c.org_id == org_id)
    if _is_postgresql(conn):
        xmin = sa.func.txid_snapshot_xmin(sa.func.txid_current_snapshot())
        query = query.where(events.c.txid < xmin)
    row = conn.execute(query.order_by(events.c.txid.desc(), events.c.seq.desc()).limit(1)).first()
    return (int(row.txid), int(row.seq)) if row else None


def events_after(
    conn: sa.Connection,
    org_id: str | None,
    after: Position,
    *,
    limit: int,
    types: Sequence[str] = (),
    brand_id: str | None = None,
) -> tuple[list[tuple[Position, str]], Position]:
    """Up to `limit` events after `after`, oldest first: ((txid, seq), public JSON) each, and
    the position to read from next.

    `org_id` None reads every organization's events (a delivery worker); the feed always
    gives one. With `types` or `brand_id`, events that do not match are skipped, and the
    next position still moves past them. When fewer than `limit` events come back, the next
    position is the head at the time of the read, so an empty page means "nothing new yet".
    """
    head = events_head(conn, org_id)
    if head is None or head <= after:
        return [], after
    query = sa.select(events.c.txid, events.c.seq, events.c.body).where(
        _after(after), _at_or_before(head)
    )
    if org_id is not None:
        query = query.where(events.c.org_id == org_id)
    if types:
        query = query.where(events.c.type.in_(list(types)))
    if brand_id is not None:
        query = query.where(events.c.brand_id == brand_id)
    rows = conn.execute(query.order_by(events.c.txid, events.c.seq).limit(limit)).all()
    found = [((int(row.txid), int(row.seq)), str(row.body)) for row in rows]
    if len(found) < limit:
        return found, head
    return found, found[-1][0]


def prune_events(conn: sa.Connection, before: datetime) -> int:
    """Delete events written before `before` (the retention); returns how many."""
    return conn.execute(events.delete().where(events.c.created_at < before)).rowcount
