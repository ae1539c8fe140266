"""The public endpoint's two reads, on raw driver connections.

Each is one indexed lookup of the keys (or brands) its caches miss; SQLAlchemy still builds
and compiles the statements (parameterised, per dialect), but executing them on the driver
directly saves most of the per-query overhead, which on a cache miss is most of the request.
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from zyntro.access import build_principal
from zyntro.identity import Principal
from zyntro.store.tables import api_keys, brands, members

MAX_CONNECTIONS = 8

# A brand as the endpoint needs it: (org id, success body or None when it has no segments);
# (None, None) stands for a brand that does not exist.
BrandEntry = tuple[str | None, bytes | None]

# The public endpoint's reads: the keys and the brands its caches miss, any number in one
# statement (one, or the misses of concurrent requests read together).
# An organization key has no member (the outer join's NULLs). A rolled key's previous secret
# is found by `previous_digest`, in a second statement for the digests the first misses only
# (an unknown key, or a secret in its grace): the usual lookup stays one indexed read.
_KEY_COLUMNS = (
    api_keys.c.digest,
    api_keys.c.id,
    api_keys.c.expires_at,
    api_keys.c.revoked_at,
    api_keys.c.last_used_at,
    api_keys.c.member_id,
    api_keys.c.org_id,
    members.c.role,
    members.c.active,
    api_keys.c.scopes,
    api_keys.c.brands,
    api_keys.c.allowlist,
    api_keys.c.previous_digest,
    api_keys.c.previous_until,
)
_KEYS_AND_MEMBERS = api_keys.outerjoin(members, members.c.id == api_keys.c.member_id)
_PRINCIPALS = (
    sa.select(*_KEY_COLUMNS)
    .select_from(_KEYS_AND_MEMBERS)
    .where(api_keys.c.digest.in_(sa.bindparam("values", expanding=True)))
)
_PREVIOUS = (
    sa.select(*_KEY_COLUMNS)
    .select_from(_KEYS_AND_MEMBERS)
    .where(
        api_keys.c.previous_digest.is_not(None),  # the partial index's condition
        api_keys.c.previous_digest.in_(sa.bindparam("values", expanding=True)),
    )
)
_BRANDS = sa.select(brands.c.id, brands.c.org_id, brands.c.public_body).where(
    brands.c.id.in_(sa.bindparam("values", expanding=True))
)


class _ManyStatement:
    """A statement over a list of values (`IN (...)`); its SQL is made once per list length."""

    def __init__(
        self, statement: sa.Select[Any] | sa.CompoundSelect[Any], dialect: sa.Dialect
    ) -> None:
        self._compiled = statement.compile(dialect=dialect)
        self._sql: dict[int, tuple[str, list[int]]] = {}

    def render(self, values: list[str]) -> tuple[str, tuple[str, ...] | dict[str, str]]:
        made = self._sql.get(len(values))
        if made is None:
            state = self._compiled.construct_expanded_state({"values": values})
            # Positional drivers take the list once per place it appears in the statement.
            order = [int(name.rsplit("_", 1)[1]) - 1 for name in state.positiontup or ()]
            made = self._sql[len(values)] = (state.statement, order)
        sql, order = made
        if self._compiled.positional:
            return sql, tuple(values[index] for index in order)
        return sql, {f"values_{n}": value for n, value in enumerate(values, 1)}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a previous secret with no grace: long refused


def utc(value: Any) -> datetime | None:
    """A driver's timestamp (SQLite: text; PostgreSQL: naive datetime) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


class HotReader:
    """Up to `MAX_CONNECTIONS` raw connections, each used by one thread at a time."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._principals = _ManyStatement(_PRINCIPALS, engine.dialect)
        self._previous = _ManyStatement(_PREVIOUS, engine.dialect)
        self._brands = _ManyStatement(_BRANDS, engine.dialect)
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # A reader dropped without `close` (a service nobody closed) still closes its idle
        # connections, when it is collected, rather than leaving them to the driver's
        # destructor: psycopg warns there, and the database keeps the session until then.
        weakref.finalize(self, _close_all, self._idle)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        # PostgreSQL: results in binary. In text, a body (bytea) travels hex-encoded, twice its
        # size, encoded by the server and decoded here: a brand read took 24-26 µs in batches
        # of 8 against 14 µs in binary (docs/performance.md). SQLite's driver has no formats.
        self._formats: dict[str, bool] = (
            {"binary": True} if engine.dialect.name == "postgresql" else {}
        )

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        with self._slots:
            connection = None
            try:
                try:
                    connection = self._idle.get_nowait()
                except queue.Empty:
                    connection = self._connect()
                cursor = connection.cursor()
                try:
                    yield cursor
                finally:
                    cursor.close()
            except self._driver_error as exc:
                _close_quietly(connection)  # it may be broken (a restarted database)
                # As SQLAlchemy's own (OperationalError & co.), which the endpoint maps to 503.
                raise sa.exc.DBAPIError.instance(
                    None, None, exc, self._driver_error, dialect=self._engine.dialect
                ) from exc
            except BaseException:
                _close_quietly(connection)
                raise
            self._idle.put(connection)

    def _connect(self) -> Any:
        """A driver connection of the engine's kind (SQLite pragmas included), off its pool."""
        fairy = self._engine.raw_connection()
        fairy.detach()
        connection = fairy.dbapi_connection
        assert connection is not None
        if self._engine.dialect.name == "postgresql":
            connection.autocommit = True  # single reads: no BEGIN/ROLLBACK round trips
        # SQLite connections are already in autocommit (see store.engine._sqlite_pragmas).
        return connection

    def principals(self, digests: list[str]) -> dict[str, Principal]:
        """digest -> what the key stands for, for each digest found, in one statement."""
        sql, params = self._principals.render(digests)
        with self._cursor() as cursor:
            cursor.execute(sql, params, **self._formats)
            found = {row[0]: _principal(row, None) for row in cursor.fetchall()}
            if len(found) < len(digests):  # unknown, or a rolled key's previous secret
                missed = [digest for digest in digests if digest not in found]
                sql, params = self._previous.render(missed)
                cursor.execute(sql, params, **self._formats)
                for row in cursor.fetchall():
                    found[row[12]] = _principal(row, utc(row[13]) or _EPOCH)
        return found

    def brands(self, brand_ids: list[str]) -> dict[str, BrandEntry]:
        """brand id -> (org id, success body or None), for each brand found, in one statement."""
        sql, params = self._brands.render(brand_ids)
        with self._cursor() as cursor:
            cursor.execute(sql, params, **self._formats)
            rows = cursor.fetchall()
        return {row[0]: (row[1], bytes(row[2]) if row[2] is not None else None) for row in rows}

    def close(self) -> None:
        _close_all(self._idle)


def _close_all(idle: queue.SimpleQueue[Any]) -> None:
    while True:
        try:
            _close_quietly(idle.get_nowait())
        except queue.Empty:
            return


def _principal(row: Any, grace_until: datetime | None) -> Principal:
    """`grace_until`: for a rolled key's previous secret, the end of its grace."""
    expires = utc(row[2])
    if grace_until is not None and (expires is None or grace_until < expires):
        expires = grace_until
    return build_principal(
        key_id=row[1],
        member_id=row[5],
        org_id=row[6],
        role=row[7],
        active=row[8],
        expires_at=expires,
        revoked_at=utc(row[3]),
        last_used_at=utc(row[4]),
        scopes=row[9],
        brands=row[10],
        allowlist=row[11],
    )


def _close_quietly(connection: Any) -> None:
    if connection is None:
        return
    try:
        connection.close()
    except Exception:  # closing a broken connection may fail too; it is gone either way
        pass
