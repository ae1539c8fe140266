"""Webhooks: list and create (the secret shown once), a webhook's deliveries with redeliver,
send a test, enable again, rotate the secret, delete. Owners and members in-charge only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zyntro.errors import ValidationFailed
from zyntro.web.context import PREFIX, CheckedForm, Dashboard, DashboardRoute, SignedIn, text
from zyntro.web.listing import ListQuery, Page, list_query, next_cursor
from zyntro.webhooks.model import EVENT_TYPES, TEST_EVENT

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
CHOICES = [t for t in EVENT_TYPES if t != TEST_EVENT]


def _list_page(
    dash: Dashboard,
    status: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    new_secret: str | None = None,
) -> Response:
    return dash.render(
        "webhooks.html",
        status,
        section="webhooks",
        webhooks=dash.service.list_webhooks(dash.actor, dash.org_id),
        brands=dash.service.list_brands(dash.actor, dash.org_id),
        choices=CHOICES,
        errors=errors or {},
        form=form or {"url": "", "description": "", "events": [], "brand": ""},
        new_secret=new_secret,
    )


def _detail_page(
    dash: Dashboard,
    webhook_id: str,
    new_secret: str | None = None,
    query: ListQuery | None = None,
) -> Response:
    """The webhook, and a page of its deliveries, newest first (paged by delivery id)."""
    webhook = dash.service.get_webhook(dash.actor, webhook_id)
    query = query or ListQuery()
    after = query.after()
    deliveries, more = dash.service.webhook_deliveries(
        dash.actor, webhook.id, query.size, after[1] if after else None
    )
    last = deliveries[-1] if deliveries else None
    cursor = next_cursor((last.created_at, last.id), query) if more and last else None
    total = dash.service.delivery_count(dash.actor, webhook.id)
    return dash.render(
        "webhook.html",
        section="webhooks",
        webhook=webhook,
        page=Page([d.to_public() for d in deliveries], query, total, cursor),
        new_secret=new_secret,
    )


@router.get(PREFIX + "/webhooks")
def webhooks_page(dash: Dashboard = SignedIn) -> Response:
    return _list_page(dash)


@router.post(PREFIX + "/webhooks")
def create_webhook(dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    events = [e for e in form.getlist("events") if isinstance(e, str)]
    brand = text(form, "brand")
    values: dict[str, Any] = {
        "url": text(form, "url").strip(),
        "description": text(form, "description"),
        "events": events or ["*"],
        "brand_ids": [brand] if brand else [],
    }
    try:
        webhook, secret = dash.service.create_webhook(dash.actor, dash.org_id, values)
    except ValidationFailed as error:
        shown = {**values, "events": events, "brand": brand}
        return _list_page(dash, 422, {error.field.split(".")[0]: error.reason}, shown)
    # Rendered, not redirected: the secret must never travel in a cookie or a URL.
    return _detail_page(dash, webhook.id, new_secret=secret)


@router.get(PREFIX + "/webhooks/{webhook_id}")
def webhook_page(webhook_id: str, request: Request, dash: Dashboard = SignedIn) -> Response:
    return _detail_page(dash, webhook_id, query=list_query(request))


@router.post(PREFIX + "/webhooks/{webhook_id}/test")
def send_test(
    webhook_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm
) -> Response:
    delivery = dash.service.test_webhook(dash.actor, webhook_id)
    return dash.redirect(
        f"/webhooks/{webhook_id}", f"Test event {delivery.event_id} queued: it is sent at once."
    )


@router.post(PREFIX + "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry")
def redeliver(
    webhook_id: str, delivery_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm
) -> Response:
    dash.service.retry_delivery(dash.actor, webhook_id, delivery_id)
    return dash.redirect(f"/webhooks/{webhook_id}", "Redelivery queued, with the same event id.")


@router.post(PREFIX + "/webhooks/{webhook_id}/enable")
def enable(webhook_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    dash.service.update_webhook(dash.actor, webhook_id, {"enabled": True})
    return dash.redirect(f"/webhooks/{webhook_id}", "Webhook enabled; its failure count is 0.")


@router.post(PREFIX + "/webhooks/{webhook_id}/disable")
def disable(webhook_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    dash.service.update_webhook(dash.actor, webhook_id, {"enabled": False})
    return dash.redirect(f"/webhooks/{webhook_id}", "Webhook disabled: events wait for it.")


@router.post(PREFIX + "/webhooks/{webhook_id}/rotate")
def rotate(webhook_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    _webhook, secret = dash.service.rotate_webhook_secret(dash.actor, webhook_id)
    return _detail_page(dash, webhook_id, new_secret=secret)


@router.post(PREFIX + "/webhooks/{webhook_id}/delete")
def delete(webhook_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    webhook = dash.service.get_webhook(dash.actor, webhook_id)
    dash.service.delete_webhook(dash.actor, webhook_id)
    return dash.redirect("/webhooks", f"Webhook for {webhook.url} deleted.")
