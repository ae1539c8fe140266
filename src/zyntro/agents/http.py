"""`POST /mcp`: the MCP server over streamable HTTP, on the same server as the APIs.

The route is an ordinary `/api/v1`-style route: `Authorization: Bearer <key>`, the same
`invalid_api_key` 401, the same per-key quota and RateLimit headers (`LimitedRoute`), the
same access-log line and metrics. Its answer is handed to the SDK's session manager, which
runs stateless with JSON answers: any worker of any node can take any request, as with the
rest of the API (docs/decisions.md, "MCP").

The SDK costs a second to import and ~30 MB per process, so a worker builds the MCP server
when the first `/mcp` request arrives (the import in a thread, off the event loop), and runs
its session manager in a task group of the app's lifespan (`McpHttp.running`).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from zyntro.api.errors import REQUEST_ID
from zyntro.api.v1.auth import PRINCIPAL, KeyActor, LimitedRoute
from zyntro.api.v1.models import ERRORS
from zyntro.errors import ServiceUnavailable
from zyntro.identity import Actor, Principal
from zyntro.observability import AccessLog
from zyntro.service import Service

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from zyntro.agents.server import Request as McpRequest

PATH = "/mcp"
router = APIRouter(route_class=LimitedRoute, tags=["MCP"])


class HttpAccess:
    """The caller of an MCP request over HTTP: the key the route authenticated."""

    transport = "http"

    def __init__(self, access_log: AccessLog) -> None:
        self.access_log = access_log

    async def principal(self, request: McpRequest) -> Principal:
        principal: Principal = _scope(request)[PRINCIPAL]
        return principal

    def request_id(self, request: McpRequest) -> str:
        return str(_scope(request).get(REQUEST_ID, ""))

    def logged(self) -> None:
        pass  # the app flushes the access log on its timer


def _scope(request: McpRequest) -> Scope:
    http: Any = request.request  # the Starlette request of this POST
    scope: Scope = http.scope
    return scope


class McpHttp:
    """The MCP server of one app process, built on first use."""

    def __init__(self, service: Service, access_log: AccessLog, writes: bool = False) -> None:
        self.service = service
        self.access_log = access_log
        self.writes = writes  # ZYNTRO_MCP_WRITES
        self._manager: StreamableHTTPSessionManager | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._lock = anyio.Lock()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifespan: the session manager, once built, runs in here."""
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield
            finally:
                self._tasks = None
                tasks.cancel_scope.cancel()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager or await self._start()
        await manager.handle_request(scope, receive, send)

    async def _start(self) -> StreamableHTTPSessionManager:
        async with self._lock:
            if self._manager is not None:
                return self._manager
            if self._tasks is None:  # no lifespan (an app driven without one), or shutting down
                raise ServiceUnavailable()
            server = await anyio.to_thread.run_sync(importlib.import_module, "zyntro.agents.server")
            mcp = server.build_server(self.service, HttpAccess(self.access_log), writes=self.writes)
            mcp.streamable_http_app(
                streamable_http_path=PATH,
                stateless_http=True,
                json_response=True,
                transport_security=_no_host_check(),
            )
            manager: StreamableHTTPSessionManager = mcp.session_manager
            await self._tasks.start(_run, manager)
            self._manager = manager
            return manager


def _no_host_check() -> Any:
    # DNS rebinding protection guards servers that answer without credentials; every request
    # here needs an API key, and the Host a node sees behind a proxy is the operator's choice.
    from mcp.server.transport_security import TransportSecuritySettings

    return TransportSecuritySettings(enable_dns_rebinding_protection=False)


async def _run(
    manager: StreamableHTTPSessionManager,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    async with manager.run():
        task_status.started()
        await anyio.sleep_forever()


class _ToSessionManager(Response):
    """The route's answer: the SDK's session manager answers the request itself."""

    def __init__(self, mcp: McpHttp) -> None:
        super().__init__()
        self.mcp = mcp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.mcp.handle(scope, receive, send)


@router.post(
    PATH,
    responses=ERRORS,
    summary="MCP (Model Context Protocol) for AI agents",
    description="Streamable HTTP transport of MCP, stateless, answering JSON: the tools and "
    "resources of docs/ai.md, read-only unless ZYNTRO_MCP_WRITES is set. Send JSON-RPC "
    "messages with `Accept: application/json, text/event-stream` and your key as "
    "`Authorization: Bearer <key>`; each request counts against the key's rate limit.",
)
async def mcp_endpoint(request: Request, actor: Actor = KeyActor) -> Response:
    mcp: McpHttp = request.app.state.mcp
    return _ToSessionManager(mcp)
