"""Webhooks end to end over /api/v1, delivered by the app's own worker to a real HTTP
receiver on loopback: signatures, retries, timeouts, disabling, rotation, roles, tenancy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from standardwebhooks import Webhook as StandardWebhook
from starlette.testclient import TestClient

from tests.conftest import World, make_world
from tests.helpers import assert_error_shape
from tests.live import wait_for
from tests.receiver import Answer, Receiver, receiver
from zyntro.api.app import create_app
from zyntro.domain import utcnow
from zyntro.errors import ValidationFailed
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings
from zyntro.webhooks.schedule import PAUSE_AFTER
from zyntro.webhooks.sender import Outcome, attempt, new_client

RETRIES = "0.05,0.05,0.05"


def _settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "log_level": "ERROR",
        "webhook_allow_private": True,
        "webhook_retry_schedule": RETRIES,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def api(service: Service, database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(database_url), service)) as client:
        yield client


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _create(api: TestClient, key: str, **body: Any) -> dict[str, Any]:
    response = api.post("/api/v1/webhooks", json=body, headers=_auth(key))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _deliveries(api: TestClient, key: str, webhook_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=_auth(key))
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _settled(api: TestClient, key: str, webhook_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def done() -> bool:
        found[:] = _deliveries(api, key, webhook_id)
        return bool(found) and all(d["status"] != "pending" for d in found)

    wait_for(done, timeout=10)
    return found


def test_a_test_event_arrives_signed_and_the_secret_is_shown_once(
    api: TestClient, world: World, hook: Receiver
) -> None:
    created = _create(api, world.owner_key, url=hook.url, description="CRM")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert created["status"] == "enabled" and created["failure_count"] == 0
    shown = api.get(f"/api/v1/webhooks/{created['webhook_id']}", headers=_auth(world.owner_key))
    assert "secret" not in shown.json()["data"] and secret not in shown.text
    assert secret not in api.get("/api/v1/webhooks", headers=_auth(world.owner_key)).text

    sent = api.post(
        f"/api/v1/webhooks/{created['webhook_id']}/test", headers=_auth(world.owner_key)
    )
    assert sent.status_code == 202, sent.text
    wait_for(lambda: hook.count() == 1, timeout=10)
    received = hook.received[0]
    event = StandardWebhook(secret).verify(received.body, received.headers)
    assert event["type"] == "webhook.test" and event["org_id"] == world.org_id
    assert received.headers["webhook-id"] == event["id"] == sent.json()["data"]["event_id"]
    assert received.headers["Content-Type"] == "application/json"

    [delivery] = _settled(api, world.owner_key, created["webhook_id"])
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1
    assert delivery["status_code"] == 200 and delivery["latency_ms"] >= 0
    assert delivery["response_excerpt"] == '{"ok": true}'
    assert delivery["next_retry_at"] is None


def test_a_500_is_retried_with_the_same_event_id_and_the_retry_delivers(
    api: TestClient, world: World, hook: Receiver
) -> None:
    created = _create(api, world.owner_key, url=hook.url)
    hook.answer(Answer(500, body=b"boom"))
    api.post(f"/api/v1/webhooks/{created['webhook_id']}/test", headers=_auth(world.owner_key))
    wait_for(lambda: hook.count() == 2, timeout=10)
    first, second = hook.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    [delivery] = _settled(api, world.owner_key, created["webhook_id"])
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 2
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 200]
    assert delivery["attempt_log"][0]["response_excerpt"] == "boom"
    webhook = api.get(f"/api/v1/webhooks/{created['webhook_id']}", headers=_auth(world.owner_key))
    assert webhook.json()["data"]["failure_count"] == 0  # the success ended the run


def test_retry_after_is_honoured_and_a_spent_schedule_fails_the_delivery(
    api: TestClient, world: World, hook: Receiver
) -> None:
    created = _create(api, world.owner_key, url=hook.url)
    hook.answer(Answer(503, headers={"Retry-After": "1"}), *[Answer(500)] * 3)
    api.post(f"/api/v1/webhooks/{created['webhook_id']}/test", headers=_auth(world.owner_key))
    [delivery] = _settled(api, world.owner_key, created["webhook_id"])
    first, second = hook.received[:2]
    assert second.at - first.at >= 0.95  # not before the receiver asked
    assert delivery["status"] == "failed" and delivery["attempts"] == 4  # 1 + 3 retries
    assert delivery["next_retry_at"] is None

    # A manual retry sends it once more, with the same id.
    retried = api.post(
        f"/api/v1/webhooks/{created['webhook_id']}/deliveries/{delivery['delivery_id']}/retry",
        headers=_auth(world.owner_key),
    )
    assert retried.status_code == 202, retried.text
    wait_for(lambda: hook.count() == 5, timeout=10)
    assert hook.received[-1].headers["webhook-id"] == first.headers["webhook-id"]
    [delivery] = _settled(api, world.owner_key, created["webhook_id"])
    assert delivery["status"] == "succeeded"


def test_rotation_signs_with_both_secrets_for_a_day(
    api: TestClient, world: World, hook: Receiver
) -> None:
    created = _create(api, world.owner_key, url=hook.url)
    path = f"/api/v1/webhooks/{created['webhook_id']}"
    rotated = api.post(path + "/rotate-secret", headers=_auth(world.owner_key))
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["data"]["secret"]
    assert new_secret != created["secret"]
    assert rotated.json()["data"]["previous_secret_expires_at"]
    api.post(path + "/test", headers=_auth(world.owner_key))
    wait_for(lambda: hook.count() == 1, timeout=10)
    received = hook.received[0]
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    for secret in (created["secret"], new_secret):  # receivers on either secret accept it
        StandardWebhook(secret).verify(received.body, received.headers)


def test_a_failing_webhook_is_disabled_and_patch_enables_it_again(
    service: Service, database_url: str, world: World, hook: Receiver
) -> None:
    settings = _settings(database_url, webhook_retry_schedule="0.05", webhook_disable_after=3)
    with TestClient(create_app(settings, service)) as api:
        created = _create(api, world.owner_key, url=hook.url)
        path = f"/api/v1/webhooks/{created['webhook_id']}"
        hook.answer(*[Answer(500)] * 6)
        api.post(path + "/test", headers=_auth(world.owner_key))
        wait_for(lambda: hook.count() == 2, timeout=10)
        api.post(path + "/test", headers=_auth(world.owner_key))

        def disabled() -> bool:
            return api.get(path, headers=_auth(world.owner_key)).json()["data"]["status"] == (
                "disabled"
            )

        wait_for(disabled, timeout=10)
        shown = api.get(path, headers=_auth(world.owner_key)).json()["data"]
        assert (
            shown["failure_count"] >= 3 and "failed attempts in a row" in shown["disabled_reason"]
        )
        refused = api.post(path + "/test", headers=_auth(world.owner_key))
        assert refused.status_code == 409
        assert_error_shape(refused)

        enabled = api.patch(path, json={"enabled": True}, headers=_auth(world.owner_key))
        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["data"]["status"] == "enabled"
        assert enabled.json()["data"]["failure_count"] == 0
        hook.script.clear()
        before = hook.count()
        api.post(path + "/test", headers=_auth(world.owner_key))
        wait_for(lambda: hook.count() > before, timeout=10)


def test_roles_members_get_403_owners_and_members_in_charge_manage(
    api: TestClient, service: Service, world: World, hook: Receiver
) -> None:
    _, in_charge_key = service.create_key(SYSTEM, world.in_charge_id, "lead")
    created = _create(api, in_charge_key, url=hook.url)
    path = f"/api/v1/webhooks/{created['webhook_id']}"
    for method, url in [
        ("GET", "/api/v1/webhooks"),
        ("POST", "/api/v1/webhooks"),
        ("GET", path),
        ("PATCH", path),
        ("DELETE", path),
        ("POST", path + "/rotate-secret"),
        ("POST", path + "/test"),
        ("GET", path + "/deliveries"),
    ]:
        body = {"url": hook.url} if method in ("POST", "PATCH") else None
        response = api.request(method, url, json=body, headers=_auth(world.member_key))
        assert response.status_code == 403, (method, url, response.text)
        assert assert_error_shape(response)["code"] == "forbidden"
    assert api.delete(path, headers=_auth(world.owner_key)).status_code == 204
    assert api.get(path, headers=_auth(world.owner_key)).status_code == 404


def test_another_organizations_webhooks_are_not_found(
    api: TestClient, service: Service, world: World, hook: Receiver
) -> None:
    other = make_world(service, segments=0)
    theirs = _create(api, other.owner_key, url=hook.url)
    path = f"/api/v1/webhooks/{theirs['webhook_id']}"
    for method, url in [
        ("GET", path),
        ("PATCH", path),
        ("DELETE", path),
        ("POST", path + "/test"),
        ("GET", path + "/deliveries"),
    ]:
        body = {"description": "x"} if method == "PATCH" else None
        response = api.request(method, url, json=body, headers=_auth(world.owner_key))
        assert response.status_code == 404, (method, url, response.text)
    assert api.get("/api/v1/webhooks", headers=_auth(world.owner_key)).json()["data"] == []
    # A brand of another organization cannot be subscribed to.
    refused = api.post(
        "/api/v1/webhooks",
        json={"url": hook.url, "brand_ids": [other.brand_id]},
        headers=_auth(world.owner_key),
    )
    assert refused.status_code == 400
    assert assert_error_shape(refused)["code"] == "invalid_parameter"


def test_credentials_are_sent_but_never_shown_back(
    api: TestClient, world: World, hook: Receiver
) -> None:
    token = "tok-" + "x" * 20 + "9876"
    created = _create(api, world.owner_key, url=hook.url, auth={"type": "bearer", "token": token})
    assert created["auth"] == {"type": "bearer", "token": "…9876"}
    listed = api.get("/api/v1/webhooks", headers=_auth(world.owner_key))
    assert token not in listed.text
    api.post(f"/api/v1/webhooks/{created['webhook_id']}/test", headers=_auth(world.owner_key))
    wait_for(lambda: hook.count() == 1, timeout=10)
    assert hook.received[0].headers["Authorization"] == f"Bearer {token}"

    basic = _create(
        api,
        world.owner_key,
        url=hook.url,
        auth={"type": "custom_header", "header_name": "X-Shared", "header_value": "v" * 16},
    )
    assert basic["auth"] == {
        "type": "custom_header",
        "header_name": "X-Shared",
        "header_value": "…vvvv",
    }
    for bad in (
        {"type": "bearer"},
        {"type": "custom_header", "header_name": "webhook-id", "header_value": "x"},
        {"type": "basic", "username": "a", "password": "b", "token": "c"},
    ):
        response = api.post(
            "/api/v1/webhooks", json={"url": hook.url, "auth": bad}, headers=_auth(world.owner_key)
        )
        assert response.status_code == 400, (bad, response.text)


UNSAFE = [
    "http://127.0.0.1/hook",
    "http://localhost:8080/x",
    "http://10.1.2.3/x",
    "http://192.168.0.10/x",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/x",
    "http://[::ffff:127.0.0.1]/x",
    "ftp://example.com/x",
    "http://user:pass@example.com/x",
    "not a url",
]


def test_unsafe_urls_are_refused_at_creation_and_at_send_time(
    service: Service, world: World, hook: Receiver
) -> None:
    owner = service.act_as(world.owner_id)
    service.webhook_allow_private = False
    for url in UNSAFE:
        with pytest.raises(ValidationFailed) as refused:
            service.create_webhook(owner, world.org_id, {"url": url})
        assert refused.value.field == "url", url
    # Created while private addresses were allowed, then sent with the guard on (as when a
    # name resolves elsewhere at send time): refused without a request.
    service.webhook_allow_private = True
    webhook, _secret = service.create_webhook(owner, world.org_id, {"url": hook.url})
    delivery = service.test_webhook(owner, webhook.id)

    async def send() -> Outcome:
        async with new_client(4) as client:
            return await attempt(client, webhook, delivery, utcnow(), allow_private=False)

    outcome = anyio.run(send)
    assert not outcome.ok and outcome.error.startswith("refused: ")
    assert hook.arrived == 0


def test_segment_and_brand_events_fan_out_by_type_and_brand(
    api: TestClient, service: Service, world: World, hook: Receiver
) -> None:
    everything = _create(api, world.owner_key, url=hook.url + "/all")
    _create(
        api,
        world.owner_key,
        url=hook.url + "/deletes",
        events=["segment.deleted"],
        brand_ids=[world.brand_id],
    )
    _create(api, world.owner_key, url=hook.url + "/other-brand", brand_ids=[world.empty_brand_id])
    lead = service.act_as(world.in_charge_id)
    segment = service.add_segment(
        lead, world.brand_id, {"segment_label": "New", "segment_type": "behavioral"}
    )
    service.delete_segment(lead, segment.id)
    wait_for(lambda: hook.count() == 3, timeout=10)
    by_path = sorted((r.path, r.event["type"]) for r in hook.received)
    assert by_path == [
        ("/hook/all", "segment.created"),
        ("/hook/all", "segment.deleted"),
        ("/hook/deletes", "segment.deleted"),
    ]
    tombstone = next(r.event for r in hook.received if r.path == "/hook/deletes")
    assert tombstone["brand_id"] == world.brand_id
    assert tombstone["data"]["segment_id"] == segment.id  # type: ignore[index]
    # Every receiver of an event gets the same id; a disabled webhook gets nothing new.
    api.patch(
        f"/api/v1/webhooks/{everything['webhook_id']}",
        json={"enabled": False},
        headers=_auth(world.owner_key),
    )
    service.update_segment(lead, world.segment_ids[0], {"segment_tone": "calm"})
    with service.store.read() as conn:
        from zyntro.store.queries.webhooks import list_webhooks

        assert [w.enabled for w in list_webhooks(conn, world.org_id)] == [False, True, True]
    assert len(_deliveries(api, world.owner_key, everything["webhook_id"])) == 2


def test_an_endpoint_that_keeps_failing_is_paused_not_flooded(
    service: Service, database_url: str, world: World, hook: Receiver
) -> None:
    """After PAUSE_AFTER failures in a row an endpoint's backlog waits as long as a first
    retry does, instead of each queued event being tried (and failing) at once; the first
    success ends the pause and the backlog flows."""
    settings = _settings(database_url, webhook_retry_schedule="5", webhook_disable_after=1000)
    with TestClient(create_app(settings, service)) as api:
        created = _create(api, world.owner_key, url=hook.url)
        hook.answer(*[Answer(500)] * 100)
        lead = service.act_as(world.in_charge_id)
        for n in range(20):
            service.update_segment(lead, world.segment_ids[0], {"segment_tone": f"tone {n}"})
        path = f"/api/v1/webhooks/{created['webhook_id']}"

        def failing() -> bool:
            shown = api.get(path, headers=_auth(world.owner_key)).json()["data"]
            return int(shown["failure_count"]) >= PAUSE_AFTER

        wait_for(failing, timeout=10)
        tried = hook.count()
        assert tried < 20
        anyio.run(anyio.sleep, 1.0)  # well within the pause (5 s ± 20 %)
        assert hook.count() == tried  # the other deliveries wait
        pending = [d for d in _deliveries(api, world.owner_key, created["webhook_id"])]
        assert sum(d["attempts"] == 0 for d in pending) == 20 - tried
        # The receiver recovers: once the pause is over, everything is delivered.
        hook.script.clear()
        wait_for(
            lambda: all(
                d["status"] == "succeeded"
                for d in _deliveries(api, world.owner_key, created["webhook_id"])
            ),
            timeout=20,
        )
