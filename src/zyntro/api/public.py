"""`POST /apis/public/fetchAudiences.php` as a lean ASGI handler (no framework on the hot path).

The checks run in the SPEC §2 order; each failure is a `ZyntroError` rendered in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
import sqlalchemy.exc
from anyio.to_thread import run_sync
from starlette.requests import Request

from zyntro.errors import (
    InvalidJson,
    InvalidParameter,
    InvalidRequest,
    MethodNotAllowed,
    MissingParameter,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    ZyntroError,
)
from zyntro.observability import log
from zyntro.responses import body_for
from zyntro.service import Service

PATH = "/apis/public/fetchAudiences.php"
MAX_BODY = 16 * 1024
MAX_VALUE = 256
PARAMETERS = ("api_key", "org_id", "brand_id")
RETRY_AFTER_SECONDS = b"5"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


class PublicEndpoint:
    """The fetchAudiences endpoint; returns the status it sent, for the access log."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> int:
        extra: list[tuple[bytes, bytes]] = []
        try:
            if scope["method"] != "POST":
                extra.append((b"allow", b"POST"))
                raise MethodNotAllowed()
            headers = _headers(scope)
            body = await _read_body(headers, receive)
            fields = await _parse_body(scope, headers, body)
            api_key, org_id, brand_id = _parameters(fields, headers)
            service = self.service
            principal = service.cached_principal(api_key)
            if principal is None:  # cache misses: the database is asked off the event loop
                principal = await run_sync(service.principal_for_key, api_key)
            # Rate limits hook in here: the key is known to be valid (see docs/decisions.md).
            payload = service.cached_audiences(principal, org_id, brand_id)
            if payload is None:
                payload = await run_sync(service.audiences, principal, org_id, brand_id)
            status = 200
        except ZyntroError as error:
            status, payload = error.status, body_for(error)
            if status in (429, 503):
                extra.append((b"retry-after", RETRY_AFTER_SECONDS))
        except sqlalchemy.exc.OperationalError:
            log.warning("database unavailable", extra={"request_id": request_id})
            status, payload = ServiceUnavailable.status, body_for(ServiceUnavailable())
            extra.append((b"retry-after", RETRY_AFTER_SECONDS))
        except Exception:
            log.exception("unexpected error", extra={"request_id": request_id})
            status, payload = ZyntroError.status, body_for(ZyntroError())
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"cache-control", b"no-store"),
                    (b"x-request-id", request_id.encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        return status


def _headers(scope: Scope) -> dict[bytes, bytes]:
    # Header names arrive lower-cased (ASGI); a repeated header keeps its last value.
    return dict(scope["headers"])


async def _read_body(headers: dict[bytes, bytes], receive: Receive) -> bytes:
    """Read the body, refusing it as soon as it passes 16 KiB (never buffering more)."""
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _media_type(headers: dict[bytes, bytes]) -> str:
    raw = headers.get(b"content-type", b"")
    return raw.split(b";", 1)[0].strip().lower().decode("latin-1")


async def _parse_body(scope: Scope, headers: dict[bytes, bytes], body: bytes) -> dict[str, Any]:
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
        return await _parse_multipart(scope, body)
    raise UnsupportedMediaType()


async def _parse_multipart(scope: Scope, body: bytes) -> dict[str, Any]:
    """Multipart parsing is python-multipart's job (through Starlette), over the capped body."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(scope, replay).form(max_files=8, max_fields=64)
    except Exception:
        raise InvalidRequest("The multipart body could not be parsed.") from None
    try:
        # A file part is kept as it is: it is not a string, so it fails as invalid_parameter.
        return dict(form.multi_items())
    finally:
        await form.close()


def _header_key(headers: dict[bytes, bytes]) -> str | None:
    """The key from `Authorization: Bearer` or `X-API-Key`; differing headers are refused."""
    found: list[str] = []
    authorization = headers.get(b"authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            found.append(credentials.strip())
    x_api_key = headers.get(b"x-api-key")
    if x_api_key is not None and x_api_key.strip():
        found.append(x_api_key.decode("latin-1").strip())
    if len(set(found)) > 1:
        raise InvalidRequest("The API keys in the Authorization and X-API-Key headers differ.")
    return found[0] if found else None


def _parameters(fields: dict[str, Any], headers: dict[bytes, bytes]) -> tuple[str, str, str]:
    header_key = _header_key(headers)
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
    if header_key is not None and values["api_key"] != header_key:
        raise InvalidRequest("The API key in the header differs from the api_key in the body.")
    api_key, org_id, brand_id = (str(values[name]) for name in PARAMETERS)
    return api_key, org_id, brand_id
