"""Many rows into one table at once, below SQLAlchemy's per-row work: an import writes a
segment, a revision and an event per row (and a delivery per interested webhook), and
compiling and type-processing each of those rows cost more than the database's own insert.

PostgreSQL: one `COPY ... FROM STDIN` in the connection's transaction. SQLite: one
`executemany` of a plain `INSERT`. The values are those an `insert()` would store: times as
aware datetimes (stored as naive UTC, as `tables.UTCDateTime` does), JSON already as text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


def insert_rows(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert `rows` (column -> value): one row through SQLAlchemy's ordinary `insert()`, many
    at once through `bulk_insert` (`columns`: the ones every row holds)."""
    if len(rows) == 1:
        conn.execute(table.insert(), [dict(rows[0])])
    elif rows:
        bulk_insert(conn, table, columns, [[row[name] for name in columns] for row in rows])


def bulk_insert(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert `rows` (tuples in the order of `columns`) into `table` in the open transaction."""
    if not rows:
        return
    names = ", ".join(f'"{name}"' for name in columns)
    to_stored = _time_converter(conn)
    times = [i for i, name in enumerate(columns) if _is_time(table.c[name].type)]
    stored: dict[datetime, Any] = {}  # an import's rows share a few moments

    def convert(row: Sequence[Any]) -> tuple[Any, ...]:
        if not times:
            return tuple(row)
        values = list(row)
        for i in times:
            moment = values[i]
            if moment is not None:
                if moment not in stored:
                    stored[moment] = to_stored(moment)
                values[i] = stored[moment]
        return tuple(values)

    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        assert driver is not None
        statement = f'COPY "{table.name}" ({names}) FROM STDIN'
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(convert(row))
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', [convert(row) for row in rows]
    )


def _is_time(kind: Any) -> bool:
    impl = getattr(kind, "impl", kind)
    return isinstance(impl, sa.DateTime)


def _time_converter(conn: sa.Connection) -> Callable[[datetime], Any]:
    """Aware datetime -> what the driver is given for a `UTCDateTime` column."""
    if conn.dialect.name == "postgresql":
        return lambda moment: _naive_utc(moment)
    process = sa.DateTime().dialect_impl(conn.dialect).bind_processor(conn.dialect)
    if process is None:
        return lambda moment: _naive_utc(moment)
    return lambda moment: process(_naive_utc(moment))


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return moment.astimezone(UTC).replace(tzinfo=None)
