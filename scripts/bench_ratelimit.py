"""What the rate limiter adds to one public request, in microseconds (a micro-benchmark).

    python scripts/bench_ratelimit.py [--redis redis://127.0.0.1:6379/0]

Times `RateLimits.hit_key` alone (one hot key; 100,000 live keys, as in the cold benchmark)
and, for scale, a whole warm request through `PublicEndpoint` with and without the limiter,
driven in-process with no HTTP server. The 100,000-key case also times `limits`' stock
memory storage, whose sweep thread is why `zyntro.ratelimit` sweeps only every 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from limits.storage import MemoryStorage

from zyntro.api.public import PATH, PublicEndpoint
from zyntro.demo import create_demo_data
from zyntro.ratelimit import RateLimits
from zyntro.service import Service
from zyntro.store import Store

LOTS = "1000000000/minute"  # never refuses: every call does the full counting work


async def _per_call(call: Callable[[], Awaitable[Any]], seconds: float = 1.0) -> float:
    """CPU microseconds per call (every thread of the process: the stock storage's sweep
    thread counts too), timing batches of 1,000 for about `seconds` of CPU. CPU time, not
    wall time, so other load on the machine does not count; except for Redis, where the
    wait for the server is the cost and wall time is reported."""
    clock = time.perf_counter if _WALL else time.process_time
    for _ in range(1000):  # warm up
        await call()
    calls, started = 0, clock()
    while (elapsed := clock() - started) < seconds:
        for _ in range(1000):
            await call()
        calls += 1000
    return elapsed / calls * 1e6


_WALL = False


async def _limiter(redis_url: str | None) -> list[tuple[str, float]]:
    rows = []
    limits = RateLimits(LOTS, redis_url=redis_url, redis_prefix=f"bench_{secrets.token_hex(4)}")
    where = "redis" if redis_url else "memory"
    rows.append((f"hit_key, one key ({where})", await _per_call(lambda: limits.hit_key("key_1"))))
    if redis_url is None:
        many = [f"key_{n}" for n in range(100_000)]
        for key in many:
            await limits.hit_key(key)
        rows.append(
            (
                "hit_key, 100,000 live keys (memory)",
                await _per_call(lambda: limits.hit_key(random.choice(many))),
            )
        )
        stock = RateLimits(LOTS)
        stock._key_windows = _LimitsMemory()  # type: ignore[assignment]
        for key in many:
            await stock.hit_key(key)
        rows.append(
            (
                "  same with limits' stock MemoryStorage",
                await _per_call(lambda: stock.hit_key(random.choice(many)), seconds=2.0),
            )
        )
        rows.append(("random.choice alone", await _per_call(_choice(many))))
    await limits.clear()
    await limits.aclose()
    return rows


class _LimitsMemory:
    """`limits`' own MemoryStorage behind the interface of `_MemoryCounters`, to compare."""

    def __init__(self) -> None:
        self.storage = MemoryStorage()

    def hit(self, key: str, expiry: int) -> tuple[int, float]:
        count = self.storage.incr(key, expiry)
        return count, self.storage.get_expiry(key)

    def reset(self) -> None:
        self.storage.reset()


def _choice(many: list[str]) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        random.choice(many)

    return call


class _NoLimits(RateLimits):
    async def hit_key(self, key_id: str) -> tuple[bool, list[tuple[str, str]]]:
        return True, self.untouched

    def hit_key_local(self, key_id: str) -> tuple[bool, list[tuple[str, str]]]:
        return True, self.untouched


async def _requests() -> list[tuple[str, float]]:
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'bench.db'}"
    info = create_demo_data(url)
    service = Service(Store(url))
    body = (
        f'{{"api_key":"{info.api_key}","org_id":"{info.org_id}","brand_id":"{info.brand_id}"}}'
    ).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        pass

    rows = []
    for name, endpoint in (
        ("whole warm request, no limiter", PublicEndpoint(service, _NoLimits())),
        ("whole warm request, with limiter", PublicEndpoint(service, RateLimits(LOTS))),
    ):
        assert await endpoint(scope, receive, send, "bench") == 200
        rows.append((name, await _per_call(lambda e=endpoint: e(scope, receive, send, "b"))))
    service.store.dispose()
    return rows


async def main(redis_url: str | None) -> None:
    global _WALL
    rows = await _limiter(None)
    if redis_url:
        _WALL = True
        rows += [(f"{name} [wall]", micros) for name, micros in await _limiter(redis_url)]
        _WALL = False
    rows += await _requests()
    width = max(len(name) for name, _ in rows)
    for name, micros in rows:
        print(f"{name:<{width}}  {micros:8.2f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default=None, help="also time Redis at this URL")
    asyncio.run(main(parser.parse_args().redis))
