"""The webhook methods of both clients: requests and readers here (no I/O), sent by each
client's own `_call` (`_SyncWebhooks` for `ZyntroClient`, `_AsyncWebhooks` for the async one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from zyntro.client._base import _BaseClient, _list, _mapping
from zyntro.client.webhooks import DeliveryPage, Webhook, WebhookDelivery

_PATH = "/webhooks"


def _path(webhook_id: str, *rest: str) -> str:
    return "/".join([_PATH, quote(webhook_id, safe=""), *(quote(p, safe="") for p in rest)])


class _WebhookRequests(_BaseClient):
    def _create_webhook_request(
        self,
        url: str,
        events: list[str] | None,
        brand_ids: list[str] | None,
        description: str | None,
        timeout_seconds: int | None,
        auth: Mapping[str, str] | None,
    ) -> httpx.Request:
        body: dict[str, Any] = {"url": url}
        for name, value in (
            ("events", events),
            ("brand_ids", brand_ids),
            ("description", description),
            ("timeout_seconds", timeout_seconds),
            ("auth", dict(auth) if auth is not None else None),
        ):
            if value is not None:
                body[name] = value
        return self._v1_request("POST", _PATH, body=body)

    def _deliveries_request(self, webhook_id: str, limit: int, cursor: str | None) -> httpx.Request:
        params = {"limit": limit, "cursor": cursor}
        return self._v1_request("GET", _path(webhook_id, "deliveries"), params=params)

    def _read_webhook(self, response: httpx.Response) -> Webhook:
        body = self._read_v1(response) or {}
        try:
            return Webhook.from_api(_mapping(body.get("data")))
        except ValueError as exc:
            raise self._v1_unexpected(response, f" ({exc})") from exc

    def _read_webhooks(self, response: httpx.Response) -> list[Webhook]:
        body = self._read_v1(response) or {}
        try:
            return [Webhook.from_api(_mapping(item)) for item in _list(body.get("data"))]
        except ValueError as exc:
            raise self._v1_unexpected(response, f" ({exc})") from exc

    def _read_delivery(self, response: httpx.Response) -> WebhookDelivery:
        body = self._read_v1(response) or {}
        try:
            return WebhookDelivery.from_api(_mapping(body.get("data")))
        except ValueError as exc:
            raise self._v1_unexpected(response, f" ({exc})") from exc

    def _read_deliveries(self, response: httpx.Response) -> DeliveryPage:
        body = self._read_v1(response) or {}
        cursor = body.get("next_cursor")
        try:
            items = tuple(
                WebhookDelivery.from_api(_mapping(item)) for item in _list(body.get("data"))
            )
        except ValueError as exc:
            raise self._v1_unexpected(response, f" ({exc})") from exc
        return DeliveryPage(items, cursor if isinstance(cursor, str) else None)


class _SyncWebhooks(_WebhookRequests):
    """Webhook methods of `ZyntroClient` (owners and members in-charge; others get Forbidden)."""

    def _call(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def create_webhook(
        self,
        url: str,
        *,
        events: list[str] | None = None,
        brand_ids: list[str] | None = None,
        description: str | None = None,
        timeout_seconds: int | None = None,
        auth: Mapping[str, str] | None = None,
    ) -> Webhook:
        """Create a webhook; the result's `secret` (whsec_…) is shown only this once."""
        request = self._create_webhook_request(
            url, events, brand_ids, description, timeout_seconds, auth
        )
        return self._read_webhook(self._call(request))

    def list_webhooks(self) -> list[Webhook]:
        return self._read_webhooks(self._call(self._v1_request("GET", _PATH)))

    def get_webhook(self, webhook_id: str) -> Webhook:
        return self._read_webhook(self._call(self._v1_request("GET", _path(webhook_id))))

    def update_webhook(self, webhook_id: str, **changes: Any) -> Webhook:
        """Change some fields (url, events, brand_ids, description, timeout_seconds, auth,
        enabled); `enabled=True` re-enables a disabled webhook."""
        request = self._v1_request("PATCH", _path(webhook_id), body=changes)
        return self._read_webhook(self._call(request))

    def delete_webhook(self, webhook_id: str) -> None:
        self._read_v1(self._call(self._v1_request("DELETE", _path(webhook_id))))

    def rotate_webhook_secret(self, webhook_id: str) -> Webhook:
        """A new secret (in the result); the old one keeps signing for 24 hours."""
        request = self._v1_request("POST", _path(webhook_id, "rotate-secret"))
        return self._read_webhook(self._call(request))

    def test_webhook(self, webhook_id: str) -> WebhookDelivery:
        """Queue a webhook.test event for this webhook; follow it in its deliveries."""
        request = self._v1_request("POST", _path(webhook_id, "test"))
        return self._read_delivery(self._call(request))

    def list_webhook_deliveries(
        self, webhook_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> DeliveryPage:
        """A page of the webhook's deliveries, newest first."""
        return self._read_deliveries(
            self._call(self._deliveries_request(webhook_id, limit, cursor))
        )

    def retry_webhook_delivery(self, webhook_id: str, delivery_id: str) -> WebhookDelivery:
        """Send a delivery again now, with the same event id."""
        request = self._v1_request("POST", _path(webhook_id, "deliveries", delivery_id, "retry"))
        return self._read_delivery(self._call(request))


class _AsyncWebhooks(_WebhookRequests):
    """Webhook methods of `AsyncZyntroClient`."""

    async def _call(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    async def create_webhook(
        self,
        url: str,
        *,
        events: list[str] | None = None,
        brand_ids: list[str] | None = None,
        description: str | None = None,
        timeout_seconds: int | None = None,
        auth: Mapping[str, str] | None = None,
    ) -> Webhook:
        """Create a webhook; the result's `secret` (whsec_…) is shown only this once."""
        request = self._create_webhook_request(
            url, events, brand_ids, description, timeout_seconds, auth
        )
        return self._read_webhook(await self._call(request))

    async def list_webhooks(self) -> list[Webhook]:
        return self._read_webhooks(await self._call(self._v1_request("GET", _PATH)))

    async def get_webhook(self, webhook_id: str) -> Webhook:
        return self._read_webhook(await self._call(self._v1_request("GET", _path(webhook_id))))

    async def update_webhook(self, webhook_id: str, **changes: Any) -> Webhook:
        """Change some fields; `enabled=True` re-enables a disabled webhook."""
        request = self._v1_request("PATCH", _path(webhook_id), body=changes)
        return self._read_webhook(await self._call(request))

    async def delete_webhook(self, webhook_id: str) -> None:
        self._read_v1(await self._call(self._v1_request("DELETE", _path(webhook_id))))

    async def rotate_webhook_secret(self, webhook_id: str) -> Webhook:
        """A new secret (in the result); the old one keeps signing for 24 hours."""
        request = self._v1_request("POST", _path(webhook_id, "rotate-secret"))
        return self._read_webhook(await self._call(request))

    async def test_webhook(self, webhook_id: str) -> WebhookDelivery:
        """Queue a webhook.test event for this webhook."""
        request = self._v1_request("POST", _path(webhook_id, "test"))
        return self._read_delivery(await self._call(request))

    async def list_webhook_deliveries(
        self, webhook_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> DeliveryPage:
        """A page of the webhook's deliveries, newest first."""
        request = self._deliveries_request(webhook_id, limit, cursor)
        return self._read_deliveries(await self._call(request))

    async def retry_webhook_delivery(self, webhook_id: str, delivery_id: str) -> WebhookDelivery:
        """Send a delivery again now, with the same event id."""
        request = self._v1_request("POST", _path(webhook_id, "deliveries", delivery_id, "retry"))
        return self._read_delivery(await self._call(request))
