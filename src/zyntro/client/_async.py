"""`AsyncZyntroClient`: the asyncio/trio twin of `ZyntroClient` over `httpx.AsyncClient`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from types import TracebackType

import anyio
import httpx

from zyntro.client._base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, _BaseClient
from zyntro.client.errors import APIError, TransportError
from zyntro.client.models import AudienceSegment, AudiencesResponse


class AsyncZyntroClient(_BaseClient):
    """Async client for the Zyntro Audiences API; one connection pool per instance."""

    def __init__(
        self,
        api_key: str | None = None,
        org_id: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key, org_id, base_url, timeout, max_retries, clock)
        self._sleep = sleep
        self._http = httpx.AsyncClient(transport=transport, timeout=self.timeout)

    async def fetch_audiences(self, brand_id: str) -> list[AudienceSegment]:
        """Every audience segment of the brand, oldest first; `[]` when it has none."""
        return list((await self.fetch_audiences_response(brand_id)).segments)

    async def fetch_audiences_response(self, brand_id: str) -> AudiencesResponse:
        """The whole answer for the brand: segments, message, request id and raw body."""
        request = self._fetch_request(brand_id)
        retries = 0
        while True:
            try:
                return self._read_fetch(await self._send(request))
            except (APIError, TransportError) as error:
                delay = self._retry_delay(retries, error)
                if delay is None:
                    raise
            await self._sleep(delay)
            retries += 1

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._http.send(request)
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from exc

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncZyntroClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
