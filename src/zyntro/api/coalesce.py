"""Concurrent cache misses of the public endpoint, read from the database together.

On PostgreSQL a miss costs a worker thread hop and a network round trip. Under load many
requests miss at once; `Coalescer` hands the misses that arrive while reads are in flight to
one call of a batch function (one thread hop, one statement for all of them), instead of one
hop and one statement each. With no load a batch is a single request, read at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import anyio
from anyio.to_thread import run_sync

from zyntro.errors import unwrap

A = TypeVar("A")
R = TypeVar("R")

MAX_BATCH = 64  # requests in one statement
MAX_IN_FLIGHT = 4  # batches read at once (each holds one of the reader's connections)


class Coalescer(Generic[A, R]):
    """`await coalescer(item)`: the result for `item` of `batch([..., item, ...])`.

    `batch` runs in a worker thread and returns, for each item in order, its result or the
    exception that request must raise. If `batch` itself raises (the database is away), every
    request of that batch raises it.
    """

    def __init__(
        self,
        batch: Callable[[list[A]], Sequence[R | Exception]],
        limiter: anyio.CapacityLimiter,
        max_batch: int = MAX_BATCH,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._batch = batch
        self._limiter = limiter
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._waiting: list[tuple[A, asyncio.Future[R | Exception]]] = []
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, item: A) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R | Exception] = loop.create_future()
        self._waiting.append((item, future))
        self._schedule(loop)
        return unwrap(await future)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        # At the end of this turn of the loop, so the requests already runnable join the batch.
        if not self._scheduled and self._in_flight < self._max_in_flight:
            self._scheduled = True
            loop.call_soon(self._start, loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        while self._waiting and self._in_flight < self._max_in_flight:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            self._in_flight += 1
            task = loop.create_task(self._run(batch))
            self._tasks.add(task)  # a reference, so the task is not collected mid-flight
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[A, asyncio.Future[R | Exception]]]) -> None:
        try:
            items = [item for item, _future in batch]
            results = await run_sync(self._batch, items, limiter=self._limiter)
        except Exception as exc:  # the whole read failed: each request answers for it
            for _item, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_item, future), result in zip(batch, results, strict=True):
                if not future.done():  # its request may have been cancelled meanwhile
                    future.set_result(result)
        finally:
            self._in_flight -= 1
            if self._waiting:
                self._schedule(asyncio.get_running_loop())
