"""The SDK's events feed, trash and revisions methods against the app in-process, for both
clients: `iter_events` follows cursors (and, following, waits for new events)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import pytest

from tests.clock import FakeClock
from tests.conftest import World
from tests.sdk import build_client
from zyntro.api.app import create_app
from zyntro.client import (
    AsyncZyntroClient,
    AudienceSegment,
    Conflict,
    Event,
    EventPage,
    Forbidden,
    Revision,
    TrashedSegment,
    ZyntroClient,
)
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings

Client = ZyntroClient | AsyncZyntroClient


@dataclass
class HookClock(FakeClock):
    """A fake clock that runs `on_sleep` whenever the client waits (a write meanwhile)."""

    on_sleep: Callable[[], None] = lambda: None

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.on_sleep()


class Calls:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.client, name)
        if isinstance(self.client, AsyncZyntroClient):
            return await method(*args, **kwargs)
        return await anyio.to_thread.run_sync(lambda: method(*args, **kwargs))

    async def events(self, stop_after: int | None = None, **kwargs: Any) -> list[Event]:
        """`iter_events(**kwargs)`, stopped after `stop_after` events when following."""
        found: list[Event] = []
        if isinstance(self.client, AsyncZyntroClient):
            async for event in self.client.iter_events(**kwargs):
                found.append(event)
                if len(found) == stop_after:
                    break
            return found
        client = self.client

        def run() -> None:
            for event in client.iter_events(**kwargs):
                found.append(event)
                if len(found) == stop_after:
                    break

        await anyio.to_thread.run_sync(run)
        return found


@pytest.fixture
def connect(kind: str, settings: Settings, service: Service) -> Any:
    app = create_app(settings, service)

    @asynccontextmanager
    async def opened(world: World, api_key: str, clock: FakeClock) -> AsyncIterator[Calls]:
        client = build_client(kind, clock, app, api_key=api_key, org_id=world.org_id)
        try:
            yield Calls(client)
        finally:
            if isinstance(client, AsyncZyntroClient):
                await client.aclose()
            else:
                client.close()

    return opened


@pytest.mark.anyio
async def test_iter_events_follows_cursors_and_waits_for_more(
    connect: Any, service: Service, world: World
) -> None:
    service.delete_segment(SYSTEM, world.segment_ids[0])
    expected = service.list_events(SYSTEM, world.org_id, limit=500).events
    writes = iter([world.segment_ids[1], world.segment_ids[2]])
    clock = HookClock(on_sleep=lambda: service.delete_segment(SYSTEM, next(writes)))
    async with connect(world, world.member_key, clock) as call:
        everything = await call.events(page_size=2)
        assert [e.id for e in everything] == [e["id"] for e in expected]
        assert isinstance(everything[0], Event)
        tombstone = everything[-1]
        assert tombstone.type == "segment.deleted"
        assert isinstance(tombstone.segment, AudienceSegment)
        assert tombstone.segment.segment_id == world.segment_ids[0]
        assert everything[0].segment is None  # brand.created

        page = await call("list_events_page", limit=500, types=["segment.deleted"])
        assert isinstance(page, EventPage) and len(page.events) == 1 and page.next_cursor
        followed = await call.events(
            stop_after=2, cursor=page.next_cursor, follow=True, poll_interval=7.0
        )
    assert [e.type for e in followed] == ["segment.deleted", "segment.deleted"]
    assert [e.segment.segment_id for e in followed if e.segment] == world.segment_ids[1:]
    assert clock.sleeps == [7.0, 7.0]


@pytest.mark.anyio
async def test_trash_restore_revisions_and_revision_restore(
    connect: Any, service: Service, world: World
) -> None:
    lead = service.create_key(SYSTEM, world.in_charge_id, "sdk")[1]
    segment_id = world.segment_ids[0]
    async with connect(world, lead, FakeClock()) as call:
        await call("update_segment", world.brand_id, segment_id, {"segment_tone": "warm"})
        await call("delete_segment", world.brand_id, segment_id)
        trash = await call("list_trash", world.brand_id)
        assert [type(t) for t in trash] == [TrashedSegment]
        assert trash[0].segment.segment_id == segment_id and trash[0].segment.segment_tone == "warm"
        restored = await call("restore_segment", world.brand_id, segment_id)
        assert restored.segment_id == segment_id
        with pytest.raises(Conflict):
            await call("restore_segment", world.brand_id, segment_id)
        revisions = await call("list_revisions", world.brand_id, segment_id)
        assert [type(r) for r in revisions] == [Revision] * 4
        assert [r.action for r in revisions] == ["restored", "deleted", "updated", "created"]
        assert revisions[2].before and revisions[2].after
        assert revisions[2].after.segment_tone == "warm"
        first = revisions[-1]
        back = await call("restore_revision", world.brand_id, segment_id, first.revision_id)
        assert back.segment_tone == first.after.segment_tone
        page = await call("list_revisions_page", world.brand_id, segment_id, limit=1)
        assert page.revisions[0].action == "reverted" and page.next_cursor
    async with connect(world, world.member_key, FakeClock()) as call:
        assert await call("list_trash", world.brand_id) == []
        with pytest.raises(Forbidden):
            await call("restore_revision", world.brand_id, segment_id, first.revision_id)
