"""Every query the service runs. Parameterised SQLAlchemy Core only; no string-built SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zyntro.domain import ApiKey, Brand, Member, Organization, Role, Segment
from zyntro.store.tables import (
    api_keys,
    audit_log,
    brands,
    changes,
    members,
    organizations,
    segments,
)

# --- rows to domain objects ------------------------------------------------------------


def _org(row: sa.Row[Any]) -> Organization:
    return Organization(id=row.id, name=row.name, created_at=row.created_at)


def _brand(row: sa.Row[Any]) -> Brand:
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
    return Segment(
        id=row.id,
        brand_id=row.brand_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        initiated_by=row.initiated_by,
        label=row.segment_label,
        tag=row.segment_tag,
        type=row.segment_type,
        decision_drivers=row.segment_decision_drivers,
        pain_points=tuple(row.segment_pain_points),
        use_cases=tuple(row.segment_use_cases),
        tone=row.segment_tone,
        reasoning=row.reasoning,
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


def get_brand(conn: sa.Connection, brand_id: str) -> Brand | None:
    row = conn.execute(sa.select(brands).where(brands.c.id == brand_id)).first()
    return _brand(row) if row else None


def list_brands(conn: sa.Connection, org_id: str) -> list[Brand]:
    rows = conn.execute(sa.select(brands).where(brands.c.org_id == org_id).order_by(brands.c.id))
    return [_brand(row) for row in rows]


def rename_brand(conn: sa.Connection, brand_id: str, name: str) -> None:
    conn.execute(brands.update().where(brands.c.id == brand_id).values(name=name))


def delete_brand(conn: sa.Connection, brand_id: str) -> None:
    conn.execute(segments.delete().where(segments.c.brand_id == brand_id))
    conn.execute(brands.delete().where(brands.c.id == brand_id))


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


def revoke_key(conn: sa.Connection, key_id: str, moment: datetime) -> None:
    conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=moment)
    )


def principal_by_digest(conn: sa.Connection, digest: str) -> Any:
    """The key, its member and organization, for one digest (unique index)."""
    query = (
        sa.select(
            api_keys.c.id.label("key_id"),
            api_keys.c.expires_at,
            api_keys.c.revoked_at,
            api_keys.c.last_used_at,
            members.c.id.label("member_id"),
            members.c.org_id,
            members.c.role,
            members.c.active,
        )
        .join(members, members.c.id == api_keys.c.member_id)
        .where(api_keys.c.digest == digest)
    )
    return conn.execute(query).first()


def touch_keys(conn: sa.Connection, used: Iterable[tuple[str, datetime]]) -> None:
    """Record last use, never moving it backwards."""
    for key_id, moment in used:
        conn.execute(
            api_keys.update()
            .where(
                api_keys.c.id == key_id,
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
        "segment_label": segment.label,
        "segment_tag": segment.tag,
        "segment_type": segment.type,
        "segment_decision_drivers": segment.decision_drivers,
        "segment_pain_points": list(segment.pain_points),
        "segment_use_cases": list(segment.use_cases),
        "segment_tone": segment.tone,
        "reasoning": segment.reasoning,
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
