"""The events feed, the trash and revisions over the management API v1 (SQLite and
PostgreSQL): what an integration sees, and the OpenAPI document of each route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from tests.conftest import SEED_SEGMENT, World, make_world
from tests.helpers import PATH, assert_error_shape
from zyntro.service import SYSTEM, Service


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _feed(client: TestClient, key: str, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/events", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert list(body) == ["status", "data", "next_cursor"] and body["next_cursor"]
    return body


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert assert_error_shape(response)["code"] == code


def _served(client: TestClient, world: World) -> list[str]:
    response = client.post(PATH, data=world.body())
    return [segment["segment_id"] for segment in response.json().get("data", [])]


def test_a_deletion_is_a_tombstone_and_a_restore_brings_the_same_id_back(
    client: TestClient, service: Service, world: World
) -> None:
    key = service.create_key(SYSTEM, world.in_charge_id, "lead")[1]
    start = _feed(client, world.member_key)["next_cursor"]
    segment_id = world.segment_ids[0]
    url = f"/api/v1/brands/{world.brand_id}/segments/{segment_id}"
    before = client.get(url, headers=auth(key)).json()["data"]
    assert client.delete(url, headers=auth(key)).status_code == 204

    page = _feed(client, world.member_key, cursor=start)
    [tombstone] = page["data"]
    assert list(tombstone) == ["id", "type", "created_at", "org_id", "brand_id", "data"]
    assert tombstone["type"] == "segment.deleted" and tombstone["data"] == before
    assert (tombstone["org_id"], tombstone["brand_id"]) == (world.org_id, world.brand_id)
    assert segment_id not in _served(client, world)
    assert_error(client.get(url, headers=auth(key)), 404, "not_found")
    listed = client.get(f"/api/v1/brands/{world.brand_id}/segments", headers=auth(key)).json()
    assert segment_id not in [s["segment_id"] for s in listed["data"]]

    trash = client.get(f"/api/v1/brands/{world.brand_id}/trash", headers=auth(world.member_key))
    assert trash.status_code == 200
    [item] = trash.json()["data"]
    assert {k: item[k] for k in before} == before and item["deleted_by"] == world.in_charge_id

    assert_error(client.post(f"{url}/restore", headers=auth(world.member_key)), 403, "forbidden")
    restored = client.post(f"{url}/restore", headers=auth(key))
    assert restored.status_code == 200, restored.text
    assert restored.json()["data"]["segment_id"] == segment_id
    assert _served(client, world) == world.segment_ids
    assert_error(client.post(f"{url}/restore", headers=auth(key)), 409, "conflict")
    later = _feed(client, world.member_key, cursor=page["next_cursor"])
    assert [e["type"] for e in later["data"]] == ["segment.restored"]
    nothing = _feed(client, world.member_key, cursor=later["next_cursor"])
    assert nothing["data"] == [] and nothing["next_cursor"] == later["next_cursor"]


def test_revisions_show_before_and_after_and_one_restores_in_one_call(
    client: TestClient, service: Service, world: World
) -> None:
    key = service.create_key(SYSTEM, world.in_charge_id, "lead")[1]
    url = f"/api/v1/brands/{world.brand_id}/segments/{world.segment_ids[0]}"
    client.patch(url, json={"segment_tone": "warm"}, headers=auth(key))
    response = client.get(f"{url}/revisions", headers=auth(world.member_key))
    assert response.status_code == 200
    updated, created = response.json()["data"]
    assert updated["action"] == "updated" and updated["actor"] == world.in_charge_id
    assert updated["before"]["segment_tone"] == SEED_SEGMENT["segment_tone"]
    assert updated["after"]["segment_tone"] == "warm"
    assert created["before"] is None and created["after"]["segment_tone"] != "warm"

    again = client.post(f"{url}/revisions/{created['revision_id']}/restore", headers=auth(key))
    assert again.status_code == 200, again.text
    assert again.json()["data"]["segment_tone"] == SEED_SEGMENT["segment_tone"]
    first = client.get(f"{url}/revisions", params={"limit": 1}, headers=auth(key)).json()
    assert first["data"][0]["action"] == "reverted" and first["next_cursor"]
    rest = client.get(
        f"{url}/revisions", params={"limit": 5, "cursor": first["next_cursor"]}, headers=auth(key)
    ).json()
    assert [r["action"] for r in rest["data"]] == ["updated", "created"]
    assert rest["next_cursor"] is None
    missing = client.post(f"{url}/revisions/rev_nothing/restore", headers=auth(key))
    assert_error(missing, 404, "not_found")
    bad = client.get(f"{url}/revisions", params={"cursor": "xyz"}, headers=auth(key))
    assert_error(bad, 400, "invalid_parameter")


def test_pages_filters_and_every_role_but_no_other_organization(
    client: TestClient, service: Service, world: World
) -> None:
    other = make_world(service, segments=1)
    service.delete_segment(SYSTEM, world.segment_ids[2])
    everything = _feed(client, world.owner_key, limit=500)["data"]
    assert {e["org_id"] for e in everything} == {world.org_id}
    assert len(everything) == 8  # two brands, two keys, three segments, one deletion
    for key in (world.member_key, world.owner_key):
        assert _feed(client, key, limit=500)["data"] == everything
    collected: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = _feed(client, world.member_key, limit=4, **({"cursor": cursor} if cursor else {}))
        collected += page["data"]
        cursor = page["next_cursor"]
        if not page["data"]:
            break
    assert collected == everything

    deleted = _feed(client, world.member_key, type="segment.deleted")["data"]
    assert [e["type"] for e in deleted] == ["segment.deleted"]
    two = _feed(client, world.member_key, type=["segment.deleted", "brand.created"])["data"]
    assert [e["type"] for e in two] == ["brand.created", "brand.created", "segment.deleted"]
    empty_brand = _feed(client, world.member_key, brand_id=world.empty_brand_id)["data"]
    assert [e["type"] for e in empty_brand] == ["brand.created"]
    theirs = _feed(client, other.member_key, limit=500)["data"]
    assert theirs and {e["org_id"] for e in theirs} == {other.org_id}

    trash = client.get(f"/api/v1/brands/{world.brand_id}/trash", headers=auth(other.owner_key))
    assert_error(trash, 404, "brand_not_found")
    url = f"/api/v1/brands/{other.brand_id}/segments/{world.segment_ids[2]}"
    assert_error(client.get(f"{url}/revisions", headers=auth(other.owner_key)), 404, "not_found")
    assert_error(client.post(f"{url}/restore", headers=auth(other.owner_key)), 404, "not_found")
    for params, code in (
        ({"type": "segment.exploded"}, "invalid_parameter"),
        ({"cursor": "???"}, "invalid_parameter"),
        ({"limit": 0}, "invalid_request"),
    ):
        response = client.get("/api/v1/events", params=params, headers=auth(world.member_key))
        assert_error(response, 400, code)


def test_the_openapi_document_describes_every_new_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    expected = {
        "/api/v1/events": ["get"],
        "/api/v1/brands/{brand_id}/trash": ["get"],
        "/api/v1/brands/{brand_id}/segments/{segment_id}/restore": ["post"],
        "/api/v1/brands/{brand_id}/segments/{segment_id}/revisions": ["get"],
        "/api/v1/brands/{brand_id}/segments/{segment_id}/revisions/{revision_id}/restore": ["post"],
    }
    for path, methods in expected.items():
        for method in methods:
            operation = paths[path][method]
            assert operation["summary"]
            assert "200" in operation["responses"] and "404" in operation["responses"]
    feed = paths["/api/v1/events"]["get"]
    assert {p["name"] for p in feed["parameters"]} >= {"cursor", "limit", "type", "brand_id"}


def _served_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(path, method) of every API route under `routes`, through included routers (FastAPI
    keeps an included router's routes and its prefix apart)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _served_routes(inner.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            for method in route.methods - {"HEAD"}:
                yield prefix + route.path, method.lower()


def test_the_openapi_document_describes_every_route_the_app_serves(client: TestClient) -> None:
    """Not a list kept by hand: every method of every /api/v1 route the app routes, the
    webhook routes among them, is in /openapi.json with a summary, its success answer and
    the error answers."""
    paths = client.get("/openapi.json").json()["paths"]
    app: Any = client.app
    served = [r for r in _served_routes(app.fastapi.routes) if r[0].startswith("/api/v1/")]
    assert ("/api/v1/webhooks/{webhook_id}/rotate-secret", "post") in served
    assert len(served) >= 30, served
    for path, method in served:
        operation = paths[path][method]
        assert operation["summary"], (path, method)
        answers = set(operation["responses"])
        assert answers & {"200", "201", "202", "204"}, (path, method)
        assert {"400", "401", "403", "404"} <= answers, (path, method)
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    created = paths["/api/v1/webhooks"]["post"]["responses"]["201"]["content"]
    name = created["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    data = schemas[name]["properties"]["data"]["$ref"].rsplit("/", 1)[1]
    assert "secret" in schemas[data]["properties"], "the create answer documents the secret"
