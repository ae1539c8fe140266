"""The application: the public endpoint's lean path before FastAPI, served over RSGI or ASGI."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.types import Message, Receive, Scope, Send

from zyntro import __version__, web
from zyntro.agents import http as mcp_http
from zyntro.api import errors, openapi, ops, upkeep, v1
from zyntro.api.body import BodyLimits
from zyntro.api.errors import REQUEST_ID
from zyntro.api.public import PATH, PublicEndpoint
from zyntro.api.public_request import declared_length, encode_headers
from zyntro.api.rsgi import Lifespan, asgi_scope, serve_asgi
from zyntro.api.security import SECURITY_HEADERS_RAW
from zyntro.observability import (
    METHODS,
    OTHER,
    UNMATCHED,
    AccessLog,
    Metrics,
    configure_logging,
    log,
    request_id_from,
)
from zyntro.proxies import TrustedProxies
from zyntro.ratelimit import RateLimits
from zyntro.responses import error_body
from zyntro.service import Service
from zyntro.settings import Settings, get_settings
from zyntro.store import Store

if TYPE_CHECKING:
    from zyntro.tracing import Tracing

M_ARENA_MAX = -8  # glibc's mallopt parameter number
MALLOC_ARENAS = 2
# A request method: an HTTP token no longer than any method in use. Others are refused before
# routing (they would only be 405s, and their names would fill the logs).
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}")
_BAD_METHOD = error_body("invalid_request", "The request method is not a valid HTTP method.")
_JSON = "application/json; charset=utf-8"


class ZyntroApp:
    """Routes the public path to `PublicEndpoint`, everything else to FastAPI; logs each request."""

    def __init__(self, service: Service, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self.metrics = Metrics()
        self.access_log = AccessLog(settings.log_level)
        self.bodies = BodyLimits(settings.max_body_bytes, settings.body_timeout_seconds)
        # The client address behind a reverse proxy, for the public endpoint's limits and for
        # the framework's `request.client` (the sign-in throttle): one rule, zyntro/proxies.py.
        self.proxies = TrustedProxies.from_setting(settings.trusted_proxies)
        self.public = PublicEndpoint(
            service,
            RateLimits(
                settings.rate_limit,
                settings.invalid_key_rate_limit,
                settings.redis_url or None,
                settings.redis_prefix,
            ),
            self.bodies,
            self.proxies,
        )
        self.closing: list[Callable[[], None]] = []  # called as the lifespan ends
        # /mcp: the MCP server for AI agents, built when the first agent calls (agents/http.py)
        self.mcp = mcp_http.McpHttp(service, self.access_log, settings.mcp_writes)
        service.webhook_allow_private = settings.webhook_allow_private
        self.deliverer = upkeep.deliverer(service, settings)
        if self.deliverer is not None:
            self.closing.append(self.deliverer.store.dispose)
        self.fastapi = _fastapi_app(self)
        self._lifespan = Lifespan(self.fastapi)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI (the tests, or any ASGI server)."""
        if scope["type"] != "http":
            await self.fastapi(scope, receive, send)  # lifespan
            return
        started = time.perf_counter()
        header = _header(scope, b"x-request-id")
        request_id = request_id_from(header.decode("latin-1") if header is not None else None)
        method, path = scope["method"], scope["path"]
        if method not in METHODS and not _METHOD.fullmatch(method):
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": encode_headers(_refusal_headers(request_id, len(_BAD_METHOD))),
                }
            )
            await send({"type": "http.response.body", "body": _BAD_METHOD})
            self._done(UNMATCHED, OTHER, path, 400, started, request_id)
        elif path == PATH:
            status = await self.public.asgi(scope, receive, send, request_id)
            self._done(PATH, method, path, status, started, request_id)
        else:
            status = await self._framework(scope, receive, send, request_id)
            self._done(_route(scope), method, path, status, started, request_id)

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        """granian's RSGI (`zyntro serve`): the public endpoint without ASGI's round trips."""
        if scope.proto != "http":  # no websocket routes: refused, as Starlette refuses them
            protocol.close(403)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope.headers.get("x-request-id"))
        method = scope.method
        path = scope.path  # percent-decoded by granian; decoding it again would be a second time
        if method not in METHODS and not _METHOD.fullmatch(method):
            protocol.response_bytes(400, _refusal_headers(request_id), _BAD_METHOD)
            self._done(UNMATCHED, OTHER, path, 400, started, request_id)
            return
        if path == PATH:
            status = await self.public.rsgi(scope, protocol, request_id)
            self._done(PATH, method, path, status, started, request_id)
            return
        asgi: Scope = {}
        try:
            asgi = asgi_scope(scope, path, self._lifespan.state)
            status = await serve_asgi(
                lambda s, r, w: self._framework(s, r, w, request_id), asgi, protocol
            )
        except Exception:  # the framework has answered 500; the error is logged once, here
            log.exception("unexpected error", extra={"request_id": request_id})
            status = 500
        self._done(_route(asgi), method, path, status, started, request_id)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._lifespan.startup(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._lifespan.shutdown(loop)

    def framework_telemetry(self) -> TelemetryConfig:
        """FastAPI's own OpenTelemetry instrumentation: off, as the app does not trace
        (`zyntro.api.traced.TracedApp` turns it on)."""
        return {"tracing": False, "metrics": False, "logs": False}

    async def _framework(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> int:
        """A request for FastAPI, with the request id and the security headers added to its
        answer, and its body held to the cap and the deadline (api/body.py)."""
        status = 500
        rid = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", rid)]
                present = {bytes(name).lower() for name, _ in headers}
                # Every answer of the framework (routes, static files, errors) has them, unless
                # a route chose its own.
                headers += [header for header in SECURITY_HEADERS_RAW if header[0] not in present]
                message["headers"] = headers
            await send(message)

        if self.proxies is not None:
            _forwarded(scope, self.proxies)
        body = self.bodies.receive(receive, _declared_length(scope))
        scope[REQUEST_ID] = request_id  # for the error handlers' one log record
        try:
            await self.fastapi(scope, body, send_with_id)
        except Exception:
            # Starlette re-raises an unexpected error after its handler answered 500 and
            # logged it (api/errors.py): it is handled, and must not be logged again.
            if status != 500:
                raise
        finally:
            body.done()
        return status

    def _done(
        self, route: str, method: str, path: str, status: int, started: float, request_id: str
    ) -> None:
        """Metrics and the access line; `route` is the route's template, or UNMATCHED."""
        duration = time.perf_counter() - started
        self.metrics.observe(route, method, status, duration)
        # The path, never the query string: it may carry a key.
        self.access_log.request(method, path, status, duration, request_id)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _declared_length(scope: Scope) -> int | None:
    declared = _header(scope, b"content-length")
    return declared_length(declared.decode("latin-1") if declared is not None else None)


def _forwarded(scope: Scope, proxies: TrustedProxies) -> None:
    """The client a trusted proxy forwarded for (its port unknown: 0) in the scope's `client`.
    In place: the route FastAPI notes in the scope is read from it afterwards (`_route`)."""
    peer = scope.get("client")
    address = str(peer[0]) if peer else "unknown"
    forwarded = None
    for key, value in scope["headers"]:  # the last one, as the public endpoint reads it
        if key == b"x-forwarded-for":
            forwarded = bytes(value).decode("latin-1")
    client = proxies.client(address, forwarded)
    if client != address:
        scope["client"] = (client, 0)


def _route(scope: Scope) -> str:
    """The full template of the route that took the request. FastAPI notes the route in the
    scope; for a route of an included router (`/api/v1`) its own path lacks the prefix, which
    the effective route context has."""
    fastapi = scope.get("fastapi")
    effective = fastapi.get("effective_route_context") if isinstance(fastapi, dict) else None
    for holder in (effective, scope.get("route")):
        path = getattr(holder, "path", None)
        if isinstance(path, str):
            return path
    return UNMATCHED


def _refusal_headers(request_id: str, length: int | None = None) -> list[tuple[str, str]]:
    headers = [("content-type", _JSON), ("cache-control", "no-store"), ("x-request-id", request_id)]
    if length is not None:  # RSGI adds it for a bytes body; ASGI leaves it to the app
        headers.append(("content-length", str(length)))
    return headers


def _fastapi_app(zyntro: ZyntroApp) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks, zyntro.mcp.running():
            tasks.start_soon(upkeep.flush_usage, zyntro.service)
            tasks.start_soon(upkeep.follow_changes, zyntro.service, zyntro.deliverer)
            tasks.start_soon(upkeep.purge_expired, zyntro.service)
            tasks.start_soon(upkeep.flush_access_log, zyntro.access_log)
            if zyntro.deliverer is not None:
                tasks.start_soon(zyntro.deliverer.run)
            yield
            tasks.cancel_scope.cancel()
        await zyntro.public.limits.aclose()
        zyntro.access_log.flush()
        await anyio.to_thread.run_sync(zyntro.service.flush_usage)
        zyntro.service.reader.close()
        for close in zyntro.closing:
            close()

    app = FastAPI(
        title="Zyntro Audiences",
        version=__version__,
        description="Audience segments for brands: the fetchAudiences API and its operations.",
        lifespan=lifespan,
        telemetry=zyntro.framework_telemetry(),
        docs_url=None,  # openapi.install serves /docs from the package; FastAPI's uses CDNs
        redoc_url=None,
    )
    app.state.service = zyntro.service
    app.state.limits = zyntro.public.limits  # /api/v1 counts in the public endpoint's windows
    app.state.metrics = zyntro.metrics
    app.state.mcp = zyntro.mcp
    errors.install(app)
    openapi.install(app)
    app.include_router(ops.router)
    app.state.settings = zyntro.settings
    app.state.drafter = None  # drafting is off until an AI provider is configured (docs/ai.md)
    if zyntro.settings.drafting_configured:
        from zyntro.drafting.drafter import drafter_for  # loads the provider's client

        app.state.drafter = drafter_for(zyntro.settings, zyntro.service, zyntro.public.limits)
    app.include_router(v1.router)
    app.include_router(mcp_http.router)
    app.include_router(web.router)
    app.mount(web.STATIC_PATH, web.static_files(), name="dashboard-static")
    return app


def _limit_malloc_arenas() -> None:
    """At most `MALLOC_ARENAS` glibc malloc arenas in this process.

    Otherwise every thread that allocates gets an arena of its own (up to eight per core) and
    keeps what it frees there: the worker threads that read PostgreSQL's cache misses raised a
    worker's peak RSS that way (figures in docs/decisions.md, "Memory"). A no-op without
    glibc's mallopt.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):
        pass


def _tune_gc() -> None:
    """Fewer, cheaper garbage collections on the request path.

    Everything built at start-up (modules, the app, routes, schemas) moves out of the
    collector's sight, and young collections run every 50,000 allocations instead of 700:
    a request allocates a few dozen short-lived objects, and the caches hold hundreds of
    thousands of long-lived ones that the default thresholds would scan over and over.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def create_app(
    settings: Settings | None = None,
    service: Service | None = None,
    tracing: Tracing | None = None,
) -> ZyntroApp:
    """The application for `settings` (default: the environment).

    With `tracing`, or with traces wanted by the environment (`Settings.tracing_wanted`), the
    app traces (api/traced.py); otherwise OpenTelemetry is not even imported.
    """
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    if service is None:
        service = Service(
            Store(settings.database_url),
            cache_bytes=settings.cache_mb * 1024 * 1024,
            max_keys_per_member=settings.max_keys_per_member,
            max_segments_per_brand=settings.max_segments_per_brand,
        )
    upkeep.configure_retention(service, settings)
    if tracing is None and settings.tracing_wanted:
        from zyntro.tracing import Tracing

        tracing = Tracing.from_environment()
    if tracing is None:
        return ZyntroApp(service, settings)
    from zyntro.api.traced import TracedApp

    return TracedApp(service, settings, tracing)


def create_served_app() -> ZyntroApp:
    """What each `zyntro serve` worker process runs: the app, then the process tuned to serve.

    The tuning is the server process's, not the app's: an app made in a test or embedded in
    another program leaves its host's collector and allocator alone.
    """
    app = create_app()
    _limit_malloc_arenas()
    _tune_gc()  # last: what the app built at start-up is frozen out of the collector's sight
    return app
