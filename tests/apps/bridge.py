"""A small ASGI app served through `zyntro.api.rsgi.serve_asgi` on granian's RSGI interface,
for the bridge's own tests (tests/test_rsgi.py): streamed bodies both ways, and a failure."""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from zyntro.api.rsgi import asgi_scope, serve_asgi

CHUNK = b"0123456789abcdef" * 8192  # 128 KiB
CHUNKS = 6


async def stream(request: Request) -> Response:
    async def chunks() -> Any:
        for n in range(CHUNKS):
            yield bytes([n]) + CHUNK

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def echo(request: Request) -> Response:
    size, digest = 0, hashlib.sha256()
    async for chunk in request.stream():
        size += len(chunk)
        digest.update(chunk)
    return PlainTextResponse(f"{size} {digest.hexdigest()} {request.url.path}")


async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


asgi = Starlette(
    routes=[
        Route("/stream", stream),
        Route("/echo/{rest:path}", echo, methods=["POST"]),
        Route("/boom", boom),
    ]
)


async def app(scope: Any, protocol: Any) -> None:
    try:
        await serve_asgi(asgi, asgi_scope(scope, scope.path, {}), protocol)
    except RuntimeError:
        pass  # /boom: Starlette answered 500 and re-raised, for the server to log
