"""The brand profile (what a brand sells, to whom, its voice) on every surface and both
backends: the service, migration 0009, /api/v1, the CLI, the SDK and the dashboard."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from starlette.testclient import TestClient

from tests.cli import Cli
from tests.clock import FakeClock
from tests.conftest import World
from tests.dashboard import ClientFactory, csrf_of, email_of, sign_in
from tests.sdk import build_client
from zyntro.api.app import create_app
from zyntro.client import AsyncZyntroClient, BrandProfile
from zyntro.errors import Forbidden, ValidationFailed
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings
from zyntro.store import Store, migrate

PROFILE = {
    "offering": "Durable children's shoes",
    "audience": "Families in the UK",
    "voice": "Warm, plain-spoken",
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_service_keeps_parts_and_records_an_audit_row(service: Service, world: World) -> None:
    lead = service.act_as(world.in_charge_id)
    brand = service.set_brand_profile(lead, world.brand_id, PROFILE)
    assert brand.profile.to_public() == PROFILE
    changed = service.set_brand_profile(lead, world.brand_id, {"voice": "  Bold  ", "audience": ""})
    assert changed.profile.to_public() == {**PROFILE, "voice": "Bold", "audience": ""}
    assert service.get_brand(SYSTEM, world.brand_id).profile == changed.profile
    assert [b.profile for b in service.list_brands(SYSTEM, world.org_id) if b.id == brand.id] == [
        changed.profile
    ]
    actions = [row["action"] for row in service.list_audit(SYSTEM, world.org_id)]
    assert actions.count("brand.profile") == 2
    with pytest.raises(ValidationFailed, match="offering"):
        service.set_brand_profile(lead, world.brand_id, {"offering": "x" * 1001})
    with pytest.raises(ValidationFailed, match="slogan"):
        service.set_brand_profile(lead, world.brand_id, {"slogan": "Just run"})
    with pytest.raises(Forbidden):
        service.set_brand_profile(service.act_as(world.member_id), world.brand_id, PROFILE)
    assert service.get_brand(SYSTEM, world.brand_id).profile == changed.profile


def test_migration_0009_gives_existing_brands_an_empty_profile(empty_database_url: str) -> None:
    store = Store(empty_database_url)
    try:
        migrate.upgrade(store.engine, "0004")
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO organizations (id, name, created_at)"
                    " VALUES ('org_a', 'Org', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO brands (id, org_id, name, created_at)"
                    " VALUES ('brand_a', 'org_a', 'Old brand', CURRENT_TIMESTAMP)"
                )
            )
        migrate.upgrade(store.engine)
        brand = Service(store).get_brand(SYSTEM, "brand_a")
        assert brand.name == "Old brand" and brand.profile.empty
        command.downgrade(migrate.alembic_config(store.engine), "0004")  # and back
        assert "profile_voice" not in {
            c["name"] for c in sa.inspect(store.engine).get_columns("brands")
        }
    finally:
        store.dispose()


def test_api_shows_and_changes_the_profile(
    client: TestClient, world: World, service: Service
) -> None:
    listed = client.get("/api/v1/brands", headers=auth(world.member_key)).json()["data"]
    mine = next(b for b in listed if b["brand_id"] == world.brand_id)
    assert list(mine) == ["brand_id", "org_id", "name", "created_at", "profile"]  # one key more
    assert mine["profile"] == {"offering": "", "audience": "", "voice": ""}

    _, lead_key = service.create_key(SYSTEM, world.in_charge_id, "lead")
    path = f"/api/v1/brands/{world.brand_id}"
    changed = client.patch(path, json={"profile": PROFILE}, headers=auth(lead_key))
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["profile"] == PROFILE
    renamed = client.patch(
        path, json={"name": "Kids' Shoes", "profile": {"voice": None}}, headers=auth(lead_key)
    )
    assert renamed.json()["data"]["name"] == "Kids' Shoes"
    assert renamed.json()["data"]["profile"] == {**PROFILE, "voice": ""}
    assert client.get(path, headers=auth(world.member_key)).json()["data"] == renamed.json()["data"]

    def refused(body: dict[str, Any], key: str = lead_key, where: str = path) -> tuple[int, str]:
        response = client.patch(where, json=body, headers=auth(key))
        return response.status_code, response.json()["code"]

    assert refused({"profile": {"offering": "x" * 1001}}) == (400, "invalid_request")
    assert refused({"profile": {"slogan": "x"}}) == (400, "invalid_request")
    assert refused({}) == (400, "invalid_parameter")
    assert refused({"name": " ", "profile": {"offering": "new"}}) == (400, "invalid_parameter")
    assert refused({"profile": PROFILE}, world.member_key) == (403, "forbidden")
    other = service.create_org(SYSTEM, "Other")
    foreign = service.create_brand(SYSTEM, other.id, "Foreign")
    assert refused({"profile": PROFILE}, where=f"/api/v1/brands/{foreign.id}") == (
        404,
        "brand_not_found",
    )
    # Nothing of the refused requests was written (the blank name came with a profile).
    assert service.get_brand(SYSTEM, world.brand_id).profile.offering == PROFILE["offering"]


def test_cli_shows_and_sets_the_profile(database_url: str, service: Service, world: World) -> None:
    cli = Cli(database_url)
    assert cli.json("brand", "profile", world.brand_id)["profile"] == {
        "offering": "",
        "audience": "",
        "voice": "",
    }
    out = cli.json(
        "brand", "profile", world.brand_id, "--offering", PROFILE["offering"], "--voice", "Bold"
    )
    assert out == {
        "brand_id": world.brand_id,
        "profile": {"offering": PROFILE["offering"], "audience": "", "voice": "Bold"},
    }
    text = cli.ok("brand", "profile", world.brand_id)
    assert f"offering: {PROFILE['offering']}" in text and "audience: -" in text
    assert "Only an owner or a member in-charge" in cli.fails(
        "brand", "profile", world.brand_id, "--voice", "x", "--member", world.member_id
    )


# The SDK and the dashboard only carry what the service stores: one backend is enough.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
@pytest.mark.anyio
async def test_sdk_reads_and_updates_the_profile(
    kind: str, settings: Settings, service: Service, world: World
) -> None:
    _, lead_key = service.create_key(SYSTEM, world.in_charge_id, "lead")
    client = build_client(
        kind, FakeClock(), create_app(settings, service), api_key=lead_key, org_id=world.org_id
    )
    try:
        if isinstance(client, AsyncZyntroClient):
            brand = await client.update_brand(world.brand_id, profile=PROFILE)
            listed = await client.list_brands()
        else:
            brand = client.update_brand(world.brand_id, profile=PROFILE)
            listed = client.list_brands()
    finally:
        if isinstance(client, AsyncZyntroClient):
            await client.aclose()
        else:
            client.close()
    assert brand.profile == BrandProfile(**PROFILE)
    assert next(b for b in listed if b.brand_id == world.brand_id).profile == brand.profile


@SQLITE_ONLY
def test_dashboard_profile_page(clients: ClientFactory, people: World, service: Service) -> None:
    lead = clients()
    token = sign_in(lead, email_of(service, people.in_charge_id))
    page = lead.get(f"/app/brands/{people.brand_id}/profile")
    assert page.status_code == 200 and 'id="profile-form"' in page.text
    saved = lead.post(
        f"/app/brands/{people.brand_id}/profile",
        data={**PROFILE, "csrf_token": token},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert service.get_brand(SYSTEM, people.brand_id).profile.to_public() == PROFILE
    too_long = lead.post(
        f"/app/brands/{people.brand_id}/profile",
        data={**PROFILE, "voice": "x" * 1001, "csrf_token": token},
    )
    assert too_long.status_code == 422 and 'id="voice-error"' in too_long.text

    reader = clients()
    token = sign_in(reader, email_of(service, people.member_id))
    shown = reader.get(f"/app/brands/{people.brand_id}/profile")
    assert "Families in the UK" in shown.text and "<textarea" not in shown.text
    refused = reader.post(
        f"/app/brands/{people.brand_id}/profile",
        data={**PROFILE, "voice": "Loud", "csrf_token": csrf_of(shown.text)},
    )
    assert refused.status_code == 403
    assert service.get_brand(SYSTEM, people.brand_id).profile.voice == PROFILE["voice"]
