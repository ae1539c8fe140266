"""Engines for SQLite (WAL, foreign keys, busy timeout) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 5000


def normalise_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3; everything else is passed through."""
    parsed = make_url(
        url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url
    )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(normalise_url(url)).get_backend_name() == "sqlite"


def create_engine(url: str, **kwargs: Any) -> sa.Engine:
    url = normalise_url(url)
    if is_sqlite(url):
        engine = sa.create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            hide_parameters=True,
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("hide_parameters", True)  # bound values (ids, digests) stay out of logs
    # No pre-ping (a round trip per checkout): a dropped connection fails one request with
    # 503, and SQLAlchemy then invalidates the whole pool.
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("connect_args", {"connect_timeout": 5})
    engine = sa.create_engine(url, **kwargs)
    event.listen(engine, "connect", _postgres_settings)
    return engine


def writer_gate(url: str) -> Callable[[], AbstractContextManager[None]]:
    """What a write transaction holds around itself. SQLite files: an exclusive `flock` on
    `<database>-writer`, taken in turns. SQLite's own busy handler polls with sleeps growing to
    100 ms: a writer that kept missing the lock behind a busy one waited most of a second
    (docs/decisions.md, "Writes at scale"). Polling the lock file alone is not fair either: a
    process that writes non-stop takes it again the moment it lets go, and another
    organization's write waited 188 ms behind it. So a writer first takes its turn on
    `<database>-writer-turn`, which it holds only while it waits for the writer lock: a writer
    that just finished finds the turn taken by the one waiting and lets it go first. A write
    then waits at most for the transaction in progress (and one queued before it). Anything
    else: nothing."""
    database = make_url(normalise_url(url)).database
    if not is_sqlite(url) or not database or database == ":memory:" or "mode=memory" in url:
        return nullcontext
    path = f"{database}-writer"
    turn_path = f"{database}-writer-turn"

    @contextmanager
    def gate() -> Iterator[None]:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            turn = os.open(turn_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                _lock_by(turn, deadline)
                _lock_by(fd, deadline)
            finally:
                os.close(turn)  # the turn goes to the next waiter once the lock is ours
            yield
        finally:
            os.close(fd)  # closing lets the lock go

    return gate


def _lock_by(fd: int, deadline: float) -> None:
    """Take the lock, or fail as SQLite's busy timeout does ("database is locked") at
    `deadline`: never wait for ever, so a writer stuck behind a transaction that does not end
    (or behind its own thread's) gets the usual 503 instead of hanging. Short sleeps (0.5 ms
    doubling to 5 ms), far below the busy handler's 100 ms."""
    delay = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                locked = sqlite3.OperationalError("database is locked")
                raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, locked) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.005)


def _sqlite_begin(conn: sa.Connection) -> None:
    # pysqlite's own transaction handling is off (see _sqlite_pragmas); a writing transaction
    # takes the write lock up front so it waits (busy_timeout) instead of failing on upgrade.
    write = conn.get_execution_options().get("zyntro_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _postgres_settings(dbapi_connection: Any, _record: Any) -> None:
    """Values this session stores out of line (a brand's served body, ~0.6 MB at 1,000
    segments, rewritten by every write to the brand) are compressed with lz4 where the server
    has it, not pglz: an edit in a 1,000-segment brand took 14.5-15.8 ms at p50 with pglz,
    10-11.6 with lz4 (docs/performance.md). A server built without lz4 keeps its default."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        row = cursor.fetchone()
        if row is not None and row[0]:
            cursor.execute("SET default_toast_compression = lz4")
    dbapi_connection.commit()  # the SET holds for the session


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # autocommit at the driver; SQLAlchemy emits BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()
