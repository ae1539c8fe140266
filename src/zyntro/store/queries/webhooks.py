"""Webhooks, their deliveries and attempts; the workers' claim."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from zyntro.store.queries.bulk import insert_rows
from zyntro.store.tables import (
    UTCDateTime,
    webhook_attempts,
    webhook_deliveries,
    webhooks,
)
from zyntro.webhooks.model import Attempt, Delivery, Webhook

_W = webhooks.c
_D = webhook_deliveries.c


def webhook_from_row(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        org_id=row.org_id,
        url=row.url,
        description=row.description,
        events=list(row.events),
        brand_ids=list(row.brand_ids),
        timeout_seconds=row.timeout_seconds,
        auth=dict(row.auth),
        secret=row.secret,
        previous_secret=row.previous_secret,
        previous_secret_until=row.previous_secret_until,
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        failure_count=row.failure_count,
        failing_since=row.failing_since,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def insert_webhook(conn: sa.Connection, webhook: Webhook) -> None:
    conn.execute(
        webhooks.insert().values(
            id=webhook.id,
            org_id=webhook.org_id,
            url=webhook.url,
            description=webhook.description,
            events=webhook.events,
            brand_ids=webhook.brand_ids,
            timeout_seconds=webhook.timeout_seconds,
            auth=webhook.auth,
            secret=webhook.secret,
            previous_secret=webhook.previous_secret,
            previous_secret_until=webhook.previous_secret_until,
            enabled=webhook.enabled,
            disabled_reason=webhook.disabled_reason,
            failure_count=webhook.failure_count,
            failing_since=webhook.failing_since,
            created_at=webhook.created_at,
            updated_at=webhook.updated_at,
        )
    )


def get_webhook(conn: sa.Connection, webhook_id: str) -> Webhook | None:
    row = conn.execute(sa.select(webhooks).where(_W.id == webhook_id)).first()
    return webhook_from_row(row) if row is not None else None


def list_webhooks(conn: sa.Connection, org_id: str, enabled_only: bool = False) -> list[Webhook]:
    query = sa.select(webhooks).where(_W.org_id == org_id).order_by(_W.created_at, _W.id)
    if enabled_only:
        query = query.where(_W.enabled == sa.true())
    return [webhook_from_row(row) for row in conn.execute(query)]


def update_webhook(conn: sa.Connection, webhook_id: str, values: dict[str, Any]) -> None:
    conn.execute(webhooks.update().where(_W.id == webhook_id).values(**values))


def delete_webhook(conn: sa.Connection, webhook_id: str) -> None:
    ids = sa.select(_D.id).where(_D.webhook_id == webhook_id).scalar_subquery()
    conn.execute(webhook_attempts.delete().where(webhook_attempts.c.delivery_id.in_(ids)))
    conn.execute(webhook_deliveries.delete().where(_D.webhook_id == webhook_id))
    conn.execute(webhooks.delete().where(_W.id == webhook_id))


# --- deliveries ----------------------------------------------------------------------------


def insert_deliveries(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """New pending deliveries: id, webhook_id, org_id, event_id, event_type, payload,
    next_attempt_at, created_at."""
    pending = [{**row, "state": "pending"} for row in rows]
    insert_rows(conn, webhook_deliveries, (*_DELIVERY_COLUMNS, "state"), pending)


_DELIVERY_COLUMNS = (
    "id",
    "webhook_id",
    "org_id",
    "event_id",
    "event_type",
    "payload",
    "next_attempt_at",
    "created_at",
)


def _delivery(row: Any, attempts: tuple[Attempt, ...] = ()) -> Delivery:
    return Delivery(
        id=row.id,
        webhook_id=row.webhook_id,
        org_id=row.org_id,
        event_id=row.event_id,
        event_type=row.event_type,
        payload=row.payload,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        final_attempt=row.final_attempt,
        last_status_code=row.last_status_code,
        last_latency_ms=row.last_latency_ms,
        last_response=row.last_response,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        attempt_log=attempts,
    )


def get_delivery(conn: sa.Connection, delivery_id: str) -> Delivery | None:
    row = conn.execute(sa.select(webhook_deliveries).where(_D.id == delivery_id)).first()
    return _delivery(row, _attempts(conn, [delivery_id]).get(delivery_id, ())) if row else None


def deliveries_page(
    conn: sa.Connection, webhook_id: str, limit: int, before: str | None
) -> list[Delivery]:
    """A webhook's deliveries, newest first, each with its attempts."""
    query = sa.select(webhook_deliveries).where(_D.webhook_id == webhook_id)
    if before is not None:
        query = query.where(_D.id < before)
    rows = list(conn.execute(query.order_by(_D.id.desc()).limit(limit)))
    attempts = _attempts(conn, [row.id for row in rows])
    return [_delivery(row, attempts.get(row.id, ())) for row in rows]


def count_deliveries(conn: sa.Connection, webhook_id: str) -> int:
    """How many deliveries a webhook has (the index on webhook_id, id)."""
    return int(
        conn.execute(sa.select(sa.func.count()).where(_D.webhook_id == webhook_id)).scalar_one()
    )


def _attempts(conn: sa.Connection, ids: list[str]) -> dict[str, tuple[Attempt, ...]]:
    if not ids:
        return {}
    a = webhook_attempts.c
    found: dict[str, list[Attempt]] = {}
    rows = conn.execute(sa.select(webhook_attempts).where(a.delivery_id.in_(ids)).order_by(a.seq))
    for row in rows:
        found.setdefault(row.delivery_id, []).append(
            Attempt(row.attempted_at, row.status_code, row.latency_ms, row.response, row.error)
        )
    return {key: tuple(value) for key, value in found.items()}


def requeue_delivery(conn: sa.Connection, delivery_id: str, moment: datetime) -> None:
    """A manual retry: one more attempt now, with no automatic ones after it."""
    conn.execute(
        webhook_deliveries.update()
        .where(_D.id == delivery_id)
        .values(state="pending", next_attempt_at=moment, claim=None, final_attempt=True)
    )


# --- the workers ---------------------------------------------------------------------------


def next_due(conn: sa.Connection) -> datetime | None:
    """When the earliest pending delivery falls due (a cheap read before any claim)."""
    value: datetime | None = conn.execute(
        sa.select(sa.func.min(_D.next_attempt_at)).where(_D.state == "pending")
    ).scalar()
    if value is not None and value.tzinfo is None:  # an aggregate skips the column's type
        value = value.replace(tzinfo=UTC)
    return value


def due_webhooks(
    conn: sa.Connection,
    moment: datetime,
    limit: int,
    exclude: Sequence[str] = (),
    only: Sequence[str] | None = None,
) -> list[tuple[str, int]]:
    """(webhook id, its timeout) of enabled webhooks with due deliveries, the longest waiting
    first, leaving out `exclude` (those this worker has at their limit)."""
    query = (
        sa.select(_D.webhook_id, _W.timeout_seconds)
        .join(webhooks, _W.id == _D.webhook_id)
        .where(_D.state == "pending", _D.next_attempt_at <= moment, _W.enabled == sa.true())
        .group_by(_D.webhook_id, _W.timeout_seconds)
        .order_by(sa.func.min(_D.next_attempt_at))
        .limit(limit)
    )
    if exclude:
        query = query.where(_D.webhook_id.not_in(list(exclude)))
    if only is not None:
        query = query.where(_D.id.in_(list(only)))
    return [(row.webhook_id, row.timeout_seconds) for row in conn.execute(query)]


def due_deliveries(
    conn: sa.Connection,
    webhook_id: str,
    moment: datetime,
    limit: int,
    skip_locked: bool,
    only: Sequence[str] | None = None,
) -> list[str]:
    """Ids of one webhook's due deliveries, oldest due first; on PostgreSQL the rows are
    locked, skipping those another worker holds (`FOR UPDATE SKIP LOCKED`)."""
    query = (
        sa.select(_D.id)
        .where(_D.webhook_id == webhook_id, _D.state == "pending", _D.next_attempt_at <= moment)
        .order_by(_D.next_attempt_at)
        .limit(limit)
    )
    if only is not None:
        query = query.where(_D.id.in_(list(only)))
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query).scalars())


def claim_deliveries(
    conn: sa.Connection, ids: list[str], token: str, lease_until: datetime
) -> list[tuple[Delivery, Webhook]]:
    """Take the deliveries for this worker until `lease_until`; they come back due then
    unless the worker records their outcome first."""
    if not ids:
        return []
    conn.execute(
        webhook_deliveries.update()
        .where(_D.id.in_(ids))
        .values(claim=token, next_attempt_at=lease_until)
    )
    rows = conn.execute(
        sa.select(webhook_deliveries, webhooks)
        .join(webhooks, _W.id == _D.webhook_id)
        .where(_D.id.in_(ids))
    )
    claimed = []
    for row in rows:
        mapping = row._mapping
        delivery = _delivery(_Columns(mapping, webhook_deliveries))
        claimed.append((delivery, webhook_from_row(_Columns(mapping, webhooks))))
    return claimed


class _Columns:
    """Attribute access to one table's columns of a joined row (both tables have `id`)."""

    def __init__(self, mapping: Any, table: sa.Table) -> None:
        self._mapping = mapping
        self._table = table

    def __getattr__(self, name: str) -> Any:
        return self._mapping[self._table.c[name]]


def finish_deliveries(conn: sa.Connection, token: str, rows: Sequence[dict[str, Any]]) -> None:
    """Record attempts' outcomes on their deliveries (one statement for the batch), where this
    worker still holds them. Each row: delivery_id, state, next_attempt_at, delivered_at,
    last_status_code, last_latency_ms, last_response, last_error."""
    if not rows:
        return
    # Bound names must differ from the columns' (SQLAlchemy keeps those for SET).
    at = UTCDateTime()
    conn.execute(
        webhook_deliveries.update()
        .where(_D.id == sa.bindparam("b_id"), _D.claim == token)
        .values(
            claim=None,
            attempts=_D.attempts + 1,
            state=sa.bindparam("b_state"),
            next_attempt_at=sa.bindparam("b_next", type_=at),
            delivered_at=sa.func.coalesce(sa.bindparam("b_delivered", type_=at), _D.delivered_at),
            last_status_code=sa.bindparam("b_code"),
            last_latency_ms=sa.bindparam("b_latency"),
            last_response=sa.bindparam("b_response"),
            last_error=sa.bindparam("b_error"),
        ),
        [
            {
                "b_id": row["delivery_id"],
                "b_state": row["state"],
                "b_next": row["next_attempt_at"],
                "b_delivered": row["delivered_at"],
                "b_code": row["last_status_code"],
                "b_latency": row["last_latency_ms"],
                "b_response": row["last_response"],
                "b_error": row["last_error"],
            }
            for row in rows
        ],
    )


def insert_attempts(conn: sa.Connection, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if rows:
        conn.execute(webhook_attempts.insert(), rows)


def webhook_succeeded(conn: sa.Connection, webhook_ids: Iterable[str]) -> None:
    ids = list(set(webhook_ids))
    if ids:
        conn.execute(
            webhooks.update()
            .where(_W.id.in_(ids), _W.failure_count > 0)
            .values(failure_count=0, failing_since=None)
        )


def webhook_failed(
    conn: sa.Connection, webhook_id: str, failures: int, moment: datetime
) -> tuple[int, datetime]:
    """Count failed attempts in a row; returns the new count and when the run began."""
    conn.execute(
        webhooks.update()
        .where(_W.id == webhook_id)
        .values(
            failure_count=_W.failure_count + failures,
            failing_since=sa.func.coalesce(_W.failing_since, moment),
        )
    )
    row = conn.execute(
        sa.select(_W.failure_count, _W.failing_since).where(_W.id == webhook_id)
    ).first()
    if row is None:
        return 0, moment
    return int(row.failure_count), row.failing_since or moment


def delivery_backlog(conn: sa.Connection, moment: datetime) -> tuple[int, int, datetime | None]:
    """(pending deliveries, of them overdue, the oldest due time) across every webhook."""
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(_D.next_attempt_at <= moment),
            sa.func.min(_D.next_attempt_at),
        )
        .select_from(webhook_deliveries.join(webhooks, _W.id == _D.webhook_id))
        .where(_D.state == "pending", _W.enabled == sa.true())
    ).one()
    oldest = row[2]
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(row[0]), int(row[1]), oldest


def disabled_webhooks(conn: sa.Connection) -> list[Webhook]:
    rows = conn.execute(sa.select(webhooks).where(_W.enabled == sa.false()))
    return [webhook_from_row(row) for row in rows]


def prune_deliveries(conn: sa.Connection, before: datetime) -> None:
    """Finished deliveries older than `before`, with their attempts."""
    old = sa.select(_D.id).where(_D.state != "pending", _D.created_at < before).scalar_subquery()
    conn.execute(webhook_attempts.delete().where(webhook_attempts.c.delivery_id.in_(old)))
    conn.execute(webhook_deliveries.delete().where(_D.state != "pending", _D.created_at < before))


def delivery_of_event(conn: sa.Connection, webhook_id: str, event_id: str) -> Delivery | None:
    row = conn.execute(
        sa.select(webhook_deliveries).where(_D.webhook_id == webhook_id, _D.event_id == event_id)
    ).first()
    return _delivery(row) if row is not None else None
