"""SPEC §2's error table, row by row and in its order, with the one error body."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import orjson
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from tests.conftest import World, make_world
from tests.helpers import PARAMETERS, PATH, assert_error, assert_public_headers
from zyntro import keys
from zyntro.api.app import create_app
from zyntro.domain import utcnow
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings
from zyntro.store.hot import HotReader
from zyntro.store.tables import api_keys

MAX_BODY = 16 * 1024


def _padded(world: World, size: int) -> bytes:
    """A valid request body of exactly `size` bytes (an ignored field pads it)."""
    base = orjson.dumps({**world.body(), "padding": ""})
    body = orjson.dumps({**world.body(), "padding": "x" * (size - len(base))})
    assert len(body) == size
    return body


# --- 405 method_not_allowed ------------------------------------------------------------------


def test_any_method_but_post_is_405_with_allow(client: TestClient, subtests: Any) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
        with subtests.test(method=method):
            response = client.request(method, PATH)
            assert_error(response, 405, "method_not_allowed")
            assert response.headers["allow"] == "POST"


def test_head_is_405_with_allow_and_no_body(client: TestClient) -> None:
    response = client.head(PATH)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.content == b""
    assert_public_headers(response)


def test_method_is_checked_before_the_body(client: TestClient) -> None:
    response = client.put(PATH, content=b"x" * (MAX_BODY * 2), headers={"content-type": "text/a"})
    assert_error(response, 405, "method_not_allowed")


# --- 413 payload_too_large -------------------------------------------------------------------


def test_body_over_16_kib_is_413(client: TestClient, world: World) -> None:
    response = client.post(
        PATH, content=_padded(world, MAX_BODY + 1), headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


def test_body_of_exactly_16_kib_is_accepted(client: TestClient, world: World) -> None:
    response = client.post(
        PATH, content=_padded(world, MAX_BODY), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text


def test_declared_content_length_over_16_kib_is_413(client: TestClient, world: World) -> None:
    response = client.post(
        PATH,
        content=orjson.dumps(world.body()),
        headers={"content-type": "application/json", "content-length": str(MAX_BODY + 1)},
    )
    assert_error(response, 413, "payload_too_large")


def test_chunked_body_over_16_kib_is_413(client: TestClient, world: World) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 1024  # whitespace: valid JSON padding, were it ever parsed
        yield orjson.dumps(world.body())

    response = client.post(PATH, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")


def test_oversized_stream_is_refused_while_reading(client: TestClient) -> None:
    """The cap is enforced as the body arrives: an endless body is not read to its end."""
    app: Any = client.app
    received = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b" " * 1024, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
    }
    anyio.run(app, scope, receive, send)
    assert sent[0]["status"] == 413
    assert orjson.loads(sent[1]["body"])["code"] == "payload_too_large"
    assert received <= MAX_BODY // 1024 + 1


@pytest.mark.parametrize("path", [PATH, "/api/v1/brands/x/segments"])
def test_an_absurdly_long_content_length_is_413_not_500(client: TestClient, path: str) -> None:
    """A Content-Length of 5,000 digits (more than int() takes) is simply too large."""
    app: Any = client.app
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"9" * 5000)],
        "query_string": b"",
    }
    anyio.run(app, scope, receive, send)
    assert sent[0]["status"] == 413
    assert orjson.loads(sent[1]["body"])["code"] == "payload_too_large"


def test_size_is_checked_before_the_content_type(client: TestClient) -> None:
    response = client.post(
        PATH, content=b"x" * (MAX_BODY + 1), headers={"content-type": "text/plain"}
    )
    assert_error(response, 413, "payload_too_large")


# --- 415 unsupported_media_type --------------------------------------------------------------


def test_other_content_types_are_415(client: TestClient, world: World, subtests: Any) -> None:
    for content_type in (
        "text/plain",
        "application/xml",
        "text/html",
        "application/octet-stream",
        "text/json",
    ):
        with subtests.test(content_type=content_type):
            response = client.post(
                PATH, content=orjson.dumps(world.body()), headers={"content-type": content_type}
            )
            assert_error(response, 415, "unsupported_media_type")


def test_content_type_is_checked_before_json(client: TestClient) -> None:
    response = client.post(PATH, content=b"{not json", headers={"content-type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")


# --- 400 invalid_json ------------------------------------------------------------------------

BROKEN_JSON = [
    b"",
    b"{",
    b'{"api_key": }',
    b"{'api_key': 'single quotes'}",
    b"[]",
    b'["api_key", "org_id", "brand_id"]',
    b'"a string"',
    b"42",
    b"1.5",
    b"null",
    b"true",
    b"\xff\xfe{}",
    b'{"api_key": "\xff\xfe", "org_id": "o", "brand_id": "b"}',
]


@pytest.mark.parametrize("content_type", ["application/json", None])
def test_json_that_is_not_an_object_is_invalid_json(
    client: TestClient, content_type: str | None, subtests: Any
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    for body in BROKEN_JSON:
        with subtests.test(body=body):
            response = client.post(PATH, content=body, headers=headers)
            assert_error(response, 400, "invalid_json")


def test_invalid_json_comes_before_missing_parameters(client: TestClient) -> None:
    response = client.post(PATH, content=b"[{}]", headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_json")


# --- 400 missing_parameter -------------------------------------------------------------------


def test_each_missing_parameter_is_named(client: TestClient, world: World, subtests: Any) -> None:
    for name in PARAMETERS:
        for variant in ("absent", "empty", "null"):
            with subtests.test(name=name, variant=variant):
                body = world.body()
                if variant == "absent":
                    del body[name]
                else:
                    body[name] = "" if variant == "empty" else None
                error = assert_error(client.post(PATH, json=body), 400, "missing_parameter")
                assert name in error["message"]
                others = [o for o in PARAMETERS if o != name and o in error["message"]]
                assert not others


def test_empty_form_field_is_missing(client: TestClient, world: World, subtests: Any) -> None:
    for name in PARAMETERS:
        with subtests.test(name=name):
            response = client.post(PATH, data={**world.body(), name: ""})
            assert name in assert_error(response, 400, "missing_parameter")["message"]


def test_missing_parameters_are_reported_in_order(client: TestClient, world: World) -> None:
    response = client.post(PATH, json={})
    assert "api_key" in assert_error(response, 400, "missing_parameter")["message"]
    response = client.post(PATH, json={"api_key": world.owner_key})
    assert "org_id" in assert_error(response, 400, "missing_parameter")["message"]


def test_missing_parameter_comes_before_invalid_parameter(client: TestClient, world: World) -> None:
    response = client.post(PATH, json={"api_key": 123, "brand_id": world.brand_id})
    assert "org_id" in assert_error(response, 400, "missing_parameter")["message"]


def test_missing_parameter_comes_before_an_invalid_key(client: TestClient, world: World) -> None:
    response = client.post(PATH, json={"api_key": "not-a-key", "brand_id": world.brand_id})
    assert "org_id" in assert_error(response, 400, "missing_parameter")["message"]


def test_missing_parameter_comes_before_differing_headers(client: TestClient, world: World) -> None:
    response = client.post(
        PATH,
        json={"brand_id": world.brand_id},
        headers={"authorization": f"Bearer {world.owner_key}", "x-api-key": world.member_key},
    )
    assert "org_id" in assert_error(response, 400, "missing_parameter")["message"]


# --- 400 invalid_parameter -------------------------------------------------------------------

NOT_STRINGS: list[Any] = [123, 0, 1.5, True, False, ["a"], [], {"a": "b"}, {}, "x" * 257]


def test_each_invalid_parameter_is_named(client: TestClient, world: World, subtests: Any) -> None:
    for name in PARAMETERS:
        for value in NOT_STRINGS:
            with subtests.test(name=name, value=repr(value)[:20]):
                response = client.post(PATH, json=world.body(**{name: value}))
                error = assert_error(response, 400, "invalid_parameter")
                assert name in error["message"]


def test_256_characters_are_allowed(client: TestClient, world: World) -> None:
    response = client.post(PATH, json=world.body(org_id="o" * 256))
    assert_error(response, 403, "org_mismatch")
    response = client.post(PATH, json=world.body(brand_id="b" * 256))
    assert_error(response, 404, "brand_not_found")
    response = client.post(PATH, json=world.body(api_key="k" * 256))
    assert_error(response, 401, "invalid_api_key")


def test_long_form_value_is_invalid(client: TestClient, world: World) -> None:
    response = client.post(PATH, data={**world.body(), "brand_id": "b" * 257})
    assert "brand_id" in assert_error(response, 400, "invalid_parameter")["message"]


def test_invalid_parameter_comes_before_differing_keys(client: TestClient, world: World) -> None:
    response = client.post(
        PATH,
        json=world.body(api_key=["x"]),
        headers={"authorization": f"Bearer {world.owner_key}"},
    )
    assert "api_key" in assert_error(response, 400, "invalid_parameter")["message"]


# --- 400 invalid_request ---------------------------------------------------------------------


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_header_key_differing_from_body_key_is_invalid_request(
    client: TestClient, world: World, header: str
) -> None:
    value = f"Bearer {world.member_key}" if header == "authorization" else world.member_key
    response = client.post(PATH, json=world.body(), headers={header: value})
    assert_error(response, 400, "invalid_request")


def test_differing_header_keys_are_invalid_request(client: TestClient, world: World) -> None:
    body = world.body()
    del body["api_key"]
    response = client.post(
        PATH,
        json=body,
        headers={"authorization": f"Bearer {world.owner_key}", "x-api-key": world.member_key},
    )
    assert_error(response, 400, "invalid_request")


def test_differing_keys_come_before_key_validity(client: TestClient, world: World) -> None:
    response = client.post(
        PATH, json=world.body(api_key="garbage-1"), headers={"x-api-key": "garbage-2"}
    )
    assert_error(response, 400, "invalid_request")


# --- 401 invalid_api_key ---------------------------------------------------------------------


def _expired_key(service: Service, world: World) -> str:
    key, plain = service.create_key(SYSTEM, world.owner_id, "soon gone", expires_in_days=1)
    with service.store.write() as conn:
        conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.id == key.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    return plain


def _bad_keys(service: Service, world: World) -> dict[str, str]:
    """One API key for each way a key can be wrong."""
    valid = world.owner_key
    flipped = "A" if valid[10] != "A" else "B"
    revoked_key, revoked = service.create_key(SYSTEM, world.owner_id, "revoked")
    service.revoke_key(SYSTEM, revoked_key.id)
    leaver = service.add_member(SYSTEM, world.org_id, "leaver@example.com", "Leaver", "member")
    _, deactivated = service.create_key(SYSTEM, leaver.id, "leaver's key")
    service.deactivate_member(SYSTEM, leaver.id)
    return {
        "malformed": "not-a-key",
        "wrong prefix": "zz_" + valid[3:],
        "too short": valid[:-1],
        "bad checksum": valid[:10] + flipped + valid[11:],
        "unknown": keys.generate_key(),
        "revoked": revoked,
        "expired": _expired_key(service, world),
        "deactivated member": deactivated,
    }


def test_every_bad_key_gets_one_and_the_same_answer(
    client: TestClient, service: Service, world: World
) -> None:
    bodies = {}
    for case, key in _bad_keys(service, world).items():
        for headers, body in (
            ({}, world.body(api_key=key)),
            ({"authorization": f"Bearer {key}"}, world.body(api_key="")),
        ):
            response = client.post(PATH, json=body, headers=headers)
            assert response.status_code == 401, (case, response.text)
            bodies[case, bool(headers)] = assert_error(response, 401, "invalid_api_key")
    assert len({orjson.dumps(body) for body in bodies.values()}) == 1, bodies


def test_the_keys_still_work_until_they_are_revoked(
    client: TestClient, service: Service, world: World
) -> None:
    key, plain = service.create_key(SYSTEM, world.owner_id, "short-lived", expires_in_days=1)
    assert client.post(PATH, json=world.body(api_key=plain)).status_code == 200
    service.revoke_key(SYSTEM, key.id)
    assert_error(client.post(PATH, json=world.body(api_key=plain)), 401, "invalid_api_key")


def test_invalid_key_comes_before_org_and_brand(client: TestClient, world: World) -> None:
    response = client.post(
        PATH, json={"api_key": keys.generate_key(), "org_id": "org_x", "brand_id": "brand_x"}
    )
    assert_error(response, 401, "invalid_api_key")


# --- 403 org_mismatch ------------------------------------------------------------------------


def test_org_of_another_key_is_org_mismatch(
    client: TestClient, service: Service, world: World
) -> None:
    other = make_world(service)
    response = client.post(PATH, json=world.body(org_id=other.org_id))
    assert_error(response, 403, "org_mismatch")
    response = client.post(PATH, json=world.body(org_id="org_does_not_exist"))
    assert_error(response, 403, "org_mismatch")


def test_org_mismatch_comes_before_the_brand(
    client: TestClient, service: Service, world: World
) -> None:
    other = make_world(service)
    response = client.post(PATH, json=world.body(org_id=other.org_id, brand_id=other.brand_id))
    assert_error(response, 403, "org_mismatch")
    response = client.post(PATH, json=world.body(org_id=other.org_id, brand_id="missing"))
    assert_error(response, 403, "org_mismatch")


# --- 404 brand_not_found ---------------------------------------------------------------------


def test_missing_brand_is_brand_not_found(client: TestClient, world: World, subtests: Any) -> None:
    for brand_id in ("brand_01ZZZZZZZZZZZZZZZZZZZZZZZZ", "../etc", "b r a n d"):
        with subtests.test(brand_id=brand_id):
            response = client.post(PATH, json=world.body(brand_id=brand_id))
            assert_error(response, 404, "brand_not_found")


def test_brand_of_another_org_answers_like_a_missing_brand(
    client: TestClient, service: Service, world: World
) -> None:
    other = make_world(service)
    foreign = client.post(PATH, json=world.body(brand_id=other.brand_id))
    missing = client.post(PATH, json=world.body(brand_id="brand_01ZZZZZZZZZZZZZZZZZZZZZZZZ"))
    assert_error(foreign, 404, "brand_not_found")
    assert foreign.content == missing.content


def test_deleted_brand_is_brand_not_found(
    client: TestClient, service: Service, world: World
) -> None:
    service.delete_brand(SYSTEM, world.brand_id)
    assert_error(client.post(PATH, json=world.body()), 404, "brand_not_found")


# --- 404 no_segments -------------------------------------------------------------------------


def test_brand_without_segments_is_no_segments(client: TestClient, world: World) -> None:
    response = client.post(PATH, json=world.body(brand_id=world.empty_brand_id))
    assert_error(response, 404, "no_segments")


def test_brand_whose_segments_were_deleted_is_no_segments(
    client: TestClient, service: Service, world: World
) -> None:
    for segment_id in world.segment_ids:
        service.delete_segment(SYSTEM, segment_id)
    assert_error(client.post(PATH, json=world.body()), 404, "no_segments")


# --- 429, 500, 503 ---------------------------------------------------------------------------


def test_rate_limited_is_429_with_retry_after(
    service: Service, settings: Settings, world: World
) -> None:
    """A key over its quota (a real limiter with a quota of two a minute)."""
    tight = settings.model_copy(update={"rate_limit": "2/minute"})
    with TestClient(create_app(tight, service)) as client:
        for _ in range(2):
            assert client.post(PATH, json=world.body()).status_code == 200
        response = client.post(PATH, json=world.body())
    assert_error(response, 429, "rate_limited")
    assert 0 < int(response.headers["retry-after"]) <= 60


def test_unexpected_failure_is_500_without_details(
    client: TestClient, service: Service, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault injected where the endpoint reads the database: nothing of it reaches the caller."""
    secret = f"SELECT digest FROM api_keys WHERE key = '{world.owner_key}'"

    def broken(_reader: HotReader) -> object:
        raise RuntimeError(secret)

    monkeypatch.setattr(HotReader, "_cursor", broken)
    response = client.post(PATH, json=world.body())
    assert_error(response, 500, "internal_error")
    for leak in ("SELECT", "api_keys", "Traceback", "RuntimeError", world.owner_key):
        assert leak not in response.text


def test_unreachable_database_is_503_with_retry_after(down_client: TestClient) -> None:
    body = {"api_key": keys.generate_key(), "org_id": "org_x", "brand_id": "brand_x"}
    response = down_client.post(PATH, json=body)
    error = assert_error(response, 503, "service_unavailable")
    assert int(response.headers["retry-after"]) > 0
    for leak in ("sqlite", "psycopg", "OperationalError", "127.0.0.1", body["api_key"]):
        assert leak not in error["message"]


# --- headers on every response ---------------------------------------------------------------


def _requests(world: World) -> list[dict[str, Any]]:
    """A success and one request for each error the client can cause."""
    return [
        {"method": "POST", "json": world.body()},
        {"method": "GET"},
        {"method": "POST", "content": b"x" * (MAX_BODY + 1)},
        {"method": "POST", "content": b"x", "headers": {"content-type": "text/plain"}},
        {"method": "POST", "content": b"{"},
        {"method": "POST", "json": {}},
        {"method": "POST", "json": world.body(org_id=1)},
        {"method": "POST", "json": world.body(), "headers": {"x-api-key": world.member_key}},
        {"method": "POST", "json": world.body(api_key="nope")},
        {"method": "POST", "json": world.body(org_id="org_other")},
        {"method": "POST", "json": world.body(brand_id="brand_other")},
        {"method": "POST", "json": world.body(brand_id=world.empty_brand_id)},
    ]


def _send(client: TestClient, request: dict[str, Any], request_id: str | None) -> Any:
    headers = dict(request.get("headers", {}))
    if request_id is not None:
        headers["x-request-id"] = request_id.encode()
    kwargs = {k: v for k, v in request.items() if k not in ("method", "headers")}
    return client.request(request["method"], PATH, headers=headers, **kwargs)


def test_a_safe_request_id_is_echoed_on_every_response(
    client: TestClient, world: World, subtests: Any
) -> None:
    for request_id in ("abc-123", "req_01H.2:3", "A" * 128):
        with subtests.test(request_id=request_id[:20]):
            statuses = set()
            for request in _requests(world):
                response = _send(client, request, request_id)
                statuses.add(response.status_code)
                assert_public_headers(response)
                assert response.headers["x-request-id"] == request_id
            assert statuses == {200, 400, 401, 403, 404, 405, 413, 415}


def test_an_unsafe_request_id_is_replaced(client: TestClient, world: World, subtests: Any) -> None:
    for request_id in ("", "has space", "semi;colon", 'quote"d', "slash/", "é", "A" * 129):
        with subtests.test(request_id=request_id[:20]):
            seen = set()
            for request in _requests(world):
                response = _send(client, request, request_id)
                assert_public_headers(response)
                replaced = response.headers["x-request-id"]
                assert replaced != request_id
                assert replaced.isascii() and replaced.isalnum()
                seen.add(replaced)
            assert len(seen) == len(_requests(world))  # a new one each time


def test_without_a_request_id_each_response_gets_a_new_one(
    client: TestClient, world: World
) -> None:
    ids = {_send(client, request, None).headers["x-request-id"] for request in _requests(world)}
    assert len(ids) == len(_requests(world))
