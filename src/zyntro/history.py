"""The trash and the history of segments, as the surfaces show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zyntro.domain import EDITABLE_FIELDS, LIST_FIELDS, Segment, format_timestamp, parse_timestamp


@dataclass(frozen=True, slots=True)
class TrashedSegment:
    """A deleted segment, restorable until `purge_at`."""

    segment: dict[str, Any]  # the 12 public fields as they were
    brand_id: str
    deleted_at: datetime
    deleted_by: str
    purge_at: datetime

    @property
    def id(self) -> str:
        return str(self.segment["segment_id"])

    def to_public(self) -> dict[str, Any]:
        return {
            **self.segment,
            "deleted_at": format_timestamp(self.deleted_at),
            "deleted_by": self.deleted_by,
            "purge_at": format_timestamp(self.purge_at),
        }


@dataclass(frozen=True, slots=True)
class Revision:
    """One change of a segment: who, when, and its 12 fields before and after."""

    id: str
    segment_id: str
    brand_id: str
    action: str  # created, updated, deleted, restored (from the trash), reverted
    actor: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def state(self) -> dict[str, Any]:
        """The fields this revision left the segment with (a deletion: those it took away)."""
        found = self.after if self.after is not None else self.before
        assert found is not None
        return found

    def to_public(self) -> dict[str, Any]:
        return {
            "revision_id": self.id,
            "segment_id": self.segment_id,
            "brand_id": self.brand_id,
            "action": self.action,
            "actor": self.actor,
            "at": format_timestamp(self.at),
            "before": self.before,
            "after": self.after,
        }


def segment_from_public(
    public: dict[str, Any], brand_id: str, updated_at: datetime | None = None
) -> Segment:
    """A segment from its 12 public fields (as a revision or the trash keeps them)."""
    content: dict[str, Any] = {
        name: tuple(public[name]) if name in LIST_FIELDS else public[name]
        for name in EDITABLE_FIELDS
    }
    return Segment(
        id=public["segment_id"],
        brand_id=brand_id,
        created_at=parse_timestamp(public["created_at"], "created_at"),
        updated_at=updated_at or parse_timestamp(public["updated_at"], "updated_at"),
        initiated_by=public["initiated_by"],
        **content,
    )
