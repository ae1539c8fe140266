"""Webhook delivery to real receivers on loopback: a redirect is not followed, a name that
resolves to a private address at send time is refused, and a slow endpoint takes only its
own slots while the others are delivered; a rotated-out secret stops signing after 24 h;
timeout_seconds stays within 5-120."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import pytest
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks import WebhookVerificationError
from starlette.testclient import TestClient

from tests.conftest import World
from tests.live import wait_for
from tests.receiver import Answer, Receiver, receiver
from zyntro.api.app import create_app
from zyntro.domain import utcnow
from zyntro.errors import ValidationFailed
from zyntro.service import Service
from zyntro.settings import Settings
from zyntro.webhooks.sender import Outcome, attempt, new_client
from zyntro.webhooks.signing import signature_headers


def _app(service: Service, database_url: str, **overrides: Any) -> TestClient:
    values: dict[str, Any] = {
        "database_url": database_url,
        "log_level": "ERROR",
        "webhook_allow_private": True,
        "webhook_retry_schedule": "0.05",
        **overrides,
    }
    return TestClient(create_app(Settings(**values), service))


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def other() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


def test_a_redirect_is_a_failure_and_is_not_followed(
    service: Service, database_url: str, world: World, hook: Receiver, other: Receiver
) -> None:
    owner = service.act_as(world.owner_id)
    service.webhook_allow_private = True
    moved = Answer(302, headers={"Location": other.url}, body=b"moved")
    hook.answer(moved, moved)
    with _app(service, database_url):
        webhook, _secret = service.create_webhook(owner, world.org_id, {"url": hook.url})
        service.test_webhook(owner, webhook.id)

        def settled() -> bool:
            return service.webhook_deliveries(owner, webhook.id)[0][0].state != "pending"

        wait_for(settled, timeout=10)
    [delivery], _ = service.webhook_deliveries(owner, webhook.id)
    assert delivery.state == "failed" and delivery.attempts == 2  # the try and one retry
    assert [a.status_code for a in delivery.attempt_log] == [302, 302]
    assert hook.count() == 2 and other.arrived == 0  # the Location was never visited


def test_a_name_that_resolves_to_loopback_at_send_time_is_refused(
    service: Service, world: World, hook: Receiver
) -> None:
    """The address is checked again at every attempt, by resolving the name then (a name that
    pointed elsewhere when the webhook was saved, DNS rebinding, is caught here)."""
    owner = service.act_as(world.owner_id)
    service.webhook_allow_private = True  # saved while allowed, e.g. resolving elsewhere then
    by_name = hook.url.replace("127.0.0.1", "localhost")
    webhook, _secret = service.create_webhook(owner, world.org_id, {"url": by_name})
    delivery = service.test_webhook(owner, webhook.id)

    async def send(allow_private: bool) -> Outcome:
        async with new_client(4) as client:
            return await attempt(client, webhook, delivery, utcnow(), allow_private)

    refused = anyio.run(send, False)
    assert not refused.ok and refused.error.startswith("refused: must not reach a private")
    assert "(localhost resolves to " in refused.error
    assert hook.arrived == 0
    allowed = anyio.run(send, True)  # the same attempt, the guard lifted, reaches it
    assert allowed.ok and hook.count() == 1


def test_a_slow_endpoint_takes_only_its_own_slots(
    service: Service, database_url: str, world: World, hook: Receiver, other: Receiver
) -> None:
    """An endpoint that hangs holds at most ZYNTRO_WEBHOOK_CONCURRENCY attempts; every event
    for another endpoint is delivered while those attempts still hang."""
    owner = service.act_as(world.owner_id)
    service.webhook_allow_private = True
    hook.answer(*[Answer(delay=100)] * 30)  # answers only when the test ends
    events = 20
    with _app(service, database_url, webhook_concurrency=2):
        slow, _ = service.create_webhook(
            owner, world.org_id, {"url": hook.url, "timeout_seconds": 120}
        )
        service.create_webhook(owner, world.org_id, {"url": other.url})
        lead = service.act_as(world.in_charge_id)
        for n in range(events):
            service.update_segment(lead, world.segment_ids[0], {"segment_tone": f"tone {n}"})
        wait_for(lambda: other.count() == events, timeout=20)
        wait_for(lambda: hook.arrived == 2, timeout=10)
        assert hook.count() == 0  # nothing answered yet: every slow attempt still hangs
        assert hook.arrived == 2  # its own two slots, no more
        pending = service.webhook_deliveries(owner, slow.id, limit=100)[0]
        assert len(pending) == events and all(d.state == "pending" for d in pending)
        hook.release.set()


def test_a_rotated_out_secret_signs_for_24_hours_and_then_stops(
    service: Service, world: World
) -> None:
    owner = service.act_as(world.owner_id)
    service.webhook_allow_private = True
    webhook, old = service.create_webhook(owner, world.org_id, {"url": "http://127.0.0.1/x"})
    _, new = service.rotate_webhook_secret(owner, webhook.id)
    stored = service.get_webhook(owner, webhook.id)  # as a worker reads it back
    assert stored.previous_secret_until is not None
    rotated_at = stored.previous_secret_until - timedelta(hours=24)
    assert abs(rotated_at - utcnow()) < timedelta(minutes=5)
    payload = '{"id": "evt_1"}'

    def verifies(secret: str, after: timedelta) -> bool:
        in_use = stored.signing_secrets(rotated_at + after)
        headers = signature_headers("evt_1", utcnow(), payload, in_use)
        try:
            StandardWebhook(secret).verify(payload, headers)
        except WebhookVerificationError:
            return False
        return True

    day = timedelta(hours=24)
    assert verifies(new, day - timedelta(seconds=1)) and verifies(old, day - timedelta(seconds=1))
    assert verifies(new, day) and not verifies(old, day)
    assert stored.signing_secrets(rotated_at + day) == [new]
    # A second rotation within the day: the secret it replaces gets its own day; the first
    # one stops signing at once (one old secret at a time, docs/webhooks.md).
    _, newest = service.rotate_webhook_secret(owner, webhook.id)
    again = service.get_webhook(owner, webhook.id)
    assert again.signing_secrets(utcnow()) == [newest, new]


def test_timeout_seconds_is_5_to_120_and_30_by_default(
    service: Service, database_url: str, world: World
) -> None:
    auth = {"Authorization": f"Bearer {world.owner_key}"}
    with _app(service, database_url) as api:
        url = "http://127.0.0.1:9/hook"
        # A number out of range breaks a rule; a fraction is the wrong JSON type (api-v1.md).
        for timeout, code in ((4, "invalid_parameter"), (121, "invalid_parameter")):
            response = api.post(
                "/api/v1/webhooks", json={"url": url, "timeout_seconds": timeout}, headers=auth
            )
            assert response.status_code == 400, (timeout, response.text)
            assert response.json()["code"] == code
        fraction = api.post(
            "/api/v1/webhooks", json={"url": url, "timeout_seconds": 5.5}, headers=auth
        )
        assert fraction.status_code == 400 and fraction.json()["code"] == "invalid_request"
        for timeout in (5, 120):
            response = api.post(
                "/api/v1/webhooks", json={"url": url, "timeout_seconds": timeout}, headers=auth
            )
            assert response.status_code == 201, (timeout, response.text)
            assert response.json()["data"]["timeout_seconds"] == timeout
        default = api.post("/api/v1/webhooks", json={"url": url}, headers=auth)
        assert default.json()["data"]["timeout_seconds"] == 30


def test_a_change_of_url_is_checked_as_a_new_one_is(service: Service, world: World) -> None:
    owner = service.act_as(world.owner_id)
    service.webhook_allow_private = False
    webhook, _ = service.create_webhook(owner, world.org_id, {"url": "https://93.184.215.14/h"})
    for url in (
        "http://10.0.0.1/x",
        "http://0.0.0.0/x",
        "http://2130706433/x",  # 127.0.0.1 as one number
        "http://100.64.0.1/x",  # shared address space
        "http://[fd00::1]/x",  # unique local
        "http://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
    ):
        with pytest.raises(ValidationFailed) as refused:
            service.update_webhook(owner, webhook.id, {"url": url})
        assert refused.value.field == "url", url
    assert service.get_webhook(owner, webhook.id).url == "https://93.184.215.14/h"
