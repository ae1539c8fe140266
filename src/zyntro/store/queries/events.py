"""The events feed (the outbox): write events, read an organization's events after a cursor.

A position is an event's `seq`. Events are inserted at the very end of their transaction
(`recording.WriteScope` does it just before the commit), and on PostgreSQL under a
transaction-scoped advisory lock, so event-writing transactions commit one at a time and
their rows become visible in `seq` order: a reader never sees a `seq` while a lower one can
still commit, and a cursor never skips a late commit. SQLite has one writer at a time anyway.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zyntro.store.queries.bulk import insert_rows
from zyntro.store.tables import events

_EVENT_COLUMNS = ("id", "type", "org_id", "brand_id", "created_at", "body")

START = 0
# pg_advisory_xact_lock key of event writers: "zyntroev" as a 64-bit integer.
_EVENTS_LOCK = int.from_bytes(b"zyntroev", "big") - 2**63


def insert_events(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert events (each row: id, type, org_id, brand_id, created_at, body). Call it last in
    the transaction: on PostgreSQL it takes the event writers' lock until the commit."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_EVENTS_LOCK)))
    insert_rows(conn, events, _EVENT_COLUMNS, rows)


def events_head(conn: sa.Connection, org_id: str | None) -> int:
    """The highest position now visible (of one organization, or of all); 0 when none."""
    query = sa.select(sa.func.max(events.c.seq))
    if org_id is not None:
        query = query.where(events.c.org_id == org_id)
    return int(conn.execute(query).scalar() or 0)


def events_after(
    conn: sa.Connection,
    org_id: str | None,
    after: int,
    *,
    limit: int,
    types: Sequence[str] = (),
    brand_id: str | None = None,
    within: Collection[str] | None = None,
) -> tuple[list[tuple[int, str]], int]:
    """Up to `limit` events after position `after`, oldest first: (seq, public JSON) each,
    and the position to read from next.

    `org_id` None reads every organization's events (a delivery worker); the feed always
    gives one. With `types` or `brand_id`, events that do not match are skipped, and the
    next position still moves past them; `within` (a key's brand limits) keeps only the
    events of those brands. When fewer than `limit` events come back, the next
    position is the head at the time of the read, so an empty page means "nothing new yet".
    """
    head = events_head(conn, org_id)
    if head <= after:
        return [], after
    query = sa.select(events.c.seq, events.c.body).where(events.c.seq > after, events.c.seq <= head)
    if org_id is not None:
        query = query.where(events.c.org_id == org_id)
    if types:
        query = query.where(events.c.type.in_(list(types)))
    if brand_id is not None:
        query = query.where(events.c.brand_id == brand_id)
    if within is not None:
        query = query.where(events.c.brand_id.in_(sorted(within)))
    rows = conn.execute(query.order_by(events.c.seq).limit(limit)).all()
    found = [(int(row.seq), str(row.body)) for row in rows]
    if len(found) < limit:
        return found, head
    return found, found[-1][0]


def get_events(conn: sa.Connection, event_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    """event id -> (seq, public JSON), for those of `event_ids` still kept."""
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(event_ids), 500):
        chunk = list(event_ids[start : start + 500])
        rows = conn.execute(
            sa.select(events.c.id, events.c.seq, events.c.body).where(events.c.id.in_(chunk))
        )
        found.update({row.id: (int(row.seq), str(row.body)) for row in rows})
    return found


def prune_events(conn: sa.Connection, before: datetime) -> int:
    """Delete events written before `before` (the retention); returns how many."""
    return int(conn.execute(events.delete().where(events.c.created_at < before)).rowcount)
