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
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl

import anyio
import orjson
from granian import rsgi as granian_rsgi
from starlette.datastructures import Headers as StarletteHeaders
from starlette.formparsers import MultiPartParser
from starlette.types import Receive, Scope, Send

from zyntro.api.body import BodyLimits
from zyntro.api.coalesce import Coalescer
from zyntro.api.errors import user_error
from zyntro.api.security import SECURITY_HEADERS, SECURITY_HEADERS_RAW
from zyntro.errors import (
    InvalidApiKey,
    InvalidJson,
    InvalidParameter,
    InvalidRequest,
    MethodNotAllowed,
    MissingParameter,
    PayloadTooLarge,
    RateLimited,
    UnsupportedMediaType,
    ZyntroError,
    unwrap,
)
from zyntro.identity import Principal
from zyntro.ratelimit import Headers, RateLimits
from zyntro.responses import JSON_TYPE, body_for
from zyntro.service import Service
from zyntro.service.reader import BodyRequest, KeyRequest
from zyntro.store.hot import MAX_CONNECTIONS

if TYPE_CHECKING:
    from zyntro.tracing import Tracing

PATH = "/apis/public/fetchAudiences.php"
MAX_BODY = 16 * 1024
BODY_TIMEOUT_SECONDS = 10.0  # without `bodies` (ZYNTRO_BODY_TIMEOUT_SECONDS's default)
MAX_VALUE = 256
PARAMETERS = ("api_key", "org_id", "brand_id")
RETRY_AFTER_SECONDS = "5"

# Request headers as the handler sees them: names lower-cased, values latin-1 text; a repeated
# header keeps its last value.
RequestHeaders = dict[str, str]
# (read what, under the cap) -> body; one per server interface
BodyReader = Callable[[Any, RequestHeaders], Awaitable[bytes]]

A = TypeVar("A")
R = TypeVar("R")
# A read of one request's miss: inline (SQLite) or coalesced with concurrent ones (PostgreSQL).
Read = Callable[[A], Awaitable[R]]

# granian's error for a client gone mid-request (granian.rsgi re-exports it, untyped)
ProtocolClosed: type[Exception] = granian_rsgi.ProtocolClosed  # type: ignore[attr-defined]

_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


class PublicEndpoint:
    """The fetchAudiences endpoint; each adapter returns the status it sent, for the log."""

    def __init__(
        self,
        service: Service,
        limits: RateLimits | None = None,
        bodies: BodyLimits | None = None,
    ) -> None:
        self.service = service
        self.limits = limits or RateLimits()
        # The body's deadline, shared with the app's other routes (api/body.py); the cap
        # is this endpoint's own.
        self.bodies = bodies or BodyLimits(MAX_BODY, BODY_TIMEOUT_SECONDS)
        # A SQLite read in WAL mode takes microseconds and never waits for writers: it runs
        # on the event loop, cheaper than a thread hop. A PostgreSQL read is a network round
        # trip: it runs in a worker thread so other requests proceed meanwhile, and the misses
        # of concurrent requests share one hop and one statement (api/coalesce.py).
        reader = self.reader = service.reader
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
        try:
            if method != "POST":
                extra.append(("allow", "POST"))
                raise MethodNotAllowed()
            body = await self.bodies.read(read, source, headers)
            fields = await _parse_body(headers, body)
            api_key, org_id, brand_id = _parameters(fields, headers)
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
            except InvalidApiKey:  # counts against the client's address (docs/decisions.md)
                allowed, rate = await limits.hit_invalid_key(client)
                if not allowed:
                    raise RateLimited() from None
                raise
            # The key is valid: from here on it counts against its own limit.
            counted = limits.hit_key_local(principal.key_id)
            allowed, rate = counted if counted else await limits.hit_key(principal.key_id)
            if not allowed:
                raise RateLimited()
            payload = reader.cached_body(principal, org_id, brand_id)
            if payload is None:
                payload = await self.read_body((principal, org_id, brand_id))
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
        return status, payload, extra

    async def asgi(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> int:
        """Answer over ASGI."""
        headers = dict(decode_headers(scope["headers"]))
        client = scope.get("client")
        status, payload, extra = await self.answer(
            scope["method"],
            headers,
            _read_asgi,
            receive,
            str(client[0]) if client else "unknown",
            request_id,
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
        status, payload, extra = await self.answer(
            scope.method,
            dict(scope.headers.items()),
            _read_rsgi,
            protocol,
            _rsgi_client(scope.client),
            request_id,
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


def encode_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Text headers as ASGI carries them (latin-1, HTTP's own)."""
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def decode_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """ASGI's headers as text, as RSGI and this handler take them."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


def rsgi_address(value: str) -> tuple[str, int] | None:
    """RSGI's "host:port" ("[v6]:port" for IPv6) as ASGI's (host, port)."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        return None
    return (host[1:-1] if host.startswith("[") else host), int(port)


def _rsgi_client(client: str) -> str:
    # The limits key on the host, as over ASGI.
    address = rsgi_address(client)
    return address[0] if address else "unknown"


def _declared_length(headers: RequestHeaders) -> int | None:
    declared = headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit():
        return int(declared)
    return None


async def _read_asgi(receive: Receive, headers: RequestHeaders) -> bytes:
    """The body over ASGI, under the cap."""
    declared = _declared_length(headers)
    if declared is not None and declared > MAX_BODY:
        raise PayloadTooLarge()
    return await _capped(_asgi_chunks(receive))


async def _read_rsgi(protocol: Any, headers: RequestHeaders) -> bytes:
    """The body over RSGI, under the cap: a declared length within it is read in one await
    (the HTTP layer delivers no more than it declares); a body without one chunk by chunk."""
    declared = _declared_length(headers)
    if declared is None:
        return await _capped(_rsgi_chunks(protocol))
    if declared > MAX_BODY:
        raise PayloadTooLarge()
    try:
        body: bytes = await protocol()
    except ProtocolClosed:  # gone mid-body: as `_rsgi_chunks`
        return b""
    return body


async def _capped(chunks: AsyncIterator[bytes]) -> bytes:
    """A body, refused as soon as it passes 16 KiB (never buffering more)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge()
        parts.append(chunk)
    return b"".join(parts)


async def _asgi_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _rsgi_chunks(protocol: Any) -> AsyncIterator[bytes]:
    # A client gone mid-body leaves what arrived, as ASGI's `http.disconnect` does.
    try:
        async for chunk in protocol:
            yield chunk
    except ProtocolClosed:
        return


def _media_type(headers: RequestHeaders) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _parse_body(headers: RequestHeaders, body: bytes) -> dict[str, Any]:
    media_type = _media_type(headers)
    if media_type in ("", _JSON):
        try:
            fields = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidJson() from None
        if not isinstance(fields, dict):
            raise InvalidJson()
        return fields
    if media_type == _FORM:
        try:
            text = body.decode("utf-8")
            return dict(
                parse_qsl(
                    text,
                    keep_blank_values=True,
                    encoding="utf-8",
                    errors="strict",
                    max_num_fields=64,
                )
            )
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("The form body could not be read as UTF-8 form fields.") from None
    if media_type == _MULTIPART:
        return await _parse_multipart(headers, body)
    raise UnsupportedMediaType()


async def _parse_multipart(headers: RequestHeaders, body: bytes) -> dict[str, Any]:
    """Multipart parsing is python-multipart's job (through Starlette's parser), over the
    capped body."""

    async def chunks() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(StarletteHeaders(headers), chunks(), max_files=8, max_fields=64)
    try:
        form = await parser.parse()
    except Exception:
        raise InvalidRequest("The multipart body could not be parsed.") from None
    try:
        # A file part is kept as it is: it is not a string, so it fails as invalid_parameter.
        return dict(form.multi_items())
    finally:
        await form.close()


def _header_keys(headers: RequestHeaders) -> list[str]:
    """The keys from `Authorization: Bearer` and `X-API-Key`: none, one or both."""
    found: list[str] = []
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            found.append(credentials.strip())
    x_api_key = headers.get("x-api-key")
    if x_api_key is not None and x_api_key.strip():
        found.append(x_api_key.strip())
    return found


def _parameters(fields: dict[str, Any], headers: RequestHeaders) -> tuple[str, str, str]:
    api_key, org_id, brand_id = fields.get("api_key"), fields.get("org_id"), fields.get("brand_id")
    if (  # the common case, decided in one expression: three sound strings, no header key
        type(api_key) is str
        and type(org_id) is str
        and type(brand_id) is str
        and 0 < len(api_key) <= MAX_VALUE
        and 0 < len(org_id) <= MAX_VALUE
        and 0 < len(brand_id) <= MAX_VALUE
        and "authorization" not in headers
        and "x-api-key" not in headers
    ):
        return api_key, org_id, brand_id
    return _checked_parameters(fields, headers)


def _checked_parameters(fields: dict[str, Any], headers: RequestHeaders) -> tuple[str, str, str]:
    """Every rule, in docs/api.md's order, for requests off the common path."""
    header_keys = _header_keys(headers)
    header_key = header_keys[0] if header_keys else None
    values = {name: fields.get(name) for name in PARAMETERS}
    for name in PARAMETERS:  # missing_parameter comes before invalid_parameter
        absent = values[name] is None or values[name] == ""
        if absent and not (name == "api_key" and header_key is not None):
            raise MissingParameter(name)
    for name in PARAMETERS:
        value = values[name]
        if value in (None, "") and name == "api_key":
            value = header_key
        if not isinstance(value, str) or len(value) > MAX_VALUE:
            raise InvalidParameter(name)
        values[name] = value
    # invalid_request comes after both: differing keys are checked once the values are sound.
    if len(set(header_keys)) > 1:
        raise InvalidRequest("The API keys in the Authorization and X-API-Key headers differ.")
    if header_key is not None and values["api_key"] != header_key:
        raise InvalidRequest("The API key in the header differs from the api_key in the body.")
    api_key, org_id, brand_id = (str(values[name]) for name in PARAMETERS)
    return api_key, org_id, brand_id
