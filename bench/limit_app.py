"""The limit: bare apps that answer every request with the same bytes, doing no other work.

- `app_read` (ASGI) and `rsgi_read` (RSGI) read the whole request body first (`await
  receive()` until no more body; `await protocol()`): a correct endpoint cannot do less, so the
  better of the two is the limit `make bench` takes ratios against.
- `app` and `rsgi` answer without reading the request: kept as a reference row (what the HTTP
  server and the Python boundary cost alone).

Served by granian exactly like the project (`--workers 1`, backlog 2048, no access log):

    BENCH_LIMIT_BODY=warm-body.json granian --interface rsgi --workers 1 --backlog 2048 \
        --working-dir bench limit_app:rsgi_read

Each sends the body read once, at import, from the file named by `BENCH_LIMIT_BODY`, with the
project's own response headers as `make bench` recorded them from the server's warm answer
(`BENCH_LIMIT_HEADERS`, a JSON list of [name, value]: content type, cache control, request id,
security and RateLimit headers); without that file, the content type, cache control and a
request id of the same length. granian adds Content-Length, Date and Server to both alike.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Message = MutableMapping[str, Any]

BODY = Path(os.environ["BENCH_LIMIT_BODY"]).read_bytes()
_RECORDED = os.environ.get("BENCH_LIMIT_HEADERS")
_HEADERS: list[tuple[str, str]] = (
    [(str(name), str(value)) for name, value in json.loads(Path(_RECORDED).read_text())]
    if _RECORDED
    else [
        ("content-type", "application/json; charset=utf-8"),
        ("cache-control", "no-store"),
        ("x-request-id", "0123456789abcdef012345"),
    ]
)
_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-length", str(len(BODY)).encode()),
        *((name.encode("latin-1"), value.encode("latin-1")) for name, value in _HEADERS),
    ],
}
_BODY: Message = {"type": "http.response.body", "body": BODY}


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(_START)
    await send(_BODY)


async def app_read(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """`app`, after reading the whole request body."""
    if scope["type"] != "http":
        await app(scope, receive, send)
        return
    while (await receive()).get("more_body", False):
        pass
    await send(_START)
    await send(_BODY)


# RSGI: granian adds Content-Length to a bytes body.
_RSGI_HEADERS = _HEADERS


async def rsgi(scope: Any, protocol: Any) -> None:
    protocol.response_bytes(200, _RSGI_HEADERS, BODY)


async def rsgi_read(scope: Any, protocol: Any) -> None:
    """`rsgi`, after reading the whole request body."""
    await protocol()
    protocol.response_bytes(200, _RSGI_HEADERS, BODY)
