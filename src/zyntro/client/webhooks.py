"""Webhooks in the SDK: `verify` for receivers, and what the webhook methods return.

A receiver in a few lines (docs/webhooks.md)::

    from zyntro.client.webhooks import verify, InvalidSignature

    event = verify(request_body, request_headers, secret)  # raises InvalidSignature

`verify` checks the Standard Webhooks signature (any of the `v1,` signatures, so a rotated
secret's grace period is covered) and that the timestamp is within five minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from standardwebhooks import Webhook as _StandardWebhook
from standardwebhooks import WebhookVerificationError

from zyntro.client.errors import ZyntroError


class InvalidSignature(ZyntroError):
    """The payload was not signed with the secret, or its timestamp is too old or too new."""


def verify(payload: bytes | str, headers: Mapping[str, str], secret: str) -> dict[str, Any]:
    """The event of a webhook request, once its signature checks out; else `InvalidSignature`.

    `payload` is the raw request body (not parsed and re-encoded), `headers` the request's
    headers (any case), `secret` the webhook's `whsec_…` signing secret.
    """
    try:
        event = _StandardWebhook(secret).verify(payload, dict(headers.items()))
    except (WebhookVerificationError, ValueError, TypeError) as exc:
        raise InvalidSignature(f"The webhook signature does not verify: {exc}") from exc
    if not isinstance(event, dict):
        raise InvalidSignature("The webhook payload is not a JSON object.")
    return event


def _str(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def _opt_str(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value if isinstance(value, str) else None


def _opt_int(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook as the API shows it; `secret` only in the answer that made or rotated it."""

    webhook_id: str
    url: str
    description: str
    events: tuple[str, ...]
    brand_ids: tuple[str, ...]
    timeout_seconds: int
    auth: dict[str, str]
    status: str  # enabled, disabled
    disabled_reason: str
    failure_count: int
    created_at: str
    updated_at: str
    previous_secret_expires_at: str | None = None
    secret: str | None = None

    def __repr__(self) -> str:  # never the secret
        return f"Webhook(webhook_id={self.webhook_id!r}, url={self.url!r}, status={self.status!r})"

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Webhook:
        return cls(
            webhook_id=_str(item, "webhook_id"),
            url=_str(item, "url"),
            description=_str(item, "description"),
            events=tuple(item.get("events") or ()),
            brand_ids=tuple(item.get("brand_ids") or ()),
            timeout_seconds=_opt_int(item, "timeout_seconds") or 0,
            auth=dict(item.get("auth") or {}),
            status=_str(item, "status"),
            disabled_reason=_opt_str(item, "disabled_reason") or "",
            failure_count=_opt_int(item, "failure_count") or 0,
            created_at=_str(item, "created_at"),
            updated_at=_str(item, "updated_at"),
            previous_secret_expires_at=_opt_str(item, "previous_secret_expires_at"),
            secret=_opt_str(item, "secret"),
        )


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    attempted_at: str
    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event sent to one webhook: where it stands, and each attempt."""

    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str  # pending, succeeded, failed
    attempts: int
    status_code: int | None
    latency_ms: int | None
    response_excerpt: str
    error: str
    next_retry_at: str | None
    created_at: str
    delivered_at: str | None
    attempt_log: tuple[DeliveryAttempt, ...]

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> WebhookDelivery:
        log = tuple(
            DeliveryAttempt(
                attempted_at=_str(a, "attempted_at"),
                status_code=_opt_int(a, "status_code"),
                latency_ms=_opt_int(a, "latency_ms") or 0,
                response_excerpt=_opt_str(a, "response_excerpt") or "",
                error=_opt_str(a, "error") or "",
            )
            for a in item.get("attempt_log") or ()
        )
        return cls(
            delivery_id=_str(item, "delivery_id"),
            webhook_id=_str(item, "webhook_id"),
            event_id=_str(item, "event_id"),
            event_type=_str(item, "event_type"),
            status=_str(item, "status"),
            attempts=_opt_int(item, "attempts") or 0,
            status_code=_opt_int(item, "status_code"),
            latency_ms=_opt_int(item, "latency_ms"),
            response_excerpt=_opt_str(item, "response_excerpt") or "",
            error=_opt_str(item, "error") or "",
            next_retry_at=_opt_str(item, "next_retry_at"),
            created_at=_str(item, "created_at"),
            delivered_at=_opt_str(item, "delivered_at"),
            attempt_log=log,
        )


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    deliveries: tuple[WebhookDelivery, ...]
    next_cursor: str | None


__all__ = [
    "DeliveryAttempt",
    "DeliveryPage",
    "InvalidSignature",
    "Webhook",
    "WebhookDelivery",
    "verify",
]
