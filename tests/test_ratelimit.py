"""Rate limits of the public endpoint: per key, per client address for invalid keys, headers,
shared counts in Redis, and failing open when Redis is away."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from tests.clock import FakeClock
from tests.conftest import REDIS_URL, World, make_world
from tests.helpers import PATH, assert_error, assert_public_headers
from zyntro import keys
from zyntro.api.app import create_app
from zyntro.ratelimit import RateLimits, _MemoryCounters
from zyntro.service import Service
from zyntro.settings import Settings

STATE = re.compile(r'"default";r=(\d+);t=(\d+)')


def _state(response: object) -> tuple[int, int]:
    """(remaining, seconds to reset) from the RateLimit header."""
    match = STATE.fullmatch(response.headers["ratelimit"])  # type: ignore[attr-defined]
    assert match, response.headers["ratelimit"]  # type: ignore[attr-defined]
    return int(match[1]), int(match[2])


def _client(
    service: Service,
    settings: Settings,
    client: tuple[str, int] = ("198.51.100.7", 40000),
    clock: FakeClock | None = None,
    **env: str,
) -> TestClient:
    settings = settings.model_copy(update=env)
    app = create_app(settings, service)
    if clock is not None:  # the limits the settings make, reading the test's clock
        app.public.limits = RateLimits(
            settings.rate_limit,
            settings.invalid_key_rate_limit,
            settings.redis_url or None,
            settings.redis_prefix,
            clock=clock,
        )
    return TestClient(app, client=client)


# --- headers -----------------------------------------------------------------------------


def test_every_response_carries_the_ratelimit_headers(
    service: Service, settings: Settings, world: World
) -> None:
    with _client(service, settings) as client:
        first = client.post(PATH, json=world.body())
        second = client.post(PATH, json=world.body())
        assert first.status_code == second.status_code == 200
        for response in (first, second):
            assert_public_headers(response)
            assert response.headers["ratelimit-policy"] == '"default";q=600;w=60'
        assert _state(first)[0] == 599
        assert _state(second)[0] == 598
        assert 0 < _state(second)[1] <= 60
        # Answers that never reach a key count nothing and say so.
        for response in (
            client.get(PATH),
            client.post(PATH, content=b"{"),
            client.post(PATH, json={"org_id": world.org_id}),
        ):
            assert response.status_code in (400, 405)
            assert response.headers["ratelimit-policy"] == '"default";q=600;w=60'
            assert _state(response) == (600, 60)


def test_a_key_over_its_limit_gets_429_for_every_request(
    service: Service, settings: Settings, world: World
) -> None:
    with _client(service, settings, rate_limit="3/minute") as client:
        for remaining in (2, 1, 0):
            response = client.post(PATH, json=world.body())
            assert response.status_code == 200
            assert _state(response)[0] == remaining
        # The limit is checked right after the key: any request of this key is refused now.
        for body in (
            world.body(),
            world.body(org_id="org_someone_else"),
            world.body(brand_id="brand_unknown"),
            world.body(brand_id=world.empty_brand_id),
        ):
            response = client.post(PATH, json=body)
            assert_error(response, 429, "rate_limited")
            remaining, reset = _state(response)
            assert remaining == 0 and 0 < reset <= 60
            assert 1 <= int(response.headers["retry-after"]) <= 60
            assert response.headers["ratelimit-policy"] == '"default";q=3;w=60'
        # Another key of the same organization has a count of its own.
        assert client.post(PATH, json=world.body(api_key=world.member_key)).status_code == 200


def test_the_window_resets(service: Service, settings: Settings, world: World) -> None:
    clock = FakeClock()
    with _client(service, settings, clock=clock, rate_limit="2/second") as client:
        assert [client.post(PATH, json=world.body()).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        clock.advance(0.5)
        assert client.post(PATH, json=world.body()).status_code == 429  # the same window
        clock.advance(0.5)
        assert client.post(PATH, json=world.body()).status_code == 200, "it did not reset"


def test_invalid_keys_count_against_the_client_address(
    service: Service, settings: Settings, world: World
) -> None:
    attacker = ("203.0.113.9", 50000)
    with _client(service, settings, client=attacker, invalid_key_rate_limit="3/minute") as client:
        # A key this process has already seen valid keeps working under its own limit.
        assert client.post(PATH, json=world.body()).status_code == 200
        guesses = [keys.generate_key() for _ in range(5)]
        statuses = [client.post(PATH, json=world.body(api_key=key)).status_code for key in guesses]
        assert statuses == [401, 401, 401, 429, 429]
        refused = client.post(PATH, json=world.body(api_key="zk_not_even_well_formed"))
        assert_error(refused, 429, "rate_limited")
        assert refused.headers["ratelimit-policy"] == '"default";q=3;w=60'
        assert int(refused.headers["retry-after"]) >= 1
        assert client.post(PATH, json=world.body()).status_code == 200
        # A key not yet cached is not looked up for this address until its window ends.
        assert_error(
            client.post(PATH, json=world.body(api_key=world.member_key)), 429, "rate_limited"
        )
    # Another address is not affected: one app, seen from two addresses.
    app = create_app(settings.model_copy(update={"invalid_key_rate_limit": "3/minute"}), service)
    good = TestClient(app, client=("192.0.2.1", 1))  # no lifespan of its own: `bad` runs it
    with TestClient(app, client=attacker) as bad:
        for _ in range(4):
            bad.post(PATH, json=world.body(api_key=keys.generate_key()))
        assert bad.post(PATH, json=world.body(api_key=world.member_key)).status_code == 429
        assert good.post(PATH, json=world.body(api_key=world.member_key)).status_code == 200
        assert good.post(PATH, json=world.body(api_key=keys.generate_key())).status_code == 401


def test_invalid_key_answers_carry_the_address_policy(
    service: Service, settings: Settings, world: World
) -> None:
    with _client(service, settings, invalid_key_rate_limit="5/minute") as client:
        response = client.post(PATH, json=world.body(api_key=keys.generate_key()))
        assert_error(response, 401, "invalid_api_key")
        assert response.headers["ratelimit-policy"] == '"default";q=5;w=60'
        assert _state(response)[0] == 4


def test_limits_are_validated_in_settings() -> None:
    for bad in ("lots", "0/minute", "600/fortnight", ""):
        with pytest.raises(ValidationError):
            Settings(rate_limit=bad)
        with pytest.raises(ValidationError):
            Settings(invalid_key_rate_limit=bad)
    assert Settings(rate_limit="10 per 5 seconds").rate_limit == "10 per 5 seconds"


def test_memory_windows_end_and_quiet_keys_are_forgotten() -> None:
    """A window's count starts over when it ends; ended windows are freed as new ones open."""
    clock = FakeClock()
    counters = _MemoryCounters(clock, limit=50)
    assert counters.hit("k", 1)[0] == 1
    assert counters.hit("k", 1)[0] == 2
    for n in range(49):
        counters.hit(f"quiet{n}", 1)
    assert len(counters) == 50
    clock.advance(1.05)  # every window has ended...
    assert counters.hit("k", 60)[0] == 1  # ...so the count starts over, and the full map
    counters.hit("fresh", 60)  # dropped the ended windows to make room
    assert len(counters) == 2


def test_a_full_map_of_live_windows_drops_only_its_oldest() -> None:
    clock = FakeClock()
    counters = _MemoryCounters(clock, limit=3)
    for name in ("a", "a", "b", "c", "c"):
        counters.hit(name, 60)
        clock.advance(1)
    assert counters.hit("d", 60)[0] == 1  # full: "a", the oldest window, makes room
    assert len(counters) == 3
    assert counters.hit("c", 60)[0] == 3  # the others count on
    assert counters.hit("b", 60)[0] == 2
    assert counters.hit("a", 60)[0] == 1  # forgotten: it starts over (and "d" makes room)
    assert counters.hit("c", 60)[0] == 4


def test_finding_09_an_invalid_key_flood_does_not_wipe_the_windows_of_valid_keys() -> None:
    """Key A over its quota and address X blocked, then invalid keys from 100,000 distinct
    IPv6 addresses: A is still refused until its window ends, X still blocked, and neither
    count started over."""
    clock = FakeClock()
    limits = RateLimits("3/minute", "2/minute", clock=clock)

    async def scenario() -> None:
        assert [limits.hit_key_local("key_a")[0] for _ in range(4)] == [  # type: ignore[index]
            True,
            True,
            True,
            False,
        ]
        for _ in range(3):
            await limits.hit_invalid_key("203.0.113.9")
        assert limits.blocked("203.0.113.9") is not None
        clock.advance(10)
        for n in range(100_000):
            await limits.hit_invalid_key(f"2001:db8::{n:x}")
        clock.advance(10)
        allowed, headers = limits.hit_key_local("key_a")  # type: ignore[misc]
        assert not allowed, headers
        assert dict(headers)["ratelimit"] == '"default";r=0;t=40'
        blocked = limits.blocked("203.0.113.9")
        assert blocked is not None and dict(blocked)["retry-after"] == "40"
        # The windows end when they would have ended without the flood.
        clock.advance(40)
        allowed, headers = limits.hit_key_local("key_a")  # type: ignore[misc]
        assert allowed and dict(headers)["ratelimit"] == '"default";r=2;t=60'
        assert limits.blocked("203.0.113.9") is None

    asyncio.run(scenario())


# --- Redis -------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_counts_are_shared_between_apps(
    service: Service, settings: Settings, world: World, redis_prefix: str
) -> None:
    shared = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix, "rate_limit": "4/minute"}
    with _client(service, settings, **shared) as one, _client(service, settings, **shared) as two:
        statuses = [
            (one if n % 2 else two).post(PATH, json=world.body()).status_code for n in range(6)
        ]
        assert statuses == [200, 200, 200, 200, 429, 429]
        response = one.post(PATH, json=world.body())
        assert_error(response, 429, "rate_limited")
        remaining, reset = _state(response)
        assert remaining == 0 and 0 < reset <= 60


@pytest.mark.redis
def test_redis_reset_time_is_learned_from_the_shared_window(redis_prefix: str) -> None:
    async def scenario() -> None:
        one = RateLimits("5/minute", redis_url=REDIS_URL, redis_prefix=redis_prefix)
        two = RateLimits("5/minute", redis_url=REDIS_URL, redis_prefix=redis_prefix)
        _, first = await one.hit_key("key_a")
        # A real wait: the window's clock is Redis's own (the key's TTL), which no test
        # clock reaches; `limits` turns it into a moment with time.time().
        await asyncio.sleep(1.1)
        _, second = await two.hit_key("key_a")  # a node that joins the window later
        assert dict(first)["ratelimit"] == '"default";r=4;t=60'
        remaining, reset = STATE.fullmatch(dict(second)["ratelimit"]).groups()  # type: ignore[union-attr]
        assert remaining == "3" and int(reset) <= 59
        await one.aclose()
        await two.aclose()

    asyncio.run(scenario())


def test_unreachable_redis_fails_open_and_warns_once(
    service: Service, settings: Settings, world: World
) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    dead = {"redis_url": "redis://127.0.0.1:1/0", "rate_limit": "1/minute"}
    clock = FakeClock()
    with _client(service, settings, clock=clock, **dead) as client:
        logging.getLogger("zyntro").addHandler(handler)
        try:
            responses = [client.post(PATH, json=world.body()) for _ in range(5)]
            clock.advance(1.1)  # past the pause, Redis is tried (and fails) again
            responses += [client.post(PATH, json=world.body()) for _ in range(3)]
        finally:
            logging.getLogger("zyntro").removeHandler(handler)
    assert [r.status_code for r in responses] == [200] * 8  # over the quota, yet served
    for response in responses:
        assert response.headers["ratelimit-policy"] == '"default";q=1;w=60'
        assert _state(response) == (1, 60)
    warnings = [r for r in records if "rate limit storage unavailable" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in records]


def test_many_keys_are_counted_apart(service: Service, settings: Settings) -> None:
    worlds = [make_world(service, segments=1) for _ in range(3)]
    with _client(service, settings, rate_limit="2/minute") as client:
        for world in worlds:
            assert [client.post(PATH, json=world.body()).status_code for _ in range(3)] == [
                200,
                200,
                429,
            ]
