"""Who is acting: an `Actor` (member, organization key or administrator) and what an API key
stands for (`Principal`, built in one place: `zyntro.access.build_principal`)."""

from __future__ import annotations

import math
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import datetime

from zyntro.domain import Role


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a member (key or session), an organization key (`member_id` None, `key_id`
    set), or the administrator at the CLI (`SYSTEM`).

    `scopes` and `brands` narrow what an API key may do (None: not narrowed; a session and
    the administrator are narrowed by role alone)."""

    member_id: str | None
    org_id: str | None
    role: Role | None
    key_id: str | None = None
    scopes: frozenset[str] | None = None
    brands: frozenset[str] | None = None

    @property
    def is_system(self) -> bool:
        return self.member_id is None and self.key_id is None

    @property
    def name(self) -> str:
        return self.member_id or self.key_id or "system"

    def sees_brand(self, brand_id: str) -> bool:
        """False for a brand outside the key's brand limits (answered as not found)."""
        return self.brands is None or brand_id in self.brands

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


SYSTEM = Actor(member_id=None, org_id=None, role=None)


@dataclass(frozen=True, slots=True)
class Principal:
    """What an API key stands for, as the endpoint needs it.

    `member_id` and `role` are None for an organization key; `scopes` are the effective
    ones (a personal key's within its member's role); `brands` and `allowlist` are None when
    the key is not limited (the sets are shared between principals: zyntro/access.py)."""

    key_id: str
    member_id: str | None
    org_id: str
    role: Role | None
    active: bool
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    scopes: frozenset[str]
    brands: frozenset[str] | None
    allowlist: Container[str] | None
    # Derived, for the public endpoint's checks on every request, in epoch seconds (comparing
    # floats costs a fraction of making and comparing datetimes): until when the key may be
    # used (-inf: not at all, inf: no expiry), and `last_used_at` (None: never).
    usable_until: float = field(init=False, repr=False, compare=False)
    last_used: float | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.active or self.revoked_at is not None:
            until = -math.inf
        else:
            until = math.inf if self.expires_at is None else self.expires_at.timestamp()
        object.__setattr__(self, "usable_until", until)
        used = self.last_used_at
        object.__setattr__(self, "last_used", None if used is None else used.timestamp())

    def usable_at(self, moment: datetime) -> bool:
        return (
            self.active
            and self.revoked_at is None
            and (self.expires_at is None or moment < self.expires_at)
        )

    @property
    def actor(self) -> Actor:
        # An organization key writes as a member in-charge would when it may write segments;
        # its scopes (checked by each route) bound everything else.
        role = self.role
        if role is None:
            role = Role.IN_CHARGE if "segments:write" in self.scopes else Role.MEMBER
        return Actor(
            member_id=self.member_id,
            org_id=self.org_id,
            role=role,
            key_id=self.key_id,
            scopes=self.scopes,
            brands=self.brands,
        )
