"""Events, the trash and revisions as the SDK returns them: immutable typed values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zyntro.client.models import AudienceSegment, _parse_timestamp


@dataclass(frozen=True, slots=True)
class Event:
    """One event of the organization's feed (docs/events.md)."""

    id: str  # evt_…: the same on every delivery of this event
    type: str  # segment.…, brand.…, key.created, key.rolled, key.revoked (docs/events.md)
    created_at: datetime
    org_id: str
    brand_id: str | None
    data: Mapping[str, Any]

    @property
    def segment(self) -> AudienceSegment | None:
        """The segment of a `segment.*` event (for `segment.deleted`, as it was); else None."""
        if not self.type.startswith("segment."):
            return None
        return AudienceSegment.from_api(self.data)

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Event:
        data = item.get("data")
        brand_id = item.get("brand_id")
        for name in ("id", "type", "org_id"):
            if not isinstance(item.get(name), str):
                raise ValueError(f"event field {name} is missing or not a string")
        if not isinstance(data, Mapping) or not (brand_id is None or isinstance(brand_id, str)):
            raise ValueError("event data is not an object")
        return cls(
            id=item["id"],
            type=item["type"],
            created_at=_parse_timestamp("created_at", item.get("created_at")),
            org_id=item["org_id"],
            brand_id=brand_id,
            data=dict(data),
        )


@dataclass(frozen=True, slots=True)
class EventPage:
    """Events oldest first; `next_cursor` is never None: it is where to read (or poll) next."""

    events: tuple[Event, ...]
    next_cursor: str


@dataclass(frozen=True, slots=True)
class TrashedSegment:
    """A deleted segment as it was, restorable until `purge_at`."""

    segment: AudienceSegment
    deleted_at: datetime
    deleted_by: str
    purge_at: datetime

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> TrashedSegment:
        deleted_by = item.get("deleted_by")
        if not isinstance(deleted_by, str):
            raise ValueError("deleted_by is missing or not a string")
        return cls(
            segment=AudienceSegment.from_api(item),
            deleted_at=_parse_timestamp("deleted_at", item.get("deleted_at")),
            deleted_by=deleted_by,
            purge_at=_parse_timestamp("purge_at", item.get("purge_at")),
        )


@dataclass(frozen=True, slots=True)
class TrashPage:
    """A page of a brand's trash, the latest deleted first; `next_cursor` None on the last."""

    segments: tuple[TrashedSegment, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Revision:
    """One change of a segment: who, when, and the segment before and after it."""

    revision_id: str
    segment_id: str
    brand_id: str
    action: str  # created, updated, deleted, restored, reverted
    actor: str
    at: datetime
    before: AudienceSegment | None
    after: AudienceSegment | None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Revision:
        for name in ("revision_id", "segment_id", "brand_id", "action", "actor"):
            if not isinstance(item.get(name), str):
                raise ValueError(f"revision field {name} is missing or not a string")

        def side(name: str) -> AudienceSegment | None:
            value = item.get(name)
            if value is None:
                return None
            if not isinstance(value, Mapping):
                raise ValueError(f"revision field {name} is not an object")
            return AudienceSegment.from_api(value)

        return cls(
            revision_id=item["revision_id"],
            segment_id=item["segment_id"],
            brand_id=item["brand_id"],
            action=item["action"],
            actor=item["actor"],
            at=_parse_timestamp("at", item.get("at")),
            before=side("before"),
            after=side("after"),
        )


@dataclass(frozen=True, slots=True)
class RevisionPage:
    """A page of a segment's revisions, the latest first; `next_cursor` None on the last."""

    revisions: tuple[Revision, ...]
    next_cursor: str | None
