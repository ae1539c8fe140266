"""The events feed of an organization: every role reads it, a page at a time after a cursor.

Events are written by `recording.record_event` in the transaction of each change (the
outbox). A consumer keeps `next_cursor` and asks again from it: the cursor is never null, an
empty page means "nothing new yet", and nothing that commits later lands before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from zyntro import cursors
from zyntro.domain import utcnow
from zyntro.errors import BrandNotFound, ValidationFailed
from zyntro.events import EVENT_TYPES
from zyntro.identity import Actor
from zyntro.service.accounts import Accounts
from zyntro.store import queries
from zyntro.store.queries.events import START

MAX_EVENTS_PAGE = 500
DEFAULT_EVENT_RETENTION_DAYS = 30


@dataclass(frozen=True, slots=True)
class EventPage:
    """Events oldest first (their public JSON, parsed) and the cursor to ask from next."""

    events: list[dict[str, Any]]
    next_cursor: str


def encode_event_cursor(position: int) -> str:
    """An opaque cursor for a position of the feed (the same for every filter)."""
    return cursors.pack("e", position)


def decode_event_cursor(cursor: str) -> int:
    def read(values: list[Any]) -> int:
        tag, position = values
        if tag != "e" or not isinstance(position, int) or position < 0:
            raise ValueError
        return position

    return cursors.unpack(cursor, read)


class EventFeed(Accounts):
    """Reading the events feed, and its retention."""

    event_retention = timedelta(days=DEFAULT_EVENT_RETENTION_DAYS)

    def list_events(
        self,
        actor: Actor,
        org_id: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        types: Sequence[str] = (),
        brand_id: str | None = None,
    ) -> EventPage:
        """An organization's events after `cursor` (from the oldest kept without one), visible
        to every role of the organization; another organization's is not found."""
        org = self.get_org(actor, org_id)
        if not 1 <= limit <= MAX_EVENTS_PAGE:
            raise ValidationFailed("limit", f"must be 1-{MAX_EVENTS_PAGE}")
        for event_type in types:
            if event_type not in EVENT_TYPES:
                raise ValidationFailed("type", f"must be one of {', '.join(EVENT_TYPES)}")
        if brand_id is not None and not actor.sees_brand(brand_id):
            raise BrandNotFound()  # outside the key's brand limits: as a missing brand
        after = decode_event_cursor(cursor) if cursor else START
        with self.store.read() as conn:
            rows, position = queries.events_after(
                conn,
                org.id,
                after,
                limit=limit,
                types=types,
                brand_id=brand_id,
                within=actor.brands,
            )
        return EventPage(
            events=[orjson.loads(body) for _, body in rows],
            next_cursor=encode_event_cursor(position),
        )

    def prune_events(self) -> int:
        """Delete events older than the retention; returns how many (any process may run it:
        deleting what is already gone deletes nothing)."""
        with self._write() as conn:
            return queries.prune_events(conn, utcnow() - self.event_retention)
