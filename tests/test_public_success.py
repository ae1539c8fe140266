"""The success answer of SPEC §2: encodings, header keys, the seed's shape and order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from tests.conftest import SEED_SEGMENT, World, make_world
from tests.helpers import (
    LIST_KEYS,
    PATH,
    SEGMENT_KEYS,
    TIMESTAMP,
    assert_public_headers,
    backdate,
    success_message,
)
from zyntro.domain import SEGMENT_FIELDS
from zyntro.service import SYSTEM, Service


def _assert_success(response: Any, count: int) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert_public_headers(response)
    body = response.json()
    assert list(body) == ["status", "message", "data"]
    assert body["status"] == "success"
    assert body["message"] == success_message(count)
    assert isinstance(body["data"], list) and len(body["data"]) == count
    return body["data"]  # type: ignore[no-any-return]


def _multipart(body: dict[str, object]) -> dict[str, tuple[None, str]]:
    return {name: (None, str(value)) for name, value in body.items()}


# --- encodings and where the key comes from --------------------------------------------------


def test_json_body(client: TestClient, world: World) -> None:
    _assert_success(client.post(PATH, json=world.body()), 3)


def test_json_with_charset(client: TestClient, world: World) -> None:
    response = client.post(
        PATH,
        content=orjson.dumps(world.body()),
        headers={"content-type": "application/json; charset=UTF-8"},
    )
    _assert_success(response, 3)


def test_body_without_content_type_is_json(client: TestClient, world: World) -> None:
    response = client.post(PATH, content=orjson.dumps(world.body()))
    assert "content-type" not in response.request.headers
    _assert_success(response, 3)


def test_form_urlencoded_body(client: TestClient, world: World) -> None:
    response = client.post(PATH, data=world.body())
    assert response.request.headers["content-type"] == "application/x-www-form-urlencoded"
    _assert_success(response, 3)


def test_multipart_body(client: TestClient, world: World) -> None:
    response = client.post(PATH, files=_multipart(world.body()))
    assert response.request.headers["content-type"].startswith("multipart/form-data; boundary=")
    _assert_success(response, 3)


def test_all_encodings_give_the_same_answer(client: TestClient, world: World) -> None:
    answers = {
        client.post(PATH, json=world.body()).content,
        client.post(PATH, data=world.body()).content,
        client.post(PATH, files=_multipart(world.body())).content,
    }
    assert len(answers) == 1


def _without_key(world: World) -> dict[str, object]:
    body = world.body()
    del body["api_key"]
    return body


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_key_in_authorization_bearer(client: TestClient, world: World, scheme: str) -> None:
    headers = {"authorization": f"{scheme} {world.owner_key}"}
    _assert_success(client.post(PATH, json=_without_key(world), headers=headers), 3)


def test_key_in_x_api_key(client: TestClient, world: World) -> None:
    headers = {"x-api-key": world.owner_key}
    _assert_success(client.post(PATH, json=_without_key(world), headers=headers), 3)


def test_header_key_with_an_empty_body_key(client: TestClient, world: World) -> None:
    headers = {"x-api-key": world.owner_key}
    _assert_success(client.post(PATH, data=world.body(api_key=""), headers=headers), 3)


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_header_key_and_the_same_body_key(client: TestClient, world: World, header: str) -> None:
    value = f"Bearer {world.owner_key}" if header == "authorization" else world.owner_key
    _assert_success(client.post(PATH, json=world.body(), headers={header: value}), 3)


def test_both_headers_with_the_same_key(client: TestClient, world: World) -> None:
    headers = {"authorization": f"Bearer {world.owner_key}", "x-api-key": world.owner_key}
    _assert_success(client.post(PATH, json=_without_key(world), headers=headers), 3)


def test_header_key_with_form_and_multipart(client: TestClient, world: World) -> None:
    headers = {"authorization": f"Bearer {world.owner_key}"}
    _assert_success(client.post(PATH, data=_without_key(world), headers=headers), 3)
    _assert_success(client.post(PATH, files=_multipart(_without_key(world)), headers=headers), 3)


def test_a_plain_members_key_reads(client: TestClient, world: World) -> None:
    _assert_success(client.post(PATH, json=world.body(api_key=world.member_key)), 3)


def test_unknown_extra_fields_are_ignored(client: TestClient, world: World) -> None:
    plain = client.post(PATH, json=world.body()).content
    extra = world.body(
        extra="x", nested={"api_key": "zk_nope"}, list=[1, None], status="error", data=None
    )
    response = client.post(PATH, json=extra)
    _assert_success(response, 3)
    assert response.content == plain
    response = client.post(PATH, data={**world.body(), "utm_source": "newsletter"})
    assert response.content == plain


# --- the shape of a segment ------------------------------------------------------------------


def test_segments_have_the_seed_fields_in_order(client: TestClient, world: World) -> None:
    for item in _assert_success(client.post(PATH, json=world.body()), 3):
        assert list(item) == SEGMENT_KEYS
    assert list(SEGMENT_FIELDS) == SEGMENT_KEYS


def test_segment_values_and_types(client: TestClient, world: World) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    data = _assert_success(client.post(PATH, json=world.body()), 3)
    assert {item["segment_id"] for item in data} == set(world.segment_ids)
    for item in data:
        for key, value in item.items():
            assert value is not None, key
            if key in LIST_KEYS:
                assert isinstance(value, list) and all(isinstance(v, str) for v in value)
            else:
                assert isinstance(value, str), key
        assert item["initiated_by"] == world.in_charge_id
        for field in ("segment_tag", "segment_type", "segment_decision_drivers"):
            assert item[field] == SEED_SEGMENT[field]
        for field in ("segment_pain_points", "segment_use_cases", "segment_tone", "reasoning"):
            assert item[field] == SEED_SEGMENT[field]
        for field in ("created_at", "updated_at"):
            assert TIMESTAMP.fullmatch(item[field]), item[field]
            moment = datetime.strptime(item[field], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            assert abs((moment - before).total_seconds()) < 60  # UTC, not local time
    assert sorted(item["segment_label"] for item in data) == [
        "Segment 0",
        "Segment 1",
        "Segment 2",
    ]


def test_unset_fields_are_empty_never_null(
    client: TestClient, service: Service, world: World
) -> None:
    actor = service.act_as(world.in_charge_id)
    values = {"segment_label": "Bare", "segment_type": "lifecycle"}
    bare = service.add_segment(actor, world.empty_brand_id, values)
    data = _assert_success(client.post(PATH, json=world.body(brand_id=world.empty_brand_id)), 1)
    assert data == [
        {
            "segment_id": bare.id,
            "created_at": data[0]["created_at"],
            "updated_at": data[0]["created_at"],
            "initiated_by": world.in_charge_id,
            "segment_label": "Bare",
            "segment_tag": "",
            "segment_type": "lifecycle",
            "segment_decision_drivers": "",
            "segment_pain_points": [],
            "segment_use_cases": [],
            "segment_tone": "",
            "reasoning": "",
        }
    ]


def test_text_survives_as_given(client: TestClient, service: Service, world: World) -> None:
    actor = service.act_as(world.in_charge_id)
    values = {
        "segment_label": 'Ünïcode, "quotes", emoji 🎯 and <tags>',
        "segment_type": "psychographic",
        "segment_pain_points": ["a, with comma", "слово", "x" * 200],
        "segment_use_cases": ["line\nbreak"],
        "reasoning": "r" * 4000,
    }
    service.add_segment(actor, world.empty_brand_id, values)
    data = _assert_success(client.post(PATH, json=world.body(brand_id=world.empty_brand_id)), 1)
    for key, value in values.items():
        assert data[0][key] == value


# --- message and order -----------------------------------------------------------------------


def test_one_segment_reads_singular(client: TestClient, service: Service) -> None:
    one = make_world(service, segments=1)
    _assert_success(client.post(PATH, json=one.body()), 1)


def test_message_counts_the_segments(client: TestClient, service: Service, world: World) -> None:
    service.delete_segment(SYSTEM, world.segment_ids[0])
    _assert_success(client.post(PATH, json=world.body()), 2)
    service.add_segment(
        service.act_as(world.in_charge_id), world.brand_id, {**SEED_SEGMENT, "segment_label": "4"}
    )
    service.add_segment(
        service.act_as(world.in_charge_id), world.brand_id, {**SEED_SEGMENT, "segment_label": "5"}
    )
    _assert_success(client.post(PATH, json=world.body()), 4)


def test_order_is_created_at_then_segment_id(
    client: TestClient, service: Service, world: World
) -> None:
    rows = [
        {**SEED_SEGMENT, "segment_id": sid, "created_at": at, "updated_at": "2025-06-01 00:00:00"}
        for sid, at in [
            ("seg_b", "2025-01-02 00:00:00"),
            ("seg_c", "2025-01-01 00:00:00"),
            ("seg_a", "2025-01-02 00:00:00"),
            ("seg_0", "2025-01-03 00:00:00"),
            ("seg_d", "2025-01-01 23:59:59"),
        ]
    ]
    service.import_segments(service.act_as(world.in_charge_id), world.empty_brand_id, rows)
    data = _assert_success(client.post(PATH, json=world.body(brand_id=world.empty_brand_id)), 5)
    served = [(item["created_at"], item["segment_id"]) for item in data]
    assert served == sorted((row["created_at"], row["segment_id"]) for row in rows)
    assert [item["segment_id"] for item in data] == ["seg_c", "seg_d", "seg_a", "seg_b", "seg_0"]


def test_order_of_created_segments(client: TestClient, service: Service, world: World) -> None:
    data = _assert_success(client.post(PATH, json=world.body()), 3)
    served = [(item["created_at"], item["segment_id"]) for item in data]
    assert served == sorted(served)


# --- edits are seen --------------------------------------------------------------------------


def test_an_edit_shows_new_values_and_updated_at(
    client: TestClient, service: Service, world: World
) -> None:
    target = world.segment_ids[1]
    backdate(service, [target], datetime(2020, 1, 1, tzinfo=UTC))
    before = {i["segment_id"]: i for i in client.post(PATH, json=world.body()).json()["data"]}
    assert before[target]["updated_at"] == "2020-01-01 00:00:00"

    actor = service.act_as(world.in_charge_id)
    service.update_segment(
        actor, target, {"segment_tone": "playful", "segment_pain_points": ["one"]}
    )
    data = _assert_success(client.post(PATH, json=world.body()), 3)
    after = {item["segment_id"]: item for item in data}
    assert after[target]["segment_tone"] == "playful"
    assert after[target]["segment_pain_points"] == ["one"]
    assert after[target]["created_at"] == "2020-01-01 00:00:00"
    assert after[target]["updated_at"] > "2020-01-01 00:00:00"
    unchanged = {k: v for k, v in after[target].items() if k not in ("updated_at",)}
    assert unchanged == {
        **{k: v for k, v in before[target].items() if k != "updated_at"},
        "segment_tone": "playful",
        "segment_pain_points": ["one"],
    }
    for other in set(world.segment_ids) - {target}:
        assert after[other] == before[other]


def test_added_and_deleted_segments_are_seen(
    client: TestClient, service: Service, world: World
) -> None:
    client.post(PATH, json=world.body())  # warm whatever may be cached
    actor = service.act_as(world.in_charge_id)
    added = service.add_segment(actor, world.brand_id, {**SEED_SEGMENT, "segment_label": "New"})
    data = _assert_success(client.post(PATH, json=world.body()), 4)
    assert added.id in [item["segment_id"] for item in data]
    service.delete_segment(actor, world.segment_ids[0])
    data = _assert_success(client.post(PATH, json=world.body()), 3)
    assert world.segment_ids[0] not in [item["segment_id"] for item in data]
