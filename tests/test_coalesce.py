"""Concurrent cache misses read together (PostgreSQL's path): each request still gets its own
answer, exactly as the one-at-a-time reads give it."""

from __future__ import annotations

import asyncio
import gc
import random
import threading

import anyio
import httpx
import orjson
import pytest

from tests.conftest import World, make_world
from tests.helpers import PATH, assert_error
from zyntro import keys
from zyntro.api.app import create_app
from zyntro.api.coalesce import Coalescer
from zyntro.errors import ZyntroError, unwrap
from zyntro.identity import SYSTEM, Principal
from zyntro.ids import new_id
from zyntro.service import Service
from zyntro.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # granian's loop is asyncio


# --- the coalescer itself ------------------------------------------------------------------


@pytest.mark.anyio
async def test_concurrent_calls_share_a_batch_and_get_their_own_results() -> None:
    batches: list[list[int]] = []

    def batch(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        return [ValueError(f"odd {n}") if n % 2 else n * 10 for n in items]

    coalescer: Coalescer[int, int] = Coalescer(batch, anyio.CapacityLimiter(1), max_in_flight=1)

    async def call(n: int) -> int | str:
        try:
            return await coalescer(n)
        except ValueError as error:
            return str(error)

    results = await asyncio.gather(*(call(n) for n in range(40)))
    assert results == [f"odd {n}" if n % 2 else n * 10 for n in range(40)]
    assert sorted(n for items in batches for n in items) == list(range(40))
    assert len(batches) < 40  # they were read together, not one by one
    assert batches[0] == list(range(40))  # all runnable at once: one batch


@pytest.mark.anyio
async def test_a_failed_batch_fails_each_of_its_requests_and_the_next_batch_runs() -> None:
    calls = 0

    def batch(items: list[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database away")
        return items

    coalescer: Coalescer[int, int] = Coalescer(batch, anyio.CapacityLimiter(1), max_in_flight=1)
    first = await asyncio.gather(*(coalescer(n) for n in range(5)), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in first)
    assert await asyncio.gather(*(coalescer(n) for n in range(5))) == list(range(5))


@pytest.mark.anyio
async def test_batches_are_capped_and_a_cancelled_request_does_not_disturb_others() -> None:
    release = threading.Event()
    sizes: list[int] = []

    def batch(items: list[int]) -> list[int | Exception]:
        release.wait(5)
        sizes.append(len(items))
        return items

    coalescer: Coalescer[int, int] = Coalescer(
        batch, anyio.CapacityLimiter(2), max_batch=8, max_in_flight=2
    )
    tasks = [asyncio.ensure_future(coalescer(n)) for n in range(30)]
    await asyncio.sleep(0.05)
    tasks[3].cancel()
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 3] == [n for n in range(30) if n != 3]
    assert max(sizes) <= 8 and sum(sizes) == 30


# --- the reader's batch reads: each request answered as its own ----------------------------


def _outcome(result: object) -> object:
    """A principal as (org id, member id), a body as its segment count, an error as its name."""
    if isinstance(result, ZyntroError):
        return type(result).__name__
    if isinstance(result, Principal):
        return (result.org_id, result.member_id)
    assert isinstance(result, bytes)
    return len(orjson.loads(result)["data"])


def test_principals_answers_each_request_as_its_own(service: Service) -> None:
    one, two = make_world(service), make_world(service)
    revoked_key, revoked = service.create_key(SYSTEM, one.member_id, "to revoke")
    service.revoke_key(SYSTEM, revoked_key.id)
    requests = [
        (one.owner_key, one.brand_id),
        (two.member_key, two.brand_id),
        (one.owner_key, two.brand_id),  # another org's brand: read, answered later
        (keys.generate_key(), one.brand_id),  # unknown
        (one.owner_key[:-1] + ("0" if one.owner_key[-1] != "0" else "1"), one.brand_id),
        (revoked, one.brand_id),
        (one.member_key, "brand_nope"),
        (one.owner_key, one.empty_brand_id),  # the same key twice in one batch
    ]
    service.reader.cache.clear()  # cold caches: every key is read
    got = [_outcome(result) for result in service.reader.principals(requests)]
    assert got == [
        (one.org_id, one.owner_id),
        (two.org_id, two.member_id),
        (one.org_id, one.owner_id),
        "InvalidApiKey",
        "InvalidApiKey",
        "InvalidApiKey",
        (one.org_id, one.member_id),
        (one.org_id, one.owner_id),
    ]
    # The brands of the keys found were read along and cached; the unknown key's was not read.
    owner = service.principal_for_key(one.owner_key)
    assert service.reader.cached_body(owner, one.org_id, one.brand_id) is not None


def test_bodies_answers_each_request_as_its_own(service: Service) -> None:
    one, two = make_world(service, segments=3), make_world(service, segments=2)
    owner = service.principal_for_key(one.owner_key)
    other = service.principal_for_key(two.owner_key)
    requests = [
        (owner, one.org_id, one.brand_id),
        (owner, one.org_id, one.empty_brand_id),
        (owner, one.org_id, two.brand_id),  # another organization's brand: not found
        (owner, two.org_id, one.brand_id),  # the wrong organization
        (owner, one.org_id, "brand_nope"),
        (owner, one.org_id, "not an id!"),
        (other, two.org_id, two.brand_id),
        (owner, one.org_id, one.brand_id),  # twice
    ]
    service.reader.cache.clear()
    assert [_outcome(result) for result in service.reader.bodies(requests)] == [
        3,
        "NoSegments",
        "BrandNotFound",
        "OrgMismatch",
        "BrandNotFound",
        "BrandNotFound",
        2,
        3,
    ]


# --- the endpoint, many concurrent misses --------------------------------------------------


@pytest.mark.anyio
async def test_concurrent_cold_requests_each_get_their_own_answer(
    service: Service, settings: Settings
) -> None:
    worlds = [make_world(service, segments=1 + n % 3) for n in range(6)]
    cases: list[tuple[dict[str, object], int, str | None]] = []
    for n, world in enumerate(worlds):
        other = worlds[(n + 1) % len(worlds)]
        cases += [
            (world.body(), 200, None),
            (world.body(api_key=world.member_key), 200, None),
            (world.body(brand_id=world.empty_brand_id), 404, "no_segments"),
            (world.body(brand_id=other.brand_id), 404, "brand_not_found"),
            (world.body(org_id=other.org_id), 403, "org_mismatch"),
            (world.body(api_key=keys.generate_key()), 401, "invalid_api_key"),
        ]
    random.Random(7).shuffle(cases)
    app = create_app(settings, service)
    service.reader.cache.clear()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        responses = await asyncio.gather(*(client.post(PATH, json=body) for body, _, _ in cases))
    for (body, status, code), response in zip(cases, responses, strict=True):
        if code is not None:
            assert_error(response, status, code)
            continue
        assert response.status_code == 200, response.text
        world = next(w for w in worlds if w.brand_id == body["brand_id"])
        assert len(response.json()["data"]) == len(_segments(service, world))


def _segments(service: Service, world: World) -> list[object]:
    return list(service.list_segments(SYSTEM, world.brand_id))


def test_misses_answered_with_errors_leave_no_reference_cycles(service: Service) -> None:
    """An error handed through the batch reads must not keep its frames, and the results
    that hold it, alive until a full garbage collection: the server tunes the collector to
    run rarely, and the soak test saw RSS grow when they did."""
    world = make_world(service)
    owner = service.principal_for_key(world.owner_key)

    def misses() -> None:
        for _ in range(20):
            with pytest.raises(ZyntroError):
                unwrap(service.reader.principals([(keys.generate_key(), world.brand_id)])[0])
            with pytest.raises(ZyntroError):
                unwrap(service.reader.bodies([(owner, world.org_id, new_id("brand"))])[0])

    misses()  # warm: statements compiled, connections open
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        misses()
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()
