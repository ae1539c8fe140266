"""The SDK's webhook methods (both clients) against the app in-process, and `verify` on what a
real receiver got."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import pytest

from tests.clock import FakeClock
from tests.conftest import World
from tests.receiver import Answer, receiver
from tests.sdk import build_client
from zyntro.api.app import create_app
from zyntro.client import AsyncZyntroClient, Forbidden
from zyntro.client.webhooks import DeliveryPage, InvalidSignature, Webhook, verify
from zyntro.service import Service
from zyntro.settings import Settings
from zyntro.webhooks.worker import Deliverer, DeliveryPolicy


@pytest.fixture
def connect(kind: str, database_url: str, service: Service) -> Any:
    settings = Settings(database_url=database_url, log_level="ERROR", webhook_allow_private=True)
    app = create_app(settings, service)

    @asynccontextmanager
    async def opened(world: World, api_key: str) -> AsyncIterator[Any]:
        client = build_client(kind, FakeClock(), app, api_key=api_key, org_id=world.org_id)

        async def call(name: str, *args: Any, **kwargs: Any) -> Any:
            method = getattr(client, name)
            if isinstance(client, AsyncZyntroClient):
                return await method(*args, **kwargs)
            return await anyio.to_thread.run_sync(lambda: method(*args, **kwargs))

        try:
            yield call
        finally:
            if isinstance(client, AsyncZyntroClient):
                await client.aclose()
            else:
                client.close()

    return opened


@pytest.mark.anyio
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the HTTP surface
async def test_every_webhook_method_and_verify(
    connect: Any, service: Service, world: World
) -> None:
    with receiver() as hook:
        async with connect(world, world.owner_key) as call:
            created = await call(
                "create_webhook", hook.url, events=["*"], auth={"type": "bearer", "token": "t" * 20}
            )
            assert isinstance(created, Webhook) and created.secret and "secret" not in repr(created)
            assert created.auth == {"type": "bearer", "token": "…tttt"}
            assert [w.webhook_id for w in await call("list_webhooks")] == [created.webhook_id]
            fetched = await call("get_webhook", created.webhook_id)
            assert fetched.secret is None and fetched.status == "enabled"
            changed = await call("update_webhook", created.webhook_id, description="CRM")
            assert changed.description == "CRM"
            rotated = await call("rotate_webhook_secret", created.webhook_id)
            assert rotated.secret and rotated.previous_secret_expires_at

            queued = await call("test_webhook", created.webhook_id)
            assert queued.status == "pending" and queued.event_type == "webhook.test"
            deliverer = Deliverer(service.store, DeliveryPolicy(allow_private=True))
            await anyio.to_thread.run_sync(deliverer.deliver_now, queued.delivery_id)
            received = hook.received[0]
            for secret in (created.secret, rotated.secret):
                event = verify(received.body, received.headers, secret)
                assert event["id"] == queued.event_id
            with pytest.raises(InvalidSignature):
                verify(received.body.replace(b"test", b"tost"), received.headers, rotated.secret)
            with pytest.raises(InvalidSignature):
                verify(received.body, {}, rotated.secret)

            hook.answer(Answer(500))
            retried = await call("retry_webhook_delivery", created.webhook_id, queued.delivery_id)
            assert retried.status == "pending"
            await anyio.to_thread.run_sync(deliverer.deliver_now, queued.delivery_id)
            page = await call("list_webhook_deliveries", created.webhook_id, limit=10)
            assert isinstance(page, DeliveryPage) and page.next_cursor is None
            [delivery] = page.deliveries
            assert [a.status_code for a in delivery.attempt_log] == [200, 500]
            assert delivery.status == "failed"  # a manual retry is one attempt
            await call("delete_webhook", created.webhook_id)
            assert await call("list_webhooks") == []

        async with connect(world, world.member_key) as call:
            with pytest.raises(Forbidden):
                await call("list_webhooks")


def test_verify_needs_no_server_dependency() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import zyntro.client.webhooks; "
        "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
