"""The SDK's management API methods against the app in-process, for both clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import httpx
import pytest

from tests.clock import FakeClock
from tests.conftest import SEED_SEGMENT, World
from tests.sdk import build_client
from zyntro.api.app import create_app
from zyntro.client import (
    AsyncZyntroClient,
    AudienceSegment,
    Brand,
    Conflict,
    Forbidden,
    InvalidApiKey,
    NotFound,
    SegmentPage,
    ZyntroClient,
)
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings

Client = ZyntroClient | AsyncZyntroClient


class Calls:
    """Await any client method, whichever the client; sync ones run in a worker thread."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.client, name)
        if isinstance(self.client, AsyncZyntroClient):
            return await method(*args, **kwargs)
        return await anyio.to_thread.run_sync(lambda: method(*args, **kwargs))

    async def all_segments(self, brand_id: str, **kwargs: Any) -> list[AudienceSegment]:
        if isinstance(self.client, AsyncZyntroClient):
            return [s async for s in self.client.list_segments(brand_id, **kwargs)]
        client = self.client
        return await anyio.to_thread.run_sync(
            lambda: list(client.list_segments(brand_id, **kwargs))
        )


@pytest.fixture
def connect(kind: str, settings: Settings, service: Service) -> Any:
    app = create_app(settings, service)

    @asynccontextmanager
    async def opened(world: World, api_key: str) -> AsyncIterator[Calls]:
        client = build_client(kind, FakeClock(), app, api_key=api_key, org_id=world.org_id)
        try:
            yield Calls(client)
        finally:
            if isinstance(client, AsyncZyntroClient):
                await client.aclose()
            else:
                client.close()

    return opened


def lead_key(service: Service, world: World) -> str:
    return service.create_key(SYSTEM, world.in_charge_id, "sdk")[1]


@pytest.mark.anyio
async def test_list_brands(connect: Any, world: World) -> None:
    async with connect(world, world.member_key) as call:
        brands = await call("list_brands")
    assert all(isinstance(b, Brand) for b in brands)
    assert sorted(b.brand_id for b in brands) == sorted([world.brand_id, world.empty_brand_id])
    assert {b.org_id for b in brands} == {world.org_id}


@pytest.mark.anyio
async def test_list_segments_follows_every_page(
    connect: Any, service: Service, world: World
) -> None:
    actor = service.act_as(world.in_charge_id)
    for _ in range(2):
        service.add_segment(actor, world.brand_id, {**SEED_SEGMENT, "segment_type": "lifecycle"})
    async with connect(world, world.member_key) as call:
        everything = await call.all_segments(world.brand_id, page_size=2)
        expected = await call("fetch_audiences", world.brand_id)
        first = await call("list_segments_page", world.brand_id, limit=2)
        lifecycle = await call.all_segments(world.brand_id, segment_type="lifecycle")
        assert await call.all_segments(world.empty_brand_id) == []
    assert everything == expected and len(everything) == 5
    assert isinstance(first, SegmentPage)
    assert len(first.segments) == 2 and first.next_cursor and first.etag
    assert [s.segment_type for s in lifecycle] == ["lifecycle", "lifecycle"]


@pytest.mark.anyio
async def test_create_update_delete(connect: Any, service: Service, world: World) -> None:
    async with connect(world, lead_key(service, world)) as call:
        created = await call("create_segment", world.brand_id, SEED_SEGMENT)
        assert isinstance(created, AudienceSegment)
        assert created.initiated_by == world.in_charge_id
        again = await call("create_segment", world.brand_id, SEED_SEGMENT, idempotency_key="k-1")
        replay = await call("create_segment", world.brand_id, SEED_SEGMENT, idempotency_key="k-1")
        assert replay == again and again.segment_id != created.segment_id
        with pytest.raises(Conflict):
            await call(
                "create_segment",
                world.brand_id,
                {**SEED_SEGMENT, "segment_tone": "other"},
                idempotency_key="k-1",
            )
        changed = await call(
            "update_segment", world.brand_id, created.segment_id, {"segment_tone": "warm"}
        )
        assert changed.segment_tone == "warm" and changed.segment_label == created.segment_label
        await call("delete_segment", world.brand_id, created.segment_id)
        with pytest.raises(NotFound):
            await call("delete_segment", world.brand_id, created.segment_id)
    assert len(service.list_segments(SYSTEM, world.brand_id)) == 4


@pytest.mark.anyio
async def test_errors_are_typed(connect: Any, world: World) -> None:
    async with connect(world, world.member_key) as call:
        with pytest.raises(Forbidden) as refused:
            await call("create_segment", world.brand_id, SEED_SEGMENT)
        assert refused.value.status_code == 403 and refused.value.code == "forbidden"
    async with connect(world, "zk_" + "0" * 42) as call:
        with pytest.raises(InvalidApiKey):
            await call("list_brands")


def test_a_retried_create_keeps_its_idempotency_key() -> None:
    seen: list[str] = []
    created = {**SEED_SEGMENT, "segment_id": "seg_1", "initiated_by": "mem_1"}
    created |= {"created_at": "2025-01-15 10:30:00", "updated_at": "2025-01-15 10:30:00"}

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["idempotency-key"])
        if len(seen) < 3:
            return httpx.Response(
                503,
                json={"status": "error", "message": "busy", "code": "service_unavailable"},
                headers={"Retry-After": "1"},
            )
        return httpx.Response(201, json={"status": "success", "data": created})

    clock = FakeClock()
    with ZyntroClient(
        api_key="zk_test",
        org_id="org_test",
        base_url="http://zyntro.test",
        transport=httpx.MockTransport(answer),
        sleep=clock.sleep,
        clock=clock.time,
    ) as client:
        segment = client.create_segment("brand_1", SEED_SEGMENT)
    assert segment.segment_id == "seg_1"
    assert len(seen) == 3 and len(set(seen)) == 1 and seen[0]
    assert len(clock.sleeps) == 2
