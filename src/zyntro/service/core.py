"""The service's shared state: the store, the public read path, and the write scope."""

from __future__ import annotations

from zyntro.service.reader import AudienceReader
from zyntro.service.recording import EventListener, Listener, WriteScope
from zyntro.store import Store
from zyntro.store.notify import ChangeSignal
from zyntro.usage import UsageRecorder

DEFAULT_CACHE_BYTES = 128 * 1024 * 1024


class ServiceCore:
    """What every part of the service works over; each concept's use cases extend it."""

    def __init__(self, store: Store, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.store = store
        self.usage = UsageRecorder(store)
        self.reader = AudienceReader(store, cache_bytes, self.usage)
        # Called with (kind, entity_id) after a write commits; the read caches listen here.
        self.on_change: list[Listener] = [self.reader.invalidate]
        # Called with each event (`EventNote`) after its transaction commits; see record_event.
        self.on_event: list[EventListener] = []

    def _write(self) -> WriteScope:
        return WriteScope(self.store, self.on_change, self.on_event)

    def flush_usage(self) -> int:
        """Write the keys' pending `last_used_at` stamps; returns how many were written."""
        return self.usage.flush()

    def follow_changes(self, notified: bool = False) -> None:
        """Apply other processes' writes to the read caches (the server polls this)."""
        self.reader.follow_changes(notified)

    def change_signal(self) -> ChangeSignal | None:
        """What wakes the change feed when another process commits a change: a LISTEN
        connection on PostgreSQL; None on SQLite (one machine: polling a file is cheap)."""
        if self.store.is_sqlite:
            return None
        return ChangeSignal(self.store.url)

    def close(self) -> None:
        """Close every database connection this service holds."""
        self.reader.close()
        self.store.dispose()
