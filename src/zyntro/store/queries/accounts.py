"""Queries of organizations, brands, members and API keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zyntro.domain import (
    ApiKey,
    Brand,
    BrandProfile,
    Member,
    Organization,
    Role,
)
from zyntro.store.tables import (
    api_keys,
    brands,
    members,
    organizations,
    segments,
)


def _org(row: sa.Row[Any]) -> Organization:
    return Organization(id=row.id, name=row.name, created_at=row.created_at)


def _brand(row: Any) -> Brand:
    profile = BrandProfile(row.profile_offering, row.profile_audience, row.profile_voice)
    return Brand(
        id=row.id, org_id=row.org_id, name=row.name, created_at=row.created_at, profile=profile
    )


def member_from_row(row: sa.Row[Any]) -> Member:
    return Member(
        id=row.id,
        org_id=row.org_id,
        email=row.email,
        name=row.name,
        role=Role(row.role),
        active=bool(row.active),
        created_at=row.created_at,
    )


def _words(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(text.split())


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
        org_id=row.org_id,
        scopes=_words(row.scopes),
        brands=_words(row.brands),
        allowlist=_words(row.allowlist),
        previous_until=row.previous_until,
    )


def _text(values: tuple[str, ...] | None) -> str | None:
    return None if values is None else " ".join(values)


def insert_org(conn: sa.Connection, org: Organization) -> None:
    conn.execute(organizations.insert().values(id=org.id, name=org.name, created_at=org.created_at))


def get_org(conn: sa.Connection, org_id: str) -> Organization | None:
    row = conn.execute(sa.select(organizations).where(organizations.c.id == org_id)).first()
    return _org(row) if row else None


def list_orgs(conn: sa.Connection) -> list[Organization]:
    rows = conn.execute(sa.select(organizations).order_by(organizations.c.id))
    return [_org(row) for row in rows]


def insert_brand(conn: sa.Connection, brand: Brand) -> None:
    conn.execute(
        brands.insert().values(
            id=brand.id,
            org_id=brand.org_id,
            name=brand.name,
            created_at=brand.created_at,
            **_profile_values(brand.profile.to_public()),
        )
    )


def _profile_values(parts: dict[str, str]) -> dict[str, str]:
    return {f"profile_{name}": value for name, value in parts.items()}


# Everything but public_body: the served body is the endpoint's to read (store.hot), and a
# brand list would otherwise load every brand's encoded segments.
_BRAND_COLUMNS = (
    brands.c.id,
    brands.c.org_id,
    brands.c.name,
    brands.c.created_at,
    brands.c.profile_offering,
    brands.c.profile_audience,
    brands.c.profile_voice,
)


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


def set_brand_profile(conn: sa.Connection, brand_id: str, parts: dict[str, str]) -> None:
    """Change the given parts of the brand profile (`offering`, `audience`, `voice`)."""
    conn.execute(brands.update().where(brands.c.id == brand_id).values(**_profile_values(parts)))


def delete_brand(conn: sa.Connection, brand_id: str) -> None:
    conn.execute(segments.delete().where(segments.c.brand_id == brand_id))
    conn.execute(brands.delete().where(brands.c.id == brand_id))


def set_brand_body(conn: sa.Connection, brand_id: str, body: bytes | None) -> None:
    """Store the brand's pre-encoded fetchAudiences body (NULL when it has no segments)."""
    conn.execute(brands.update().where(brands.c.id == brand_id).values(public_body=body))


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
    return member_from_row(row) if row else None


def get_member_by_email(conn: sa.Connection, org_id: str | None, email: str) -> Member | None:
    query = sa.select(members).where(members.c.email == email)
    if org_id is not None:
        query = query.where(members.c.org_id == org_id)
    row = conn.execute(query.order_by(members.c.id)).first()
    return member_from_row(row) if row else None


def list_members(conn: sa.Connection, org_id: str) -> list[Member]:
    rows = conn.execute(sa.select(members).where(members.c.org_id == org_id).order_by(members.c.id))
    return [member_from_row(row) for row in rows]


def lock_member(conn: sa.Connection, member_id: str) -> None:
    """Hold the member's row until the transaction ends (SQLite's write lock already does)."""
    if conn.dialect.name != "sqlite":
        conn.execute(sa.select(members.c.id).where(members.c.id == member_id).with_for_update())


def lock_brand(conn: sa.Connection, brand_id: str) -> None:
    """Hold the brand's row until the transaction ends (SQLite's write lock already does)."""
    if conn.dialect.name != "sqlite":
        conn.execute(sa.select(brands.c.id).where(brands.c.id == brand_id).with_for_update())


def update_member(conn: sa.Connection, member_id: str, **values: Any) -> None:
    conn.execute(members.update().where(members.c.id == member_id).values(**values))


def get_password_hash(conn: sa.Connection, member_id: str) -> str | None:
    value = conn.execute(
        sa.select(members.c.password_hash).where(members.c.id == member_id)
    ).scalar_one_or_none()
    return str(value) if value is not None else None


def insert_key(conn: sa.Connection, key: ApiKey, digest: str) -> None:
    conn.execute(
        api_keys.insert().values(
            id=key.id,
            member_id=key.member_id,
            org_id=key.org_id,
            digest=digest,
            prefix=key.prefix,
            label=key.label,
            created_at=key.created_at,
            expires_at=key.expires_at,
            scopes=_text(key.scopes),
            brands=_text(key.brands),
            allowlist=_text(key.allowlist),
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


def list_org_keys(conn: sa.Connection, org_id: str) -> list[ApiKey]:
    """The organization's own keys (not its members' personal keys)."""
    rows = conn.execute(
        sa.select(api_keys)
        .where(api_keys.c.org_id == org_id, api_keys.c.member_id.is_(None))
        .order_by(api_keys.c.id)
    )
    return [_key(row) for row in rows]


def key_digests(
    conn: sa.Connection, *, key_id: str | None = None, member_id: str | None = None
) -> list[str]:
    """The digests of one key, or of every key of a member (what the read caches key on),
    a rolled key's previous one included."""
    query = sa.select(api_keys.c.digest, api_keys.c.previous_digest)
    if key_id is not None:
        query = query.where(api_keys.c.id == key_id)
    if member_id is not None:
        query = query.where(api_keys.c.member_id == member_id)
    return [digest for row in conn.execute(query) for digest in row if digest is not None]


def roll_key(
    conn: sa.Connection,
    key_id: str,
    digest: str,
    prefix: str,
    previous_digest: str | None,
    previous_until: datetime | None,
) -> None:
    """A new secret for the key; the one it had is kept as `previous_digest` until
    `previous_until` (None: refused at once)."""
    conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id)
        .values(
            digest=digest,
            prefix=prefix,
            previous_digest=previous_digest,
            previous_until=previous_until,
        )
    )


def update_key(conn: sa.Connection, key_id: str, **values: Any) -> None:
    """Change a key's label, scopes, brands or allowlist (tuples stored as text)."""
    stored = {name: value if name == "label" else _text(value) for name, value in values.items()}
    conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(**stored))


def lock_org(conn: sa.Connection, org_id: str) -> None:
    """Hold the organization's row until the transaction ends (SQLite's write lock already
    does): concurrent creations of its keys count one at a time."""
    if conn.dialect.name != "sqlite":
        conn.execute(
            sa.select(organizations.c.id).where(organizations.c.id == org_id).with_for_update()
        )


def revoke_key(conn: sa.Connection, key_id: str, moment: datetime) -> bool:
    """Revoke the key; False when it already was (nothing changed)."""
    result = conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=moment)
    )
    return bool(result.rowcount)


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


def members_by_email(conn: sa.Connection, email: str) -> list[tuple[Member, str | None]]:
    """Every member with this email, in any organization, with its password hash."""
    rows = conn.execute(sa.select(members).where(members.c.email == email).order_by(members.c.id))
    return [(member_from_row(row), row.password_hash) for row in rows]


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
