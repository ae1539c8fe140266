"""`last_used_at` bookkeeping off the request path: at most one write per key a minute.

Requests only note the key in memory; `flush()` (every few seconds, in the background)
writes every noted key with one statement per 500 keys, stamped with the flush time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from zyntro.domain import utcnow
from zyntro.store import Store, queries

INTERVAL = timedelta(minutes=1)
_FORGET_AFTER = 200_000  # keys remembered as written; past this the memory starts over


class UsageRecorder:
    """Collects key uses in memory; `flush()` writes them in one transaction."""

    def __init__(self, store: Store, now: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._now = now  # the moment a flush stamps on the keys it writes
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._written: dict[str, datetime] = {}

    def record(self, key_id: str, moment: datetime, stored: datetime | None) -> None:
        last = self._written.get(key_id) or stored
        if last is not None and moment - last < INTERVAL:
            return
        if key_id not in self._pending:
            with self._lock:
                self._pending.add(key_id)

    def flush(self) -> int:
        """Write what is pending; returns how many keys were written."""
        with self._lock:
            pending, self._pending = self._pending, set()
        if not pending:
            return 0
        moment = self._now()
        try:
            with self._store.write() as conn:
                queries.touch_keys(conn, sorted(pending), moment)
        except Exception:
            with self._lock:  # kept for the next flush: a busy database loses no use
                self._pending |= pending
            raise
        if len(self._written) > _FORGET_AFTER:
            self._written.clear()
        self._written.update(dict.fromkeys(pending, moment))
        return len(pending)
