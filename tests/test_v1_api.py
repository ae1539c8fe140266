"""The management API v1 over SQLite and PostgreSQL: auth, roles, tenancy, pages, ETags,
writes, Idempotency-Key, and the SPEC's error body on every error path."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import SEED_SEGMENT, World, make_world
from tests.helpers import LONG_AGO, PATH, backdate
from zyntro.domain import format_timestamp
from zyntro.service import SYSTEM, Service


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["status", "message", "code"]
    assert body["status"] == "error" and body["code"] == code and body["message"]
    assert response.headers["content-type"] == "application/json; charset=utf-8"


@pytest.fixture
def in_charge_key(service: Service, world: World) -> str:
    return service.create_key(SYSTEM, world.in_charge_id, "lead key")[1]


def segments_url(brand_id: str) -> str:
    return f"/api/v1/brands/{brand_id}/segments"


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer zk_not_a_real_key"},
        {"X-API-Key": "zk_not_a_real_key"},
    ],
)
def test_a_key_is_required(client: TestClient, world: World, headers: dict[str, str]) -> None:
    for path in ("/api/v1/brands", segments_url(world.brand_id)):
        assert_error(client.get(path, headers=headers), 401, "invalid_api_key")
    response = client.post(segments_url(world.brand_id), headers=headers, json=SEED_SEGMENT)
    assert_error(response, 401, "invalid_api_key")


def test_revoked_key_and_deactivated_member_are_refused(
    client: TestClient, service: Service, world: World
) -> None:
    assert client.get("/api/v1/brands", headers=auth(world.member_key)).status_code == 200
    service.deactivate_member(SYSTEM, world.member_id)
    assert_error(
        client.get("/api/v1/brands", headers=auth(world.member_key)), 401, "invalid_api_key"
    )
    key_id = service.list_keys(SYSTEM, world.owner_id)[0].id
    service.revoke_key(SYSTEM, key_id)
    assert_error(
        client.get("/api/v1/brands", headers=auth(world.owner_key)), 401, "invalid_api_key"
    )


# --- brands --------------------------------------------------------------------------------


def test_list_brands_of_the_keys_organization(
    client: TestClient, service: Service, world: World
) -> None:
    make_world(service, segments=0)  # another organization
    response = client.get("/api/v1/brands", headers=auth(world.member_key))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert sorted(b["brand_id"] for b in body["data"]) == sorted(
        [world.brand_id, world.empty_brand_id]
    )
    assert set(body["data"][0]) == {"brand_id", "org_id", "name", "created_at", "profile"}
    assert {b["org_id"] for b in body["data"]} == {world.org_id}
    assert "x-request-id" in response.headers
    one = client.get(f"/api/v1/brands/{world.brand_id}", headers=auth(world.member_key))
    assert one.json()["data"]["name"] == "Brand"


def test_another_organizations_brand_is_not_found(
    client: TestClient, service: Service, world: World
) -> None:
    other = make_world(service, segments=1)
    key = auth(world.owner_key)
    assert_error(
        client.get(f"/api/v1/brands/{other.brand_id}", headers=key), 404, "brand_not_found"
    )
    assert_error(client.get(segments_url(other.brand_id), headers=key), 404, "brand_not_found")
    response = client.post(segments_url(other.brand_id), headers=key, json=SEED_SEGMENT)
    assert_error(response, 404, "brand_not_found")
    seg = other.segment_ids[0]
    assert_error(
        client.delete(f"{segments_url(other.brand_id)}/{seg}", headers=key), 404, "brand_not_found"
    )
    # Through our own brand's path, the other organization's segment is not found either.
    assert_error(client.get(f"{segments_url(world.brand_id)}/{seg}", headers=key), 404, "not_found")
    assert len(service.list_segments(SYSTEM, other.brand_id)) == 1


# --- listing segments ----------------------------------------------------------------------


def test_pages_follow_the_fetch_audiences_order(
    client: TestClient, service: Service, world: World
) -> None:
    actor = service.act_as(world.in_charge_id)
    for n in range(4):
        service.add_segment(actor, world.brand_id, {**SEED_SEGMENT, "segment_label": f"More {n}"})
    expected = client.post(PATH, json=world.body()).json()["data"]
    assert len(expected) == 7
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = client.get(
            segments_url(world.brand_id), params=params, headers=auth(world.member_key)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == ["status", "data", "next_cursor"]
        seen.extend(body["data"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == expected


def test_default_page_and_empty_brand(client: TestClient, world: World) -> None:
    full = client.get(segments_url(world.brand_id), headers=auth(world.member_key)).json()
    assert len(full["data"]) == 3 and full["next_cursor"] is None
    empty = client.get(segments_url(world.empty_brand_id), headers=auth(world.member_key))
    assert empty.status_code == 200
    assert empty.json() == {"status": "success", "data": [], "next_cursor": None}


@pytest.mark.parametrize("limit", ["0", "501", "-1", "many"])
def test_limit_is_1_to_500(client: TestClient, world: World, limit: str) -> None:
    response = client.get(
        segments_url(world.brand_id), params={"limit": limit}, headers=auth(world.owner_key)
    )
    assert_error(response, 400, "invalid_request")
    assert "limit" in response.json()["message"]


def test_limit_500_is_fine(client: TestClient, world: World) -> None:
    response = client.get(
        segments_url(world.brand_id), params={"limit": 500}, headers=auth(world.owner_key)
    )
    assert response.status_code == 200


def test_bad_and_foreign_cursors(client: TestClient, world: World) -> None:
    key = auth(world.owner_key)
    for cursor in ("garbage!", "W10", "eyJhIjoxfQ"):
        response = client.get(segments_url(world.brand_id), params={"cursor": cursor}, headers=key)
        assert_error(response, 400, "invalid_parameter")
        assert response.json()["message"].startswith("The field cursor ")
    first = client.get(segments_url(world.brand_id), params={"limit": 1}, headers=key).json()
    other_filters = client.get(
        segments_url(world.brand_id),
        params={"limit": 1, "cursor": first["next_cursor"], "segment_type": "demographic"},
        headers=key,
    )
    assert_error(other_filters, 400, "invalid_parameter")


def test_filters(client: TestClient, service: Service, world: World) -> None:
    key = auth(world.member_key)
    actor = service.act_as(world.in_charge_id)
    odd = service.add_segment(actor, world.brand_id, {**SEED_SEGMENT, "segment_type": "lifecycle"})
    by_type = client.get(
        segments_url(world.brand_id), params={"segment_type": "lifecycle"}, headers=key
    ).json()
    assert [s["segment_id"] for s in by_type["data"]] == [odd.id]
    backdate(service, [*world.segment_ids, odd.id])
    edited = service.update_segment(actor, world.segment_ids[0], {"segment_tone": "warm"})
    since = edited.updated_at.isoformat()
    recent = client.get(
        segments_url(world.brand_id), params={"updated_since": since}, headers=key
    ).json()
    assert [s["segment_id"] for s in recent["data"]] == [world.segment_ids[0]]
    earlier = format_timestamp(LONG_AGO - timedelta(days=1))
    everything = client.get(
        segments_url(world.brand_id), params={"updated_since": earlier}, headers=key
    )
    assert len(everything.json()["data"]) == 4
    bad = client.get(
        segments_url(world.brand_id), params={"updated_since": "yesterday"}, headers=key
    )
    assert_error(bad, 400, "invalid_parameter")


def test_etag_and_if_none_match(client: TestClient, service: Service, world: World) -> None:
    key = auth(world.member_key)
    first = client.get(segments_url(world.brand_id), headers=key)
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"] == "private, no-cache"
    for sent in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        again = client.get(segments_url(world.brand_id), headers={**key, "If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.content == b"" and again.headers["etag"] == etag
    stale = client.get(segments_url(world.brand_id), headers={**key, "If-None-Match": '"old"'})
    assert stale.status_code == 200
    service.update_segment(
        service.act_as(world.owner_id), world.segment_ids[2], {"segment_tag": "changed"}
    )
    changed = client.get(segments_url(world.brand_id), headers={**key, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    brands = client.get("/api/v1/brands", headers=key)
    repeat = client.get("/api/v1/brands", headers={**key, "If-None-Match": brands.headers["etag"]})
    assert repeat.status_code == 304


# --- writing segments ----------------------------------------------------------------------


def test_create_segment_and_fetch_it(client: TestClient, world: World, in_charge_key: str) -> None:
    values = {**SEED_SEGMENT, "segment_label": "From the API"}
    response = client.post(segments_url(world.brand_id), headers=auth(in_charge_key), json=values)
    assert response.status_code == 201, response.text
    created = response.json()["data"]
    assert {k: created[k] for k in values} == values
    assert created["initiated_by"] == world.in_charge_id
    assert response.headers["location"] == f"{segments_url(world.brand_id)}/{created['segment_id']}"
    fetched = client.post(PATH, json=world.body()).json()["data"]
    assert fetched[-1] == created
    one = client.get(response.headers["location"], headers=auth(world.member_key))
    assert one.json()["data"] == created


def test_create_with_only_the_required_fields(
    client: TestClient, world: World, in_charge_key: str
) -> None:
    response = client.post(
        segments_url(world.brand_id),
        headers=auth(in_charge_key),
        json={"segment_label": "Minimal", "segment_type": "geographic"},
    )
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["segment_tag"] == "" and data["segment_pain_points"] == []
    assert data["reasoning"] == ""


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"segment_type": "demographic"}, 400, "invalid_request"),  # no label
        ({**SEED_SEGMENT, "surprise": 1}, 400, "invalid_request"),  # unknown field
        ({**SEED_SEGMENT, "segment_label": 7}, 400, "invalid_request"),  # not a string
        ({**SEED_SEGMENT, "segment_pain_points": "one"}, 400, "invalid_request"),
        ({**SEED_SEGMENT, "segment_type": "Not Snake"}, 400, "invalid_parameter"),
        ({**SEED_SEGMENT, "segment_label": ""}, 400, "invalid_parameter"),
        ({**SEED_SEGMENT, "reasoning": "r" * 4001}, 400, "invalid_parameter"),
        ({**SEED_SEGMENT, "segment_use_cases": ["u"] * 51}, 400, "invalid_parameter"),
    ],
)
def test_create_refuses_bad_segments(
    client: TestClient,
    service: Service,
    world: World,
    in_charge_key: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = client.post(segments_url(world.brand_id), headers=auth(in_charge_key), json=body)
    assert_error(response, status, code)
    assert len(service.list_segments(SYSTEM, world.brand_id)) == 3


def test_malformed_json_body(client: TestClient, world: World, in_charge_key: str) -> None:
    response = client.post(
        segments_url(world.brand_id),
        headers={**auth(in_charge_key), "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert_error(response, 400, "invalid_request")


def test_plain_members_cannot_write(client: TestClient, service: Service, world: World) -> None:
    key = auth(world.member_key)
    seg = f"{segments_url(world.brand_id)}/{world.segment_ids[0]}"
    assert_error(
        client.post(segments_url(world.brand_id), headers=key, json=SEED_SEGMENT), 403, "forbidden"
    )
    assert_error(client.patch(seg, headers=key, json={"segment_tone": "x"}), 403, "forbidden")
    assert_error(client.delete(seg, headers=key), 403, "forbidden")
    idempotent = client.post(
        segments_url(world.brand_id),
        headers={**key, "Idempotency-Key": "k1"},
        json=SEED_SEGMENT,
    )
    assert_error(idempotent, 403, "forbidden")
    assert len(service.list_segments(SYSTEM, world.brand_id)) == 3


def test_patch_changes_only_what_is_sent(
    client: TestClient, service: Service, world: World, in_charge_key: str
) -> None:
    seg = world.segment_ids[1]
    backdate(service, [seg])
    before = service.get_segment(SYSTEM, seg)
    response = client.patch(
        f"{segments_url(world.brand_id)}/{seg}",
        headers=auth(in_charge_key),
        json={"segment_tone": "warm_direct", "segment_tag": None},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["segment_tone"] == "warm_direct" and data["segment_tag"] == ""
    assert data["segment_label"] == before.segment_label
    assert data["segment_pain_points"] == list(before.segment_pain_points)
    assert data["created_at"] == format_timestamp(before.created_at)
    assert service.get_segment(SYSTEM, seg).updated_at > before.updated_at


def test_patch_errors(client: TestClient, world: World, in_charge_key: str) -> None:
    key = auth(in_charge_key)
    seg = f"{segments_url(world.brand_id)}/{world.segment_ids[0]}"
    assert_error(client.patch(seg, headers=key, json={}), 400, "invalid_parameter")
    assert_error(
        client.patch(seg, headers=key, json={"segment_label": None}), 400, "invalid_parameter"
    )
    assert_error(client.patch(seg, headers=key, json={"nope": 1}), 400, "invalid_request")
    wrong_brand = f"{segments_url(world.empty_brand_id)}/{world.segment_ids[0]}"
    assert_error(
        client.patch(wrong_brand, headers=key, json={"segment_tone": "x"}), 404, "not_found"
    )
    missing = f"{segments_url(world.brand_id)}/seg_missing"
    assert_error(client.patch(missing, headers=key, json={"segment_tone": "x"}), 404, "not_found")


def test_delete(client: TestClient, service: Service, world: World, in_charge_key: str) -> None:
    seg = f"{segments_url(world.brand_id)}/{world.segment_ids[0]}"
    response = client.delete(seg, headers=auth(in_charge_key))
    assert response.status_code == 204 and response.content == b""
    assert_error(client.delete(seg, headers=auth(in_charge_key)), 404, "not_found")
    assert len(client.post(PATH, json=world.body()).json()["data"]) == 2


# --- Idempotency-Key -----------------------------------------------------------------------


def test_idempotency_key_replays_the_first_response(
    client: TestClient, service: Service, world: World, in_charge_key: str
) -> None:
    headers = {**auth(in_charge_key), "Idempotency-Key": "order-4711"}
    first = client.post(segments_url(world.brand_id), headers=headers, json=SEED_SEGMENT)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    second = client.post(segments_url(world.brand_id), headers=headers, json=SEED_SEGMENT)
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    assert len(service.list_segments(SYSTEM, world.brand_id)) == 4
    # The same key with another body is a mistake, not a new segment.
    other = client.post(
        segments_url(world.brand_id), headers=headers, json={**SEED_SEGMENT, "segment_tone": "x"}
    )
    assert_error(other, 409, "conflict")
    # Keys belong to the member: another member's identical key is their own.
    owner = client.post(
        segments_url(world.brand_id),
        headers={**auth(world.owner_key), "Idempotency-Key": "order-4711"},
        json=SEED_SEGMENT,
    )
    assert owner.status_code == 201 and "idempotent-replayed" not in owner.headers
    assert len(service.list_segments(SYSTEM, world.brand_id)) == 5


def test_failed_requests_do_not_use_up_the_key(
    client: TestClient, service: Service, world: World, in_charge_key: str
) -> None:
    headers = {**auth(in_charge_key), "Idempotency-Key": "retry-me"}
    bad = client.post(
        segments_url(world.brand_id), headers=headers, json={**SEED_SEGMENT, "segment_type": "X"}
    )
    assert_error(bad, 400, "invalid_parameter")
    good = client.post(segments_url(world.brand_id), headers=headers, json=SEED_SEGMENT)
    assert good.status_code == 201 and "idempotent-replayed" not in good.headers


def test_idempotency_key_rules(client: TestClient, world: World, in_charge_key: str) -> None:
    too_long = {**auth(in_charge_key), "Idempotency-Key": "k" * 201}
    response = client.post(segments_url(world.brand_id), headers=too_long, json=SEED_SEGMENT)
    assert_error(response, 400, "invalid_request")


def test_concurrent_retries_create_one_segment(
    service: Service, world: World, in_charge_key: str
) -> None:
    actor = service.principal_for_key(in_charge_key).actor
    results: list[tuple[dict[str, Any], bool]] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            results.append(service.add_segment_once(actor, world.brand_id, SEED_SEGMENT, "race"))
        except BaseException as exc:  # collected; the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len({public["segment_id"] for public, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False, True, True, True]
    assert len(service.list_segments(SYSTEM, world.brand_id)) == 4


def test_old_idempotency_keys_expire(
    service: Service, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor = service.act_as(world.in_charge_id)
    first, _ = service.add_segment_once(actor, world.brand_id, SEED_SEGMENT, "daily")
    monkeypatch.setattr(Service, "IDEMPOTENCY_TTL", timedelta(0))
    again, replayed = service.add_segment_once(actor, world.brand_id, SEED_SEGMENT, "daily")
    assert not replayed and again["segment_id"] != first["segment_id"]


# --- the OpenAPI document ------------------------------------------------------------------


def test_openapi_describes_v1(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths["/api/v1/brands/{brand_id}/segments"]) == {"get", "post"}
    assert set(paths["/api/v1/brands/{brand_id}/segments/{segment_id}"]) == {
        "get",
        "patch",
        "delete",
    }
    listing = paths["/api/v1/brands/{brand_id}/segments"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "limit",
        "cursor",
        "segment_type",
        "updated_since",
    }
    create = paths["/api/v1/brands/{brand_id}/segments"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    assert {"400", "401", "403", "404", "409"} <= set(create["responses"])
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
