"""A table-by-table copy between any two databases (SQLite or PostgreSQL), rows unchanged.

`zyntro db copy` and every restore that crosses backends run through `copy_rows`: the
source is read in one snapshot (one read transaction), the target written in one transaction,
table after table in dependency order (`tables.metadata.sorted_tables`), in batches. Ids,
digests, timestamps and bodies go across as they are: JSON columns as their text (never decoded
and re-encoded), `public_body` as bytes, and the autoincrement sequences of `changes` and
`audit_log` keep their numbers (PostgreSQL's sequences are moved past them afterwards).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from zyntro.errors import ZyntroError
from zyntro.store import migrate, tables
from zyntro.store.engine import create_engine, normalise_url

BATCH_ROWS = 5_000

# (what, done, total): called as work advances; `what` names one bar (a table, "pages", …).
Report = Callable[[str, int, int], None]


def no_report(what: str, done: int, total: int) -> None:
    """A `Report` that shows nothing."""


def display_url(url: str) -> str:
    """The URL with its password hidden: fit for messages and logs."""
    return make_url(normalise_url(url)).render_as_string(hide_password=True)


def has_rows(engine: sa.Engine) -> bool:
    """Whether any of the schema's tables holds a row (absent tables hold none)."""
    with engine.connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
        for table in tables.metadata.sorted_tables:
            if (
                table.name in present
                and conn.execute(sa.select(1).select_from(table).limit(1)).first()
            ):
                return True
    return False


def drop_schema(engine: sa.Engine) -> None:
    """Drop the schema's tables and Alembic's version table, leaving any other table alone."""
    with engine.begin() as conn:
        present = set(sa.inspect(conn).get_table_names())
        for table in reversed(tables.metadata.sorted_tables):
            if table.name in present:
                table.drop(conn)
        if migrate.VERSION_TABLE in present:
            conn.exec_driver_sql(f"DROP TABLE {migrate.VERSION_TABLE}")


def require_current(engine: sa.Engine, what: str) -> str:
    """The source's revision, which must be the head one (the copy writes today's schema)."""
    revision = migrate.current_revision(engine)
    head = migrate.script_head() or migrate.head_revision(engine)
    if revision is None:
        raise ZyntroError(f"{what} has no Zyntro schema")
    if revision != head:
        raise ZyntroError(
            f"{what} is at schema revision {revision}, not {head}: "
            "run `zyntro db upgrade` on it first"
        )
    return revision


@contextmanager
def snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One read transaction: every table as it was at the same moment."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn


def _source_columns(table: sa.Table) -> list[sa.ColumnElement[Any]]:
    """Every column; JSON ones as their stored text, so nothing re-encodes them."""
    return [
        sa.cast(column, sa.Text()).label(column.name)
        if isinstance(column.type, sa.JSON)
        else column
        for column in table.columns
    ]


def _insert(table: sa.Table, dialect: str) -> tuple[sa.Insert, dict[str, str]]:
    """An INSERT taking JSON columns as text (`raw_<name>` parameters), and those renames."""
    raw: dict[str, Any] = {}
    renames: dict[str, str] = {}
    for column in table.columns:
        if isinstance(column.type, sa.JSON):
            param: sa.ColumnElement[Any] = sa.bindparam(f"raw_{column.name}", type_=sa.Text())
            # PostgreSQL casts text to json keeping its characters; SQLite stores the text.
            raw[column.name] = sa.cast(param, column.type) if dialect == "postgresql" else param
            renames[column.name] = f"raw_{column.name}"
    return table.insert().values(raw) if raw else table.insert(), renames


def _reset_sequences(conn: sa.Connection) -> None:
    """Move PostgreSQL's sequences past the copied numbers (the next row gets max + 1)."""
    for table in tables.metadata.sorted_tables:
        column = table.autoincrement_column
        if column is None:
            continue
        top = f"MAX({column.name})"
        conn.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"COALESCE({top}, 1), {top} IS NOT NULL) FROM {table.name}"
            ),
            {"table": table.name, "column": column.name},
        )


def copy_rows(source: sa.Engine, target: sa.Engine, report: Report = no_report) -> dict[str, int]:
    """Copy every row of the source into the (empty, current) target; rows copied per table."""
    copied: dict[str, int] = {}
    dialect = target.dialect.name
    with snapshot(source) as read, target.connect() as write_conn:
        write = write_conn.execution_options(zyntro_write=True)
        counts = {
            table.name: read.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in tables.metadata.sorted_tables
        }
        total, done = sum(counts.values()), 0
        report("rows", 0, total)
        with write.begin():
            for table in tables.metadata.sorted_tables:
                statement, renames = _insert(table, dialect)
                query = sa.select(*_source_columns(table)).order_by(*table.primary_key.columns)
                result = read.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(
                    query
                )
                copied[table.name] = 0
                for batch in result.partitions(BATCH_ROWS):
                    rows = [
                        {renames.get(name, name): value for name, value in row._mapping.items()}
                        for row in batch
                    ]
                    write.execute(statement, rows)
                    copied[table.name] += len(rows)
                    done += len(rows)
                    report("rows", done, total)
            if dialect == "postgresql":
                _reset_sequences(write)
    return copied


def copy_database(
    source_url: str, target_url: str, report: Report = no_report, *, replace: bool = False
) -> dict[str, int]:
    """`zyntro db copy`: the target must hold no rows (`replace`: its tables are dropped first).

    The caller takes a backup before asking to replace anything.
    """
    if normalise_url(source_url) == normalise_url(target_url):
        raise ZyntroError("the source and the target are the same database")
    source, target = create_engine(source_url), create_engine(target_url)
    try:
        require_current(source, f"the source database ({display_url(source_url)})")
        if has_rows(target):
            if not replace:
                raise ZyntroError(
                    f"the target database ({display_url(target_url)}) is not empty: "
                    "give --force to replace it (a backup of it is taken first)"
                )
            drop_schema(target)
        migrate.upgrade(target)
        return copy_rows(source, target, report)
    finally:
        source.dispose()
        target.dispose()
