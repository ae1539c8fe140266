"""Webhooks: create (the secret shown once), list, change, delete, rotate the secret, send a
test, list deliveries and retry one. Owners and members in-charge manage them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from zyntro.domain import utcnow
from zyntro.errors import Conflict, Forbidden, NotFound, ValidationFailed
from zyntro.identity import Actor
from zyntro.ids import new_id
from zyntro.service.core import ServiceCore
from zyntro.service.recording import record_audit, record_event
from zyntro.service.rules import can_manage_content, require_same_org, seen_by
from zyntro.store import queries
from zyntro.store.queries import webhooks as webhook_queries
from zyntro.webhooks import guard
from zyntro.webhooks.auth import validate_auth
from zyntro.webhooks.model import (
    TEST_EVENT,
    Delivery,
    Webhook,
    check_fields,
    validate_brand_ids,
    validate_description,
    validate_events,
    validate_timeout,
)
from zyntro.webhooks.signing import new_secret

SECRET_GRACE = timedelta(hours=24)  # a rotated-out secret keeps signing this long
MAX_WEBHOOKS_PER_ORG = 50
MAX_DELIVERY_PAGE = 100
_CREATE_FIELDS = frozenset({"url", "events", "brand_ids", "description", "timeout_seconds", "auth"})
_PATCH_FIELDS = _CREATE_FIELDS | {"enabled"}


def require_webhook_role(actor: Actor, org_id: str) -> None:
    require_same_org(actor, org_id)
    # An organization key acts with no member: its `webhooks:manage` scope is what allows it.
    org_key = actor.member_id is None and actor.key_id is not None
    if not can_manage_content(actor) and not (org_key and actor.has_scope("webhooks:manage")):
        raise Forbidden("Only an owner or a member in-charge can manage webhooks.")
    if actor.brands is not None:  # a webhook may carry every brand's events, and key events
        raise Forbidden("A key limited to brands cannot manage webhooks.")


class WebhookAdmin(ServiceCore):
    """Webhook use cases; the URL guard is on unless `webhook_allow_private` is set."""

    webhook_allow_private = False

    @property
    def delivery_listeners(self) -> list[Callable[[], None]]:
        """Called after a commit that queued deliveries (the local deliverer wakes up)."""
        listeners: list[Callable[[], None]] | None = self.__dict__.get("_delivery_listeners")
        if listeners is None:
            listeners = self.__dict__["_delivery_listeners"] = []
        return listeners

    def deliveries_queued(self) -> None:
        for listener in self.delivery_listeners:
            listener()

    def _check_url(self, url: object) -> str:
        clean = guard.check_url(url)
        if not self.webhook_allow_private:
            guard.safe_addresses(clean)
        return clean

    def _webhook_values(self, org_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        if "url" in values:
            clean["url"] = self._check_url(values["url"])
        if "events" in values:
            clean["events"] = validate_events(values["events"])
        if "brand_ids" in values:
            clean["brand_ids"] = validate_brand_ids(values["brand_ids"])
            with self.store.read() as conn:
                for brand_id in clean["brand_ids"]:
                    brand = queries.get_brand(conn, brand_id)
                    if brand is None or brand.org_id != org_id:
                        raise ValidationFailed(
                            "brand_ids",
                            f"must be brands of your organization ({brand_id} is not one)",
                        )
        if "description" in values:
            clean["description"] = validate_description(values["description"])
        if "timeout_seconds" in values:
            clean["timeout_seconds"] = validate_timeout(values["timeout_seconds"])
        if "auth" in values:
            clean["auth"] = validate_auth(values["auth"])
        return clean

    def create_webhook(
        self, actor: Actor, org_id: str, values: Mapping[str, Any]
    ) -> tuple[Webhook, str]:
        """A new webhook and its signing secret (shown to the caller this once)."""
        require_webhook_role(actor, org_id)
        check_fields(values, _CREATE_FIELDS)
        if "url" not in values:
            raise ValidationFailed("url", "is required")
        clean = self._webhook_values(
            org_id,
            {
                "events": None,
                "brand_ids": None,
                "timeout_seconds": None,
                "description": None,
                "auth": None,
                **values,
            },
        )
        now = utcnow()
        secret = new_secret()
        webhook = Webhook(
            id=new_id("wh"),
            org_id=org_id,
            secret=secret,
            previous_secret=None,
            previous_secret_until=None,
            enabled=True,
            disabled_reason="",
            failure_count=0,
            failing_since=None,
            created_at=now,
            updated_at=now,
            **clean,
        )
        with self._write() as conn:
            if len(webhook_queries.list_webhooks(conn, org_id)) >= MAX_WEBHOOKS_PER_ORG:
                raise Conflict(f"An organization has at most {MAX_WEBHOOKS_PER_ORG} webhooks.")
            webhook_queries.insert_webhook(conn, webhook)
            record_audit(conn, actor, "webhook.create", ("webhook", webhook.id), org_id, now)
        return webhook, secret

    def list_webhooks(self, actor: Actor, org_id: str) -> list[Webhook]:
        require_webhook_role(actor, org_id)
        with self.store.read() as conn:
            return webhook_queries.list_webhooks(conn, org_id)

    def get_webhook(self, actor: Actor, webhook_id: str) -> Webhook:
        with self.store.read() as conn:
            webhook = webhook_queries.get_webhook(conn, webhook_id)
        found = seen_by(actor, webhook, webhook.org_id if webhook else None, "webhook")
        require_webhook_role(actor, found.org_id)
        return found

    def update_webhook(self, actor: Actor, webhook_id: str, values: Mapping[str, Any]) -> Webhook:
        """Change some fields; `enabled: true` re-enables a disabled webhook and clears its
        failure count."""
        webhook = self.get_webhook(actor, webhook_id)
        check_fields(values, _PATCH_FIELDS)
        if not values:
            raise ValidationFailed("body", "must have at least one field to change")
        clean = self._webhook_values(webhook.org_id, values)
        now = utcnow()
        if "enabled" in values:
            enabled = values["enabled"]
            if not isinstance(enabled, bool):
                raise ValidationFailed("enabled", "must be true or false")
            clean["enabled"] = enabled
            clean["disabled_reason"] = "" if enabled else "disabled by a member"
            if enabled:
                clean.update(failure_count=0, failing_since=None)
        with self._write() as conn:
            webhook_queries.update_webhook(conn, webhook.id, {**clean, "updated_at": now})
            record_audit(
                conn, actor, "webhook.update", ("webhook", webhook.id), webhook.org_id, now
            )
            updated = webhook_queries.get_webhook(conn, webhook.id)
        assert updated is not None
        if clean.get("enabled"):
            self.deliveries_queued()  # what waited while it was disabled is due
        return updated

    def delete_webhook(self, actor: Actor, webhook_id: str) -> None:
        webhook = self.get_webhook(actor, webhook_id)
        now = utcnow()
        with self._write() as conn:
            webhook_queries.delete_webhook(conn, webhook.id)
            record_audit(
                conn, actor, "webhook.delete", ("webhook", webhook.id), webhook.org_id, now
            )

    def rotate_webhook_secret(self, actor: Actor, webhook_id: str) -> tuple[Webhook, str]:
        """A new secret; the old one keeps signing alongside it for 24 hours."""
        webhook = self.get_webhook(actor, webhook_id)
        now = utcnow()
        secret = new_secret()
        values = {
            "secret": secret,
            "previous_secret": webhook.secret,
            "previous_secret_until": now + SECRET_GRACE,
            "updated_at": now,
        }
        with self._write() as conn:
            webhook_queries.update_webhook(conn, webhook.id, values)
            record_audit(
                conn, actor, "webhook.rotate_secret", ("webhook", webhook.id), webhook.org_id, now
            )
        return replace(webhook, **values), secret  # type: ignore[arg-type]

    def test_webhook(self, actor: Actor, webhook_id: str) -> Delivery:
        """Queue a `webhook.test` event for this webhook alone."""
        webhook = self.get_webhook(actor, webhook_id)
        if not webhook.enabled:
            raise Conflict("This webhook is disabled: enable it first (PATCH enabled=true).")
        now = utcnow()
        data = {"webhook_id": webhook.id, "message": "A test event from Zyntro."}
        with self._write() as conn:
            event_id = record_event(conn, TEST_EVENT, webhook.org_id, None, data, now)
            record_audit(conn, actor, "webhook.test", ("webhook", webhook.id), webhook.org_id, now)
            delivery = webhook_queries.delivery_of_event(conn, webhook.id, event_id)
        assert delivery is not None
        self.deliveries_queued()
        return delivery

    def webhook_deliveries(
        self, actor: Actor, webhook_id: str, limit: int = 50, before: str | None = None
    ) -> tuple[list[Delivery], bool]:
        """A page of the webhook's deliveries, newest first, and whether more follow."""
        webhook = self.get_webhook(actor, webhook_id)
        if not 1 <= limit <= MAX_DELIVERY_PAGE:
            raise ValidationFailed("limit", f"must be 1-{MAX_DELIVERY_PAGE}")
        with self.store.read() as conn:
            found = webhook_queries.deliveries_page(conn, webhook.id, limit + 1, before)
        return found[:limit], len(found) > limit

    def delivery_count(self, actor: Actor, webhook_id: str) -> int:
        """How many deliveries the webhook has (all of them, whatever their state)."""
        webhook = self.get_webhook(actor, webhook_id)
        with self.store.read() as conn:
            return webhook_queries.count_deliveries(conn, webhook.id)

    def get_delivery(self, actor: Actor, webhook_id: str, delivery_id: str) -> Delivery:
        webhook = self.get_webhook(actor, webhook_id)
        with self.store.read() as conn:
            delivery = webhook_queries.get_delivery(conn, delivery_id)
        if delivery is None or delivery.webhook_id != webhook.id:
            raise NotFound("No such delivery.")
        return delivery

    def retry_delivery(self, actor: Actor, webhook_id: str, delivery_id: str) -> Delivery:
        """Send a delivery again now (whatever its state): one attempt, same event id."""
        webhook = self.get_webhook(actor, webhook_id)
        self.get_delivery(actor, webhook_id, delivery_id)
        if not webhook.enabled:
            raise Conflict("This webhook is disabled: enable it first (PATCH enabled=true).")
        now = utcnow()
        with self._write() as conn:
            webhook_queries.requeue_delivery(conn, delivery_id, now)
            record_audit(conn, actor, "webhook.retry", ("webhook", webhook.id), webhook.org_id, now)
            delivery = webhook_queries.get_delivery(conn, delivery_id)
        assert delivery is not None
        self.deliveries_queued()
        return delivery
