"""`/api/v1/webhooks`: create (the secret shown once), list, get, change, delete, rotate the
secret, send a test, list deliveries and retry one. Owners and members in-charge only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from zyntro.access import Scope
from zyntro.api.deps import service_of
from zyntro.api.v1.auth import LimitedRoute, requires
from zyntro.api.v1.http import json_response
from zyntro.api.v1.models import BODY_WRITE_ERRORS, WRITE_ERRORS
from zyntro.api.v1.webhook_models import (
    DeliveryOne,
    DeliveryPage,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOne,
    WebhookUpdate,
)
from zyntro.errors import ValidationFailed
from zyntro.ids import is_valid_id
from zyntro.service import Actor

router = APIRouter(route_class=LimitedRoute, tags=["webhooks"])
_FORBIDDEN = "`forbidden`: only an owner or a member in-charge manages webhooks."
ERRORS = {**WRITE_ERRORS, 403: {**WRITE_ERRORS[403], "description": _FORBIDDEN}}
BODY_ERRORS = {**BODY_WRITE_ERRORS, 403: ERRORS[403]}


def _ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response({"status": "success", "data": data}, status, headers)


def _org(actor: Actor) -> str:
    assert actor.org_id is not None
    return actor.org_id


def _body(model: WebhookCreate | WebhookUpdate) -> dict[str, Any]:
    values = model.model_dump(exclude_unset=True)
    if isinstance(values.get("auth"), dict):
        values["auth"] = {k: v for k, v in values["auth"].items() if v is not None}
    return values


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    responses=BODY_ERRORS,
    summary="Create a webhook (its signing secret is shown only in this answer)",
)
def create_webhook(
    body: WebhookCreate, request: Request, actor: Actor = requires(Scope.WEBHOOKS_MANAGE)
) -> Response:
    webhook, secret = service_of(request).create_webhook(actor, _org(actor), _body(body))
    data = {**webhook.to_public(), "secret": secret}
    return _ok(data, 201, {"Location": f"/api/v1/webhooks/{webhook.id}"})


@router.get("/webhooks", response_model=WebhookList, responses=ERRORS, summary="List your webhooks")
def list_webhooks(request: Request, actor: Actor = requires(Scope.WEBHOOKS_MANAGE)) -> Response:
    webhooks = service_of(request).list_webhooks(actor, _org(actor))
    return _ok([webhook.to_public() for webhook in webhooks])


@router.get(
    "/webhooks/{webhook_id}", response_model=WebhookOne, responses=ERRORS, summary="Get a webhook"
)
def get_webhook(
    webhook_id: str, request: Request, actor: Actor = requires(Scope.WEBHOOKS_MANAGE)
) -> Response:
    return _ok(service_of(request).get_webhook(actor, webhook_id).to_public())


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookOne,
    responses=BODY_ERRORS,
    summary="Change a webhook; `enabled: true` re-enables a disabled one",
)
def update_webhook(
    webhook_id: str,
    body: WebhookUpdate,
    request: Request,
    actor: Actor = requires(Scope.WEBHOOKS_MANAGE),
) -> Response:
    values = _body(body)
    if any(value is None for value in values.values()):
        raise ValidationFailed(next(k for k, v in values.items() if v is None), "must not be null")
    return _ok(service_of(request).update_webhook(actor, webhook_id, values).to_public())


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    responses=ERRORS,
    summary="Delete a webhook and its deliveries",
)
def delete_webhook(
    webhook_id: str, request: Request, actor: Actor = requires(Scope.WEBHOOKS_MANAGE)
) -> Response:
    service_of(request).delete_webhook(actor, webhook_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=WebhookCreated,
    responses=ERRORS,
    summary="Replace the signing secret; the old one keeps signing alongside for 24 hours",
)
def rotate_secret(
    webhook_id: str, request: Request, actor: Actor = requires(Scope.WEBHOOKS_MANAGE)
) -> Response:
    webhook, secret = service_of(request).rotate_webhook_secret(actor, webhook_id)
    return _ok({**webhook.to_public(), "secret": secret})


@router.post(
    "/webhooks/{webhook_id}/test",
    status_code=202,
    response_model=DeliveryOne,
    responses=ERRORS,
    summary="Send a webhook.test event to this webhook",
)
def test_webhook(
    webhook_id: str, request: Request, actor: Actor = requires(Scope.WEBHOOKS_MANAGE)
) -> Response:
    """Queued at once and delivered within moments; follow it in the deliveries."""
    return _ok(service_of(request).test_webhook(actor, webhook_id).to_public(), 202)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    responses=ERRORS,
    summary="A webhook's deliveries, newest first, with every attempt",
)
def list_deliveries(
    webhook_id: str,
    request: Request,
    actor: Actor = requires(Scope.WEBHOOKS_MANAGE),
    limit: int = Query(20, ge=1, le=100, description="Page size, 1-100."),
    cursor: str | None = Query(None, max_length=64, description="`next_cursor` of a page."),
) -> Response:
    if cursor is not None and not is_valid_id(cursor):
        raise ValidationFailed("cursor", "is not a cursor this API gave out")
    page, more = service_of(request).webhook_deliveries(actor, webhook_id, limit, cursor)
    body = {
        "status": "success",
        "data": [delivery.to_public() for delivery in page],
        "next_cursor": page[-1].id if more else None,
    }
    return json_response(body)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=DeliveryOne,
    responses=ERRORS,
    summary="Send a delivery again now (the same event id)",
)
def retry_delivery(
    webhook_id: str,
    delivery_id: str,
    request: Request,
    actor: Actor = requires(Scope.WEBHOOKS_MANAGE),
) -> Response:
    delivery = service_of(request).retry_delivery(actor, webhook_id, delivery_id)
    return _ok(delivery.to_public(), 202)
