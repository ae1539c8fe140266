"""The events feed, the trash and revisions: requests and answers shared by both clients
(no I/O), and the blocking client's methods. The async twins are in `_history_async.py`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from zyntro.client._base import _BaseClient, _list, _mapping, _segments_path
from zyntro.client.history_models import (
    Event,
    EventPage,
    Revision,
    RevisionPage,
    TrashedSegment,
    TrashPage,
)
from zyntro.client.models import AudienceSegment

_T = TypeVar("_T")
_POLL_INTERVAL = 5.0  # seconds between polls of `iter_events(follow=True)`


class _HistoryBase(_BaseClient):
    def _events_request(
        self,
        cursor: str | None,
        limit: int,
        types: Sequence[str] | None,
        brand_id: str | None,
    ) -> httpx.Request:
        params = {"cursor": cursor, "limit": limit, "brand_id": brand_id}
        if types:
            params["type"] = ",".join(types)
        return self._v1_request("GET", "/events", params=params)

    def _trash_request(self, brand_id: str, limit: int, cursor: str | None) -> httpx.Request:
        path = f"/brands/{quote(brand_id, safe='')}/trash"
        return self._v1_request("GET", path, params={"limit": limit, "cursor": cursor})

    def _revisions_request(
        self, brand_id: str, segment_id: str, limit: int, cursor: str | None
    ) -> httpx.Request:
        path = _segments_path(brand_id, segment_id) + "/revisions"
        return self._v1_request("GET", path, params={"limit": limit, "cursor": cursor})

    def _restore_request(self, brand_id: str, segment_id: str) -> httpx.Request:
        return self._v1_request("POST", _segments_path(brand_id, segment_id) + "/restore")

    def _restore_revision_request(
        self, brand_id: str, segment_id: str, revision_id: str
    ) -> httpx.Request:
        path = f"{_segments_path(brand_id, segment_id)}/revisions/{quote(revision_id, safe='')}"
        return self._v1_request("POST", path + "/restore")

    def _read_items(
        self, response: httpx.Response, read: Callable[[Any], _T], cursor_required: bool
    ) -> tuple[tuple[_T, ...], str | None]:
        body = self._read_v1(response) or {}
        cursor = body.get("next_cursor")
        try:
            items = tuple(read(_mapping(item)) for item in _list(body.get("data")))
            if not (isinstance(cursor, str) or (cursor is None and not cursor_required)):
                raise ValueError("next_cursor is not a string")
        except ValueError as exc:
            raise self._v1_unexpected(response, f" ({exc})") from exc
        return items, cursor

    def _read_events(self, response: httpx.Response) -> EventPage:
        events, cursor = self._read_items(response, Event.from_api, cursor_required=True)
        assert cursor is not None
        return EventPage(events, cursor)

    def _read_trash(self, response: httpx.Response) -> TrashPage:
        return TrashPage(*self._read_items(response, TrashedSegment.from_api, False))

    def _read_revisions(self, response: httpx.Response) -> RevisionPage:
        return RevisionPage(*self._read_items(response, Revision.from_api, False))


class _SyncHistory(_HistoryBase):
    """The events feed, trash and revisions methods of `ZyntroClient`."""

    _sleep: Callable[[float], None]

    def _call(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError  # ZyntroClient's

    def list_events_page(
        self,
        *,
        cursor: str | None = None,
        limit: int = 100,
        types: Sequence[str] | None = None,
        brand_id: str | None = None,
    ) -> EventPage:
        """Up to `limit` events after `cursor` (from the oldest kept without one), oldest
        first. Keep `next_cursor` and ask again from it: an empty page is "nothing new"."""
        return self._read_events(self._call(self._events_request(cursor, limit, types, brand_id)))

    def iter_events(
        self,
        cursor: str | None = None,
        *,
        types: Sequence[str] | None = None,
        brand_id: str | None = None,
        page_size: int = 100,
        follow: bool = False,
        poll_interval: float = _POLL_INTERVAL,
    ) -> Iterator[Event]:
        """Every event after `cursor`, following the cursors page after page; it ends when
        it has caught up, or with `follow=True` waits for more (polling every
        `poll_interval` seconds) until you stop iterating."""
        while True:
            page = self.list_events_page(
                cursor=cursor, limit=page_size, types=types, brand_id=brand_id
            )
            yield from page.events
            cursor = page.next_cursor
            if len(page.events) < page_size:
                if not follow:
                    return
                self._sleep(poll_interval)

    def list_trash_page(
        self, brand_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> TrashPage:
        """A page of the brand's deleted segments, the latest deleted first."""
        return self._read_trash(self._call(self._trash_request(brand_id, limit, cursor)))

    def list_trash(self, brand_id: str) -> list[TrashedSegment]:
        """Every deleted segment of the brand still restorable, the latest deleted first."""
        found: list[TrashedSegment] = []
        cursor: str | None = None
        while True:
            page = self.list_trash_page(brand_id, limit=500, cursor=cursor)
            found += page.segments
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    def restore_segment(self, brand_id: str, segment_id: str) -> AudienceSegment:
        """Bring a deleted segment back from the trash, with its id."""
        return self._read_segment(self._call(self._restore_request(brand_id, segment_id)))

    def list_revisions_page(
        self, brand_id: str, segment_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> RevisionPage:
        """A page of the segment's revisions, the latest first."""
        request = self._revisions_request(brand_id, segment_id, limit, cursor)
        return self._read_revisions(self._call(request))

    def list_revisions(self, brand_id: str, segment_id: str) -> list[Revision]:
        """Every revision of the segment, the latest first."""
        found: list[Revision] = []
        cursor: str | None = None
        while True:
            page = self.list_revisions_page(brand_id, segment_id, limit=500, cursor=cursor)
            found += page.revisions
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    def restore_revision(self, brand_id: str, segment_id: str, revision_id: str) -> AudienceSegment:
        """Give the segment the fields of an earlier revision (itself a new revision)."""
        request = self._restore_revision_request(brand_id, segment_id, revision_id)
        return self._read_segment(self._call(request))
