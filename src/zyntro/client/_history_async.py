"""The events feed, trash and revisions methods of `AsyncZyntroClient` (twins of
`_history._SyncHistory`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import httpx

from zyntro.client._history import _POLL_INTERVAL, _HistoryBase
from zyntro.client.history_models import (
    Event,
    EventPage,
    Revision,
    RevisionPage,
    TrashedSegment,
    TrashPage,
)
from zyntro.client.models import AudienceSegment


class _AsyncHistory(_HistoryBase):
    _sleep: Callable[[float], Awaitable[None]]

    async def _call(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError  # AsyncZyntroClient's

    async def list_events_page(
        self,
        *,
        cursor: str | None = None,
        limit: int = 100,
        types: Sequence[str] | None = None,
        brand_id: str | None = None,
    ) -> EventPage:
        """Up to `limit` events after `cursor` (from the oldest kept without one), oldest
        first. Keep `next_cursor` and ask again from it: an empty page is "nothing new"."""
        request = self._events_request(cursor, limit, types, brand_id)
        return self._read_events(await self._call(request))

    async def iter_events(
        self,
        cursor: str | None = None,
        *,
        types: Sequence[str] | None = None,
        brand_id: str | None = None,
        page_size: int = 100,
        follow: bool = False,
        poll_interval: float = _POLL_INTERVAL,
    ) -> AsyncIterator[Event]:
        """Every event after `cursor`, following the cursors; it ends when it has caught up,
        or with `follow=True` waits for more (polling every `poll_interval` seconds)."""
        while True:
            page = await self.list_events_page(
                cursor=cursor, limit=page_size, types=types, brand_id=brand_id
            )
            for event in page.events:
                yield event
            cursor = page.next_cursor
            if len(page.events) < page_size:
                if not follow:
                    return
                await self._sleep(poll_interval)

    async def list_trash_page(
        self, brand_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> TrashPage:
        """A page of the brand's deleted segments, the latest deleted first."""
        return self._read_trash(await self._call(self._trash_request(brand_id, limit, cursor)))

    async def list_trash(self, brand_id: str) -> list[TrashedSegment]:
        """Every deleted segment of the brand still restorable, the latest deleted first."""
        found: list[TrashedSegment] = []
        cursor: str | None = None
        while True:
            page = await self.list_trash_page(brand_id, limit=500, cursor=cursor)
            found += page.segments
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    async def restore_segment(self, brand_id: str, segment_id: str) -> AudienceSegment:
        """Bring a deleted segment back from the trash, with its id."""
        return self._read_segment(await self._call(self._restore_request(brand_id, segment_id)))

    async def list_revisions_page(
        self, brand_id: str, segment_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> RevisionPage:
        """A page of the segment's revisions, the latest first."""
        request = self._revisions_request(brand_id, segment_id, limit, cursor)
        return self._read_revisions(await self._call(request))

    async def list_revisions(self, brand_id: str, segment_id: str) -> list[Revision]:
        """Every revision of the segment, the latest first."""
        found: list[Revision] = []
        cursor: str | None = None
        while True:
            page = await self.list_revisions_page(brand_id, segment_id, limit=500, cursor=cursor)
            found += page.revisions
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    async def restore_revision(
        self, brand_id: str, segment_id: str, revision_id: str
    ) -> AudienceSegment:
        """Give the segment the fields of an earlier revision (itself a new revision)."""
        request = self._restore_revision_request(brand_id, segment_id, revision_id)
        return self._read_segment(await self._call(request))
