"""Responses of the management API: JSON bodies, ETags and 304s (its page cursors are in
zyntro/cursors.py)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

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
