"""What every write does besides its own rows: one transaction, change rows, audit rows.

`WriteScope` is the transaction; inside it, `record_change` leaves the row other processes
poll to drop what they cache, `record_audit` the audit row, and `record_event` the row of the
events feed (the outbox). Listeners in this process (the read caches, a delivery worker) hear
of the changes and events once the transaction has committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import orjson
import sqlalchemy as sa

from zyntro.domain import format_timestamp
from zyntro.identity import Actor
from zyntro.ids import new_id
from zyntro.responses import success_body_of_parts, success_body_of_rows
from zyntro.store import Store, queries
from zyntro.store.notify import notify_changes
from zyntro.webhooks.fanout import fan_out

Listener = Callable[[str, str], None]

_PENDING = "zyntro_changes"  # the connection's info key of changes awaiting commit
_PENDING_EVENTS = "zyntro_events"  # ... and of events awaiting commit


@dataclass(frozen=True, slots=True)
class EventNote:
    """An event that has just committed, as in-process event listeners hear of it."""

    id: str
    type: str
    org_id: str
    brand_id: str | None


EventListener = Callable[[EventNote], None]


class WriteScope:
    """A write transaction; `listeners` hear of its changes only once it has committed."""

    def __init__(
        self,
        store: Store,
        listeners: Iterable[Listener],
        event_listeners: Iterable[EventListener] = (),
    ) -> None:
        self._listeners = listeners
        self._event_listeners = event_listeners
        self._cm = store.write()

    def __enter__(self) -> sa.Connection:
        self._conn = self._cm.__enter__()
        self._conn.info[_PENDING] = []
        self._conn.info[_PENDING_EVENTS] = []
        return self._conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        changed: list[tuple[str, str]] = self._conn.info.pop(_PENDING, [])
        rows: list[dict[str, Any]] = self._conn.info.pop(_PENDING_EVENTS, [])
        if exc_type is None and rows:
            try:  # last, just before the commit (store/queries/events.py says why)
                queries.insert_events(self._conn, rows)
            except BaseException as error:
                if not self._cm.__exit__(type(error), error, error.__traceback__):
                    raise
                return
        self._cm.__exit__(exc_type, exc, traceback)
        if exc_type is None:
            events = [
                EventNote(row["id"], row["type"], row["org_id"], row["brand_id"]) for row in rows
            ]
            for kind, entity_id in changed:
                for listener in self._listeners:
                    listener(kind, entity_id)
            for note in events:
                for event_listener in self._event_listeners:
                    event_listener(note)


def record_change(conn: sa.Connection, kind: str, entity_id: str, moment: datetime) -> None:
    """Record a change in the writing transaction (other processes poll for it)."""
    queries.record_change(conn, kind, entity_id, moment)
    pending: list[tuple[str, str]] = conn.info.setdefault(_PENDING, [])
    if not pending:  # one notification a transaction, delivered at commit (PostgreSQL)
        notify_changes(conn)
    pending.append((kind, entity_id))


def record_event(
    conn: sa.Connection,
    event_type: str,
    org_id: str,
    brand_id: str | None,
    data: Mapping[str, Any],
    moment: datetime,
) -> str:
    """Write one event of the feed in the writing transaction (the outbox); returns its id.

    The event commits or rolls back with the change it tells of, so a consumer never sees an
    event of a change that did not happen, nor misses one that did. Its public JSON is
    `{"id", "type", "created_at", "org_id", "brand_id", "data"}`, stored as served.

    How to consume events:
    - Pull: `queries.events_after` (or `Service.list_events`, the feed's use case) reads an
      organization's events, or every organization's, after a position (`seq`), in the
      order they became visible; keep the returned position and ask again from there.
      Events are inserted as the transaction's last statement, one event-writing
      transaction at a time, so polling from the last position never skips an event.
    - Push, in this process: listeners in `ServiceCore.on_event` are called with an
      `EventNote` right after the transaction commits (never for a rolled-back one), so a
      worker can wake at once instead of waiting for its next poll. They run on the writer's
      thread: do no I/O there, just signal. Events written by other processes are only seen
      by polling the table.
    """
    return record_events(conn, [(event_type, org_id, brand_id, data)], moment)[0]


# (type, org_id, brand_id, data): data as a mapping, or already encoded (`orjson.Fragment`)
EventSpec = tuple[str, str, "str | None", "Mapping[str, Any] | orjson.Fragment"]


def record_events(conn: sa.Connection, specs: Sequence[EventSpec], moment: datetime) -> list[str]:
    """`record_event` for many events at once (an import): their ids, in order."""
    rows: list[dict[str, Any]] = []
    created_at = format_timestamp(moment)
    for event_type, org_id, brand_id, data in specs:
        event_id = new_id("evt")
        body = orjson.dumps(
            {
                "id": event_id,
                "type": event_type,
                "created_at": created_at,
                "org_id": org_id,
                "brand_id": brand_id,
                "data": data,
            }
        ).decode()
        rows.append(
            {
                "id": event_id,
                "type": event_type,
                "org_id": org_id,
                "brand_id": brand_id,
                "created_at": moment,
                "body": body,
            }
        )
    for row in rows:  # webhook deliveries, in the same transaction (webhooks/fanout.py)
        fan_out(conn, row["id"], row["type"], row["org_id"], row["brand_id"], row["body"], moment)
    pending: list[dict[str, Any]] | None = conn.info.get(_PENDING_EVENTS)
    if pending is None:  # not in a WriteScope: written now, and no listener hears of them
        queries.insert_events(conn, rows)
    else:  # written by the WriteScope just before it commits
        pending.extend(rows)
    return [row["id"] for row in rows]


def record_audit(
    conn: sa.Connection,
    actor: Actor,
    action: str,
    target: tuple[str, str],
    org_id: str | None,
    moment: datetime,
) -> None:
    """The audit row of a change, in the same transaction: `target` is (type, id)."""
    target_type, target_id = target
    queries.record_audit(
        conn,
        org_id=org_id,
        actor=actor.name,
        action=action,
        target_type=target_type,
        target_id=target_id,
        moment=moment,
    )


def record_principals_changed(
    conn: sa.Connection, digests: Iterable[str], moment: datetime
) -> None:
    """What some API keys stand for changed (created, revoked, their member changed): every
    process drops just those keys' cached principals."""
    for digest in digests:
        record_change(conn, "principal", digest, moment)


# A brand with more segments than this keeps no served body: writing ~0.6 MB back at every
# edit of a 1,000-segment brand made the edit 3× one in a small brand (docs/performance.md).
# Its row holds `ASSEMBLED` instead, and a read that misses the cache joins the segments'
# stored objects (`brand_body`), which is what the rebuild did on every write.
STORED_BODY_MAX_SEGMENTS = 100
ASSEMBLED = b""  # no success body is empty; None stays "no segments"


def brand_body(conn: sa.Connection, brand_id: str) -> bytes | None:
    """The body fetchAudiences serves for the brand, from its segments (None: it has none).

    Its segments' stored objects (`segments.public_json`) joined, so a full brand costs a
    read of one column and a join, not a decode and encode of every field. Rows written
    without that column (by a tool that copies rows) are encoded from their columns instead."""
    return _body_of(conn, brand_id, queries.brand_public_json(conn, brand_id))


def _body_of(conn: sa.Connection, brand_id: str, parts: list[bytes | None]) -> bytes | None:
    """`brand_body` from the brand's stored objects, read already (all of them)."""
    if not parts:
        return None
    if None in parts:
        return success_body_of_rows(queries.brand_public_rows(conn, brand_id))
    return success_body_of_parts([bytes(part) for part in parts if part is not None])


def rebuild_brand_body(conn: sa.Connection, brand_id: str, moment: datetime) -> None:
    """After a write to a brand's segments: keep the body fetchAudiences serves (NULL when the
    brand has none; `ASSEMBLED` above `STORED_BODY_MAX_SEGMENTS`) and record the change, so
    every process drops its cached copy. Bounded: a brand holds at most
    `max_segments_per_brand` segments (1,000 by default), and only brands of up to 100 are
    read and written whole: one read of at most one object more than that decides."""
    parts = queries.brand_public_json(conn, brand_id, limit=STORED_BODY_MAX_SEGMENTS + 1)
    if len(parts) > STORED_BODY_MAX_SEGMENTS:
        body: bytes | None = ASSEMBLED
    else:
        body = _body_of(conn, brand_id, parts)
    queries.set_brand_body(conn, brand_id, body)
    record_change(conn, "brand", brand_id, moment)
