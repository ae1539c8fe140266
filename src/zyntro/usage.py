"""`last_used_at` bookkeeping off the request path: at most one write per key a minute."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from zyntro.store import Store, queries

INTERVAL = timedelta(minutes=1)


class UsageRecorder:
    """Collects key uses in memory; `flush()` writes them in one transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._pending: dict[str, datetime] = {}
        self._written: dict[str, datetime] = {}

    def record(self, key_id: str, moment: datetime, stored: datetime | None) -> None:
        last = self._written.get(key_id) or stored
        if last is not None and moment - last < INTERVAL:
            return
        with self._lock:
            self._pending.setdefault(key_id, moment)

    def flush(self) -> int:
        """Write what is pending; returns how many keys were written."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            with self._store.write() as conn:
                queries.touch_keys(conn, pending.items())
        except Exception:
            with self._lock:  # keep them for the next flush; nothing is lost to a busy database
                for key_id, moment in pending.items():
                    self._pending.setdefault(key_id, moment)
            raise
        self._written.update(pending)
        if len(self._written) > 200_000:
            self._written.clear()
        return len(pending)
