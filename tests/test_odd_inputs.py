"""Odd inputs never produce a 5xx: every answer is a success or the one error body."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.conftest import World
from tests.helpers import PARAMETERS, PATH, assert_error_shape, assert_public_headers

MULTIPART = "multipart/form-data; boundary=zyntro"


def _check(response: Any) -> None:
    assert response.status_code < 500, response.text
    assert_public_headers(response)
    if response.status_code != 200:
        assert 400 <= response.status_code < 500
        assert_error_shape(response)


def _multipart(parts: list[tuple[str | bytes, bytes]], boundary: bytes = b"zyntro") -> bytes:
    out = b""
    for name, value in parts:
        raw_name = name.encode() if isinstance(name, str) else name
        out += b"--" + boundary + b"\r\n"
        out += b'Content-Disposition: form-data; name="' + raw_name + b'"\r\n\r\n'
        out += value + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def _json_bodies(world: World) -> list[Any]:
    """Request objects whose fields are null, nested, NUL-laden, huge or oddly typed."""
    odd_values: list[Any] = [
        None,
        {},
        {"$ne": None},
        {"api_key": world.owner_key},
        [world.owner_key],
        [[[[]]]],
        "\x00",
        "a\x00b",
        "\x00" * 256,
        "\u0000" + world.owner_key,
        world.owner_key + "\x00",
        "\ud7ff\ue000\uffff",
        "🎯" * 64,
        " ",
        "\n",
        "' OR '1'='1",
        "%00",
        -1,
        2**80,
        1e308,
        "x" * 10_000,
    ]
    bodies: list[Any] = []
    for name in PARAMETERS:
        for value in odd_values:
            bodies.append(world.body(**{name: value}))
    bodies.append({name: None for name in PARAMETERS})
    bodies.append({"": "", "\x00": "\x00"})
    bodies.append({"data": world.body()})
    return bodies


def test_odd_json_values_never_fail(client: TestClient, world: World) -> None:
    for body in _json_bodies(world):
        _check(client.post(PATH, content=json.dumps(body).encode()))


def test_odd_form_values_never_fail(client: TestClient, world: World) -> None:
    for body in _json_bodies(world):
        fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        _check(client.post(PATH, data=fields))
        parts = [(k, v.encode("utf-8", "surrogatepass")) for k, v in fields.items() if k]
        _check(client.post(PATH, content=_multipart(parts), headers={"content-type": MULTIPART}))


def test_nul_bytes_in_every_field(client: TestClient, world: World) -> None:
    """NUL never reaches the database as a query value (PostgreSQL would reject it)."""
    for name in PARAMETERS:
        original = str(world.body()[name])
        for value in ("\x00", original + "\x00", original[:5] + "\x00" + original[5:]):
            body = world.body(**{name: value})
            responses = [
                client.post(PATH, json=body),
                client.post(PATH, data=body),
                client.post(
                    PATH,
                    content=_multipart([(k, str(v).encode()) for k, v in body.items()]),
                    headers={"content-type": MULTIPART},
                ),
            ]
            for response in responses:
                _check(response)
                assert response.status_code != 200


RAW_BODIES: list[tuple[str | None, bytes]] = [
    # invalid UTF-8 under every content type
    (None, b'{"api_key": "\xc3\x28"}'),
    ("application/json", b"\xff" * 100),
    ("application/json", b'{"api_key": "\xed\xa0\x80"}'),  # an encoded surrogate
    ("application/x-www-form-urlencoded", b"api_key=\xff\xfe&org_id=\xc0\xaf&brand_id=b"),
    ("application/x-www-form-urlencoded", b"api_key=%ff%fe&org_id=%c0%af&brand_id=b"),
    (MULTIPART, _multipart([("api_key", b"\xff\xfe"), ("org_id", b"o"), ("brand_id", b"b")])),
    (MULTIPART, _multipart([("\xff".encode("latin-1"), b"x")])),
    # broken structure
    ("application/json", b"{" * 5000),
    ("application/json", b"[" * 8000 + b"]" * 8000),
    ("application/json", b'{"api_key": 1e999999}'),
    ("application/json", b'{"api_key": NaN, "org_id": Infinity}'),
    ("application/json", b'{"a": "b"} trailing'),
    ("application/json", b"\xef\xbb\xbf{}"),  # a byte-order mark
    ("application/json", b"{}\x00"),
    ("application/x-www-form-urlencoded", b"%%%&&&===;;;"),
    ("application/x-www-form-urlencoded", b"&".join(b"f%d=x" % n for n in range(2000))),
    ("application/x-www-form-urlencoded", b"api_key=a&api_key=b&org_id=&brand_id"),
    ("application/x-www-form-urlencoded", b"\x00=\x00"),
    ("multipart/form-data", b"no boundary at all"),
    (MULTIPART, b"garbage without any boundary line"),
    (MULTIPART, b"--zyntro\r\nno headers\r\n--zyntro--\r\n"),
    (MULTIPART, b"--zyntro\r\n"),
    (MULTIPART, _multipart([("api_key", b"x")] * 100)),
    ("multipart/form-data; boundary=" + "b" * 200, b"--" + b"b" * 200 + b"--\r\n"),
    # odd or contradictory content types
    ("", b"{}"),
    (";", b"{}"),
    ("application/json; charset=utf-16", '{"api_key": "x"}'.encode("utf-16")),
    ("APPLICATION/JSON", b'{"api_key": "x"}'),
    ("application/json, text/plain", b"{}"),
    ("application/*", b"{}"),
    ("*/*", b"{}"),
    ("application/x-www-form-urlencoded; charset=latin-1", b"api_key=%E9"),
    ("text/plain; charset=utf-8", b"api_key=x"),
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("application/json\x00", b"{}"),
]


def test_raw_bodies_never_fail(client: TestClient, subtests: Any) -> None:
    for content_type, body in RAW_BODIES:
        with subtests.test(content_type=content_type, body=body[:40]):
            raw_type = content_type.encode("latin-1") if content_type is not None else None
            headers = {"content-type": raw_type} if raw_type is not None else {}
            _check(client.post(PATH, content=body, headers=headers))


def test_invalid_utf8_json_is_invalid_json(client: TestClient) -> None:
    response = client.post(PATH, content=b'{"api_key": "\xc3\x28"}')
    assert response.status_code == 400
    assert assert_error_shape(response)["code"] == "invalid_json"


def test_huge_bodies_are_413(client: TestClient, subtests: Any) -> None:
    for content_type in ("application/json", "application/x-www-form-urlencoded", MULTIPART, None):
        for size in (16 * 1024 + 1, 1024 * 1024, 8 * 1024 * 1024):
            with subtests.test(content_type=content_type, size=size):
                headers = {"content-type": content_type} if content_type else {}
                response = client.post(PATH, content=b"a" * size, headers=headers)
                _check(response)
                assert assert_error_shape(response)["code"] == "payload_too_large"


def test_a_file_part_is_not_a_parameter(client: TestClient, world: World, subtests: Any) -> None:
    for name in PARAMETERS:
        with subtests.test(name=name):
            body = {k: str(v) for k, v in world.body().items() if k != name}
            upload = ("key.txt", str(world.body()[name]).encode(), "text/plain")
            response = client.post(PATH, data=body, files={name: upload})
            _check(response)
            assert response.status_code == 400


def test_many_file_parts_never_fail(client: TestClient, world: World) -> None:
    files = [
        ("upload", (f"f{n}.bin", b"\x00" * 100, "application/octet-stream")) for n in range(20)
    ]
    response = client.post(PATH, data={k: str(v) for k, v in world.body().items()}, files=files)
    _check(response)


ODD_HEADERS: list[dict[str, str | bytes]] = [
    {"authorization": "Bearer"},
    {"authorization": "Bearer "},
    {"authorization": "Basic dXNlcjpwYXNz"},
    {"authorization": "Bearer a b c"},
    {"authorization": b"Bearer \xff\xfe"},
    {"x-api-key": b"\xe9\xe8"},
    {"x-api-key": "   "},
    {"x-api-key": "x" * 8000},
    {"x-request-id": b"\xff" * 10},
    {"content-length": "not-a-number"},
    {"content-length": "-1"},
]


def test_odd_headers_never_fail(client: TestClient, world: World, subtests: Any) -> None:
    for headers in ODD_HEADERS:
        with subtests.test(headers=repr(headers)[:60]):
            _check(client.post(PATH, content=orjson.dumps(world.body()), headers=headers))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fields=st.dictionaries(
        st.sampled_from([*PARAMETERS, "extra"]) | st.text(max_size=5), JSON_VALUES, max_size=5
    )
)
def test_any_json_object_never_fails(
    client: TestClient, world: World, fields: dict[str, Any]
) -> None:
    _check(client.post(PATH, content=json.dumps(fields).encode()))
    _check(client.post(PATH, content=json.dumps({**world.body(), **fields}).encode()))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.binary(max_size=2048), content_type=st.sampled_from(["application/json", None]))
def test_any_bytes_never_fail(client: TestClient, body: bytes, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    _check(client.post(PATH, content=body, headers=headers))
