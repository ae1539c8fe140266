"""What every write does besides its own rows: one transaction, change rows, audit rows.

`WriteScope` is the transaction; inside it, `record_change` leaves the row other processes
poll to drop what they cache, and `record_audit` the audit row. Listeners in this process
(the read caches) hear of the changes once the transaction has committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType

import sqlalchemy as sa

from zyntro.identity import Actor
from zyntro.responses import success_body_of_parts, success_body_of_rows
from zyntro.store import Store, queries
from zyntro.store.notify import notify_changes

Listener = Callable[[str, str], None]

_PENDING = "zyntro_changes"  # the connection's info key of changes awaiting commit


class WriteScope:
    """A write transaction; `listeners` hear of its changes only once it has committed."""

    def __init__(self, store: Store, listeners: Iterable[Listener]) -> None:
        self._listeners = listeners
        self._cm = store.write()

    def __enter__(self) -> sa.Connection:
        self._conn = self._cm.__enter__()
        self._conn.info[_PENDING] = []
        return self._conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        changed: list[tuple[str, str]] = self._conn.info.pop(_PENDING, [])
        self._cm.__exit__(exc_type, exc, traceback)
        if exc_type is None:
            for kind, entity_id in changed:
                for listener in self._listeners:
                    listener(kind, entity_id)


def record_change(conn: sa.Connection, kind: str, entity_id: str, moment: datetime) -> None:
    """Record a change in the writing transaction (other processes poll for it)."""
    queries.record_change(conn, kind, entity_id, moment)
    pending: list[tuple[str, str]] = conn.info.setdefault(_PENDING, [])
    if not pending:  # one notification a transaction, delivered at commit (PostgreSQL)
        notify_changes(conn)
    pending.append((kind, entity_id))


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


def rebuild_brand_body(conn: sa.Connection, brand_id: str, moment: datetime) -> None:
    """After a write to a brand's segments: re-encode the body fetchAudiences serves (NULL when
    the brand has none) and record the change, so every process drops its cached copy.

    Bounded: a brand holds at most `max_segments_per_brand` segments (1,000 by default), and
    the body is their stored objects (`segments.public_json`) joined, so a full brand costs a
    read of one column and a join, not a decode and encode of every field. Rows written without
    that column (by a tool that copies rows) are encoded from their columns instead."""
    parts = queries.brand_public_json(conn, brand_id)
    if not parts:
        body = None
    elif None in parts:
        body = success_body_of_rows(queries.brand_public_rows(conn, brand_id))
    else:
        body = success_body_of_parts([bytes(part) for part in parts if part is not None])
    queries.set_brand_body(conn, brand_id, body)
    record_change(conn, "brand", brand_id, moment)
