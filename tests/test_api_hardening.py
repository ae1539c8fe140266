"""Issue 11 hardening of the HTTP surfaces: /api/v1 under the public endpoint's rate limits
(finding 10), bad timestamps as 400s (13), and conflicting repeated key headers (18).

Each test runs over ASGI in-process on SQLite and PostgreSQL; the `live_*` ones also over
granian's RSGI (`zyntro serve`), where the headers reach the app by another road.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import REDIS_URL, SEED_SEGMENT, World
from tests.helpers import PATH, assert_error_shape
from tests.live import live_server
from zyntro import keys
from zyntro.api.app import create_app
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings

BRANDS = "/api/v1/brands"
STATE = re.compile(r'"default";r=(\d+);t=(\d+)')
ATTACKER = ("203.0.113.9", 50000)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def segments_url(brand_id: str) -> str:
    return f"{BRANDS}/{brand_id}/segments"


def remaining(response: httpx.Response) -> int:
    match = STATE.fullmatch(response.headers["ratelimit"])
    assert match, response.headers["ratelimit"]
    return int(match[1])


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = assert_error_shape(response)
    assert body["code"] == code, body
    return body


def assert_rate_limited(response: httpx.Response, quota: int) -> None:
    """A 429 in the SPEC's error shape, with one Retry-After and the RateLimit headers."""
    assert_error(response, 429, "rate_limited")
    assert response.headers["ratelimit-policy"] == f'"default";q={quota};w=60'
    assert remaining(response) == 0
    assert len(response.headers.get_list("retry-after")) == 1
    assert 1 <= int(response.headers["retry-after"]) <= 60


class ErrorRecords(logging.Handler):
    """The `zyntro` logger's records at ERROR or above (it does not propagate to caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_records() -> Iterator[list[logging.LogRecord]]:
    handler = ErrorRecords()
    logger = logging.getLogger("zyntro")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def limit_storage(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings for counts in this process, or shared through Redis."""
    if request.param == "memory":
        return {}
    return {"redis_url": REDIS_URL, "redis_prefix": request.getfixturevalue("redis_prefix")}


def limited_client(
    service: Service, settings: Settings, client: tuple[str, int] = ATTACKER, **env: str
) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=env), service), client=client)


# --- finding 10: /api/v1 has no rate limits ---------------------------------------------------


def test_finding_10_v1_and_fetch_audiences_share_each_keys_quota(
    service: Service, settings: Settings, world: World, limit_storage: dict[str, str]
) -> None:
    with limited_client(service, settings, rate_limit="4/minute", **limit_storage) as client:
        listed = client.get(BRANDS, headers=auth(world.owner_key))
        assert listed.status_code == 200
        assert listed.headers["ratelimit-policy"] == '"default";q=4;w=60'
        assert remaining(listed) == 3
        assert remaining(client.post(PATH, json=world.body())) == 2
        page = client.get(segments_url(world.brand_id), headers=auth(world.owner_key))
        assert page.status_code == 200 and remaining(page) == 1
        # An error after the key was counted carries the count too.
        missing = client.get(f"{BRANDS}/brand_nope", headers=auth(world.owner_key))
        assert_error(missing, 404, "brand_not_found")
        assert remaining(missing) == 0
        # Over the quota: every route of both surfaces refuses the key, writes included.
        before = len(service.list_segments(SYSTEM, world.brand_id))
        for response in (
            client.post(PATH, json=world.body()),
            client.get(BRANDS, headers=auth(world.owner_key)),
            client.get(segments_url(world.brand_id), headers=auth(world.owner_key)),
            client.post(
                segments_url(world.brand_id), headers=auth(world.owner_key), json=SEED_SEGMENT
            ),
        ):
            assert_rate_limited(response, quota=4)
        assert len(service.list_segments(SYSTEM, world.brand_id)) == before
        # Another key of the same organization counts on its own.
        other = client.get(BRANDS, headers=auth(world.member_key))
        assert other.status_code == 200 and remaining(other) == 3


def test_finding_10_v1_counts_invalid_keys_against_the_client_address(
    service: Service, settings: Settings, world: World, limit_storage: dict[str, str]
) -> None:
    with limited_client(
        service, settings, invalid_key_rate_limit="3/minute", **limit_storage
    ) as client:
        assert client.get(BRANDS, headers=auth(world.owner_key)).status_code == 200
        guesses = [keys.generate_key() for _ in range(5)]
        answers = [client.get(BRANDS, headers=auth(key)) for key in guesses]
        assert [answer.status_code for answer in answers] == [401, 401, 401, 429, 429]
        assert remaining(answers[0]) == 2
        for refused in answers[3:]:
            assert_rate_limited(refused, quota=3)
        assert_rate_limited(client.get(BRANDS, headers=auth("zk_not_even_well_formed")), quota=3)
        # The address is refused on the public endpoint too: one count for both surfaces.
        public = client.post(PATH, json=world.body(api_key=keys.generate_key()))
        assert_rate_limited(public, quota=3)
        # A key this process already knows to be valid keeps working, as on the public path.
        assert client.get(BRANDS, headers=auth(world.owner_key)).status_code == 200


@pytest.fixture
def live_limited(database_url: str) -> Iterator[httpx.Client]:
    env = {
        "ZYNTRO_SECRET_KEY": secrets.token_hex(16),
        "ZYNTRO_RATE_LIMIT": "3/minute",
        "ZYNTRO_INVALID_KEY_RATE_LIMIT": "2/minute",
    }
    with live_server(database_url, env=env) as base_url, httpx.Client(base_url=base_url) as http:
        yield http


def test_finding_10_live_v1_shares_the_limits_over_rsgi(
    live_limited: httpx.Client, world: World
) -> None:
    http = live_limited
    assert remaining(http.post(PATH, json=world.body())) == 2
    assert remaining(http.get(BRANDS, headers=auth(world.owner_key))) == 1
    assert remaining(http.post(PATH, json=world.body())) == 0
    assert_rate_limited(http.get(BRANDS, headers=auth(world.owner_key)), quota=3)
    guesses = [http.get(BRANDS, headers=auth(keys.generate_key())) for _ in range(3)]
    assert [guess.status_code for guess in guesses] == [401, 401, 429]
    assert_rate_limited(http.post(PATH, json=world.body(api_key=keys.generate_key())), quota=2)


# --- finding 13: out-of-range and non-ASCII timestamps ----------------------------------------


@pytest.mark.parametrize(
    "since",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 once converted to UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 once converted to UTC
        "2025-01-15 10:30:0²",
        "２０２５-01-15 10:30:00",  # fullwidth digits
        "٢٠٢٥-01-15 10:30:00",  # Arabic-Indic digits
    ],
)
def test_finding_13_v1_updated_since_out_of_range_is_a_400_naming_it(
    service: Service,
    client: TestClient,
    world: World,
    since: str,
    error_records: list[logging.LogRecord],
) -> None:
    response = client.get(
        segments_url(world.brand_id), params={"updated_since": since}, headers=auth(world.owner_key)
    )
    body = assert_error(response, 400, "invalid_parameter")
    assert body["message"].startswith("The field updated_since "), body
    assert error_records == []


def test_finding_13_v1_updated_since_at_the_ends_of_the_range_still_works(
    client: TestClient, world: World
) -> None:
    for since in ("0001-01-01 00:00:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+00:00"):
        response = client.get(
            segments_url(world.brand_id),
            params={"updated_since": since},
            headers=auth(world.owner_key),
        )
        assert response.status_code == 200, (since, response.text)
        expected = len(world.segment_ids) if since.startswith("0001") else 0
        assert len(response.json()["data"]) == expected


# --- finding 18: conflicting repeated key headers ---------------------------------------------


def _public_headers_cases(world: World) -> list[tuple[list[tuple[str, str]], int]]:
    """(headers, status) for a body without api_key: repeats that differ are 400."""
    other = keys.generate_key()
    key = world.owner_key
    return [
        ([("Authorization", f"Bearer {key}"), ("Authorization", f"Bearer {other}")], 400),
        ([("Authorization", f"Bearer {other}"), ("Authorization", f"Bearer {key}")], 400),
        ([("Authorization", f"Bearer {key}"), ("Authorization", "Basic dXNlcjpwYXNz")], 400),
        ([("X-API-Key", key), ("X-API-Key", other)], 400),
        ([("X-API-Key", other), ("X-API-Key", key)], 400),
        ([("Authorization", f"Bearer {key}"), ("Authorization", f"Bearer {key}")], 200),
        ([("X-API-Key", key), ("X-API-Key", key)], 200),
        ([("X-API-Key", key), ("Authorization", f"Bearer {key}")], 200),
    ]


def _check_public_repeats(http: httpx.Client | TestClient, world: World) -> None:
    body = {"org_id": world.org_id, "brand_id": world.brand_id}
    for headers, status in _public_headers_cases(world):
        response = http.post(PATH, json=body, headers=headers)
        if status == 200:
            assert response.status_code == 200, (headers, response.text)
        else:
            assert_error(response, 400, "invalid_request")
            assert "header" in response.json()["message"]


def _check_v1_repeats(http: httpx.Client | TestClient, world: World, key: str) -> None:
    other = keys.generate_key()
    for first, second in ((key, other), (other, key)):
        headers = [("Authorization", f"Bearer {first}"), ("Authorization", f"Bearer {second}")]
        for response in (
            http.get(BRANDS, headers=headers),
            http.post(segments_url(world.brand_id), headers=headers, json=SEED_SEGMENT),
        ):
            assert_error(response, 400, "invalid_request")
    same = [("Authorization", f"Bearer {key}"), ("Authorization", f"Bearer {key}")]
    assert http.get(BRANDS, headers=same).status_code == 200


def test_finding_18_conflicting_repeated_key_headers_are_refused(
    client: TestClient, world: World
) -> None:
    _check_public_repeats(client, world)
    _check_v1_repeats(client, world, world.owner_key)


def test_finding_18_live_conflicting_repeated_key_headers_are_refused_over_rsgi(
    live_limited: httpx.Client, world: World
) -> None:
    _check_public_repeats(live_limited, world)  # three requests of the owner's key counted
    _check_v1_repeats(live_limited, world, world.member_key)


def test_an_unexpected_error_is_one_500_and_one_log_record_with_its_request_id(
    client: TestClient,
    service: Service,
    world: World,
    error_records: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure nobody planned for: the caller gets the 500 body (no details) with its request
    id, and the log gets exactly one record, carrying that id (issue 11 item 13)."""

    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("a bug with a secret in it")

    monkeypatch.setattr(Service, "list_brands", broken)
    response = client.get(
        "/api/v1/brands",
        headers={"Authorization": f"Bearer {world.owner_key}", "X-Request-Id": "req-bug-1"},
    )
    assert_error(response, 500, "internal_error")
    assert "secret" not in response.text
    assert response.headers["x-request-id"] == "req-bug-1"
    assert len(error_records) == 1
    assert getattr(error_records[0], "request_id", None) == "req-bug-1"
