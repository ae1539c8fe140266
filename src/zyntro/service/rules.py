"""Who may do what: visibility across organizations, roles, and the last-owner rule."""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa

from zyntro.domain import Member, Role
from zyntro.errors import Conflict, Forbidden, NotFound
from zyntro.identity import Actor
from zyntro.store import queries

T = TypeVar("T")


def visible(actor: Actor, org_id: str) -> bool:
    """Whether the actor sees the organization's data (the administrator sees every one)."""
    return actor.is_system or actor.org_id == org_id


def seen_by(actor: Actor, found: T | None, org_id: str | None, what: str) -> T:
    """`found` if the actor may see it; a thing of another organization is answered exactly
    as a missing one (`NotFound`, "No such <what>.")."""
    if found is None or org_id is None or not visible(actor, org_id):
        raise NotFound(f"No such {what}.")
    return found


def require_same_org(actor: Actor, org_id: str) -> None:
    if not visible(actor, org_id):
        raise NotFound("Not found.")


def can_manage_content(actor: Actor) -> bool:
    """Whether the actor may create, edit and delete brands and segments."""
    return actor.is_system or bool(actor.role and actor.role.manages_content)


def can_manage_members(actor: Actor) -> bool:
    """Whether the actor may add members, change roles and deactivate members."""
    return actor.is_system or actor.role is Role.OWNER


def require_content_role(actor: Actor, org_id: str) -> None:
    require_same_org(actor, org_id)
    if not can_manage_content(actor):
        raise Forbidden("Only an owner or a member in-charge can change brands and segments.")


def require_owner(actor: Actor, org_id: str) -> None:
    require_same_org(actor, org_id)
    if not can_manage_members(actor):
        raise Forbidden("Only an owner can manage members.")


def require_self_or_system(actor: Actor, member: Member) -> None:
    if not actor.is_system and actor.member_id != member.id:
        raise Forbidden("Members manage their own API keys.")


def keep_an_owner(conn: sa.Connection, member: Member) -> None:
    """Refuse to demote or deactivate the organization's last active owner."""
    if member.role is not Role.OWNER or not member.active:
        return
    owners = [m for m in queries.list_members(conn, member.org_id) if m.role is Role.OWNER]
    if sum(m.active for m in owners) <= 1:
        raise Conflict("An organization keeps at least one active owner: appoint another first.")


def member_actor(member: Member) -> Actor:
    return Actor(member_id=member.id, org_id=member.org_id, role=member.role)
