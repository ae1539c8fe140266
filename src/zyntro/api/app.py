"""The application: the public endpoint's lean path before FastAPI, served over RSGI or ASGI."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI

from zyntro import __version__, web
from zyntro.api import errors, openapi, ops, v1
from zyntro.api.public import PATH, Message, PublicEndpoint, Receive, Scope, Send
from zyntro.api.rsgi import Lifespan, asgi_scope, decoded_path, serve_asgi
from zyntro.observability import AccessLog, Metrics, configure_logging, log, request_id_from
from zyntro.ratelimit import RateLimits
from zyntro.service import Service
from zyntro.settings import Settings, get_settings
from zyntro.store import Store

USAGE_FLUSH_SECONDS = 5.0
# Other processes' writes are seen within this (SPEC §4 allows one second).
CHANGE_POLL_SECONDS = 0.25
M_ARENA_MAX = -8  # glibc's mallopt parameter number
MALLOC_ARENAS = 2
FEED_WARN_SECONDS = 60.0  # an unreadable change feed is reported this often, not every poll


class ZyntroApp:
    """Routes the public path to `PublicEndpoint`, everything else to FastAPI; logs each request."""

    def __init__(self, service: Service, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self.metrics = Metrics()
        self.access_log = AccessLog(settings.log_level)
        self.public = PublicEndpoint(
            service,
            RateLimits(
                settings.rate_limit,
                settings.invalid_key_rate_limit,
                settings.redis_url or None,
                settings.redis_prefix,
            ),
        )
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
        if scope["path"] == PATH:
            status = await self.public.asgi(scope, receive, send, request_id)
            routed = None
        else:
            status = await self._framework(scope, receive, send, request_id)
            routed = scope
        self._done(routed, scope["method"], scope["path"], status, started, request_id)

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        """granian's RSGI (`zyntro serve`): the public endpoint without ASGI's round trips."""
        if scope.proto != "http":  # no websocket routes: refused, as Starlette refuses them
            protocol.close(403)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope.headers.get("x-request-id"))
        path = decoded_path(scope.path)
        if path == PATH:
            status = await self.public.rsgi(scope, protocol, request_id)
            self._done(None, scope.method, path, status, started, request_id)
            return
        asgi = asgi_scope(scope, path, self._lifespan.state)
        try:
            status = await serve_asgi(
                lambda s, r, w: self._framework(s, r, w, request_id), asgi, protocol
            )
        except Exception:  # the framework has answered 500; the error is logged once, here
            log.exception("unexpected error", extra={"request_id": request_id})
            status = 500
        self._done(asgi, scope.method, path, status, started, request_id)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._lifespan.startup(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._lifespan.shutdown(loop)

    async def _framework(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> int:
        """A request for FastAPI, with the request id added to its answer."""
        status = 500
        rid = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid)]
            await send(message)

        await self.fastapi(scope, receive, send_with_id)
        return status

    def _done(
        self,
        scope: Scope | None,
        method: str,
        path: str,
        status: int,
        started: float,
        request_id: str,
    ) -> None:
        """Metrics and the access line; `scope` is the framework's (None: the public path)."""
        duration = time.perf_counter() - started
        if scope is None:
            route = PATH
        else:
            route = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.observe(route, method, status, duration)
        # The path, never the query string: it may carry a key.
        self.access_log.request(method, path, status, duration, request_id)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _fastapi_app(zyntro: ZyntroApp) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        _tune_gc()
        _limit_malloc_arenas()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_flush_usage, zyntro.service)
            tasks.start_soon(_follow_changes, zyntro.service)
            tasks.start_soon(_flush_access_log, zyntro.access_log)
            yield
            tasks.cancel_scope.cancel()
        await zyntro.public.limits.aclose()
        zyntro.access_log.flush()
        await anyio.to_thread.run_sync(zyntro.service.flush_usage)
        zyntro.service.reader.close()

    app = FastAPI(
        title="Zyntro Audiences",
        version=__version__,
        description="Audience segments for brands: the fetchAudiences API and its operations.",
        lifespan=lifespan,
    )
    app.state.service = zyntro.service
    app.state.limits = zyntro.public.limits  # /api/v1 counts in the public endpoint's windows
    app.state.metrics = zyntro.metrics
    errors.install(app)
    openapi.install(app)
    app.include_router(ops.router)
    app.state.settings = zyntro.settings
    app.include_router(v1.router)
    app.include_router(web.router)
    app.mount(web.STATIC_PATH, web.static_files(), name="dashboard-static")
    return app


async def _flush_usage(service: Service) -> None:
    while True:
        await anyio.sleep(USAGE_FLUSH_SECONDS)
        try:
            await anyio.to_thread.run_sync(service.flush_usage)
        except Exception as exc:  # the database may be away; the uses wait for the next round
            log.warning("could not record key usage: %s", type(exc).__name__)


def _limit_malloc_arenas() -> None:
    """At most `MALLOC_ARENAS` glibc malloc arenas in this process.

    Otherwise every thread that allocates gets an arena of its own (up to eight per core) and
    keeps what it frees there: the worker threads that read PostgreSQL's cache misses added
    ~40 MB to a worker's peak RSS that way (263 → 220-227 MB in the PostgreSQL error mix, with
    no throughput change beyond noise; docs/performance.md). A no-op without glibc's mallopt.
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


async def _flush_access_log(access_log: AccessLog) -> None:
    while True:
        await anyio.sleep(AccessLog.FLUSH_SECONDS)
        access_log.flush()


async def _follow_changes(service: Service) -> None:
    warned_at: float | None = None  # while the feed cannot be read: one warning a minute
    while True:
        try:
            await anyio.to_thread.run_sync(service.follow_changes)
        except Exception as exc:  # the database may be away; keep serving what is cached
            now = time.monotonic()
            if warned_at is None or now - warned_at >= FEED_WARN_SECONDS:
                warned_at = now
                log.warning("could not read the change feed: %s", type(exc).__name__)
        else:
            if warned_at is not None:
                warned_at = None
                log.warning("the change feed is readable again")
        await anyio.sleep(CHANGE_POLL_SECONDS)


def create_app(settings: Settings | None = None, service: Service | None = None) -> ZyntroApp:
    """The application for `settings` (default: the environment)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    if service is None:
        service = Service(
            Store(settings.database_url),
            cache_bytes=settings.cache_mb * 1024 * 1024,
            max_keys_per_member=settings.max_keys_per_member,
        )
    return ZyntroApp(service, settings)
