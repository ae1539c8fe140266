"""Rate limits of the public endpoint: per API key, and per client address for invalid keys.

Counting is a fixed window: in-process memory by default (a dict, see `_MemoryCounters`), or
the `limits` library's Redis storage (`ZYNTRO_REDIS_URL`) so that every node shares the counts.
If Redis cannot be reached the limits fail open: requests are served uncounted, and a warning
is logged at most once a minute. Why, in docs/decisions.md ("Rate limits").
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import limits

from zyntro.observability import log

# Response headers as text: RSGI takes them so; the ASGI adapter encodes them.
Headers = list[tuple[str, str]]

POLICY = "default"
# After a Redis failure, requests go uncounted for this long before Redis is tried again, so
# an unreachable Redis costs one connection attempt a second, not one per request.
REDIS_RETRY_SECONDS = 1.0
REDIS_TIMEOUT_SECONDS = 0.25
WARN_EVERY_SECONDS = 60.0
# The most client addresses remembered (windows, blocks) and window ends learned from Redis.
_LOCAL_ENTRIES = 100_000

_V = TypeVar("_V")


class Clock(Protocol):
    """What the limits read the time from: the `time` module, or a test's clock."""

    def time(self) -> float:
        """Seconds since the epoch: windows end at such a moment (and Redis speaks it too)."""
        ...

    def monotonic(self) -> float:
        """Seconds for intervals: the pause after a Redis failure, the warnings' spacing."""
        ...


class _MemoryCounters:
    """Fixed windows of one policy in this process: identifier -> [end of window, count].

    Hand-written rather than `limits`' MemoryStorage, which costs several times more a request
    (a lock, an expiry map, a sweep thread); scripts/bench_ratelimit.py measures both, figures
    in docs/decisions.md ("Rate limits"), and the warm benchmark could not spare it. Every
    request of the endpoint runs on the event loop's thread, so the map needs no lock.

    The map keeps windows in the order they opened, which for one policy (one window length)
    is the order they end: opening a window first drops the ended ones at the front, so only
    live windows are held, at a constant cost per window. `limit` caps the live ones: past it
    the oldest is dropped (that identifier's count starts over). The per-key windows have no
    cap, as only a valid key opens one; the per-address windows have (docs/decisions.md).
    """

    def __init__(self, clock: Clock = time, limit: int | None = None) -> None:
        self._clock = clock
        self._limit = limit
        self._windows: OrderedDict[str, list[float]] = OrderedDict()

    def hit(self, key: str, expiry: int) -> tuple[int, float]:
        """Count one request: the count in the current window and when it ends (epoch s)."""
        now = self._clock.time()
        window = self._windows.get(key)
        if window is None or window[0] <= now:
            self._windows.pop(key, None)  # its new window goes to the back
            _make_room(self._windows, now, _window_end, self._limit)
            window = self._windows[key] = [now + expiry, 0.0]
        window[1] += 1
        return int(window[1]), window[0]

    def reset(self) -> None:
        self._windows.clear()

    def __len__(self) -> int:
        return len(self._windows)


def _window_end(window: list[float]) -> float:
    return window[0]


def _make_room(
    entries: OrderedDict[str, _V], now: float, end: Callable[[_V], float], limit: int | None
) -> None:
    """Before adding to `entries` (oldest first): drop those that ended by `now`, and the
    oldest live one when `limit` is reached."""
    while entries and end(next(iter(entries.values()))) <= now:
        entries.popitem(last=False)
    if limit is not None and len(entries) >= limit:
        entries.popitem(last=False)


class _RedisCounters:
    """Counts in Redis (one Lua INCR+EXPIRE per request), shared by every node."""

    def __init__(self, url: str, prefix: str) -> None:
        from limits.aio.storage import RedisStorage
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        options: dict[str, Any] = {
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
            "retry": Retry(NoBackoff(), 0),  # fail fast: the caller fails open instead
        }
        self.storage = RedisStorage(
            url if url.startswith("async+") else f"async+{url}",
            implementation="redispy",
            key_prefix=prefix,
            wrap_exceptions=True,
            **options,
        )
        # key -> end of its window as last learned: the TTL costs a second round trip, so it
        # is asked once per key and window rather than on every request.
        self._resets: dict[str, float] = {}

    async def hit(self, key: str, expiry: int) -> tuple[int, float]:
        """Count one request: the count in the current window and when it ends (epoch s)."""
        count = await self.storage.incr(key, expiry)
        now = time.time()
        if count == 1:
            reset = now + expiry  # this request opened the window
        else:
            reset = self._resets.get(key, 0.0)
            if reset > now:
                return count, reset
            reset = await self.storage.get_expiry(key)
        if len(self._resets) >= _LOCAL_ENTRIES:
            _prune(self._resets, now)
        self._resets[key] = reset
        return count, reset

    async def clear(self) -> None:
        await self.storage.reset()
        self._resets.clear()

    async def aclose(self) -> None:
        bridge: Any = self.storage.bridge
        await bridge.get_connection().aclose()


class _Policy:
    """One limit (e.g. 600/minute) and its pre-encoded `RateLimit-Policy` header."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.item = limits.parse(text)
        self.quota = self.item.amount
        self.window = self.item.get_expiry()
        self.header = ("ratelimit-policy", f'"{POLICY}";q={self.quota};w={self.window}')
        # For answers that counted nothing (the request never got as far as a key).
        self.untouched: Headers = [self.header, self._state(self.quota, self.window)]

    def key(self, identifier: str) -> str:
        return f"{self.name}/{identifier}"

    @staticmethod
    def _state(remaining: int, seconds: int) -> tuple[str, str]:
        return ("ratelimit", f'"{POLICY}";r={remaining};t={seconds}')

    def verdict(self, count: int, reset: float, now: float) -> tuple[bool, Headers]:
        seconds = max(0, math.ceil(reset - now))
        remaining = self.quota - count
        if remaining >= 0:
            return True, [self.header, self._state(remaining, seconds)]
        return False, [
            self.header,
            self._state(0, seconds),
            ("retry-after", str(max(1, seconds))),
        ]


class RateLimits:
    """The public endpoint's limits: per API key, and per client address for invalid keys."""

    def __init__(
        self,
        key_limit: str = "600/minute",
        invalid_key_limit: str = "60/minute",
        redis_url: str | None = None,
        redis_prefix: str = "zyntro",
        clock: Clock = time,
    ) -> None:
        self.per_key = _Policy("key", key_limit)
        self.per_client = _Policy("invalid", invalid_key_limit)
        self.shared = redis_url is not None
        self._clock = clock
        # When windows end: in memory by `clock`; with Redis by its TTLs, which `limits`
        # turns into moments with `time.time()`, so the answers read that clock too.
        self._now = clock.time if redis_url is None else time.time
        # Each policy's windows apart: invalid keys from many addresses cannot push out the
        # windows of valid keys.
        self._key_windows = _MemoryCounters(clock) if redis_url is None else None
        self._address_windows = (
            _MemoryCounters(clock, _LOCAL_ENTRIES) if redis_url is None else None
        )
        self._redis = (
            _RedisCounters(redis_url, f"{redis_prefix}:ratelimit")
            if redis_url is not None
            else None
        )
        self._paused_until = 0.0
        self._warned_at = -math.inf
        # client address -> end of the window in which it went over its invalid-key quota,
        # oldest first; capped like the address windows
        self._blocked: OrderedDict[str, float] = OrderedDict()

    @property
    def untouched(self) -> Headers:
        """The headers of an answer that counted nothing."""
        return self.per_key.untouched

    async def hit_key(self, key_id: str) -> tuple[bool, Headers]:
        """Count a request of a valid key: whether it may go on, and the RateLimit headers."""
        counted = await self._hit(self.per_key, self._key_windows, key_id)
        if counted is None:
            return True, self.per_key.untouched
        return self.per_key.verdict(*counted, self._now())

    def hit_key_local(self, key_id: str) -> tuple[bool, Headers] | None:
        """`hit_key` without a suspension when counts live in this process (the common case);
        None when they are shared through Redis and `hit_key` must be awaited."""
        if self._key_windows is None:
            return None
        policy = self.per_key
        count, reset = self._key_windows.hit(key_id, policy.window)
        return policy.verdict(count, reset, self._now())

    async def hit_invalid_key(self, client: str) -> tuple[bool, Headers]:
        """Count a request with an invalid key against the client's address."""
        counted = await self._hit(self.per_client, self._address_windows, client)
        if counted is None:
            return True, self.per_client.untouched
        now = self._now()
        allowed, headers = self.per_client.verdict(*counted, now)
        if not allowed and self._blocked.get(client) != counted[1]:
            self._blocked.pop(client, None)  # blocked again, in a later window: to the back
            _make_room(self._blocked, now, float, _LOCAL_ENTRIES)
            self._blocked[client] = counted[1]
        return allowed, headers

    def blocked(self, client: str) -> Headers | None:
        """The 429 headers when this address is over its invalid-key quota, else None.

        Asked before a key that is not cached goes to the database, so an address that keeps
        sending invalid keys cannot make the database work for it.
        """
        if not self._blocked:
            return None
        reset = self._blocked.get(client)
        if reset is None:
            return None
        now = self._now()
        if reset <= now:
            self._blocked.pop(client, None)
            return None
        return self.per_client.verdict(self.per_client.quota + 1, reset, now)[1]

    async def clear(self) -> None:
        """Forget every count and block (for tests and benchmarks)."""
        self._blocked.clear()
        for windows in (self._key_windows, self._address_windows):
            if windows is not None:
                windows.reset()
        if self._redis is not None:
            await self._redis.clear()

    async def aclose(self) -> None:
        """Close the connections to Redis (the app's shutdown)."""
        if self._redis is None:
            return
        try:
            await self._redis.aclose()
        except Exception as exc:  # closing a connection to a server that is gone
            log.warning("could not close the rate limit storage: %s", type(exc).__name__)

    async def _hit(
        self, policy: _Policy, windows: _MemoryCounters | None, identifier: str
    ) -> tuple[int, float] | None:
        if windows is not None:
            return windows.hit(identifier, policy.window)
        assert self._redis is not None
        if self._paused_until and self._clock.monotonic() < self._paused_until:
            return None
        try:
            return await self._redis.hit(policy.key(identifier), policy.window)
        except Exception as exc:  # Redis away or slow: fail open (docs/security.md)
            self._storage_failed(exc)
            return None

    def _storage_failed(self, exc: Exception) -> None:
        now = self._clock.monotonic()
        self._paused_until = now + REDIS_RETRY_SECONDS
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning(
                "rate limit storage unavailable, serving requests uncounted: %s",
                type(exc.__cause__ or exc).__name__,
            )


class Quota:
    """One more limit, counted where `limits` counts (this process, or the same Redis, failing
    open the same way): drafting's per member and per organization (docs/ai.md)."""

    def __init__(self, name: str, text: str, limits: RateLimits, clock: Clock = time) -> None:
        self._policy = _Policy(name, text)
        self._limits = limits
        self._windows = None if limits.shared else _MemoryCounters(clock)

    async def hit(self, identifier: str) -> tuple[bool, Headers]:
        """Count one use: whether it may go on, and the RateLimit headers (Retry-After when
        not)."""
        counted = await self._limits._hit(self._policy, self._windows, identifier)
        if counted is None:
            return True, self._policy.untouched
        return self._policy.verdict(*counted, self._limits._now())


def _prune(entries: dict[str, float], now: float) -> None:
    """Drop entries whose window has ended; if that frees too little, drop them all (a cache
    of what Redis knows: what is dropped is asked again)."""
    for key in [key for key, reset in entries.items() if reset <= now]:
        del entries[key]
    if len(entries) >= _LOCAL_ENTRIES:
        entries.clear()


def check_limit(text: str) -> str:
    """`text` if it is a limit `limits` understands (e.g. `600/minute`), else ValueError."""
    try:
        item = limits.parse(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate limit like 600/minute") from None
    if item.amount < 1:
        raise ValueError(f"{text!r} allows no request at all")
    return text
