"""The SDK under test, both clients behind one interface (a pytest plugin of tests/conftest.py).

The async client talks to an app through `httpx.ASGITransport`. That transport is
async-only, so the sync client gets `PortalASGITransport`: the same ASGITransport driven on
an event loop in a helper thread (what Starlette's TestClient does). Either way the request
is a real httpx request through the client's own `send`, with no socket.

Every test body is async and awaits an `AnyClient`; for the sync client that runs the call in
a worker thread, where no event loop is running, as in ordinary blocking code. The fixtures
`kind` (sync, async), `clock` and `connect` serve every SDK test module; modules that must
not see the developer's own ZYNTRO_* settings use `no_client_env`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx
import pytest

from tests.clock import FakeClock
from zyntro.client import AsyncZyntroClient, AudienceSegment, AudiencesResponse, ZyntroClient

Client = ZyntroClient | AsyncZyntroClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def no_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own ZYNTRO_* settings must not leak into the tests."""
    for name in ("ZYNTRO_API_KEY", "ZYNTRO_ORG_ID", "ZYNTRO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


class PortalASGITransport(httpx.BaseTransport):
    """httpx.ASGITransport for a sync client: the app runs on a loop in a helper thread."""

    def __init__(self, app: Any) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._portal_cm = anyio.from_thread.start_blocking_portal("asyncio")
        self._portal: anyio.from_thread.BlockingPortal | None = self._portal_cm.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert self._portal is not None, "transport closed"
        return self._portal.call(self._handle, request)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    def close(self) -> None:
        if self._portal is not None:
            self._portal = None
            self._portal_cm.__exit__(None, None, None)


class AnyClient:
    """Awaitable calls on either client, so one test body covers both."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @property
    def kind(self) -> str:
        return "async" if isinstance(self.client, AsyncZyntroClient) else "sync"

    async def fetch(self, brand_id: str) -> list[AudienceSegment]:
        if isinstance(self.client, AsyncZyntroClient):
            return await self.client.fetch_audiences(brand_id)
        return await anyio.to_thread.run_sync(self.client.fetch_audiences, brand_id)

    async def fetch_response(self, brand_id: str) -> AudiencesResponse:
        if isinstance(self.client, AsyncZyntroClient):
            return await self.client.fetch_audiences_response(brand_id)
        return await anyio.to_thread.run_sync(self.client.fetch_audiences_response, brand_id)

    async def close(self) -> None:
        if isinstance(self.client, AsyncZyntroClient):
            await self.client.aclose()
        else:
            self.client.close()


Connect = Callable[..., AbstractAsyncContextManager[AnyClient]]


def build_client(kind: str, clock: FakeClock, app: Any = None, **kwargs: Any) -> Client:
    """A client of `kind` with test defaults; `app` routes it in-process to an ASGI app."""
    options: dict[str, Any] = {"api_key": "zk_test", "org_id": "org_test"}
    options["base_url"] = "http://zyntro.test"
    options.update(kwargs)
    if kind == "async":
        if app is not None:
            options["transport"] = httpx.ASGITransport(app=app)
        return AsyncZyntroClient(sleep=clock.async_sleep, clock=clock.time, **options)
    if app is not None:
        options["transport"] = PortalASGITransport(app)  # closed by the client's close()
    return ZyntroClient(sleep=clock.sleep, clock=clock.time, **options)


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def connect(kind: str, clock: FakeClock) -> Connect:
    """`async with connect(app=…, **client_kwargs) as client:` for this test's client kind."""

    @asynccontextmanager
    async def opened(app: Any = None, **kwargs: Any) -> AsyncIterator[AnyClient]:
        client = AnyClient(build_client(kind, clock, app, **kwargs))
        try:
            yield client
        finally:
            await client.close()

    return opened
