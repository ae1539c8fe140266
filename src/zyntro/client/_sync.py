"""`ZyntroClient`: the blocking client, a thin shell over `httpx.Client` and the shared base."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from zyntro.client._base import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    _segments_path,
)
from zyntro.client._drafts import _brand_update_request, _draft_request, _read_brand, _read_drafts
from zyntro.client._history import _SyncHistory
from zyntro.client.errors import APIError, TransportError
from zyntro.client.models import (
    AudienceSegment,
    AudiencesResponse,
    Brand,
    SegmentDraft,
    SegmentPage,
)


class ZyntroClient(_SyncHistory):
    """Blocking client for the Zyntro Audiences API; one connection pool per instance."""

    def __init__(
        self,
        api_key: str | None = None,
        org_id: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key, org_id, base_url, timeout, max_retries, clock)
        self._sleep = sleep
        self._http = httpx.Client(transport=transport, timeout=self.timeout)

    def fetch_audiences(self, brand_id: str) -> list[AudienceSegment]:
        """Every audience segment of the brand, oldest first; `[]` when it has none."""
        return list(self.fetch_audiences_response(brand_id).segments)

    def fetch_audiences_response(self, brand_id: str) -> AudiencesResponse:
        """The whole answer for the brand: segments, message, request id and raw body."""
        request = self._fetch_request(brand_id)
        retries = 0
        while True:
            try:
                return self._read_fetch(self._send(request))
            except (APIError, TransportError) as error:
                delay = self._retry_delay(retries, error)
                if delay is None:
                    raise
            self._sleep(delay)
            retries += 1

    # --- management API v1 ------------------------------------------------------------------

    def list_brands(self) -> list[Brand]:
        """The brands of the key's organization."""
        return self._read_brands(self._call(self._v1_request("GET", "/brands")))

    def list_segments_page(
        self,
        brand_id: str,
        *,
        limit: int = 100,
        cursor: str | None = None,
        segment_type: str | None = None,
        updated_since: datetime | str | None = None,
    ) -> SegmentPage:
        """One page of a brand's segments (at most `limit`, 1-500) after `cursor`."""
        request = self._segments_request(brand_id, limit, cursor, segment_type, updated_since)
        return self._read_page(self._call(request))

    def list_segments(
        self,
        brand_id: str,
        *,
        page_size: int = 100,
        segment_type: str | None = None,
        updated_since: datetime | str | None = None,
    ) -> Iterator[AudienceSegment]:
        """Every segment of the brand (optionally filtered), fetching page after page."""
        cursor: str | None = None
        while True:
            page = self.list_segments_page(
                brand_id,
                limit=page_size,
                cursor=cursor,
                segment_type=segment_type,
                updated_since=updated_since,
            )
            yield from page.segments
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def create_segment(
        self, brand_id: str, segment: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> AudienceSegment:
        """Create a segment (owner or member in-charge); safe to retry: it has an
        Idempotency-Key, yours or a new random one."""
        return self._read_segment(
            self._call(self._create_request(brand_id, segment, idempotency_key))
        )

    def update_segment(
        self, brand_id: str, segment_id: str, changes: Mapping[str, Any]
    ) -> AudienceSegment:
        """Change some fields of a segment; the others keep their values."""
        request = self._v1_request("PATCH", _segments_path(brand_id, segment_id), body=changes)
        return self._read_segment(self._call(request))

    def delete_segment(self, brand_id: str, segment_id: str) -> None:
        """Delete a segment."""
        self._read_v1(self._call(self._v1_request("DELETE", _segments_path(brand_id, segment_id))))

    def draft_segments(
        self, brand_id: str, description: str, *, count: int = 3, timeout: float | None = None
    ) -> list[SegmentDraft]:
        """Segments drafted by the server's AI provider from `description` (1-5 of them),
        fitting the brand's profile and existing segments. Nothing is saved: create the ones
        you keep with `create_segment(brand_id, draft.to_create())`. `timeout` defaults to
        120 s (or the client's, when longer)."""
        request = _draft_request(self, brand_id, description, count, timeout)
        return _read_drafts(self, self._call(request))

    def update_brand(
        self,
        brand_id: str,
        *,
        name: str | None = None,
        profile: Mapping[str, str] | None = None,
    ) -> Brand:
        """Rename a brand and/or change parts of its profile (`offering`, `audience`,
        `voice`; "" clears one); what is left out keeps its value."""
        request = _brand_update_request(self, brand_id, name, profile)
        return _read_brand(self, self._call(request))

    def _call(self, request: httpx.Request) -> httpx.Response:
        """Send, retrying as `fetch_audiences` does; an error answer is left to the reader."""
        retries = 0
        while True:
            try:
                response = self._send(request)
                if response.status_code >= 400:
                    self._read_v1(response)  # raises the API's error
                return response
            except (APIError, TransportError) as error:
                delay = self._retry_delay(retries, error)
                if delay is None:
                    raise
            self._sleep(delay)
            retries += 1

    def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._http.send(request)
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from exc

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ZyntroClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
