"""Two `zyntro serve` nodes sharing one PostgreSQL and one Redis: one rate limit between them,
and a change made through the CLI seen by both within a second."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import REDIS_URL, make_world
from tests.helpers import PATH, truncate
from tests.live import live_server, run_cli, wait_for
from zyntro.service import Service
from zyntro.store import Store

QUOTA = 20
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def _post(base_url: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(base_url + PATH, json=body, timeout=5)


def test_two_nodes_share_the_rate_limit_and_see_changes_within_a_second(
    postgres_url: str, redis_prefix: str
) -> None:
    truncate(postgres_url)
    store = Store(postgres_url)
    service = Service(store)
    world = make_world(service)
    key_a = service.create_key(service.act_as(world.member_id), world.member_id, "node a")[1]
    key_b = service.create_key(service.act_as(world.member_id), world.member_id, "node b")[1]
    service.reader.close()
    store.dispose()
    env = {
        "ZYNTRO_REDIS_URL": REDIS_URL,
        "ZYNTRO_REDIS_PREFIX": redis_prefix,
        "ZYNTRO_RATE_LIMIT": f"{QUOTA}/minute",
    }
    with live_server(postgres_url, env=env) as one, live_server(postgres_url, env=env) as two:
        # One quota, spent across both nodes.
        remaining = []
        for n in range(QUOTA):
            response = _post(one if n % 2 else two, world.body())
            assert response.status_code == 200, response.text
            remaining.append(response.headers["ratelimit"])
        assert remaining[0] == f'"default";r={QUOTA - 1};t=60'
        assert remaining[-1].startswith('"default";r=0;')
        for node in (one, two):
            refused = _post(node, world.body())
            assert refused.status_code == 429
            assert refused.json()["code"] == "rate_limited"
            assert int(refused.headers["retry-after"]) >= 1

        # A segment edited through the CLI is served by both within a second.
        body_a, body_b = world.body(api_key=key_a), world.body(api_key=key_b)
        assert _post(one, body_a).status_code == _post(two, body_b).status_code == 200
        run_cli(postgres_url, "segment", "update", world.segment_ids[0], "--label", "Edited")

        def edited(node: str, body: dict[str, object]) -> bool:
            return bool(_post(node, body).json()["data"][0]["segment_label"] == "Edited")

        wait_for(lambda: edited(one, body_a) and edited(two, body_b), timeout=1.0, interval=0.1)

        # A key revoked through the CLI is refused by both within a second.
        created = json.loads(
            run_cli(postgres_url, "key", "create", "--member", world.owner_id, "--json")
        )
        fresh = world.body(api_key=created["api_key"])
        assert _post(one, fresh).status_code == _post(two, fresh).status_code == 200
        run_cli(postgres_url, "key", "revoke", created["key_id"])
        wait_for(
            lambda: _post(one, fresh).status_code == 401 and _post(two, fresh).status_code == 401,
            timeout=1.0,
            interval=0.1,
        )
