"""Key usage bookkeeping off the request path: `last_used_at` (at most one write per key a
minute) and requests and errors per key and day.

Requests only note the key in memory; `flush()` (every few seconds, in the background)
writes every noted key with one statement per 500 keys, stamped with the flush time, and once
a minute adds the counts to each key's row of the day of that flush (UTC): a request in the
last minute before midnight may count on the next day.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from zyntro.domain import utcnow
from zyntro.store import Store, queries

INTERVAL = timedelta(minutes=1)
_INTERVAL_SECONDS = INTERVAL.total_seconds()
_FORGET_AFTER = 200_000  # keys remembered as written; past this the memory starts over


class UsageRecorder:
    """Collects key uses in memory; `flush()` writes them in one transaction."""

    def __init__(self, store: Store, now: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._now = now  # the moment a flush stamps on the keys it writes
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._written: dict[str, float] = {}  # key id -> epoch seconds of its last stamp
        self._requests: defaultdict[str, int] = defaultdict(int)
        self._errors: defaultdict[str, int] = defaultdict(int)
        self._counted_at = now()  # when the counts were last written

    def record(self, key_id: str, moment: float, stored: float | None) -> None:
        """A use of the key at `moment`; `stored`: its `last_used_at` as read (epoch seconds,
        as `Principal.last_used`: this runs on every request)."""
        last = self._written.get(key_id, stored)
        if last is not None and moment - last < _INTERVAL_SECONDS:
            return
        if key_id not in self._pending:
            with self._lock:
                self._pending.add(key_id)

    def count(self, key_id: str, error: bool) -> None:
        """One answered request of the key (an error: any status of 400 or more)."""
        with self._lock:
            self._requests[key_id] += 1
            if error:
                self._errors[key_id] += 1

    def flush(self, everything: bool = True) -> int:
        """Write what is pending; returns how many keys' `last_used_at` were written. The
        counts go at most once a minute unless `everything` (a flush at shutdown, tests):
        one row per active key and flush, so a busy server with many keys writes few."""
        moment = self._now()
        counts_due = everything or moment - self._counted_at >= INTERVAL
        with self._lock:
            pending, self._pending = self._pending, set()
            if counts_due:
                requests, self._requests = self._requests, defaultdict(int)
                errors, self._errors = self._errors, defaultdict(int)
            else:
                requests, errors = defaultdict(int), defaultdict(int)
        if counts_due:
            self._counted_at = moment
        if not pending and not requests:
            return 0
        day = moment.date()
        rows = [(key_id, day, count, errors.get(key_id, 0)) for key_id, count in requests.items()]
        try:
            with self._store.write() as conn:
                if pending:
                    queries.touch_keys(conn, sorted(pending), moment)
                if rows:
                    queries.add_key_usage(conn, sorted(rows))
        except Exception:
            with self._lock:  # kept for the next flush: a busy database loses no use
                self._pending |= pending
                for key_id, _day, count, failed in rows:
                    self._requests[key_id] += count
                    self._errors[key_id] += failed
            raise
        if len(self._written) > _FORGET_AFTER:
            self._written.clear()
        self._written.update(dict.fromkeys(pending, moment.timestamp()))
        return len(pending)
