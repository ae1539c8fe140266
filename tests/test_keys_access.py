"""Organization keys, scopes, brand limits, IP allowlists, rolls, introspection and usage
(docs/security.md, "API keys"), through fetchAudiences, /api/v1, the dashboard and the CLI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from tests.cli import Cli
from tests.conftest import World
from tests.dashboard import ClientFactory, email_of, sign_in
from tests.helpers import PATH
from tests.live import live_server, wait_for
from zyntro.api import v1
from zyntro.api.app import create_app
from zyntro.api.v1.auth import ScopeCheck
from zyntro.errors import Forbidden, ValidationFailed
from zyntro.service import SYSTEM, Service
from zyntro.service.keys import KeyLimits
from zyntro.settings import Settings

V4, V6 = "203.0.113.7", "2001:db8::7"


def _app(service: Service, database_url: str, **settings: object) -> object:
    config = Settings(database_url=database_url, log_level="WARNING", **settings)  # type: ignore[arg-type]
    return create_app(config, service)


@pytest.fixture
def from_v4(service: Service, database_url: str) -> Iterator[TestClient]:
    with TestClient(_app(service, database_url), client=(V4, 4000)) as client:  # type: ignore[arg-type]
        yield client


def _fetch(client: TestClient, key: str, world: World, brand_id: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
    body = {"api_key": key, "org_id": world.org_id, "brand_id": brand_id or world.brand_id}
    return client.post(PATH, json=body, **kw)  # type: ignore[arg-type]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    """The one error body, on either surface."""
    assert response.status_code == status, response.text
    body: dict[str, str] = response.json()
    assert list(body) == ["status", "message", "code"] and body["code"] == code, body
    return body


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _org_key(service: Service, world: World, *scopes: str, **limits: object) -> tuple[str, str]:
    key, plain = service.create_org_key(
        SYSTEM,
        world.org_id,
        "integration",
        limits=KeyLimits(list(scopes) or None, **limits),  # type: ignore[arg-type]
    )
    return key.id, plain


# --- scopes -------------------------------------------------------------------------------


def test_scopes_are_refused_by_name_on_every_route(
    client: TestClient, service: Service, world: World
) -> None:
    _id, reader = _org_key(service, world, "segments:read")
    refused = assert_error(_fetch(client, reader, world), 403, "insufficient_scope")
    assert "audiences:read" in refused["message"]
    assert client.get("/api/v1/brands", headers=_bearer(reader)).status_code == 200
    path = f"/api/v1/brands/{world.brand_id}/segments"
    assert client.get(path, headers=_bearer(reader)).status_code == 200
    denied = client.post(
        path, json={"segment_label": "x", "segment_type": "behavioral"}, headers=_bearer(reader)
    )
    assert "segments:write" in assert_error(denied, 403, "insufficient_scope")["message"]
    assert_error(client.get("/api/v1/keys", headers=_bearer(reader)), 403, "insufficient_scope")

    _id, fetcher = _org_key(service, world, "audiences:read")
    assert _fetch(client, fetcher, world).status_code == 200
    assert_error(client.get(path, headers=_bearer(fetcher)), 403, "insufficient_scope")

    _id, writer = _org_key(service, world, "segments:write", "segments:read")
    created = client.post(
        path,
        json={"segment_label": "By robot", "segment_type": "behavioral"},
        headers=_bearer(writer),
    )
    assert created.status_code == 201
    assert created.json()["data"]["initiated_by"] == _id  # the organization key created it


def test_a_personal_key_never_exceeds_its_members_role(
    client: TestClient, service: Service, world: World
) -> None:
    with pytest.raises(Forbidden):
        service.create_key(SYSTEM, world.member_id, limits=KeyLimits(["segments:write"]))
    narrowed, plain = service.create_key(
        SYSTEM, world.in_charge_id, limits=KeyLimits(["segments:read", "segments:write"])
    )
    path = f"/api/v1/brands/{world.brand_id}/segments"
    new = {"segment_label": "x", "segment_type": "behavioral"}
    assert client.post(path, json=new, headers=_bearer(plain)).status_code == 201
    assert_error(_fetch(client, plain, world), 403, "insufficient_scope")  # not audiences:read
    service.set_role(SYSTEM, world.in_charge_id, "member")  # type: ignore[arg-type]
    assert_error(client.post(path, json=new, headers=_bearer(plain)), 403, "forbidden")
    # Default keys follow the role: a plain member's key reads, as before.
    assert _fetch(client, world.member_key, world).status_code == 200
    with pytest.raises(ValidationFailed):
        service.create_key(SYSTEM, world.owner_id, limits=KeyLimits(["segments:delete"]))


# --- brand limits -------------------------------------------------------------------------


def test_a_limited_key_sees_other_brands_as_missing(
    client: TestClient, service: Service, world: World
) -> None:
    other = service.create_brand(SYSTEM, world.org_id, "Other brand")
    key_id, plain = _org_key(
        service, world, "audiences:read", "segments:read", brands=[world.brand_id]
    )
    assert _fetch(client, plain, world).status_code == 200
    limited = _fetch(client, plain, world, other.id)
    missing = _fetch(client, plain, world, "brand_nonexistent")
    assert limited.status_code == missing.status_code == 404
    assert limited.json() == missing.json() and limited.json()["code"] == "brand_not_found"
    listed = client.get("/api/v1/brands", headers=_bearer(plain)).json()["data"]
    assert [b["brand_id"] for b in listed] == [world.brand_id]
    one = client.get(f"/api/v1/brands/{other.id}", headers=_bearer(plain))
    gone = client.get("/api/v1/brands/brand_nonexistent", headers=_bearer(plain))
    assert one.status_code == gone.status_code == 404 and one.json() == gone.json()
    segments = client.get(f"/api/v1/brands/{other.id}/segments", headers=_bearer(plain))
    assert segments.json() == gone.json()
    with pytest.raises(ValidationFailed):
        _org_key(service, world, "audiences:read", brands=["brand_of_someone_else"])


def test_a_limited_key_reads_only_its_brands_events(
    client: TestClient, service: Service, world: World
) -> None:
    other = service.create_brand(SYSTEM, world.org_id, "Other brand")
    lead = service.act_as(world.in_charge_id)
    service.delete_segment(lead, world.segment_ids[0])  # an event of the limited key's brand
    _id, plain = _org_key(service, world, "events:read", brands=[world.brand_id])
    page = client.get("/api/v1/events", headers=_bearer(plain), params={"limit": 500})
    brands = {event["brand_id"] for event in page.json()["data"]}
    assert brands == {world.brand_id}  # not brand.created of the other brand
    outside = client.get("/api/v1/events", headers=_bearer(plain), params={"brand_id": other.id})
    missing = client.get(
        "/api/v1/events", headers=_bearer(plain), params={"brand_id": "brand_nonexistent"}
    )
    assert outside.status_code == 404 and outside.json() == missing.json()


# --- IP allowlists ------------------------------------------------------------------------


def test_allowlists_of_ipv4_and_ipv6(
    service: Service, database_url: str, world: World, from_v4: TestClient
) -> None:
    _id, v4_only = _org_key(
        service, world, "audiences:read", "segments:read", allowlist=["203.0.113.0/24"]
    )
    _id, v6_only = _org_key(
        service, world, "audiences:read", "segments:read", allowlist=["2001:db8::/32"]
    )
    assert _fetch(from_v4, v4_only, world).status_code == 200
    assert from_v4.get("/api/v1/brands", headers=_bearer(v4_only)).status_code == 200
    assert_error(_fetch(from_v4, v6_only, world), 403, "ip_not_allowed")
    assert_error(from_v4.get("/api/v1/brands", headers=_bearer(v6_only)), 403, "ip_not_allowed")
    with TestClient(_app(service, database_url), client=(V6, 4000)) as from_v6:  # type: ignore[arg-type]
        assert _fetch(from_v6, v6_only, world).status_code == 200
        assert_error(_fetch(from_v6, v4_only, world), 403, "ip_not_allowed")
    with pytest.raises(ValidationFailed):
        _org_key(service, world, "audiences:read", allowlist=["not-a-network"])


def test_forwarded_for_counts_only_from_a_trusted_proxy(
    service: Service, database_url: str, world: World
) -> None:
    _id, key = _org_key(service, world, "audiences:read", allowlist=[V4])
    forwarded = {"X-Forwarded-For": V4}
    app = _app(service, database_url, trusted_proxies="10.0.0.1")
    with TestClient(app, client=("10.0.0.1", 4000)) as via_proxy:  # type: ignore[arg-type]
        assert _fetch(via_proxy, key, world, headers=forwarded).status_code == 200
        assert_error(_fetch(via_proxy, key, world), 403, "ip_not_allowed")  # the proxy itself
    with TestClient(app, client=("10.0.0.2", 4000)) as untrusted:  # type: ignore[arg-type]
        assert_error(_fetch(untrusted, key, world, headers=forwarded), 403, "ip_not_allowed")


# --- organization keys --------------------------------------------------------------------


def test_organization_keys_survive_their_creators_deactivation(
    client: TestClient, service: Service, world: World
) -> None:
    second_owner = service.add_member(SYSTEM, world.org_id, "o2@example.com", "O2", "owner")  # type: ignore[arg-type]
    creator = service.act_as(world.owner_id)
    _key, personal = service.create_key(creator, world.owner_id)
    made, org_key = service.create_org_key(
        creator, world.org_id, "crm", limits=KeyLimits(["audiences:read"])
    )
    with pytest.raises(Forbidden):  # only owners create them
        service.create_org_key(service.act_as(world.in_charge_id), world.org_id)
    assert _fetch(client, org_key, world).status_code == 200
    service.deactivate_member(service.act_as(second_owner.id), world.owner_id)
    assert_error(_fetch(client, personal, world), 401, "invalid_api_key")
    assert _fetch(client, org_key, world).status_code == 200
    assert made.id in {k.id for k in service.list_org_keys(SYSTEM, world.org_id)}
    actions = [row["action"] for row in service.list_audit(SYSTEM, world.org_id)]
    assert "key.create" in actions


def test_api_v1_creates_lists_and_revokes_organization_keys(
    client: TestClient, service: Service, world: World
) -> None:
    body = {"kind": "organization", "label": "cms", "scopes": ["segments:read"]}
    created = client.post("/api/v1/keys", json=body, headers=_bearer(world.owner_key))
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["kind"] == "organization" and data["owner"] == {
        "type": "organization",
        "id": world.org_id,
    }
    assert data["api_key"].startswith("zk_") and data["scopes"] == ["segments:read"]
    listed = client.get("/api/v1/keys", headers=_bearer(world.owner_key)).json()["data"]
    assert data["key_id"] in {k["key_id"] for k in listed}
    assert all("api_key" not in k for k in listed)
    # A plain member may not create organization keys, nor see them.
    refused = client.post("/api/v1/keys", json=body, headers=_bearer(world.member_key))
    assert_error(refused, 403, "forbidden")
    other = client.get(f"/api/v1/keys/{data['key_id']}", headers=_bearer(world.member_key))
    assert other.status_code == 403
    # An organization key cannot mint keys.
    minted = client.post("/api/v1/keys", json=body, headers=_bearer(data["api_key"]))
    assert_error(minted, 403, "insufficient_scope")
    revoked = client.delete(f"/api/v1/keys/{data['key_id']}", headers=_bearer(world.owner_key))
    assert revoked.json()["data"]["revoked_at"] is not None
    assert_error(
        client.get("/api/v1/brands", headers=_bearer(data["api_key"])), 401, "invalid_api_key"
    )
    actions = [row["action"] for row in service.list_audit(SYSTEM, world.org_id)]
    assert {"key.create", "key.revoke"} <= set(actions)


# --- introspection and usage --------------------------------------------------------------


def test_introspection_describes_the_presented_key_without_its_secret(
    client: TestClient, service: Service, world: World, from_v4: TestClient
) -> None:
    key_id, plain = _org_key(
        service,
        world,
        "segments:read",
        brands=[world.brand_id],
        allowlist=["203.0.113.0/24", "2001:db8::/32"],
    )
    seen = from_v4.get("/api/v1/key", headers=_bearer(plain))
    assert seen.status_code == 200
    data = seen.json()["data"]
    assert data["key_id"] == key_id and data["kind"] == "organization"
    assert data["prefix"] == plain[:8] and plain not in seen.text
    assert data["scopes"] == ["segments:read"] and data["brands"] == [world.brand_id]
    assert data["allowlist"] == ["203.0.113.0/24", "2001:db8::/32"]
    assert data["expires_at"] is None and data["created_at"]
    mine = client.get("/api/v1/key", headers=_bearer(world.member_key)).json()["data"]
    assert mine["kind"] == "personal" and mine["owner"] == {"type": "member", "id": world.member_id}
    assert "segments:write" not in mine["scopes"] and "audiences:read" in mine["scopes"]


def test_usage_counts_requests_and_errors_per_day(
    client: TestClient, service: Service, world: World
) -> None:
    key_id, plain = _org_key(service, world, "audiences:read")
    for _ in range(3):
        assert _fetch(client, plain, world).status_code == 200
    assert _fetch(client, plain, world, world.empty_brand_id).status_code == 404
    assert client.get("/api/v1/brands", headers=_bearer(plain)).status_code == 403
    service.flush_usage()
    days = client.get(f"/api/v1/keys/{key_id}/usage", headers=_bearer(world.owner_key))
    data = days.json()["data"]
    assert len(data) == 30 and data[-1]["requests"] == 5 and data[-1]["errors"] == 2
    assert sum(day["requests"] for day in data[:-1]) == 0


# --- rotation -----------------------------------------------------------------------------


def test_roll_with_and_without_grace(client: TestClient, service: Service, world: World) -> None:
    key_id, old = _org_key(service, world, "audiences:read")
    assert _fetch(client, old, world).status_code == 200
    rolled, new = service.roll_key(SYSTEM, key_id)  # 24 hours by default
    assert rolled.id == key_id and new != old and rolled.previous_until is not None
    assert _fetch(client, old, world).status_code == 200
    assert _fetch(client, new, world).status_code == 200
    _again, newest = service.roll_key(SYSTEM, key_id, timedelta(0))
    for gone in (old, new):  # no grace: the secret before stops at once, an older one too
        assert_error(_fetch(client, gone, world), 401, "invalid_api_key")
    assert _fetch(client, newest, world).status_code == 200
    actions = [row["action"] for row in service.list_audit(SYSTEM, world.org_id)]
    assert actions.count("key.roll") == 2
    via_api = client.post(
        f"/api/v1/keys/{service.list_keys(SYSTEM, world.owner_id)[0].id}/roll",
        json={"grace_seconds": 0},
        headers=_bearer(world.owner_key),
    )
    assert via_api.status_code == 200 and via_api.json()["data"]["api_key"].startswith("zk_")
    assert_error(
        client.get("/api/v1/key", headers=_bearer(world.owner_key)), 401, "invalid_api_key"
    )


def test_the_old_secret_is_refused_after_its_grace_on_another_process(
    service: Service, database_url: str, world: World
) -> None:
    key_id, old = _org_key(service, world, "audiences:read")
    with live_server(database_url) as base:
        body = {"api_key": old, "org_id": world.org_id, "brand_id": world.brand_id}
        assert httpx.post(base + PATH, json=body).status_code == 200  # cached there now
        _key, new = service.roll_key(SYSTEM, key_id, timedelta(seconds=2))

        def answers(key: str) -> int:
            return httpx.post(base + PATH, json={**body, "api_key": key}).status_code

        wait_for(lambda: answers(new) == 200, timeout=1.0)
        assert answers(old) == 200  # within its grace
        wait_for(lambda: answers(old) == 401, timeout=3.5)  # 2 s of grace, then within 1 s
        key_id2, other = _org_key(service, world, "audiences:read")
        assert answers(other) == 200
        service.roll_key(SYSTEM, key_id2, timedelta(0))
        wait_for(lambda: answers(other) == 401, timeout=1.0)


# --- dashboard and CLI --------------------------------------------------------------------


def test_dashboard_organization_keys_page(
    clients: ClientFactory, service: Service, people: World
) -> None:
    owner = clients()
    token = sign_in(owner, email_of(service, people.owner_id))
    assert "Organization keys" in owner.get("/app/brands").text
    created = owner.post(
        "/app/org/keys",
        data={
            "label": "crm sync",
            "scopes": ["audiences:read"],
            "brands": [people.brand_id],
            "allowlist": "203.0.113.0/24\n2001:db8::/32",
            "csrf_token": token,
        },
    )
    assert created.status_code == 201, created.text
    plain = re.search(r'id="new-key-value" type="text" readonly value="(zk_\w+)"', created.text)
    assert plain and "crm sync" in created.text and "203.0.113.0/24" in created.text
    assert _fetch(owner, plain.group(1), people).status_code == 403  # testclient: not allowed
    (key,) = service.list_org_keys(SYSTEM, people.org_id)
    assert key.scopes == ("audiences:read",) and key.brands == (people.brand_id,)
    rolled = owner.post(f"/app/org/keys/{key.id}/roll", data={"grace": "0", "csrf_token": token})
    assert rolled.status_code == 200 and "shown only once" in rolled.text
    revoked = owner.post(f"/app/org/keys/{key.id}/revoke", data={"csrf_token": token})
    assert "revoked" in revoked.text
    # Revoked keys fold away as on Me > API Keys; the status filter lists them.
    assert "1 revoked key folded away" in revoked.text and f'id="{key.id}"' not in revoked.text
    listed = owner.get("/app/org/keys?type=revoked").text
    assert f'id="{key.id}"' in listed and "1–1 of 1 key" in listed
    member = clients()
    sign_in(member, email_of(service, people.member_id))
    assert member.get("/app/org/keys").status_code == 403
    assert "Organization keys" not in member.get("/app/brands").text
    page = member.get("/app/me/keys").text
    assert "requests" in page and "segments:write" not in page.split('id="keys"')[0]


def test_cli_organization_keys_scopes_roll_and_usage(
    database_url: str, service: Service, world: World, client: TestClient
) -> None:
    cli = Cli(database_url)
    made = cli.json(
        "key",
        "create",
        "--org",
        world.org_id,
        "--scope",
        "audiences:read",
        "--brand",
        world.brand_id,
        "--allow",
        "203.0.113.0/24",
        "--label",
        "cli",
    )
    assert made["kind"] == "organization" and made["scopes"] == ["audiences:read"]
    listed = cli.json("key", "list", "--org", world.org_id)
    assert [k["key_id"] for k in listed] == [made["key_id"]]
    assert "is not a scope" in cli.fails(
        "key", "create", "--org", world.org_id, "--scope", "everything"
    )
    assert "--member" in cli.fails("key", "create")
    rolled = cli.json("key", "roll", made["key_id"], "--grace", "0")
    assert rolled["api_key"] != made["api_key"] and rolled["previous_secret_until"] is None
    _id, plain = _org_key(service, world, "audiences:read")
    assert _fetch(client, plain, world).status_code == 200
    service.flush_usage()
    usage = cli.json("key", "usage", _id)
    assert len(usage) == 30 and usage[-1]["requests"] == 1 and usage[-1]["errors"] == 0


# --- the declarations ---------------------------------------------------------------------


def _declared_scopes(route: APIRoute) -> list[ScopeCheck]:
    found: list[ScopeCheck] = []
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, ScopeCheck):
            found.append(dependant.call)
        pending.extend(dependant.dependencies)
    return found


def _routes(router: Any) -> Iterator[APIRoute]:
    """The routes of a router and of the routers included in it (however FastAPI keeps them)."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _routes(route.original_router)


def test_every_v1_route_declares_its_scope_once() -> None:
    """A route of /api/v1 names the scope it needs (or None: any valid key) in one place."""
    routes = list(_routes(v1.router))
    assert len(routes) >= 12
    undeclared = [r.path for r in routes if len(_declared_scopes(r)) != 1]
    assert undeclared == [], "declare with `actor: Actor = requires(Scope.…)`"
    scopes = {(min(r.methods or {""}), r.path): _declared_scopes(r)[0].scope for r in routes}
    assert scopes[("GET", "/key")] is None
    assert scopes[("POST", "/brands/{brand_id}/segments")] == "segments:write"


def test_the_sdk_raises_the_new_codes_as_forbidden() -> None:
    from zyntro import client as sdk
    from zyntro.client.errors import _class_for

    assert _class_for("insufficient_scope") is sdk.InsufficientScope
    assert issubclass(sdk.IpNotAllowed, sdk.Forbidden)


def test_an_organization_key_with_webhooks_manage_manages_webhooks(
    client: TestClient, service: Service, world: World
) -> None:
    _id, manager = _org_key(service, world, "webhooks:manage")
    _id, reader = _org_key(service, world, "segments:read")
    service.webhook_allow_private = True  # a loopback receiver, as in the demo
    made = client.post(
        "/api/v1/webhooks",
        headers=_bearer(manager),
        json={"url": "http://127.0.0.1:9/zyntro", "events": ["*"]},
    )
    assert made.status_code == 201, made.text
    listed = client.get("/api/v1/webhooks", headers=_bearer(manager)).json()["data"]
    assert [w["webhook_id"] for w in listed] == [made.json()["data"]["webhook_id"]]
    refused = assert_error(
        client.get("/api/v1/webhooks", headers=_bearer(reader)), 403, "insufficient_scope"
    )
    assert "webhooks:manage" in refused["message"]


def test_a_brand_limited_key_cannot_manage_webhooks(
    client: TestClient, service: Service, world: World
) -> None:
    """A webhook can carry every brand's events: a key limited to brands manages none."""
    _id, limited = _org_key(service, world, "webhooks:manage", brands=[world.brand_id])
    refused = client.get("/api/v1/webhooks", headers=_bearer(limited))
    assert_error(refused, 403, "forbidden")
