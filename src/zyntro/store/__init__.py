"""Storage: the schema, migrations, engines and every query the service runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from zyntro.store.engine import create_engine, is_sqlite, writer_gate

# ("read" or "write") -> the span around one transaction, when the app traces (zyntro.tracing)
Spans = Callable[[str], AbstractContextManager[None]]
_UNTRACED: AbstractContextManager[None] = nullcontext()


class Store:
    """One engine and its transactions. All SQL lives in `zyntro.store.queries`."""

    def __init__(self, url: str, **engine_kwargs: object) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        self.engine = create_engine(url, **engine_kwargs)
        # `dispose` closes the pooled connections, but one checked out meanwhile (a background
        # round still running) would go back to the discarded pool, open, until the garbage
        # collector, which SQLAlchemy leaves the closing to: psycopg warns there, and the
        # database keeps the session. Each checkout notes the pool's generation; a connection
        # returned after a dispose is closed at once.
        self._generation = 0
        event.listen(self.engine, "checkout", self._note_generation)
        event.listen(self.engine, "checkin", self._close_if_discarded)
        self.spans: Spans | None = None  # set when the app traces
        self._gate = writer_gate(url)

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A transaction that commits on success and rolls back on any error."""
        with (
            self._gate(),
            _UNTRACED if self.spans is None else self.spans("write"),
            self.engine.connect().execution_options(zyntro_write=True) as conn,
            conn.begin(),
        ):
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with (
            _UNTRACED if self.spans is None else self.spans("read"),
            self.engine.connect() as conn,
            conn.begin(),
        ):
            yield conn

    def ping(self) -> None:
        """Raise when the database does not answer."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self._generation += 1
        self.engine.dispose()

    def _note_generation(self, _dbapi: Any, record: Any, _proxy: Any) -> None:
        record.info["zyntro_generation"] = self._generation

    def _close_if_discarded(self, dbapi: Any, record: Any) -> None:
        if dbapi is not None and record.info.get("zyntro_generation") != self._generation:
            dbapi.close()


__all__ = ["Store"]
