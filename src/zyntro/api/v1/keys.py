"""`/api/v1/key` (what the presented key is) and `/api/v1/keys`: personal and organization
keys, rolls, revocation and usage (docs/api-v1.md, "API keys")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from zyntro.access import Scope
from zyntro.api.deps import service_of
from zyntro.api.v1.auth import LimitedRoute, requires
from zyntro.api.v1.http import json_response
from zyntro.api.v1.models import BODY_WRITE_ERRORS, ERRORS, WRITE_ERRORS
from zyntro.domain import ApiKey
from zyntro.events import key_view
from zyntro.service import Actor, Service
from zyntro.service.keys import DEFAULT_GRACE, KeyLimits

router = APIRouter(route_class=LimitedRoute)


class KeyCreate(BaseModel):
    """A new key: personal (yours) or the organization's (owners)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "kind": "organization",
                "label": "content generator",
                "scopes": ["segments:read"],
                "brands": ["brand_01J..."],
                "allowlist": ["203.0.113.0/24", "2001:db8::/32"],
            }
        },
    )

    kind: Literal["personal", "organization"] = "personal"
    label: str = Field("", max_length=200)
    scopes: list[str] | None = Field(
        None,
        description="Default: all your role allows (personal), segments and audiences read "
        "(organization).",
    )
    brands: list[str] | None = Field(None, description="Only these brands; default: all.")
    allowlist: list[str] | None = Field(
        None, description="Only from these IPv4/IPv6 addresses or CIDRs; default: anywhere."
    )
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class KeyRoll(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int = Field(
        int(DEFAULT_GRACE.total_seconds()),
        ge=0,
        le=7 * 86400,
        description="How long the current secret keeps working (0: it stops at once).",
    )


def public_key(service: Service, key: ApiKey) -> dict[str, Any]:
    """A key as the API shows it: never its secret (a key event's `data`, and when it was
    last used)."""
    return key_view(key, service.scopes_of(key))


@router.get("/key", responses=ERRORS, summary="What the presented key is (any valid key)")
def introspect(request: Request, actor: Actor = requires(None)) -> Response:
    service = service_of(request)
    assert actor.key_id is not None
    key = service.key_of_principal(actor.key_id)
    return json_response({"status": "success", "data": public_key(service, key)})


@router.get("/keys", responses=ERRORS, summary="Your keys, and (owners) the organization's")
def list_keys(request: Request, actor: Actor = requires(Scope.KEYS_MANAGE)) -> Response:
    service = service_of(request)
    assert actor.member_id is not None and actor.org_id is not None  # keys:manage: a member's
    found = service.list_keys(actor, actor.member_id)
    if actor.role is not None and actor.role.value == "owner":
        found += service.list_org_keys(actor, actor.org_id)
    return json_response({"status": "success", "data": [public_key(service, k) for k in found]})


@router.post(
    "/keys", status_code=201, responses=BODY_WRITE_ERRORS, summary="Create a key (shown once)"
)
def create_key(
    body: KeyCreate, request: Request, actor: Actor = requires(Scope.KEYS_MANAGE)
) -> Response:
    service = service_of(request)
    assert actor.member_id is not None and actor.org_id is not None
    limits = KeyLimits(body.scopes, body.brands, body.allowlist)
    if body.kind == "organization":
        key, plain = service.create_org_key(
            actor, actor.org_id, body.label, body.expires_in_days, limits
        )
    else:
        key, plain = service.create_key(
            actor, actor.member_id, body.label, body.expires_in_days, limits
        )
    data = {**public_key(service, key), "api_key": plain}
    return json_response({"status": "success", "data": data}, 201)


@router.get("/keys/{key_id}", responses=ERRORS, summary="One key")
def get_key(key_id: str, request: Request, actor: Actor = requires(Scope.KEYS_MANAGE)) -> Response:
    service = service_of(request)
    key = service.get_key(actor, key_id)
    return json_response({"status": "success", "data": public_key(service, key)})


@router.post(
    "/keys/{key_id}/roll",
    responses=BODY_WRITE_ERRORS,
    summary="A new secret for the key; the current one works for the grace period",
)
def roll_key(
    key_id: str, body: KeyRoll, request: Request, actor: Actor = requires(Scope.KEYS_MANAGE)
) -> Response:
    service = service_of(request)
    key, plain = service.roll_key(actor, key_id, timedelta(seconds=body.grace_seconds))
    data = {**public_key(service, key), "api_key": plain}
    return json_response({"status": "success", "data": data})


@router.delete("/keys/{key_id}", responses=WRITE_ERRORS, summary="Revoke a key")
def revoke_key(
    key_id: str, request: Request, actor: Actor = requires(Scope.KEYS_MANAGE)
) -> Response:
    service = service_of(request)
    key = service.revoke_key(actor, key_id)
    return json_response({"status": "success", "data": public_key(service, key)})


@router.get("/keys/{key_id}/usage", responses=ERRORS, summary="Requests and errors a day, 30 days")
def key_usage(
    key_id: str, request: Request, actor: Actor = requires(Scope.KEYS_MANAGE)
) -> Response:
    days = service_of(request).key_usage(actor, key_id)
    data = [
        {"day": day.isoformat(), "requests": requests, "errors": errors}
        for day, requests, errors in days
    ]
    return json_response({"status": "success", "data": data})
