"""Models of the events feed, the trash and segment revisions (the OpenAPI document shows
them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from zyntro.api.schemas import AudienceSegment
from zyntro.events import EVENT_TYPES

EventType = Literal[
    "segment.created",
    "segment.updated",
    "segment.deleted",
    "segment.restored",
    "brand.created",
    "brand.renamed",
    "brand.deleted",
    "webhook.test",
    "key.created",
    "key.rolled",
    "key.revoked",
]
assert set(EventType.__args__) == set(EVENT_TYPES)  # type: ignore[attr-defined]


class Event(BaseModel):
    """Something that changed in your organization."""

    id: str = Field(description="evt_ + a time-sortable id; the same id on every delivery")
    type: EventType
    created_at: str = Field(description="YYYY-MM-DD HH:MM:SS, UTC")
    org_id: str
    brand_id: str | None = Field(description="The brand it concerns (null for none)")
    data: dict[str, Any] = Field(
        description="Segment events: the segment's 12 fields (segment.deleted: as it was). "
        "Brand events: brand_id, org_id, name, created_at (brand.deleted: as it was). "
        "Key events: the key as GET /api/v1/keys/{key_id} shows it but last_used_at, never "
        "its secret."
    )


class EventPage(BaseModel):
    """Events oldest first, after `cursor`."""

    status: Literal["success"]
    data: list[Event]
    next_cursor: str = Field(
        description="Never null: pass it as `cursor` to read on. On the last page it is the "
        "position to poll from; an empty `data` means nothing new yet."
    )


class TrashedSegment(AudienceSegment):
    """A deleted segment, as it was, restorable until `purge_at`."""

    deleted_at: str = Field(description="YYYY-MM-DD HH:MM:SS, UTC")
    deleted_by: str = Field(description="member_id of who deleted it (`system`: the CLI)")
    purge_at: str = Field(description="When it is deleted for good (ZYNTRO_TRASH_RETENTION_DAYS)")


class TrashPage(BaseModel):
    """A brand's trash, the latest deleted first."""

    status: Literal["success"]
    data: list[TrashedSegment]
    next_cursor: str | None = Field(description="`cursor` of the next page; null on the last.")


class Revision(BaseModel):
    """One change of a segment: who, when, its fields before and after."""

    revision_id: str
    segment_id: str
    brand_id: str
    action: Literal["created", "updated", "deleted", "restored", "reverted"] = Field(
        description="restored: back from the trash; reverted: given an earlier revision's fields"
    )
    actor: str = Field(description="member_id of who made it (`system`: the CLI)")
    at: str = Field(description="YYYY-MM-DD HH:MM:SS, UTC")
    before: AudienceSegment | None = Field(description="null for a creation or a restore")
    after: AudienceSegment | None = Field(description="null for a deletion")


class RevisionPage(BaseModel):
    """A segment's revisions, the latest first."""

    status: Literal["success"]
    data: list[Revision]
    next_cursor: str | None = Field(description="`cursor` of the next page; null on the last.")
