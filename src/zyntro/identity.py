"""Who is acting: an `Actor` (member or administrator) and what an API key stands for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zyntro.domain import Role


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a member (key or session), or the administrator at the CLI (`SYSTEM`)."""

    member_id: str | None
    org_id: str | None
    role: Role | None

    @property
    def is_system(self) -> bool:
        return self.member_id is None

    @property
    def name(self) -> str:
        return self.member_id or "system"


SYSTEM = Actor(member_id=None, org_id=None, role=None)


@dataclass(frozen=True, slots=True)
class Principal:
    """What an API key stands for, as the endpoint needs it."""

    key_id: str
    member_id: str
    org_id: str
    role: Role
    active: bool
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def usable_at(self, moment: datetime) -> bool:
        return (
            self.active
            and self.revoked_at is None
            and (self.expires_at is None or moment < self.expires_at)
        )

    @property
    def actor(self) -> Actor:
        return Actor(member_id=self.member_id, org_id=self.org_id, role=self.role)
