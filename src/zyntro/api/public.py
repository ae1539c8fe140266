"""`POST /apis/public/fetchAudiences.php` as a lean handler (no framework on the hot path).

The checks run in the order of docs/api.md's error table; each failure is a `ZyntroError`
rendered in one place.
`PublicEndpoint.answer` holds them, independent of the server interface; `rsgi` and `asgi`
adapt it to granian's RSGI (how `zyntro serve` runs it) and to ASGI (tests, other servers).
Both read the body under the 16 KiB cap and the body deadline (api/body.py), and send the
same status, headers and bytes.
"""

from __future__ import annotations

from collections.abc import (
    Awaitable,
    Callable,
    Sequence,
)
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from starlette.types import Receive, Scope, Send

from zyntro.api.body import BodyLimits
from zyntro.api.coalesce import Coalescer
from zyntro.api.errors import user_error
from zyntro.api.public_request import (
    MAX_BODY,
    BodyReader,
    RequestHeaders,
    decode_headers,
    encode_headers,
    parameters,
    parse_body,
    parse_multipart,
    read_asgi,
    read_rsgi,
    request_headers,
    rsgi_client,
)
from zyntro.api.security import SECURITY_HEADERS, SECURITY_HEADERS_RAW
from zyntro.errors import (
    InvalidApiKey,
    IpNotAllowed,
    MethodNotAllowed,
    RateLimited,
    ZyntroError,
    unwrap,
)
from zyntro.identity import Principal
from zyntro.proxies import TrustedProxies
from zyntro.ratelimit import Headers, RateLimits
from zyntro.responses import JSON_TYPE, body_for
from zyntro.service import Service
from zyntro.service.reader import BodyRequest, KeyRequest
from zyntro.store.hot import MAX_CONNECTIONS

if TYPE_CHECKING:
    from zyntro.tracing import Tracing

PATH = "/apis/public/fetchAudiences.php"
BODY_TIMEOUT_SECONDS = 10.0  # without `bodies` (ZYNTRO_BODY_TIMEOUT_SECONDS's default)
RETRY_AFTER_SECONDS = "5"

A = TypeVar("A")
R = TypeVar("R")
# A read of one request's miss: inline (SQLite) or coalesced with concurrent ones (PostgreSQL).
Read = Callable[[A], Awaitable[R]]


class PublicEndpoint:
    """The fetchAudiences endpoint; each adapter returns the status it sent, for the log."""

    def __init__(
        self,
        service: Service,
        limits: RateLimits | None = None,
        bodies: BodyLimits | None = None,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self.service = service
        # ZYNTRO_TRUSTED_PROXIES (zyntro/proxies.py); None, and not looked at, when unset
        self.proxies = proxies
        self.limits = limits or RateLimits()
        # The body's deadline, shared with the app's other routes (api/body.py); the cap
        # is this endpoint's own.
        self.bodies = bodies or BodyLimits(MAX_BODY, BODY_TIMEOUT_SECONDS)
        # A SQLite read in WAL mode takes microseconds and never waits for writers: it runs
        # on the event loop, cheaper than a thread hop. A PostgreSQL read is a network round
        # trip: it runs in a worker thread so other requests proceed meanwhile, and the misses
        # of concurrent requests share one hop and one statement (api/coalesce.py).
        reader = self.reader = service.reader
        self.usage = service.usage  # requests and errors per key (zyntro/usage.py)
        self.read_principal: Read[KeyRequest, Principal]
        self.read_body: Read[BodyRequest, bytes]
        if service.store.is_sqlite:
            self.read_principal = _inline(reader.principals)
            self.read_body = _inline(reader.bodies)
        else:
            limiter = anyio.CapacityLimiter(MAX_CONNECTIONS)
            self.read_principal = Coalescer(reader.principals, limiter)
            self.read_body = Coalescer(reader.bodies, limiter)

    def trace(self, tracing: Tracing) -> None:
        """Each read of a cache miss in a span from now on (the app traces: api/traced.py);
        without it the endpoint runs no tracing code at all."""
        self.read_principal = tracing.cache_miss("api_key", self.read_principal)
        self.read_body = tracing.cache_miss("brand", self.read_body)

    async def answer(
        self,
        method: str,
        headers: RequestHeaders,
        read: BodyReader,
        source: Any,
        client: str,
        request_id: str,
    ) -> tuple[int, bytes, Headers]:
        """Status, body, and the headers beyond the four every answer has (docs/api.md's order)."""
        extra: Headers = []
        rate = self.limits.untouched  # the RateLimit headers, until a counter is touched
        key_id: str | None = None
        try:
            if method != "POST":
                extra.append(("allow", "POST"))
                raise MethodNotAllowed()
            body = await self.bodies.read(read, source, headers)
            fields = parse_body(headers, body)
            if fields is None:
                fields = await parse_multipart(headers, body)
            api_key, org_id, brand_id = parameters(fields, headers)
            reader = self.reader
            limits = self.limits
            try:
                principal = reader.cached_principal(api_key)
                if principal is None:  # a cache miss: one indexed read
                    blocked = limits.blocked(client)
                    if blocked is not None:  # over its invalid-key quota: spare the database
                        rate = blocked
                        raise RateLimited()
                    principal = await self.read_principal((api_key, brand_id))
                key_id = principal.key_id  # from here on the answer counts in the key's usage
                if principal.allowlist is not None and client not in principal.allowlist:
                    raise IpNotAllowed()
            except (InvalidApiKey, IpNotAllowed):  # counts against the client's address
                allowed, rate = await limits.hit_invalid_key(client)
                if not allowed:
                    raise RateLimited() from None
                raise
            # The key is valid: from here on it counts against its own limit.
            counted = limits.hit_key_local(key_id)
            allowed, rate = counted if counted else await limits.hit_key(key_id)
            if not allowed:
                raise RateLimited()
            payload = reader.cached_body(principal, org_id, brand_id)
            if payload is None:
                payload = await self.read_body((principal, org_id, brand_id))
            self.usage.count(key_id, False)
            return 200, payload, rate
        except ZyntroError as error:
            status, payload = error.status, body_for(error)
            if status == 503:  # a 429's Retry-After comes with its RateLimit headers
                extra.append(("retry-after", RETRY_AFTER_SECONDS))
        except Exception as exc:  # the database away (503), or a 500 with the log's details
            failure = user_error(exc, request_id)
            status, payload = failure.status, body_for(failure)
            if status == 503:
                extra.append(("retry-after", RETRY_AFTER_SECONDS))
        extra += rate
        if key_id is not None:
            self.usage.count(key_id, True)
        return status, payload, extra

    async def asgi(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> int:
        """Answer over ASGI."""
        headers = request_headers(decode_headers(scope["headers"]))
        peer = scope.get("client")
        client = str(peer[0]) if peer else "unknown"
        if self.proxies is not None:
            client = self.proxies.client(client, headers.get("x-forwarded-for"))
        status, payload, extra = await self.answer(
            scope["method"], headers, read_asgi, receive, client, request_id
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", JSON_TYPE.encode()),
                    (b"content-length", b"%d" % len(payload)),
                    (b"cache-control", b"no-store"),
                    (b"x-request-id", request_id.encode()),
                    *SECURITY_HEADERS_RAW,
                    *encode_headers(extra),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        return status

    __call__ = asgi

    async def rsgi(self, scope: Any, protocol: Any, request_id: str) -> int:
        """Answer over granian's RSGI: one awaited read, one synchronous write."""
        headers = request_headers(scope.headers.items())
        client = rsgi_client(scope.client)
        if self.proxies is not None:
            client = self.proxies.client(client, headers.get("x-forwarded-for"))
        status, payload, extra = await self.answer(
            scope.method, headers, read_rsgi, protocol, client, request_id
        )
        # granian adds Content-Length for a bytes body.
        protocol.response_bytes(
            status,
            [
                ("content-type", JSON_TYPE),
                ("cache-control", "no-store"),
                ("x-request-id", request_id),
                *SECURITY_HEADERS,
                *extra,
            ],
            payload,
        )
        return status


def _inline(batch: Callable[[list[A]], Sequence[R | Exception]]) -> Read[A, R]:
    """A batch read called for one request at a time, on the event loop."""

    async def read(item: A) -> R:
        return unwrap(batch([item])[0])

    return read
