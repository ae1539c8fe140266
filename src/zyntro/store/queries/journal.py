"""The change rows other processes poll, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zyntro.store.tables import (
    audit_log,
    changes,
)


def record_change(conn: sa.Connection, kind: str, entity_id: str, moment: datetime) -> None:
    conn.execute(changes.insert().values(kind=kind, entity_id=entity_id, at=moment))


def changes_since(conn: sa.Connection, seq: int, limit: int) -> list[tuple[int, str, str]]:
    rows = conn.execute(
        sa.select(changes.c.seq, changes.c.kind, changes.c.entity_id)
        .where(changes.c.seq > seq)
        .order_by(changes.c.seq)
        .limit(limit)
    )
    return [(row.seq, row.kind, row.entity_id) for row in rows]


def change_signature(conn: sa.Connection) -> tuple[int, int]:
    """(highest seq, row count) of the change table: moves whenever a change commits."""
    row = conn.execute(
        sa.select(sa.func.coalesce(sa.func.max(changes.c.seq), 0), sa.func.count())
    ).one()
    return int(row[0]), int(row[1])


def prune_changes(conn: sa.Connection, before: datetime) -> None:
    conn.execute(changes.delete().where(changes.c.at < before))


def record_audit(
    conn: sa.Connection,
    *,
    org_id: str | None,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    moment: datetime,
) -> None:
    conn.execute(
        audit_log.insert().values(
            org_id=org_id,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            at=moment,
        )
    )


def list_audit(conn: sa.Connection, org_id: str, limit: int) -> list[sa.Row[Any]]:
    rows = conn.execute(
        sa.select(audit_log)
        .where(audit_log.c.org_id == org_id)
        .order_by(audit_log.c.seq.desc())
        .limit(limit)
    )
    return list(rows)
