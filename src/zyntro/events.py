"""The events of the feed: their types, and the `data` each carries.

An event's public JSON is `{"id": "evt_…", "type", "created_at", "org_id", "brand_id",
"data"}` (written by `service.recording.record_event`). Segment events carry the segment in
the seed's 12-field shape (`segment.deleted`: the segment as it was); brand events carry the
brand (`brand.deleted`: as it was).
"""

from __future__ import annotations

from typing import Any

from zyntro.domain import Brand, format_timestamp

SEGMENT_CREATED = "segment.created"
SEGMENT_UPDATED = "segment.updated"
SEGMENT_DELETED = "segment.deleted"
SEGMENT_RESTORED = "segment.restored"
BRAND_CREATED = "brand.created"
BRAND_RENAMED = "brand.renamed"
BRAND_DELETED = "brand.deleted"
WEBHOOK_TEST = "webhook.test"

EVENT_TYPES = (
    SEGMENT_CREATED,
    SEGMENT_UPDATED,
    SEGMENT_DELETED,
    SEGMENT_RESTORED,
    BRAND_CREATED,
    BRAND_RENAMED,
    BRAND_DELETED,
    WEBHOOK_TEST,
)


def brand_data(brand: Brand) -> dict[str, Any]:
    """A brand event's `data`: the brand as the management API shows it."""
    return {
        "brand_id": brand.id,
        "org_id": brand.org_id,
        "name": brand.name,
        "created_at": format_timestamp(brand.created_at),
    }
