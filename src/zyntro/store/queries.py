"""Every query the service runs. Parameterised SQLAlchemy Core only; no string-built SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from zyntro.domain import (
    EDITABLE_FIELDS,
    LIST_FIELDS,
    ApiKey,
    Brand,
    Member,
    Organization,
    Role,
    Segment,
)
from zyntro.store.tables import (
    api_keys,
    audit_log,
    brands,
    changes,
    dashboard_sessions,
    idempotency_keys,
    members,
    organizations,
    segments,
    sign_in_throttle,
)

# --- rows to domain objects ------------------------------------------------------------


def _org(row: sa.Row[Any]) -> Organization:
    return Organization(id=row.id, name=row.name, created_at=row.created_at)


def _brand(row: Any) -> Brand:
    return Brand(id=row.id, org_id=row.org_id, name=row.name, created_at=row.created_at)


def _member(row: sa.Row[Any]) -> Member:
    return Member(
        id=row.id,
        org_id=row.org_id,
        email=row.email,
        name=row.name,
        role=Role(row.role),
        active=bool(row.active),
        created_at=row.created_at,
    )


def _key(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        member_id=row.member_id,
        prefix=row.prefix,
        label=row.label,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def segment_from_row(row: sa.Row[Any]) -> Segment:
    content: dict[str, Any] = {
        name: tuple(getattr(row, name)) if name in LIST_FIELDS else getattr(row, name)
        for name in EDITABLE_FIELDS
    }
    return Segment(
        id=row.id,
        brand_id=row.brand_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        initiated_by=row.initiated_by,
        **content,
    )


# --- organizations -----------------------------------------------------------------------


def insert_org(conn: sa.Connection, org: Organization) -> None:
    conn.execute(organizations.insert().values(id=org.id, name=org.name, created_at=org.created_at))


def get_org(conn: sa.Connection, org_id: str) -> Organization | None:
    row = conn.execute(sa.select(organizations).where(organizations.c.id == org_id)).first()
    return _org(row) if row else None


def list_orgs(conn: sa.Connection) -> list[Organization]:
    rows = conn.execute(sa.select(organizations).order_by(organizations.c.id))
    return [_org(row) for row in rows]


# --- brands ------------------------------------------------------------------------------


def insert_brand(conn: sa.Connection, brand: Brand) -> None:
    conn.execute(
        brands.insert().values(
            id=brand.id, org_id=brand.org_id, name=brand.name, created_at=brand.created_at
        )
    )


# Everything but public_body: the served body is the endpoint's to read (store.hot), and a
# brand list would otherwise load every brand's encoded segments.
_BRAND_COLUMNS = (brands.c.id, brands.c.org_id, brands.c.name, brands.c.created_at)


def get_brand(conn: sa.Connection, brand_id: str) -> Brand | None:
    row = conn.execute(sa.select(*_BRAND_COLUMNS).where(brands.c.id == brand_id)).first()
    return _brand(row) if row else None


def list_brands(conn: sa.Connection, org_id: str) -> list[Brand]:
    rows = conn.execute(
        sa.select(*_BRAND_COLUMNS).where(brands.c.org_id == org_id).order_by(brands.c.id)
    )
    return [_brand(row) for row in rows]


def rename_brand(conn: sa.Connection, brand_id: str, name: str) -> None:
    conn.execute(brands.update().where(brands.c.id == brand_id).values(name=name))


def delete_brand(conn: sa.Connection, brand_id: str) -> None:
    conn.execute(segments.delete().where(segments.c.brand_id == brand_id))
    conn.execute(brands.delete().where(brands.c.id == brand_id))


def set_brand_body(conn: sa.Connection, brand_id: str, body: bytes | None) -> None:
    """Store the brand's pre-encoded fetchAudiences body (NULL when it has no segments)."""
    conn.execute(brands.update().where(brands.c.id == brand_id).values(public_body=body))


# --- members -----------------------------------------------------------------------------


def insert_member(conn: sa.Connection, member: Member) -> None:
    conn.execute(
        members.insert().values(
            id=member.id,
            org_id=member.org_id,
            email=member.email,
            name=member.name,
            role=member.role.value,
            active=member.active,
            created_at=member.created_at,
        )
    )


def get_member(conn: sa.Connection, member_id: str) -> Member | None:
    row = conn.execute(sa.select(members).where(members.c.id == member_id)).first()
    return _member(row) if row else None


def get_member_by_email(conn: sa.Connection, org_id: str | None, email: str) -> Member | None:
    query = sa.select(members).where(members.c.email == email)
    if org_id is not None:
        query = query.where(members.c.org_id == org_id)
    row = conn.execute(query.order_by(members.c.id)).first()
    return _member(row) if row else None


def list_members(conn: sa.Connection, org_id: str) -> list[Member]:
    rows = conn.execute(sa.select(members).where(members.c.org_id == org_id).order_by(members.c.id))
    return [_member(row) for row in rows]


def lock_member(conn: sa.Connection, member_id: str) -> None:
    """Hold the member's row until the transaction ends (SQLite's write lock already does)."""
    if conn.dialect.name != "sqlite":
        conn.execute(sa.select(members.c.id).where(members.c.id == member_id).with_for_update())


def update_member(conn: sa.Connection, member_id: str, **values: Any) -> None:
    conn.execute(members.update().where(members.c.id == member_id).values(**values))


def get_password_hash(conn: sa.Connection, member_id: str) -> str | None:
    value = conn.execute(
        sa.select(members.c.password_hash).where(members.c.id == member_id)
    ).scalar_one_or_none()
    return str(value) if value is not None else None


# --- API keys ----------------------------------------------------------------------------


def insert_key(conn: sa.Connection, key: ApiKey, digest: str) -> None:
    conn.execute(
        api_keys.insert().values(
            id=key.id,
            member_id=key.member_id,
            digest=digest,
            prefix=key.prefix,
            label=key.label,
            created_at=key.created_at,
            expires_at=key.expires_at,
        )
    )


def get_key(conn: sa.Connection, key_id: str) -> ApiKey | None:
    row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
    return _key(row) if row else None


def list_keys(conn: sa.Connection, member_id: str) -> list[ApiKey]:
    rows = conn.execute(
        sa.select(api_keys).where(api_keys.c.member_id == member_id).order_by(api_keys.c.id)
    )
    return [_key(row) for row in rows]


def key_digests(
    conn: sa.Connection, *, key_id: str | None = None, member_id: str | None = None
) -> list[str]:
    """The digests of one key, or of every key of a member (what the read caches key on)."""
    query = sa.select(api_keys.c.digest)
    if key_id is not None:
        query = query.where(api_keys.c.id == key_id)
    if member_id is not None:
        query = query.where(api_keys.c.member_id == member_id)
    return list(conn.execute(query).scalars())


def revoke_key(conn: sa.Connection, key_id: str, moment: datetime) -> None:
    conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=moment)
    )


def touch_keys(conn: sa.Connection, key_ids: Sequence[str], moment: datetime) -> None:
    """Record that these keys were used at `moment`, never moving last_used_at backwards."""
    for start in range(0, len(key_ids), 500):
        conn.execute(
            api_keys.update()
            .where(
                api_keys.c.id.in_(key_ids[start : start + 500]),
                sa.or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < moment),
            )
            .values(last_used_at=moment)
        )


# --- segments ----------------------------------------------------------------------------

_SEGMENT_ORDER = (segments.c.created_at, segments.c.id)


def brand_segments(conn: sa.Connection, brand_id: str) -> list[Segment]:
    rows = conn.execute(
        sa.select(segments).where(segments.c.brand_id == brand_id).order_by(*_SEGMENT_ORDER)
    )
    return [segment_from_row(row) for row in rows]


def get_segment(conn: sa.Connection, segment_id: str) -> Segment | None:
    row = conn.execute(sa.select(segments).where(segments.c.id == segment_id)).first()
    return segment_from_row(row) if row else None


def segment_owners(conn: sa.Connection, segment_ids: Sequence[str]) -> dict[str, str]:
    """segment id -> brand id, for those of `segment_ids` that exist (any brand)."""
    owners: dict[str, str] = {}
    for start in range(0, len(segment_ids), 500):
        chunk = list(segment_ids[start : start + 500])
        rows = conn.execute(
            sa.select(segments.c.id, segments.c.brand_id).where(segments.c.id.in_(chunk))
        )
        owners.update({row.id: row.brand_id for row in rows})
    return owners


def _segment_values(segment: Segment) -> dict[str, Any]:
    return {
        "brand_id": segment.brand_id,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
        "initiated_by": segment.initiated_by,
        **{
            name: list(value) if name in LIST_FIELDS else value
            for name, value in segment.editable().items()
        },
    }


def insert_segments(conn: sa.Connection, rows: Sequence[Segment]) -> None:
    if rows:
        conn.execute(segments.insert(), [{"id": s.id, **_segment_values(s)} for s in rows])


def replace_segment(conn: sa.Connection, segment: Segment) -> None:
    conn.execute(
        segments.update().where(segments.c.id == segment.id).values(**_segment_values(segment))
    )


def delete_segment(conn: sa.Connection, segment_id: str) -> None:
    conn.execute(segments.delete().where(segments.c.id == segment_id))


# --- changes and audit -------------------------------------------------------------------


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


# --- dashboard and management API ------------------------------------------------------


def members_by_email(conn: sa.Connection, email: str) -> list[tuple[Member, str | None]]:
    """Every member with this email, in any organization, with its password hash."""
    rows = conn.execute(sa.select(members).where(members.c.email == email).order_by(members.c.id))
    return [(_member(row), row.password_hash) for row in rows]


def set_password_hash(conn: sa.Connection, member_id: str, password_hash: str | None) -> None:
    conn.execute(
        members.update().where(members.c.id == member_id).values(password_hash=password_hash)
    )


def members_with_password(conn: sa.Connection, org_id: str) -> set[str]:
    rows = conn.execute(
        sa.select(members.c.id).where(
            members.c.org_id == org_id, members.c.password_hash.is_not(None)
        )
    )
    return {row.id for row in rows}


def segment_counts(conn: sa.Connection, org_id: str) -> dict[str, int]:
    """brand id -> number of segments, for the brands of an organization that have any."""
    rows = conn.execute(
        sa.select(segments.c.brand_id, sa.func.count().label("n"))
        .join(brands, brands.c.id == segments.c.brand_id)
        .where(brands.c.org_id == org_id)
        .group_by(segments.c.brand_id)
    )
    return {row.brand_id: int(row.n) for row in rows}


def segments_page(
    conn: sa.Connection,
    brand_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    segment_type: str | None = None,
    updated_since: datetime | None = None,
) -> list[Segment]:
    """Up to `limit` segments of a brand in the endpoint's order, after a keyset position."""
    query = sa.select(segments).where(segments.c.brand_id == brand_id)
    if segment_type is not None:
        query = query.where(segments.c.segment_type == segment_type)
    if updated_since is not None:
        query = query.where(segments.c.updated_at >= updated_since)
    if after is not None:
        created_at, segment_id = after
        query = query.where(
            sa.or_(
                segments.c.created_at > created_at,
                sa.and_(segments.c.created_at == created_at, segments.c.id > segment_id),
            )
        )
    rows = conn.execute(query.order_by(*_SEGMENT_ORDER).limit(limit))
    return [segment_from_row(row) for row in rows]


# --- sign-in throttle and dashboard sessions ----------------------------------------------


def claim_sign_in_throttle(conn: sa.Connection, key: str, now: datetime) -> Any:
    """The throttle row of `key` (created empty when missing), locked until the transaction
    ends: an upsert takes PostgreSQL's row lock even for a new row; SQLite's write lock
    already serialises writers. Claim keys in sorted order, so two attempts never deadlock."""
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
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
    return (_member(row), row.password_hash) if row else None


def delete_session(conn: sa.Connection, session_id: str) -> None:
    conn.execute(dashboard_sessions.delete().where(dashboard_sessions.c.id == session_id))


def delete_member_sessions(conn: sa.Connection, member_id: str) -> None:
    conn.execute(dashboard_sessions.delete().where(dashboard_sessions.c.member_id == member_id))


def prune_sessions(conn: sa.Connection, started_before: datetime) -> None:
    conn.execute(
        dashboard_sessions.delete().where(dashboard_sessions.c.created_at < started_before)
    )


def get_idempotency_record(conn: sa.Connection, member_id: str, key: str) -> Any:
    """(request_hash, response, created_at) stored for a member's Idempotency-Key, or None."""
    return conn.execute(
        sa.select(idempotency_keys).where(
            idempotency_keys.c.member_id == member_id, idempotency_keys.c.key == key
        )
    ).first()


def insert_idempotency_record(
    conn: sa.Connection,
    member_id: str,
    key: str,
    request_hash: str,
    response: str,
    moment: datetime,
) -> None:
    conn.execute(
        idempotency_keys.insert().values(
            member_id=member_id,
            key=key,
            request_hash=request_hash,
            response=response,
            created_at=moment,
        )
    )


def prune_idempotency_records(conn: sa.Connection, before: datetime) -> None:
    conn.execute(idempotency_keys.delete().where(idempotency_keys.c.created_at < before))
