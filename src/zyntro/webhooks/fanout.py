"""Events to deliveries: called by `record_event` inside the writing transaction, so an event
and its deliveries commit together or not at all (docs/decisions.md, "Webhooks")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from zyntro.ids import new_id
from zyntro.store.queries import webhooks as webhook_queries
from zyntro.webhooks.model import TEST_EVENT, Webhook

_WEBHOOKS = "zyntro_webhooks"  # the connection's info key of the webhooks read for fan-out


def fan_out(
    conn: sa.Connection,
    event_id: str,
    event_type: str,
    org_id: str,
    brand_id: str | None,
    body: str,
    moment: datetime,
) -> int:
    """One pending delivery of the event's JSON (`body`) for each enabled webhook of the
    organization that wants it; returns how many. A test event goes to its webhook only."""
    if event_type == TEST_EVENT:  # to the webhook it tests, alone (its data names it)
        target = webhook_queries.get_webhook(conn, orjson.loads(body)["data"]["webhook_id"])
        wanted = [target] if target is not None and target.org_id == org_id else []
        webhook_queries.insert_deliveries(
            conn, [delivery_row(w, event_id, event_type, body, moment) for w in wanted]
        )
        return len(wanted)
    # Read once per transaction and organization: an import records an event per segment.
    # (`conn.info` outlives the transaction, with the pooled connection: hence its key.)
    transaction = conn.get_transaction()
    cached = conn.info.get(_WEBHOOKS)
    if cached is None or cached[0] is not transaction:
        cached = conn.info[_WEBHOOKS] = (transaction, {})
    known: dict[str, list[Webhook]] = cached[1]
    if org_id not in known:
        known[org_id] = webhook_queries.list_webhooks(conn, org_id, enabled_only=True)
    wanted = [webhook for webhook in known[org_id] if webhook.wants(event_type, brand_id)]
    webhook_queries.insert_deliveries(
        conn, [delivery_row(w, event_id, event_type, body, moment) for w in wanted]
    )
    return len(wanted)


def delivery_row(
    webhook: Webhook, event_id: str, event_type: str, body: str, moment: datetime
) -> dict[str, Any]:
    return {
        "id": new_id("dlv"),
        "webhook_id": webhook.id,
        "org_id": webhook.org_id,
        "event_id": event_id,
        "event_type": event_type,
        "payload": body,
        "next_attempt_at": moment,
        "created_at": moment,
    }
