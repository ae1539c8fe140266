"""What the public endpoint reads from a request, under its rules: the headers (over RSGI
and ASGI), the body under its 16 KiB cap, the body's fields, and the three parameters in the
order of docs/api.md's error table."""

from __future__ import annotations

import sys
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
)
from typing import Any
from urllib.parse import parse_qsl

import orjson
from granian import rsgi as granian_rsgi
from starlette.datastructures import Headers as StarletteHeaders
from starlette.formparsers import MultiPartParser
from starlette.types import Receive

from zyntro.errors import (
    InvalidJson,
    InvalidParameter,
    InvalidRequest,
    MissingParameter,
    PayloadTooLarge,
    UnsupportedMediaType,
)

MAX_BODY = 16 * 1024
MAX_VALUE = 256
PARAMETERS = ("api_key", "org_id", "brand_id")

# Request headers as the handler sees them: names lower-cased, values latin-1 text; a repeated
# header keeps its last value, but a repeated key header keeps every line (`request_headers`).
RequestHeaders = dict[str, str]
# (read what, under the cap) -> body; one per server interface
BodyReader = Callable[[Any, RequestHeaders], Awaitable[bytes]]

# granian's error for a client gone mid-request (granian.rsgi re-exports it, untyped)
ProtocolClosed: type[Exception] = granian_rsgi.ProtocolClosed  # type: ignore[attr-defined]

# The headers that may carry an API key. Their repeats are kept with their lines joined by
# "\n", which no header value can contain, so that two different keys are refused instead of
# the last one winning.
_KEY_HEADERS = {"authorization": "Authorization", "x-api-key": "X-API-Key"}

_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


def encode_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Text headers as ASGI carries them (latin-1, HTTP's own)."""
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def decode_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """ASGI's headers as text, as RSGI and this handler take them."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


def request_headers(pairs: list[tuple[str, str]]) -> RequestHeaders:
    """The handler's headers: the last value of a repeated header, every line of a repeated
    key header (one dict and a length check when nothing repeats, the common case)."""
    headers = dict(pairs)
    if len(headers) != len(pairs):
        for name in _KEY_HEADERS:
            lines = [value for key, value in pairs if key == name]
            if len(lines) > 1:
                headers[name] = "\n".join(lines)
    return headers


def rsgi_address(value: str) -> tuple[str, int] | None:
    """RSGI's "host:port" ("[v6]:port" for IPv6) as ASGI's (host, port)."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        return None
    return (host[1:-1] if host.startswith("[") else host), int(port)


def rsgi_client(client: str) -> str:
    """RSGI's "host:port" as the host alone, which the limits key on (as over ASGI):
    `rsgi_address(client)[0]` without building the pair, on every request."""
    host, _, port = client.rpartition(":")
    if not host or not port.isdigit():
        return "unknown"
    return host[1:-1] if host[0] == "[" else host


def declared_length(declared: str | None) -> int | None:
    """A Content-Length header's value, if it is one (absurdly long: larger than any cap)."""
    if declared is None or not declared.isascii() or not declared.isdigit():
        return None
    return int(declared) if len(declared) <= 18 else sys.maxsize  # int() refuses 4,300 digits


async def read_asgi(receive: Receive, headers: RequestHeaders) -> bytes:
    """The body over ASGI, under the cap."""
    declared = declared_length(headers.get("content-length"))
    if declared is not None and declared > MAX_BODY:
        raise PayloadTooLarge()
    return await _capped(_asgi_chunks(receive))


async def read_rsgi(protocol: Any, headers: RequestHeaders) -> bytes:
    """The body over RSGI, under the cap: a declared length within it is read in one await
    (the HTTP layer delivers no more than it declares); a body without one chunk by chunk."""
    declared = declared_length(headers.get("content-length"))
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


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse_body(headers: RequestHeaders, body: bytes) -> dict[str, Any] | None:
    """The body's fields; None for a multipart body, which `parse_multipart` reads (the only
    kind whose parser must be awaited: the others cost no coroutine)."""
    content_type = headers.get("content-type")
    media_type = (
        _JSON if content_type is None or content_type == _JSON else _media_type(content_type)
    )
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
        return None
    raise UnsupportedMediaType()


async def parse_multipart(headers: RequestHeaders, body: bytes) -> dict[str, Any]:
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
    """The keys from `Authorization: Bearer` and `X-API-Key`, one per line of each."""
    found: list[str] = []
    for authorization in headers.get("authorization", "").split("\n"):
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            found.append(credentials.strip())
    for x_api_key in headers.get("x-api-key", "").split("\n"):
        if x_api_key.strip():
            found.append(x_api_key.strip())
    return found


def _repeated_differently(headers: RequestHeaders) -> str | None:
    """The key header sent more than once with different values, if any."""
    for name, spelling in _KEY_HEADERS.items():
        value = headers.get(name)
        if value is not None and "\n" in value and len(set(value.split("\n"))) > 1:
            return spelling
    return None


def parameters(fields: dict[str, Any], headers: RequestHeaders) -> tuple[str, str, str]:
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
    repeated = _repeated_differently(headers)
    if repeated is not None:
        raise InvalidRequest(f"The {repeated} header is repeated with different values.")
    if len(set(header_keys)) > 1:
        raise InvalidRequest("The API keys in the Authorization and X-API-Key headers differ.")
    if header_key is not None and values["api_key"] != header_key:
        raise InvalidRequest("The API key in the header differs from the api_key in the body.")
    api_key, org_id, brand_id = (str(values[name]) for name in PARAMETERS)
    return api_key, org_id, brand_id
