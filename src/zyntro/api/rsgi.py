"""Serving the ASGI part of the app (FastAPI: dashboard, /api/v1, ops routes) over RSGI.

`zyntro serve` runs granian's RSGI interface, whose request body read and synchronous
response write cost less than ASGI's receive/send round trips (docs/performance.md): the
public endpoint answers over RSGI directly, and every other request goes through
`serve_asgi`, which hands the app an ASGI scope, `receive` and `send` built on the RSGI
protocol. Lifespan runs through granian's own `LifespanProtocol`, as under its ASGI interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from granian import asgi as granian_asgi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zyntro.api.public_request import (
    ProtocolClosed,
    decode_headers,
    encode_headers,
    rsgi_address,
)

# Starlette's ASGIApp, but the call may return a value (the app's answer status), ignored here.
ASGIHandler = Callable[[Scope, Receive, Send], Awaitable[object]]
# granian's ASGI lifespan driver (untyped): the same startup/shutdown handshake its ASGI runs.
_LifespanProtocol: Any = granian_asgi.LifespanProtocol
_ASGI = {"version": "3.0", "spec_version": "2.3"}
# Kept as they are in `raw_path`: RFC 3986's unreserved characters, sub-delims, ":" and "@".
_PATH_SAFE = "/!$&'()*+,;=:@"


def asgi_scope(scope: Any, path: str, state: dict[str, Any]) -> Scope:
    """The ASGI HTTP scope of an RSGI request.

    `path` is RSGI's `scope.path`: granian percent-decodes it once (bytes that are not UTF-8
    become U+FFFD), as ASGI wants its `path`, so it is never decoded again. The path as it was
    received is not available: `raw_path` is that path percent-encoded again.
    """
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": scope.http_version,
        "server": rsgi_address(scope.server),
        "client": rsgi_address(scope.client),
        "scheme": scope.scheme,
        "method": scope.method,
        "root_path": "",
        "path": path,
        "raw_path": quote(path, safe=_PATH_SAFE).encode("ascii"),
        "query_string": scope.query_string.encode("latin-1"),
        "headers": encode_headers(scope.headers.items()),
        "state": state.copy(),
    }


async def serve_asgi(app: ASGIHandler, scope: Scope, protocol: Any) -> int:
    """Run one ASGI HTTP request on an RSGI protocol; returns the status sent."""
    exchange = _Exchange(protocol)
    try:
        await app(scope, exchange.receive, exchange.send)
    finally:
        exchange.finish()
    return exchange.status


class _Exchange:
    """ASGI `receive`/`send` over one RSGI protocol: the body streams in as it arrives; a
    response sent in one message is written at once, a longer one streamed."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.status = 500
        self._headers: list[tuple[str, str]] = []
        self._started = False  # http.response.start seen
        self._sent = False  # a response handed to the protocol
        self._stream: Any = None
        self._body: Any = None  # the request body's async iterator
        self._body_done = False
        self._gone = False  # the client went away while the response streamed

    async def receive(self) -> Message:
        if self.protocol is None:  # the exchange is over
            return {"type": "http.disconnect"}
        if not self._body_done:
            if self._body is None:
                self._body = self.protocol.__aiter__()
            try:
                chunk = await self._body.__anext__()
            except StopAsyncIteration:
                self._body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            except ProtocolClosed:  # the client went away mid-body
                self._body_done = True
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": bytes(chunk), "more_body": True}
        await self.protocol.client_disconnect()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = int(message["status"])
            self._headers = decode_headers(message.get("headers", ()))
            self._started = True
        elif kind == "http.response.body":
            if not self._started:
                raise RuntimeError("http.response.body before http.response.start")
            body = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            if self._stream is None:
                if self._sent:
                    return  # the response is complete; ASGI servers ignore what follows
                if not more:
                    self.protocol.response_bytes(self.status, self._headers, body)
                    self._sent = True
                    return
                self._stream = self.protocol.response_stream(self.status, self._headers)
                self._sent = True
            if body and not self._gone:
                try:
                    await self._stream.send_bytes(body)
                except ProtocolClosed:  # the client went away: the rest is dropped, as
                    self._gone = True  # ASGI servers drop what is sent after a disconnect

    def finish(self) -> None:
        """After the app returns (or fails): a response must have been handed over. Then the
        protocol is let go, and with it the unread rest of the body and the response stream,
        which granian waits for before it ends the response or closes the connection: an
        error whose traceback still holds this object (until a full GC) holds neither."""
        if not self._sent:
            if self._started:  # headers without a body message
                self.protocol.response_bytes(self.status, self._headers, b"")
            else:  # the app failed before answering
                self.status = 500
                self.protocol.response_bytes(
                    500, [("content-type", "text/plain; charset=utf-8")], b"Internal Server Error"
                )
            self._sent = True
        self.protocol = self._body = self._stream = None


class Lifespan:
    """The ASGI app's lifespan, started and stopped from RSGI's init and del hooks (which
    granian calls with its event loop not yet, or no longer, running)."""

    def __init__(self, app: ASGIApp) -> None:
        self._protocol = _LifespanProtocol(app)

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._protocol.state
        return state

    def startup(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self._protocol.startup())
        if self._protocol.interrupt:
            raise RuntimeError("the application's startup failed") from self._protocol.exc

    def shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self._protocol.shutdown())
