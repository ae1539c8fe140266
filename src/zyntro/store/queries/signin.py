"""The sign-in throttle's counters and the dashboard's sessions."""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zyntro.domain import (
    Member,
)
from zyntro.store.queries.accounts import member_from_row
from zyntro.store.tables import (
    dashboard_sessions,
    members,
    sign_in_throttle,
)


def claim_sign_in_throttle(conn: sa.Connection, key: str, now: datetime) -> Any:
    """The throttle row of `key` (created empty when missing), locked until the transaction
    ends: an upsert takes PostgreSQL's row lock even for a new row; SQLite's write lock
    already serialises writers. Claim keys in sorted order, so two attempts never deadlock."""
    # The dialect's own INSERT (for ON CONFLICT), imported when first used: the CLI's read
    # commands never pay for it.
    dialect: Any = importlib.import_module(f"sqlalchemy.dialects.{conn.dialect.name}")
    statement = dialect.insert(sign_in_throttle).values(
        key=key, failures=0, window_started_at=now, locked_until=None, lockouts=0
    )
    statement = statement.on_conflict_do_update(
        index_elements=[sign_in_throttle.c.key],
        set_={"failures": sign_in_throttle.c.failures},  # no change: only the lock is wanted
    ).returning(*sign_in_throttle.c)
    return conn.execute(statement).one()


def update_sign_in_throttle(
    conn: sa.Connection,
    key: str,
    *,
    failures: int,
    window_started_at: datetime,
    locked_until: datetime | None,
    lockouts: int,
) -> None:
    conn.execute(
        sign_in_throttle.update()
        .where(sign_in_throttle.c.key == key)
        .values(
            failures=failures,
            window_started_at=window_started_at,
            locked_until=locked_until,
            lockouts=lockouts,
        )
    )


def delete_sign_in_throttle(conn: sa.Connection, key: str) -> None:
    conn.execute(sign_in_throttle.delete().where(sign_in_throttle.c.key == key))


def prune_sign_in_throttle(conn: sa.Connection, quiet_before: datetime) -> None:
    """Forget counters whose window began, and whose lock (if any) ended, before
    `quiet_before`. Rows another transaction holds are skipped (PostgreSQL), never waited for."""
    t = sign_in_throttle
    keys = sa.select(t.c.key).where(
        t.c.window_started_at < quiet_before,
        sa.or_(t.c.locked_until.is_(None), t.c.locked_until < quiet_before),
    )
    if conn.dialect.name == "postgresql":
        keys = keys.with_for_update(skip_locked=True)
    conn.execute(t.delete().where(t.c.key.in_(keys)))


def insert_session(conn: sa.Connection, session_id: str, member_id: str, moment: datetime) -> None:
    conn.execute(
        dashboard_sessions.insert().values(id=session_id, member_id=member_id, created_at=moment)
    )


def session_member(
    conn: sa.Connection, session_id: str, member_id: str, started_after: datetime
) -> tuple[Member, str | None] | None:
    """The member of a session begun after `started_after`, with its password hash."""
    row = conn.execute(
        sa.select(members)
        .join(dashboard_sessions, dashboard_sessions.c.member_id == members.c.id)
        .where(
            dashboard_sessions.c.id == session_id,
            dashboard_sessions.c.member_id == member_id,
            dashboard_sessions.c.created_at > started_after,
        )
    ).first()
    return (member_from_row(row), row.password_hash) if row else None


def delete_session(conn: sa.Connection, session_id: str) -> None:
    conn.execute(dashboard_sessions.delete().where(dashboard_sessions.c.id == session_id))


def delete_member_sessions(conn: sa.Connection, member_id: str) -> None:
    conn.execute(dashboard_sessions.delete().where(dashboard_sessions.c.member_id == member_id))


def prune_sessions(conn: sa.Connection, started_before: datetime) -> None:
    conn.execute(
        dashboard_sessions.delete().where(dashboard_sessions.c.created_at < started_before)
    )
