"""What a webhook is, the rules of its fields, and how it and its deliveries are shown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zyntro.domain import format_timestamp
from zyntro.errors import ValidationFailed
from zyntro.events import EVENT_TYPES as EVENT_TYPES
from zyntro.events import WEBHOOK_TEST
from zyntro.ids import is_valid_id
from zyntro.webhooks.auth import masked_auth

ALL_EVENTS = "*"
TEST_EVENT = WEBHOOK_TEST
TIMEOUT_RANGE = (5, 120)
DEFAULT_TIMEOUT = 30
MAX_DESCRIPTION = 500
MAX_BRANDS = 100
EXCERPT_CHARS = 1024  # of a receiver's answer, kept per attempt


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    org_id: str
    url: str
    description: str
    events: list[str]
    brand_ids: list[str]
    timeout_seconds: int
    auth: dict[str, str] = field(repr=False)
    secret: str = field(repr=False)
    previous_secret: str | None = field(repr=False)
    previous_secret_until: datetime | None
    enabled: bool
    disabled_reason: str
    failure_count: int
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime

    def wants(self, event_type: str, brand_id: str | None) -> bool:
        """Whether an event of this type, about this brand, is sent to this webhook."""
        if ALL_EVENTS not in self.events and event_type not in self.events:
            return False
        return not self.brand_ids or brand_id is None or brand_id in self.brand_ids

    def signing_secrets(self, moment: datetime) -> list[str]:
        """The current secret, and the one it replaced while its 24 hours last."""
        keys = [self.secret]
        if (
            self.previous_secret
            and self.previous_secret_until
            and moment < self.previous_secret_until
        ):
            keys.append(self.previous_secret)
        return keys

    def to_public(self) -> dict[str, Any]:
        """As every surface shows it: never the secret, credentials masked."""
        return {
            "webhook_id": self.id,
            "org_id": self.org_id,
            "url": self.url,
            "description": self.description,
            "events": list(self.events),
            "brand_ids": list(self.brand_ids),
            "timeout_seconds": self.timeout_seconds,
            "auth": masked_auth(self.auth),
            "status": "enabled" if self.enabled else "disabled",
            "disabled_reason": self.disabled_reason,
            "failure_count": self.failure_count,
            "previous_secret_expires_at": _when(self.previous_secret_until),
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    response: str
    error: str

    def to_public(self) -> dict[str, Any]:
        return {
            "attempted_at": format_timestamp(self.attempted_at),
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "response_excerpt": self.response,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    webhook_id: str
    org_id: str
    event_id: str
    event_type: str
    payload: str
    state: str  # pending, succeeded, failed
    attempts: int
    next_attempt_at: datetime | None
    final_attempt: bool
    last_status_code: int | None
    last_latency_ms: int | None
    last_response: str
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: tuple[Attempt, ...] = ()

    def to_public(self) -> dict[str, Any]:
        return {
            "delivery_id": self.id,
            "webhook_id": self.webhook_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.state,
            "attempts": self.attempts,
            "status_code": self.last_status_code,
            "latency_ms": self.last_latency_ms,
            "response_excerpt": self.last_response,
            "error": self.last_error,
            "next_retry_at": _when(self.next_attempt_at) if self.state == "pending" else None,
            "created_at": format_timestamp(self.created_at),
            "delivered_at": _when(self.delivered_at),
            "attempt_log": [attempt.to_public() for attempt in self.attempt_log],
        }


def _when(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None


def validate_events(value: Any) -> list[str]:
    if value is None:
        return [ALL_EVENTS]
    if not isinstance(value, list) or not value:
        raise ValidationFailed("events", 'must be a non-empty list of event types, or ["*"]')
    clean: list[str] = []
    for item in value:
        if item != ALL_EVENTS and item not in EVENT_TYPES:
            raise ValidationFailed(
                "events",
                f"must be event types ({', '.join(EVENT_TYPES)}); {str(item)[:50]!r} is not one",
            )
        if item not in clean:
            clean.append(item)
    return [ALL_EVENTS] if ALL_EVENTS in clean else clean


def validate_brand_ids(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_BRANDS:
        raise ValidationFailed("brand_ids", f"must be a list of at most {MAX_BRANDS} brand ids")
    if not all(isinstance(item, str) and is_valid_id(item) for item in value):
        raise ValidationFailed("brand_ids", "must hold brand ids")
    return list(dict.fromkeys(value))


def validate_timeout(value: Any) -> int:
    low, high = TIMEOUT_RANGE
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(
            "timeout_seconds", f"must be a whole number of seconds, {low}-{high}"
        )
    return value


def validate_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise ValidationFailed(
            "description", f"must be text of at most {MAX_DESCRIPTION} characters"
        )
    return value.strip()


def check_fields(values: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValidationFailed(unknown[0], "is not a field of a webhook")
