"""In-process read caches for the public endpoint, and how they learn of changes.

Writes through this process's service invalidate at once (`Service.on_change`). Writes by any
other process or host (workers, the CLI, other nodes) reach every process through the
`changes` table, which `ChangeFeed.poll` reads a few times a second.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import Generic, TypeVar

from zyntro.domain import utcnow
from zyntro.identity import Principal
from zyntro.store import Store, queries

K = TypeVar("K")
V = TypeVar("V")

MISSING = object()


class LRUCache(Generic[K, V]):
    """A least-recently-used map bounded by an estimate of the bytes it holds."""

    def __init__(self, max_bytes: int, size_of: Callable[[K, V], int]) -> None:
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        # Bumped by every invalidation: a value read from the database before an invalidation
        # must not be stored after it (it may be the very data that just changed).
        self.generation = 0

    def get(self, key: K) -> V | object:
        """The value, or `MISSING`."""
        try:
            value, _size = self._items[key]
        except KeyError:
            return MISSING
        try:
            self._items.move_to_end(key)
        except KeyError:  # dropped by another thread meanwhile; the value read is still good
            pass
        return value

    def put(self, key: K, value: V, generation: int) -> None:
        """Store `value`, read from the database while `generation` was current."""
        size = self._size_of(key, value)
        if size > self.max_bytes:
            return
        with self._lock:
            if generation != self.generation:
                return
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes and self._items:
                _key, (_value, dropped) = self._items.popitem(last=False)
                self.bytes -= dropped

    def pop(self, key: K) -> None:
        with self._lock:
            self.generation += 1
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._items.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)


def _principal_size(key: str, value: object) -> int:
    # Measured with tracemalloc: the digest, a slotted record with its strings, the map slot
    # (a key's scopes, brands and allowlist are shared between principals: zyntro/access.py).
    return 680


def _body_size(key: str, value: tuple[str | None, bytes | None]) -> int:
    body = value[1]
    return 300 + sys.getsizeof(key) + (len(body) + 33 if body is not None else 0)


class ChangeFeed:
    """Reads the `changes` table and hands each change, once, to `apply`.

    On PostgreSQL, sequence numbers are taken before commit, so a slow transaction can
    commit a lower number after a higher one was seen. The feed therefore re-reads a small
    window below the highest number applied whenever the table's (max, count) moved.
    """

    WINDOW = 200
    PRUNE_AFTER_SECONDS = 3600.0
    # A process that could not poll for this long may have missed pruned rows: start over.
    STALE_AFTER_SECONDS = PRUNE_AFTER_SECONDS / 2

    def __init__(
        self,
        store: Store,
        apply: Callable[[str, str], None],
        reset: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._apply = apply
        self._reset = reset
        self._clock = clock  # monotonic seconds: staleness and the pruning interval
        self._signature: tuple[int, int] | None = None
        self._high = 0
        self._seen: set[int] = set()
        self._last_ok = clock()
        self._last_prune = -math.inf

    def start_at_current(self) -> None:
        """Follow from the current end: what has committed so far is already in every read,
        so the window's committed rows count as seen (only a late commit below the end is
        handed on, not the window again: that would drop cached keys for nothing)."""
        with self._store.read() as conn:
            self._signature = queries.change_signature(conn)
            self._high = self._signature[0]
            window = queries.changes_since(conn, max(0, self._high - self.WINDOW), self.WINDOW)
        self._seen = {seq for seq, _kind, _entity_id in window if seq <= self._high}
        self._last_ok = self._clock()

    def poll(self, notified: bool = False) -> int:
        """Apply what changed since the last poll; returns how many changes were applied.

        `notified`: a change is known to have committed (PostgreSQL NOTIFY), so the window is
        read straight away, without first counting the table to see whether it moved."""
        now = self._clock()
        if now - self._last_ok > self.STALE_AFTER_SECONDS:
            self._reset()
            self.start_at_current()
            return 0
        with self._store.read() as conn:
            signature = None if notified else queries.change_signature(conn)
            if signature is not None and signature == self._signature:
                self._last_ok = now
                return 0
            rows = queries.changes_since(conn, max(0, self._high - self.WINDOW), limit=5000)
        applied = 0
        for seq, kind, entity_id in rows:
            if seq in self._seen or seq <= self._high - self.WINDOW:
                continue
            self._apply(kind, entity_id)
            self._seen.add(seq)
            applied += 1
        if len(rows) >= 5000:  # more than we read in one go: drop everything rather than guess
            self._reset()
            self.start_at_current()
            return applied
        if rows:
            self._high = max(self._high, rows[-1][0])
        floor = self._high - self.WINDOW
        self._seen = {seq for seq in self._seen if seq > floor}
        if signature is not None:
            self._signature = signature
        self._last_ok = now
        return applied

    def prune(self) -> None:
        """Delete change rows older than an hour (any process may do it)."""
        now = self._clock()
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        with self._store.write() as conn:
            queries.prune_changes(conn, utcnow() - timedelta(seconds=self.PRUNE_AFTER_SECONDS))


class ReadCache:
    """API key digest → principal, and brand → pre-encoded success body."""

    def __init__(self, store: Store, max_bytes: int) -> None:
        # Two thirds for principals: 64 MiB of the default 96 is ~100,000 keys (the benchmark's
        # cold set), which a server then checks without the database. A third for bodies: 32
        # MiB is ~5,000 brands of 10 segments; at random over 100,000 brands, twice that would
        # still miss 90 % of the time, and a worker stays under 300 MB (docs/performance.md).
        principal_bytes = max_bytes * 2 // 3
        self.principals: LRUCache[str, Principal | None] = LRUCache(
            principal_bytes, _principal_size
        )
        # brand id → (org id, success body); (None, None) for no such brand; (org, None) empty.
        self.bodies: LRUCache[str, tuple[str | None, bytes | None]] = LRUCache(
            max_bytes - principal_bytes, _body_size
        )
        self.feed = ChangeFeed(store, self.invalidate, self.clear)

    def invalidate(self, kind: str, entity_id: str) -> None:
        if kind == "brand":
            self.bodies.pop(entity_id)
        elif kind == "principal":  # entity_id is the key's digest
            self.principals.pop(entity_id)
        elif kind in ("key", "member"):  # rows of older versions: drop every key
            self.principals.clear()
        else:
            self.clear()

    def clear(self) -> None:
        self.principals.clear()
        self.bodies.clear()
