"""Requests and errors per API key and day: added up in memory, written in batches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from zyntro.store.tables import api_key_usage

UsageRow = tuple[str, date, int, int]  # (key id, day, requests, errors)


def add_key_usage(conn: sa.Connection, rows: Sequence[UsageRow]) -> None:
    """Add the counts to each key's day: one upsert statement, executed for every row (a
    multi-row VALUES would be compiled anew for each batch, which costs far more)."""
    if not rows:
        return
    insert: Any = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
    statement = insert(api_key_usage)
    statement = statement.on_conflict_do_update(
        index_elements=[api_key_usage.c.key_id, api_key_usage.c.day],
        set_={
            "requests": api_key_usage.c.requests + statement.excluded.requests,
            "errors": api_key_usage.c.errors + statement.excluded.errors,
        },
    )
    conn.execute(
        statement,
        [
            {"key_id": key_id, "day": day, "requests": requests, "errors": errors}
            for key_id, day, requests, errors in rows
        ],
    )


def key_usage(conn: sa.Connection, key_id: str, since: date) -> dict[date, tuple[int, int]]:
    """day -> (requests, errors) of one key, from `since` on."""
    rows = conn.execute(
        sa.select(api_key_usage.c.day, api_key_usage.c.requests, api_key_usage.c.errors).where(
            api_key_usage.c.key_id == key_id, api_key_usage.c.day >= since
        )
    )
    return {row.day: (row.requests, row.errors) for row in rows}


def usage_totals(
    conn: sa.Connection, key_ids: Sequence[str], since: date
) -> dict[str, tuple[int, int]]:
    """key id -> (requests, errors) from `since` on, for the keys that have any."""
    if not key_ids:
        return {}
    rows = conn.execute(
        sa.select(
            api_key_usage.c.key_id,
            sa.func.sum(api_key_usage.c.requests),
            sa.func.sum(api_key_usage.c.errors),
        )
        .where(api_key_usage.c.key_id.in_(list(key_ids)), api_key_usage.c.day >= since)
        .group_by(api_key_usage.c.key_id)
    )
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}
