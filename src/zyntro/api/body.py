"""Request bodies on every route: a size cap enforced while reading, and a deadline.

The public endpoint reads its body in one await under its own 16 KiB cap (api/public.py); the
framework's routes (`/api/v1`, the dashboard) read theirs through ASGI `receive`, under
`ZYNTRO_MAX_BODY_BYTES`. Either way the read goes through `BodyLimits`:

- over the cap: `PayloadTooLarge` (413), from a declared Content-Length before a byte is read,
  else as soon as the bytes read pass it, so that a request never holds more than the cap;
- a body that has not arrived `ZYNTRO_BODY_TIMEOUT_SECONDS` after its read began: cut with
  `RequestTimeout` (408);
- a body being read holds one of granian's connection slots (`BACKPRESSURE` a worker,
  cli/server.py) however slowly it arrives. When more than `MAX_READERS` bodies are being read
  at once, the oldest of those read for over `GRACE_SECONDS` are cut with a 408 as well: slow
  senders hold at most that many slots, and the others stay free for everyone else.

Each error leaves in its route's own shape, and the server then closes the connection (the
unread rest of the body cannot be taken for a next request). One sweep on the event loop,
armed while bodies are being read, applies the deadline and the crowding rule: a read costs a
dict entry, not a timer of its own.

Cutting a read cancels the request's task (granian's asyncio task implementation, the
default, can be cancelled); the cancellation becomes the 408.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from starlette.types import Message, Receive

from zyntro.errors import PayloadTooLarge, RequestTimeout

MAX_READERS = 256  # half of granian's BACKPRESSURE (cli/server.py)
GRACE_SECONDS = 1.0  # no body is cut for crowding before it has had this long
SWEEP_SECONDS = 0.25  # how often the sweep looks; the deadline is kept to within this

T = TypeVar("T")
P = ParamSpec("P")


def size_text(size: int) -> str:
    """1 MiB, 64 KiB, 1000 bytes."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _sweeps(seconds: float) -> int:
    """Sweeps that make sure at least `seconds` have passed (the first may come at once)."""
    return math.ceil(seconds / SWEEP_SECONDS) + 1


class _Body:
    """One request's body while it is read."""

    __slots__ = ("cut", "started", "task", "waiting")

    def __init__(self, started: int, task: asyncio.Task[Any] | None) -> None:
        self.started = started  # the sweep count when its read began
        self.task = task  # None under a task implementation without cancellation
        self.waiting = False  # awaiting the next piece of the body
        self.cut = False  # past its deadline, or crowded out


class BodyLimits:
    """The cap and the deadline of request bodies, and the bodies being read in this process.

    Ages are counted in sweeps, not read from a clock: a clock read or a timer for every
    request would cost more than the rest of this together.
    """

    def __init__(
        self, max_bytes: int, timeout_seconds: float, max_readers: int = MAX_READERS
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.max_readers = max_readers
        self._deadline = _sweeps(timeout_seconds)
        self._grace = _sweeps(GRACE_SECONDS)
        self._reading: dict[_Body, None] = {}  # oldest first
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweep: asyncio.TimerHandle | None = None
        self._swept = 0  # sweeps so far

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The request body is larger than {size_text(self.max_bytes)}.")

    def too_slow(self) -> RequestTimeout:
        return RequestTimeout(f"The request body did not arrive within {self.timeout_seconds:g} s.")

    @property
    def reading(self) -> int:
        """Bodies being read now."""
        return len(self._reading)

    async def read(self, read: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """`read(*args, **kwargs)`, one await for a whole body, under the deadline."""
        body = self._begin()
        body.waiting = True
        try:
            return await read(*args, **kwargs)
        except asyncio.CancelledError:
            if body.cut and body.task is not None and body.task.uncancel() == 0:
                raise self.too_slow() from None  # cancelled by the sweep, and nothing else
            raise
        finally:
            body.waiting = False
            self._reading.pop(body, None)

    def receive(self, receive: Receive, declared: int | None) -> CappedReceive:
        """ASGI `receive` whose body is held to the cap and the deadline."""
        return CappedReceive(self, receive, declared)

    def _begin(self) -> _Body:
        loop = self._loop
        if loop is None or not loop.is_running():  # one loop a worker; tests start others
            loop = self._loop = asyncio.get_running_loop()
            self._sweep = None
            self._reading.clear()
        body = _Body(self._swept, asyncio.current_task(loop))
        self._reading[body] = None
        if self._sweep is None:
            self._sweep = loop.call_later(SWEEP_SECONDS, self._sweep_now)
        return body

    def _end(self, body: _Body) -> None:
        self._reading.pop(body, None)

    async def _wait(self, body: _Body, receive: Receive) -> Message:
        """One `receive()` of a body read in several."""
        if body.cut:
            raise self.too_slow()
        body.waiting = True
        try:
            return await receive()
        except asyncio.CancelledError:
            if body.cut and body.task is not None and body.task.uncancel() == 0:
                raise self.too_slow() from None
            raise
        finally:
            body.waiting = False

    def _sweep_now(self) -> None:
        """Cut the bodies past their deadline and, while too many are read at once, the
        oldest past their grace; then come back while any body is still being read."""
        self._sweep = None
        self._swept += 1
        loop = self._loop
        if loop is None or not self._reading:
            return
        now = self._swept
        over = len(self._reading) - self.max_readers
        doomed: list[_Body] = []
        for body in self._reading:  # oldest first: stop at the first one that may go on
            age = now - body.started
            if age < self._deadline and (over <= 0 or age < self._grace):
                break
            doomed.append(body)
            over -= 1
        for body in doomed:
            del self._reading[body]
            body.cut = True
            if body.waiting and body.task is not None:
                body.task.cancel()
        if self._reading:
            self._sweep = loop.call_later(SWEEP_SECONDS, self._sweep_now)


class CappedReceive:
    """An ASGI `receive` for one request: the body under the cap and the deadline; whatever
    comes after it (a disconnect) as the server sends it."""

    __slots__ = ("_body", "_declared", "_finished", "_limits", "_receive", "_refused", "_size")

    def __init__(self, limits: BodyLimits, receive: Receive, declared: int | None) -> None:
        self._limits = limits
        self._receive = receive
        self._declared = declared
        self._body: _Body | None = None
        self._size = 0
        self._finished = False
        # Asked again after a refusal: the same answer. The error is made anew each time: one
        # kept here would hold its traceback, whose frames hold this object (a cycle that
        # would keep the request, its connection and the unread body, until a full GC).
        self._refused: Callable[[], Exception] | None = None

    async def __call__(self) -> Message:
        if self._refused is not None:
            raise self._refused()
        if self._finished:
            return await self._receive()
        limits = self._limits
        if self._declared is not None and self._declared > limits.max_bytes:
            raise self._refuse(limits.too_large)
        if self._body is None:
            self._body = limits._begin()
        try:
            message = await limits._wait(self._body, self._receive)
        except RequestTimeout:
            raise self._refuse(limits.too_slow) from None
        except BaseException:
            self.done()
            raise
        if message["type"] != "http.request":
            self.done()
            return message
        self._size += len(message.get("body", b""))
        if self._size > limits.max_bytes:
            raise self._refuse(limits.too_large)
        if not message.get("more_body", False):
            self.done()
        return message

    def _refuse(self, error: Callable[[], Exception]) -> Exception:
        self.done()
        self._refused = error
        return error()

    def done(self) -> None:
        """The body is read, refused, or no longer wanted (the request has ended)."""
        self._finished = True
        if self._body is not None:
            self._limits._end(self._body)
            self._body = None
