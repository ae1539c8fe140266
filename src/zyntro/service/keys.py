"""API keys: personal and organization keys, their scopes and limits, rolls, usage.

Who may manage a key: its member for a personal key (members manage their own keys), an
owner of the organization for an organization key; the administrator (CLI) for any. Every
change is one audited write with its event (`key.created`, `key.rolled`, `key.revoked`: the
key as introspection shows it, `brand_id` null), and every process drops the key's cached
principal within a second (`record_principals_changed`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from zyntro import access, keys
from zyntro.domain import ApiKey, Member, Role, utcnow
from zyntro.errors import Conflict, Forbidden, ValidationFailed
from zyntro.events import KEY_CREATED, KEY_REVOKED, KEY_ROLLED, key_data
from zyntro.identity import Actor
from zyntro.ids import new_id
from zyntro.service.accounts import Accounts
from zyntro.service.recording import record_audit, record_event, record_principals_changed
from zyntro.service.rules import require_owner, require_self_or_system, seen_by, visible
from zyntro.store import queries

MAX_EXPIRY_DAYS = 3650
DEFAULT_GRACE = timedelta(hours=24)
MAX_GRACE = timedelta(days=7)
USAGE_DAYS = 30


class KeyLimits:
    """What a new key may be narrowed to; None for a field means "not narrowed"."""

    def __init__(
        self,
        scopes: Iterable[str] | None = None,
        brands: Iterable[str] | None = None,
        allowlist: Iterable[str] | None = None,
    ) -> None:
        self.scopes = access.parse_scopes(scopes) if scopes is not None else None
        self.brands = access.parse_brand_ids(brands) if brands is not None else None
        self.allowlist = access.parse_allowlist(allowlist) if allowlist is not None else None
        if self.brands == ():
            raise ValidationFailed(
                "brands", "must name at least one brand (leave it out to allow all)"
            )
        if self.allowlist == ():
            raise ValidationFailed(
                "allowlist", "must name at least one network (leave it out to allow all)"
            )


class KeyManagement(Accounts):
    """Issue, list, roll and revoke keys; their usage."""

    def create_key(
        self,
        actor: Actor,
        member_id: str,
        label: str = "",
        expires_in_days: int | None = None,
        limits: KeyLimits | None = None,
    ) -> tuple[ApiKey, str]:
        """Issue a personal key; the plain key is returned this once and never stored."""
        limits = limits or KeyLimits()
        member = self.get_member(actor, member_id)
        require_self_or_system(actor, member)
        if not member.active:
            raise Forbidden("A deactivated member cannot get API keys.")
        if limits.scopes is not None:
            beyond = [s for s in limits.scopes if s not in access.ROLE_SCOPES[member.role]]
            if beyond:
                raise Forbidden(
                    f"The role {member.role.value} does not allow the scope {beyond[0]}: a "
                    "personal key never exceeds its member's role."
                )
        return self._issue(actor, member.org_id, member, label, expires_in_days, limits)

    def create_org_key(
        self,
        actor: Actor,
        org_id: str,
        label: str = "",
        expires_in_days: int | None = None,
        limits: KeyLimits | None = None,
    ) -> tuple[ApiKey, str]:
        """Issue an organization key (owners); without scopes it may read segments."""
        limits = limits or KeyLimits()
        self.get_org(actor, org_id)
        _require_key_owner(actor, org_id)
        scopes = limits.scopes
        if scopes is None:
            scopes = tuple(s for s in access.Scope if s in access.ORG_DEFAULT_SCOPES)
        if not scopes:
            raise ValidationFailed("scopes", "must name at least one scope for an organization key")
        if access.Scope.KEYS_MANAGE in scopes:
            raise Forbidden("An organization key cannot manage API keys.")
        limits.scopes = scopes
        return self._issue(actor, org_id, None, label, expires_in_days, limits)

    def _issue(
        self,
        actor: Actor,
        org_id: str,
        member: Member | None,
        label: str,
        expires_in_days: int | None,
        limits: KeyLimits,
    ) -> tuple[ApiKey, str]:
        if len(label) > 200 or "\x00" in label:
            raise ValidationFailed("label", "must be at most 200 characters")
        if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
            raise ValidationFailed("expires_in", f"must be 1-{MAX_EXPIRY_DAYS} days")
        plain = keys.generate_key()
        now = utcnow()
        key = ApiKey(
            id=new_id("key"),
            member_id=member.id if member else None,
            prefix=keys.display_prefix(plain),
            label=label.strip(),
            created_at=now,
            last_used_at=None,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
            revoked_at=None,
            org_id=org_id,
            scopes=limits.scopes,
            brands=limits.brands,
            allowlist=limits.allowlist,
        )
        with self._write() as conn:
            if limits.brands is not None:
                own = {brand.id for brand in queries.list_brands(conn, org_id)}
                unknown = [b for b in limits.brands if b not in own]
                if unknown:
                    raise ValidationFailed(
                        "brands", f"must be brands of the organization ({unknown[0]} is not one)"
                    )
            # Concurrent creations count one at a time.
            if member is not None:
                queries.lock_member(conn, member.id)
                existing = queries.list_keys(conn, member.id)
            else:
                queries.lock_org(conn, org_id)
                existing = queries.list_org_keys(conn, org_id)
            self._check_key_cap(existing, now, "A member" if member else "An organization")
            digest = keys.digest(plain)
            queries.insert_key(conn, key, digest)
            record_principals_changed(conn, [digest], now)  # it may be cached as unknown
            record_audit(conn, actor, "key.create", ("key", key.id), org_id, now)
            role = member.role if member else None
            _record_key_event(conn, KEY_CREATED, key, role, now)
        return key, plain

    def _check_key_cap(self, existing: list[ApiKey], now: datetime, holder: str) -> None:
        cap = self.max_keys_per_member
        if sum(key.usable_at(now) for key in existing) >= cap:
            raise Conflict(
                f"{holder} may have at most {cap} active API key{'' if cap == 1 else 's'}: "
                "revoke one to create another."
            )

    def list_keys(self, actor: Actor, member_id: str) -> list[ApiKey]:
        member = self.get_member(actor, member_id)
        require_self_or_system(actor, member)
        with self.store.read() as conn:
            return queries.list_keys(conn, member.id)

    def list_org_keys(self, actor: Actor, org_id: str) -> list[ApiKey]:
        """The organization's own keys (owners)."""
        self.get_org(actor, org_id)
        _require_key_owner(actor, org_id)
        with self.store.read() as conn:
            return queries.list_org_keys(conn, org_id)

    def get_key(self, actor: Actor, key_id: str) -> ApiKey:
        """A key the actor may manage; any other is not found."""
        with self.store.read() as conn:
            key = queries.get_key(conn, key_id)
            member = queries.get_member(conn, key.member_id) if key and key.member_id else None
        key = seen_by(actor, key, key.org_id if key else None, "API key")
        if member is not None:
            require_self_or_system(actor, member)
        else:
            _require_key_owner(actor, key.org_id)
        return key

    def revoke_key(self, actor: Actor, key_id: str) -> ApiKey:
        key = self.get_key(actor, key_id)
        now = utcnow()
        with self._write() as conn:
            revoked = queries.revoke_key(conn, key.id, now)
            record_principals_changed(conn, queries.key_digests(conn, key_id=key.id), now)
            record_audit(conn, actor, "key.revoke", ("key", key.id), key.org_id, now)
            if revoked:  # revoking a revoked key changes nothing: no second event
                stored = queries.get_key(conn, key.id) or key
                _record_key_event(conn, KEY_REVOKED, stored, _role_of(conn, stored), now)
        return replace(key, revoked_at=key.revoked_at or now)

    def roll_key(
        self, actor: Actor, key_id: str, grace: timedelta = DEFAULT_GRACE
    ) -> tuple[ApiKey, str]:
        """A new secret for the same key; the current one keeps working for `grace` (0: it
        stops at once). A secret kept from an earlier roll stops now."""
        if not timedelta(0) <= grace <= MAX_GRACE:
            raise ValidationFailed("grace", "must be 0 seconds to 7 days")
        key = self.get_key(actor, key_id)
        now = utcnow()
        if not key.usable_at(now):
            raise Conflict("A revoked or expired key cannot be rolled: create a new one.")
        plain = keys.generate_key()
        digest = keys.digest(plain)
        until = now + grace if grace else None
        with self._write() as conn:
            before = queries.key_digests(conn, key_id=key.id)  # [current, previous?]
            kept = before[0] if until is not None else None
            queries.roll_key(conn, key.id, digest, keys.display_prefix(plain), kept, until)
            record_principals_changed(conn, [*before, digest], now)
            record_audit(conn, actor, "key.roll", ("key", key.id), key.org_id, now)
            rolled = replace(key, prefix=keys.display_prefix(plain), previous_until=until)
            _record_key_event(conn, KEY_ROLLED, rolled, _role_of(conn, key), now)
        return rolled, plain

    def key_of_principal(self, key_id: str) -> ApiKey:
        """The presented key's own record (introspection: a key always sees itself)."""
        with self.store.read() as conn:
            key = queries.get_key(conn, key_id)
        if key is None:
            raise Forbidden("This API key no longer exists.")
        return key

    def scopes_of(self, key: ApiKey) -> tuple[str, ...]:
        """The scopes the key has now (a personal key's bounded by its member's role)."""
        role = None
        if key.member_id is not None:
            with self.store.read() as conn:
                member = queries.get_member(conn, key.member_id)
            role = member.role if member else None
        return effective_of(key, role)

    def key_usage(self, actor: Actor, key_id: str) -> list[tuple[date, int, int]]:
        """(day, requests, errors) of each of the last 30 days (UTC), oldest first."""
        key = self.get_key(actor, key_id)
        return self.usage_of(key.id)

    def usage_of(self, key_id: str) -> list[tuple[date, int, int]]:
        today = utcnow().date()
        first = today - timedelta(days=USAGE_DAYS - 1)
        with self.store.read() as conn:
            found = queries.key_usage(conn, key_id, first)
        days = (first + timedelta(days=n) for n in range(USAGE_DAYS))
        return [(day, *found.get(day, (0, 0))) for day in days]

    def usage_totals(self, actor: Actor, keys_: list[ApiKey]) -> dict[str, tuple[int, int]]:
        """key id -> (requests, errors) over the last 30 days, for keys the actor sees."""
        first = utcnow().date() - timedelta(days=USAGE_DAYS - 1)
        ids = [key.id for key in keys_ if visible(actor, key.org_id)]
        with self.store.read() as conn:
            return queries.usage_totals(conn, ids, first)


def _require_key_owner(actor: Actor, org_id: str) -> None:
    """Owners manage their organization's keys; an organization key manages none."""
    if actor.member_id is None and actor.key_id is not None:
        raise Forbidden("An organization key cannot manage API keys.")
    try:
        require_owner(actor, org_id)
    except Forbidden:
        raise Forbidden("Only an owner can manage the organization's API keys.") from None


def _role_of(conn: sa.Connection, key: ApiKey) -> Role | None:
    """The role of a personal key's member (None for an organization key)."""
    member = queries.get_member(conn, key.member_id) if key.member_id else None
    return member.role if member else None


def _record_key_event(
    conn: sa.Connection, event_type: str, key: ApiKey, role: Role | None, now: datetime
) -> None:
    """A key event: the organization's (`brand_id` null), the key as introspection shows it."""
    record_event(conn, event_type, key.org_id, None, key_data(key, effective_of(key, role)), now)


def effective_of(key: ApiKey, role: Role | None) -> tuple[str, ...]:
    """The scopes a key has now (a personal key's within `role`, its member's), in order."""
    granted = access.effective_scopes(role if key.member_id else None, key.scopes)
    return tuple(scope for scope in access.Scope if scope in granted)
