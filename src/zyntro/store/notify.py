"""PostgreSQL LISTEN/NOTIFY for the change feed (docs/scaling.md).

A write transaction that records changes also sends one notification on `CHANNEL`; PostgreSQL
delivers it when (and only if) the transaction commits. Each server process keeps one
connection LISTENing and reads the change table when woken, instead of asking the table
four times a second whether anything moved. A slow fallback poll (the caller's) still runs, so
a notification lost with a dropped connection delays a change by seconds, never forever.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from zyntro.store.engine import normalise_url

CHANNEL = "zyntro_changes"
_NOTIFY = sa.text("SELECT pg_notify(:channel, '')")


def notify_changes(conn: sa.Connection) -> None:
    """Wake every listening process when `conn`'s transaction commits (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY, {"channel": CHANNEL})


class ChangeSignal:
    """One LISTEN connection of a process: `wait` returns when a change was committed."""

    def __init__(self, database_url: str) -> None:
        url = make_url(normalise_url(database_url)).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._conn: Any = None
        self._closed = False
        self._lock = threading.Lock()  # `close` runs on another thread than `wait`

    def wait(self, timeout: float) -> bool:
        """True when a change was notified within `timeout` seconds (or may have been missed,
        after a reconnect); False when the time ran out. Never raises."""
        import psycopg  # PostgreSQL only: SQLite processes never load it

        if self._closed:
            return False
        try:
            conn = self._conn
            if conn is None:
                conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
                try:
                    conn.execute(f"LISTEN {CHANNEL}")
                except BaseException:  # not yet ours to keep: close it here, not by the GC
                    _close_quietly(conn)
                    raise
                with self._lock:
                    if self._closed:  # closed while connecting
                        conn.close()
                        return False
                    self._conn = conn
                return True  # changes committed while no connection listened: read them
            woken = False
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                woken = True
            if woken:  # take the ones queued meanwhile too: one read covers them all
                for _ in conn.notifies(timeout=0.001):
                    pass
            return woken
        except psycopg.Error:
            with self._lock:
                conn, self._conn = self._conn, None
            _close_quietly(conn)
            if self._closed:
                return False
            time.sleep(min(timeout, 1.0))
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        _close_quietly(conn)


def _close_quietly(conn: Any) -> None:
    if conn is not None:
        try:
            conn.close()
        except Exception:  # a broken connection may fail to close; it is gone either way
            pass
