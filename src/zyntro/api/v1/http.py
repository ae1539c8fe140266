"""Responses of the management API: JSON bodies, ETags and 304s, opaque page cursors."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from zyntro.errors import ValidationFailed
from zyntro.responses import JSON_TYPE

# Clients may keep a copy but must ask again (with If-None-Match) before using it.
CACHE_CONTROL = "private, no-cache"


def json_response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON_TYPE, headers=headers)


def etag_of(payload: bytes) -> str:
    return '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison against each entity tag the client sent (or `*`)."""
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def conditional_json(request: Request, body: dict[str, Any]) -> Response:
    """A 200 with an ETag, or 304 Not Modified when the client's copy is current."""
    payload = orjson.dumps(body)
    etag = etag_of(payload)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(payload, media_type=JSON_TYPE, headers=headers)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_cursor(position: tuple[datetime, str], filters: tuple[str | None, ...]) -> str:
    """An opaque cursor: the last segment's (created_at, id) and the filters of the listing."""
    raw = orjson.dumps([_epoch_us(position[0]), position[1], *filters])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, filters: tuple[str | None, ...]) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        micros, segment_id, *given = orjson.loads(raw)
        if not isinstance(micros, int) or not isinstance(segment_id, str):
            raise ValueError
        moment = _EPOCH + timedelta(microseconds=micros)
    except (binascii.Error, ValueError, TypeError, OverflowError, orjson.JSONDecodeError):
        raise ValidationFailed("cursor", "is not a cursor this API gave out") from None
    if tuple(given) != filters:
        raise ValidationFailed(
            "cursor", "belongs to a listing with other filters; send the same ones with it"
        )
    return moment, segment_id
