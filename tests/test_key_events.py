"""Key changes as events (issue 13): creating, rolling and revoking a key leaves `key.created`,
`key.rolled` and `key.revoked` in the organization's feed, the key as introspection shows it and
never its secret; a key limited to brands does not see them; a webhook subscribed gets them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from standardwebhooks import Webhook as StandardWebhook
from starlette.testclient import TestClient

from tests.conftest import World
from tests.live import wait_for
from tests.receiver import receiver
from zyntro import keys
from zyntro.api.app import create_app
from zyntro.service import SYSTEM, Service
from zyntro.service.keys import KeyLimits
from zyntro.settings import Settings

KEY_FIELDS = [
    "key_id",
    "prefix",
    "kind",
    "owner",
    "org_id",
    "label",
    "scopes",
    "brands",
    "allowlist",
    "expires_at",
    "created_at",
    "revoked_at",
    "previous_secret_until",
]


@pytest.fixture
def api(service: Service, database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        log_level="ERROR",
        webhook_allow_private=True,
        webhook_retry_schedule="0.05,0.05,0.05",
    )
    with TestClient(create_app(settings, service)) as client:
        yield client


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _feed(api: TestClient, key: str, query: str = "") -> list[dict[str, Any]]:
    response = api.get(f"/api/v1/events?limit=500{query}", headers=_auth(key))
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]
    return events


def test_each_key_change_leaves_its_event_with_the_key_and_never_its_secret(
    api: TestClient, service: Service, world: World
) -> None:
    owner = service.act_as(world.owner_id)
    personal, personal_plain = service.create_key(
        owner,
        world.owner_id,
        "ci",
        expires_in_days=30,
        limits=KeyLimits(["segments:read"], [world.brand_id], ["203.0.113.0/24"]),
    )
    created = api.post(
        "/api/v1/keys",
        json={"kind": "organization", "label": "crm", "scopes": ["audiences:read"]},
        headers=_auth(world.owner_key),
    )
    assert created.status_code == 201, created.text
    org_key_id, org_plain = created.json()["data"]["key_id"], created.json()["data"]["api_key"]
    rolled = api.post(
        f"/api/v1/keys/{org_key_id}/roll", json={"grace_seconds": 60}, headers=_auth(org_plain)
    )
    assert rolled.status_code == 403  # an organization key manages no key, itself included
    rolled = api.post(
        f"/api/v1/keys/{org_key_id}/roll",
        json={"grace_seconds": 60},
        headers=_auth(world.owner_key),
    )
    assert rolled.status_code == 200, rolled.text
    rolled_plain = rolled.json()["data"]["api_key"]
    revoked = api.delete(f"/api/v1/keys/{personal.id}", headers=_auth(world.owner_key))
    assert revoked.status_code == 200, revoked.text
    service.revoke_key(owner, personal.id)  # again: nothing changes, no second event

    events = _feed(api, world.owner_key, "&type=key.created,key.rolled,key.revoked")
    # The world's two keys, then ours, in order; nothing else in the filtered feed.
    assert [e["type"] for e in events] == [
        *["key.created"] * 4,
        "key.rolled",
        "key.revoked",
    ]
    for event in events:
        assert event["brand_id"] is None and event["org_id"] == world.org_id
        assert list(event["data"]) == KEY_FIELDS
    made_personal, made_org, rolled_event, revoked_event = events[2:]
    assert made_personal["data"] == {
        "key_id": personal.id,
        "prefix": personal.prefix,
        "kind": "personal",
        "owner": {"type": "member", "id": world.owner_id},
        "org_id": world.org_id,
        "label": "ci",
        "scopes": ["segments:read"],
        "brands": [world.brand_id],
        "allowlist": ["203.0.113.0/24"],
        "expires_at": made_personal["data"]["expires_at"],
        "created_at": made_personal["created_at"],
        "revoked_at": None,
        "previous_secret_until": None,
    }
    assert made_personal["data"]["expires_at"] > made_personal["created_at"]
    assert made_org["data"]["owner"] == {"type": "organization", "id": world.org_id}
    assert made_org["data"]["kind"] == "organization"
    assert made_org["data"]["scopes"] == ["audiences:read"]
    assert made_org["data"]["brands"] is None and made_org["data"]["allowlist"] is None
    # The roll tells the new prefix and the end of the old secret's grace.
    assert rolled_event["data"]["key_id"] == org_key_id
    assert rolled_event["data"]["prefix"] == keys.display_prefix(rolled_plain)
    assert rolled_event["data"]["prefix"] != made_org["data"]["prefix"]
    assert rolled_event["data"]["previous_secret_until"] > rolled_event["created_at"]
    assert revoked_event["data"]["key_id"] == personal.id
    assert revoked_event["data"]["revoked_at"] == revoked_event["created_at"]

    # No secret, old or new, nor any digest, anywhere in the feed.
    everything = orjson.dumps(_feed(api, world.owner_key)).decode()
    for plain in (personal_plain, org_plain, rolled_plain, world.owner_key, world.member_key):
        assert plain not in everything
        assert keys.digest(plain) not in everything
    # Every role of the organization reads them (the feed is the organization's).
    member_view = _feed(api, world.member_key, "&type=key.revoked")
    assert [e["id"] for e in member_view] == [revoked_event["id"]]


def test_a_key_limited_to_brands_does_not_see_key_events(
    api: TestClient, service: Service, world: World
) -> None:
    _, limited = service.create_org_key(
        SYSTEM,
        world.org_id,
        "brand feed",
        limits=KeyLimits(["events:read"], [world.brand_id]),
    )
    service.update_segment(
        service.act_as(world.in_charge_id), world.segment_ids[0], {"reasoning": "x"}
    )
    seen = _feed(api, limited)
    assert seen and all(e["brand_id"] == world.brand_id for e in seen)
    assert not any(e["type"].startswith("key.") for e in seen)
    assert _feed(api, limited, "&type=key.created") == []
    # An unlimited reader sees the limited key's creation.
    created = _feed(api, world.owner_key, "&type=key.created")
    assert created[-1]["data"]["brands"] == [world.brand_id]


def test_a_webhook_subscribed_to_key_revoked_gets_it(
    api: TestClient, service: Service, world: World
) -> None:
    with receiver() as hook:
        made = api.post(
            "/api/v1/webhooks",
            json={"url": hook.url + "/revoked", "events": ["key.revoked"]},
            headers=_auth(world.owner_key),
        )
        assert made.status_code == 201, made.text
        secret = made.json()["data"]["secret"]
        everything = api.post(
            "/api/v1/webhooks", json={"url": hook.url + "/all"}, headers=_auth(world.owner_key)
        )
        assert everything.status_code == 201, everything.text
        owner = service.act_as(world.owner_id)
        key, plain = service.create_key(owner, world.owner_id, "short-lived")
        service.roll_key(owner, key.id, timedelta(0))
        service.revoke_key(owner, key.id)

        wait_for(lambda: hook.count() == 4, timeout=10)
        by_path = sorted((r.path, r.event["type"]) for r in hook.received)
        assert by_path == [
            ("/hook/all", "key.created"),
            ("/hook/all", "key.revoked"),
            ("/hook/all", "key.rolled"),
            ("/hook/revoked", "key.revoked"),
        ]
        received = next(r for r in hook.received if r.path == "/hook/revoked")
        event = StandardWebhook(secret).verify(received.body, received.headers)
        assert event["type"] == "key.revoked" and event["brand_id"] is None
        assert event["data"]["key_id"] == key.id and event["data"]["revoked_at"]
        assert plain not in received.body.decode()
