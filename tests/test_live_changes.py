"""Writes from another process (the CLI) are served by a running server within one second."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import make_world
from tests.helpers import PATH
from tests.live import live_server, run_cli, wait_for
from zyntro.service import Service

pytestmark = pytest.mark.slow


def _post(base_url: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(base_url + PATH, json=body, timeout=5)


def _warm(base_url: str, body: dict[str, object]) -> httpx.Response:
    # Twice: the second answer comes from the caches, which is what must not go stale.
    _post(base_url, body)
    return _post(base_url, body)


def test_cli_changes_reach_a_running_server_within_a_second(
    service: Service, database_url: str
) -> None:
    world = make_world(service)
    body = world.body()
    with live_server(database_url) as base_url:
        first = _warm(base_url, body)
        assert first.status_code == 200
        first_id = first.json()["data"][0]["segment_id"]

        # A segment edited through the CLI.
        run_cli(database_url, "segment", "update", first_id, "--label", "Edited elsewhere")
        wait_for(
            lambda: _post(base_url, body).json()["data"][0]["segment_label"] == "Edited elsewhere"
        )

        # A segment added to the empty brand: no_segments turns into success.
        empty = world.body(brand_id=world.empty_brand_id)
        assert _warm(base_url, empty).json()["code"] == "no_segments"
        run_cli(
            database_url,
            "segment",
            "add",
            "--brand",
            world.empty_brand_id,
            "--member",
            world.in_charge_id,
            "--label",
            "New",
            "--type",
            "behavioral",
        )
        wait_for(lambda: _post(base_url, empty).status_code == 200)

        # A brand created through the CLI is found; a deleted brand is not.
        created = json.loads(
            run_cli(database_url, "brand", "create", "--org", world.org_id, "Fresh", "--json")
        )
        fresh = world.body(brand_id=created["brand_id"])
        wait_for(lambda: _post(base_url, fresh).json().get("code") == "no_segments")
        run_cli(database_url, "brand", "delete", world.empty_brand_id)
        wait_for(lambda: _post(base_url, empty).json().get("code") == "brand_not_found")

        # A new key works at once.
        key = json.loads(
            run_cli(database_url, "key", "create", "--member", world.member_id, "--json")
        )
        wait_for(lambda: _post(base_url, world.body(api_key=key["api_key"])).status_code == 200)

        # A revoked key is refused.
        run_cli(database_url, "key", "revoke", key["key_id"])
        wait_for(lambda: _post(base_url, world.body(api_key=key["api_key"])).status_code == 401)

        # A deactivated member's keys are refused.
        member_body = world.body(api_key=world.member_key)
        assert _warm(base_url, member_body).status_code == 200
        run_cli(database_url, "member", "deactivate", world.member_id)
        wait_for(lambda: _post(base_url, member_body).json().get("code") == "invalid_api_key")
