"""Request and response models of `/api/v1/webhooks` (the OpenAPI document shows them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from zyntro.webhooks.model import DEFAULT_TIMEOUT, EVENT_TYPES, MAX_DESCRIPTION, TIMEOUT_RANGE

_EVENTS = 'Event types to send, or ["*"] for all: ' + ", ".join(EVENT_TYPES) + "."


class WebhookAuth(BaseModel):
    """How Zyntro authenticates to your endpoint, besides the signature. `bearer`: token;
    `basic`: username, password; `api_key`: key (and header_name, default X-API-Key);
    `custom_header`: header_name, header_value. Secrets are never shown back in full."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"type": "bearer", "token": "s3cr3t-token"}}
    )

    type: Literal["none", "bearer", "basic", "api_key", "custom_header"] = "none"
    token: str | None = None
    username: str | None = None
    password: str | None = None
    header_name: str | None = None
    key: str | None = None
    header_value: str | None = None


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "url": "https://example.com/hooks/zyntro",
                "events": ["segment.created", "segment.updated", "segment.deleted"],
                "brand_ids": [],
                "description": "CRM sync",
                "timeout_seconds": 30,
                "auth": {"type": "none"},
            }
        },
    )

    url: str = Field(description="http(s) URL of a public address; redirects are not followed.")
    events: list[str] = Field(default_factory=lambda: ["*"], description=_EVENTS)
    brand_ids: list[str] = Field(default_factory=list, description="[] for every brand.")
    description: str = Field("", max_length=MAX_DESCRIPTION)
    timeout_seconds: int = Field(
        DEFAULT_TIMEOUT, description=f"{TIMEOUT_RANGE[0]}-{TIMEOUT_RANGE[1]} seconds per attempt."
    )
    auth: WebhookAuth = Field(default_factory=WebhookAuth)


class WebhookUpdate(BaseModel):
    """The fields to change. `enabled: true` re-enables a disabled webhook (its failure count
    starts again from 0); `enabled: false` pauses it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"enabled": True}})

    url: str | None = None
    events: list[str] | None = None
    brand_ids: list[str] | None = None
    description: str | None = None
    timeout_seconds: int | None = None
    auth: WebhookAuth | None = None
    enabled: bool | None = None


class WebhookPublic(BaseModel):
    webhook_id: str
    org_id: str
    url: str
    description: str
    events: list[str]
    brand_ids: list[str]
    timeout_seconds: int
    auth: dict[str, str] = Field(description="The auth type; secrets masked to their last 4.")
    status: Literal["enabled", "disabled"]
    disabled_reason: str
    failure_count: int = Field(description="Failed attempts in a row.")
    previous_secret_expires_at: str | None = Field(
        description="Until when the secret replaced by the last rotation still signs."
    )
    created_at: str
    updated_at: str


class WebhookWithSecret(WebhookPublic):
    secret: str = Field(description="The signing secret (whsec_…): shown only in this answer.")


class WebhookOne(BaseModel):
    status: Literal["success"]
    data: WebhookPublic


class WebhookCreated(BaseModel):
    status: Literal["success"]
    data: WebhookWithSecret


class WebhookList(BaseModel):
    status: Literal["success"]
    data: list[WebhookPublic]


class AttemptPublic(BaseModel):
    attempted_at: str
    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str


class DeliveryPublic(BaseModel):
    delivery_id: str
    webhook_id: str
    event_id: str = Field(description="Sent as the webhook-id header: the same on every retry.")
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    status_code: int | None = Field(description="Of the last attempt; null if none answered.")
    latency_ms: int | None
    response_excerpt: str = Field(description="The start of the last answer (1 KiB at most).")
    error: str = Field(description="Why the last attempt failed without an answer, if it did.")
    next_retry_at: str | None
    created_at: str
    delivered_at: str | None
    attempt_log: list[AttemptPublic]


class DeliveryOne(BaseModel):
    status: Literal["success"]
    data: DeliveryPublic


class DeliveryPage(BaseModel):
    status: Literal["success"]
    data: list[DeliveryPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for older deliveries.")
