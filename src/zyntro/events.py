"""The events of the feed: their types, and the `data` each carries.

An event's public JSON is `{"id": "evt_…", "type", "created_at", "org_id", "brand_id",
"data"}` (written by `service.recording.record_event`). Segment events carry the segment in
the seed's 12-field shape (`segment.deleted`: the segment as it was); brand events carry the
brand (`brand.deleted`: as it was). Key events carry the key as introspection shows it, never
its secret or digest, with `brand_id` null: they are the organization's, so a key limited to
brands does not see them in the feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from zyntro.domain import ApiKey, Brand, format_timestamp

SEGMENT_CREATED = "segment.created"
SEGMENT_UPDATED = "segment.updated"
SEGMENT_DELETED = "segment.deleted"
SEGMENT_RESTORED = "segment.restored"
BRAND_CREATED = "brand.created"
BRAND_RENAMED = "brand.renamed"
BRAND_DELETED = "brand.deleted"
WEBHOOK_TEST = "webhook.test"
KEY_CREATED = "key.created"
KEY_ROLLED = "key.rolled"
KEY_REVOKED = "key.revoked"

EVENT_TYPES = (
    SEGMENT_CREATED,
    SEGMENT_UPDATED,
    SEGMENT_DELETED,
    SEGMENT_RESTORED,
    BRAND_CREATED,
    BRAND_RENAMED,
    BRAND_DELETED,
    WEBHOOK_TEST,
    KEY_CREATED,
    KEY_ROLLED,
    KEY_REVOKED,
)


def brand_data(brand: Brand) -> dict[str, Any]:
    """A brand event's `data`: the brand as the management API shows it."""
    return {
        "brand_id": brand.id,
        "org_id": brand.org_id,
        "name": brand.name,
        "created_at": format_timestamp(brand.created_at),
    }


def _time(value: datetime | None) -> str | None:
    return format_timestamp(value) if value is not None else None


def key_data(key: ApiKey, scopes: Sequence[str]) -> dict[str, Any]:
    """A key event's `data`, and the API's key object but `last_used_at`: what the key is,
    with `scopes` those it has now. Never its secret nor its digest."""
    owner = (
        {"type": "member", "id": key.member_id}
        if key.member_id
        else {"type": "organization", "id": key.org_id}
    )
    return {
        "key_id": key.id,
        "prefix": key.prefix,
        "kind": key.kind,
        "owner": owner,
        "org_id": key.org_id,
        "label": key.label,
        "scopes": list(scopes),
        "brands": list(key.brands) if key.brands is not None else None,
        "allowlist": list(key.allowlist) if key.allowlist is not None else None,
        "expires_at": _time(key.expires_at),
        "created_at": _time(key.created_at),
        "revoked_at": _time(key.revoked_at),
        "previous_secret_until": _time(key.previous_until),
    }


def key_view(key: ApiKey, scopes: Sequence[str]) -> dict[str, Any]:
    """The key as `/api/v1` and the CLI show it: `key_data` with `last_used_at` after
    `expires_at`, in the order docs/api-v1.md gives."""
    view: dict[str, Any] = {}
    for name, value in key_data(key, scopes).items():
        view[name] = value
        if name == "expires_at":
            view["last_used_at"] = _time(key.last_used_at)
    return view
