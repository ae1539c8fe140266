"""Queries of two-factor sign-in: authenticators, recovery codes, the organization's
requirement, and members' last sign-in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from zyntro.store.tables import members, organizations, recovery_codes, two_factor


@dataclass(frozen=True)
class Authenticator:
    """A member's stored authenticator: the sealed secret, and whether enrolment finished."""

    sealed_secret: str
    confirmed_at: datetime | None
    last_step: int | None

    @property
    def enabled(self) -> bool:
        return self.confirmed_at is not None


@dataclass(frozen=True)
class SignInFacts:
    """What owners see of a member's sign-in: when they last signed in, and whether two-factor
    sign-in is on."""

    last_sign_in_at: datetime | None
    two_factor: bool


def get_authenticator(conn: sa.Connection, member_id: str) -> Authenticator | None:
    row = conn.execute(
        sa.select(two_factor.c.secret, two_factor.c.confirmed_at, two_factor.c.last_step).where(
            two_factor.c.member_id == member_id
        )
    ).first()
    if row is None:
        return None
    return Authenticator(row.secret, row.confirmed_at, row.last_step)


def begin_authenticator(conn: sa.Connection, member_id: str, sealed: str, now: datetime) -> None:
    """A new, unconfirmed authenticator in place of an unfinished one."""
    conn.execute(two_factor.delete().where(two_factor.c.member_id == member_id))
    conn.execute(
        two_factor.insert().values(
            member_id=member_id, secret=sealed, confirmed_at=None, last_step=None, created_at=now
        )
    )


def confirm_authenticator(conn: sa.Connection, member_id: str, now: datetime) -> None:
    conn.execute(
        two_factor.update().where(two_factor.c.member_id == member_id).values(confirmed_at=now)
    )


def claim_step(conn: sa.Connection, member_id: str, step: int) -> bool:
    """Record `step` as the member's last used one, only if it is later than the last:
    False means its code (or a later one) was accepted already. One statement, so two
    requests with the same code cannot both pass."""
    result = conn.execute(
        two_factor.update()
        .where(
            two_factor.c.member_id == member_id,
            sa.or_(two_factor.c.last_step.is_(None), two_factor.c.last_step < step),
        )
        .values(last_step=step)
    )
    return result.rowcount == 1


def delete_authenticator(conn: sa.Connection, member_id: str) -> bool:
    """Two-factor sign-in off: the authenticator and every recovery code go. True when there
    was one."""
    conn.execute(recovery_codes.delete().where(recovery_codes.c.member_id == member_id))
    result = conn.execute(two_factor.delete().where(two_factor.c.member_id == member_id))
    return result.rowcount > 0


def replace_recovery_codes(conn: sa.Connection, member_id: str, digests: Iterable[str]) -> None:
    conn.execute(recovery_codes.delete().where(recovery_codes.c.member_id == member_id))
    rows = [{"member_id": member_id, "digest": d, "used_at": None} for d in digests]
    conn.execute(recovery_codes.insert(), rows)


def use_recovery_code(conn: sa.Connection, member_id: str, digest: str, now: datetime) -> bool:
    """Spend a recovery code: True once, for an unused code of the member's."""
    result = conn.execute(
        recovery_codes.update()
        .where(
            recovery_codes.c.member_id == member_id,
            recovery_codes.c.digest == digest,
            recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return result.rowcount == 1


def recovery_codes_left(conn: sa.Connection, member_id: str) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(
                recovery_codes.c.member_id == member_id, recovery_codes.c.used_at.is_(None)
            )
        ).scalar_one()
    )


def org_requires_two_factor(conn: sa.Connection, org_id: str) -> bool:
    value = conn.execute(
        sa.select(organizations.c.require_two_factor).where(organizations.c.id == org_id)
    ).scalar_one_or_none()
    return bool(value)


def set_org_requires_two_factor(conn: sa.Connection, org_id: str, required: bool) -> None:
    conn.execute(
        organizations.update()
        .where(organizations.c.id == org_id)
        .values(require_two_factor=required)
    )


def enrolment_due(conn: sa.Connection, member_id: str) -> bool:
    """True when the member's organization requires two-factor sign-in and they have none."""
    row = conn.execute(
        sa.select(organizations.c.require_two_factor, two_factor.c.confirmed_at)
        .select_from(members)
        .join(organizations, organizations.c.id == members.c.org_id)
        .outerjoin(two_factor, two_factor.c.member_id == members.c.id)
        .where(members.c.id == member_id)
    ).first()
    return row is not None and bool(row.require_two_factor) and row.confirmed_at is None


def set_last_sign_in(conn: sa.Connection, member_id: str, moment: datetime) -> None:
    conn.execute(members.update().where(members.c.id == member_id).values(last_sign_in_at=moment))


def sign_in_facts(conn: sa.Connection, org_id: str) -> dict[str, SignInFacts]:
    """member id → last sign-in and two-factor state, for every member of the organization."""
    rows = conn.execute(
        sa.select(members.c.id, members.c.last_sign_in_at, two_factor.c.confirmed_at)
        .outerjoin(two_factor, two_factor.c.member_id == members.c.id)
        .where(members.c.org_id == org_id)
    )
    return {row.id: SignInFacts(row.last_sign_in_at, row.confirmed_at is not None) for row in rows}
