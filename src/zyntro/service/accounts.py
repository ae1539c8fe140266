"""Organizations, brands, members and their API keys."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from zyntro.domain import (
    Brand,
    Member,
    Organization,
    Role,
    utcnow,
    validate_email,
    validate_name,
)
from zyntro.errors import BrandNotFound, Conflict, Forbidden, NotFound
from zyntro.events import BRAND_CREATED, BRAND_DELETED, BRAND_RENAMED, brand_data
from zyntro.identity import Actor
from zyntro.ids import new_id
from zyntro.service.core import DEFAULT_CACHE_BYTES, ServiceCore
from zyntro.service.recording import (
    record_audit,
    record_change,
    record_event,
    record_principals_changed,
)
from zyntro.service.rules import (
    keep_an_owner,
    member_actor,
    require_content_role,
    require_owner,
    seen_by,
    visible,
)
from zyntro.store import Store, queries

MAX_EXPIRY_DAYS = 3650
# Active (neither revoked nor expired) keys a member may hold: enough for every environment
# and rotation overlap, few enough that no member can mint keys without bound.
DEFAULT_MAX_KEYS_PER_MEMBER = 20


class Accounts(ServiceCore):
    """The account structure: who belongs where, and which keys act for whom."""

    def __init__(
        self,
        store: Store,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        max_keys_per_member: int = DEFAULT_MAX_KEYS_PER_MEMBER,
    ) -> None:
        super().__init__(store, cache_bytes)
        self.max_keys_per_member = max_keys_per_member

    def act_as(self, member_id: str) -> Actor:
        """The actor for an active member (the CLI's `--member`, a dashboard session)."""
        with self.store.read() as conn:
            member = queries.get_member(conn, member_id)
        if member is None:
            raise NotFound("No such member.")
        if not member.active:
            raise Forbidden("This member has been deactivated.")
        return member_actor(member)

    # --- organizations -------------------------------------------------------------------

    def create_org(self, actor: Actor, name: str) -> Organization:
        if not actor.is_system:
            raise Forbidden("Organizations are created by the administrator.")
        org = Organization(id=new_id("org"), name=validate_name("name", name), created_at=utcnow())
        with self._write() as conn:
            queries.insert_org(conn, org)
            record_audit(conn, actor, "org.create", ("org", org.id), org.id, org.created_at)
        return org

    def get_org(self, actor: Actor, org_id: str) -> Organization:
        with self.store.read() as conn:
            org = queries.get_org(conn, org_id)
        return seen_by(actor, org, org.id if org else None, "organization")

    def list_orgs(self, actor: Actor) -> list[Organization]:
        with self.store.read() as conn:
            return [org for org in queries.list_orgs(conn) if visible(actor, org.id)]

    def list_audit(self, actor: Actor, org_id: str, limit: int = 100) -> list[dict[str, Any]]:
        self.get_org(actor, org_id)
        require_owner(actor, org_id)
        with self.store.read() as conn:
            rows = queries.list_audit(conn, org_id, limit)
        return [
            {
                "at": row.at,
                "actor": row.actor,
                "action": row.action,
                "target_type": row.target_type,
                "target_id": row.target_id,
                "org_id": row.org_id,
            }
            for row in rows
        ]

    # --- brands --------------------------------------------------------------------------

    def create_brand(self, actor: Actor, org_id: str, name: str) -> Brand:
        self.get_org(actor, org_id)
        require_content_role(actor, org_id)
        brand = Brand(
            id=new_id("brand"), org_id=org_id, name=validate_name("name", name), created_at=utcnow()
        )
        with self._write() as conn:
            queries.insert_brand(conn, brand)
            record_change(conn, "brand", brand.id, brand.created_at)  # may be cached as unknown
            record_audit(conn, actor, "brand.create", ("brand", brand.id), org_id, brand.created_at)
            record_event(conn, BRAND_CREATED, org_id, brand.id, brand_data(brand), brand.created_at)
        return brand

    def get_brand(self, actor: Actor, brand_id: str) -> Brand:
        """A brand the actor may see; another organization's brand is simply not found."""
        with self.store.read() as conn:
            brand = queries.get_brand(conn, brand_id)
        if brand is None or not visible(actor, brand.org_id) or not actor.sees_brand(brand.id):
            # Another organization's, or outside the key's brand limits; the administrator has
            # no organization of its own: it is told of no "your".
            raise BrandNotFound(f"No brand {brand_id} exists." if actor.is_system else None)
        return brand

    def list_brands(self, actor: Actor, org_id: str) -> list[Brand]:
        self.get_org(actor, org_id)
        with self.store.read() as conn:
            brands = queries.list_brands(conn, org_id)
        return [brand for brand in brands if actor.sees_brand(brand.id)]

    def rename_brand(self, actor: Actor, brand_id: str, name: str) -> Brand:
        brand = self.get_brand(actor, brand_id)
        require_content_role(actor, brand.org_id)
        name = validate_name("name", name)
        now = utcnow()
        renamed = replace(brand, name=name)
        with self._write() as conn:  # the served body holds no brand name: nothing to rebuild
            queries.rename_brand(conn, brand.id, name)
            record_audit(conn, actor, "brand.rename", ("brand", brand.id), brand.org_id, now)
            record_event(conn, BRAND_RENAMED, brand.org_id, brand.id, brand_data(renamed), now)
        return renamed

    def delete_brand(self, actor: Actor, brand_id: str) -> None:
        brand = self.get_brand(actor, brand_id)
        require_content_role(actor, brand.org_id)
        now = utcnow()
        with self._write() as conn:
            queries.delete_brand(conn, brand.id)
            record_change(conn, "brand", brand.id, now)
            record_audit(conn, actor, "brand.delete", ("brand", brand.id), brand.org_id, now)
            record_event(conn, BRAND_DELETED, brand.org_id, brand.id, brand_data(brand), now)

    def segment_counts(self, actor: Actor, org_id: str) -> dict[str, int]:
        """brand id -> number of segments, for the organization's brands."""
        self.get_org(actor, org_id)
        with self.store.read() as conn:
            return queries.segment_counts(conn, org_id)

    # --- members -------------------------------------------------------------------------

    def add_member(self, actor: Actor, org_id: str, email: str, name: str, role: Role) -> Member:
        self.get_org(actor, org_id)
        require_owner(actor, org_id)
        member = Member(
            id=new_id("mem"),
            org_id=org_id,
            email=validate_email(email),
            name=validate_name("name", name),
            role=Role(role),
            active=True,
            created_at=utcnow(),
        )
        with self._write() as conn:
            if queries.get_member_by_email(conn, org_id, member.email) is not None:
                raise Conflict(f"A member with the email {member.email} already exists.")
            queries.insert_member(conn, member)
            record_audit(
                conn, actor, "member.add", ("member", member.id), org_id, member.created_at
            )
        return member

    def get_member(self, actor: Actor, member_id: str) -> Member:
        with self.store.read() as conn:
            member = queries.get_member(conn, member_id)
        return seen_by(actor, member, member.org_id if member else None, "member")

    def list_members(self, actor: Actor, org_id: str) -> list[Member]:
        self.get_org(actor, org_id)
        with self.store.read() as conn:
            return queries.list_members(conn, org_id)

    def members_with_password(self, actor: Actor, org_id: str) -> set[str]:
        """Ids of the organization's members who can sign in to the dashboard."""
        self.get_org(actor, org_id)
        with self.store.read() as conn:
            return queries.members_with_password(conn, org_id)

    def set_role(self, actor: Actor, member_id: str, role: Role) -> Member:
        member = self.get_member(actor, member_id)
        require_owner(actor, member.org_id)
        role = Role(role)
        now = utcnow()
        with self._write() as conn:
            if role is not Role.OWNER:
                keep_an_owner(conn, member)
            queries.update_member(conn, member.id, role=role.value)
            digests = queries.key_digests(conn, member_id=member.id)
            record_principals_changed(conn, digests, now)
            record_audit(conn, actor, "member.set_role", ("member", member.id), member.org_id, now)
        return replace(member, role=role)

    def deactivate_member(self, actor: Actor, member_id: str) -> Member:
        """The member's keys stop working at once (every process within a second)."""
        member = self.get_member(actor, member_id)
        require_owner(actor, member.org_id)
        now = utcnow()
        with self._write() as conn:
            keep_an_owner(conn, member)
            queries.update_member(conn, member.id, active=False)
            digests = queries.key_digests(conn, member_id=member.id)
            record_principals_changed(conn, digests, now)
            record_audit(
                conn, actor, "member.deactivate", ("member", member.id), member.org_id, now
            )
        return replace(member, active=False)
