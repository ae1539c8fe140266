"""What an API key may do: its kind, scopes, brand limits and address allowlist.

The model (docs/security.md, "API keys"): a personal key acts for its member and never holds
more than the member's role allows, whatever it was given; an organization key belongs to the
organization and holds exactly its scopes. Brand limits and allowlists narrow either kind.

`build_principal` is the one place a `Principal` is made (store/hot.py calls it for each row
it reads); the parsed scopes, brands and allowlists are shared between the principals that
have the same ones, so a cached principal stays small.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from zyntro.domain import Role
from zyntro.errors import Forbidden, InsufficientScope, ValidationFailed
from zyntro.identity import Actor, Principal
from zyntro.ids import is_valid_id
from zyntro.proxies import Network, Networks, parse_networks


class Scope(enum.StrEnum):
    AUDIENCES_READ = "audiences:read"
    SEGMENTS_READ = "segments:read"
    SEGMENTS_WRITE = "segments:write"
    WEBHOOKS_MANAGE = "webhooks:manage"
    EVENTS_READ = "events:read"
    KEYS_MANAGE = "keys:manage"


class KeyKind(enum.StrEnum):
    PERSONAL = "personal"
    ORGANIZATION = "organization"


ALL_SCOPES = frozenset(Scope)
# What each role allows a personal key (and what a new one gets when no scope is named).
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.OWNER: ALL_SCOPES,
    Role.IN_CHARGE: ALL_SCOPES,  # owners and members in-charge manage webhooks (issue 12)
    Role.MEMBER: frozenset(
        {Scope.AUDIENCES_READ, Scope.SEGMENTS_READ, Scope.EVENTS_READ, Scope.KEYS_MANAGE}
    ),
}
# An organization key never manages keys: an integration must not be able to mint others.
ORG_SCOPES = ALL_SCOPES - {Scope.KEYS_MANAGE}
ORG_DEFAULT_SCOPES = frozenset({Scope.AUDIENCES_READ, Scope.SEGMENTS_READ})
MAX_BRANDS = 100
MAX_NETWORKS = 50

T = TypeVar("T")
K = TypeVar("K")
# Parsed forms shared by principals: (role, scopes as stored) -> effective scopes; brands and
# allowlists as stored -> their sets. Few distinct values, so a cached principal stays small.
_EFFECTIVE: dict[tuple[str | None, str | None], frozenset[str]] = {}
_BRANDS: dict[str, frozenset[str]] = {}
_ALLOWLISTS: dict[str, Networks] = {}
_SHARED_MAX = 10_000


def _shared(found: dict[K, T], key: K, make: Callable[[], T]) -> T:
    value = found.get(key)
    if value is None:
        if len(found) >= _SHARED_MAX:
            found.clear()
        value = found[key] = make()
    return value


# --- stored forms (one space- or comma-separated text column each; NULL: not limited) -------


def parse_scopes(values: Iterable[str]) -> tuple[str, ...]:
    """Scopes as given (names, repeated or comma-separated) in their canonical order."""
    given = {part.strip() for value in values for part in value.split(",") if part.strip()}
    unknown = sorted(given - ALL_SCOPES)
    if unknown:
        raise ValidationFailed(
            "scopes", f"must be among {', '.join(Scope)} ({unknown[0]!r} is not a scope)"
        )
    return tuple(scope for scope in Scope if scope in given)


def parse_brand_ids(values: Iterable[str]) -> tuple[str, ...]:
    ids = sorted({part.strip() for value in values for part in value.split(",") if part.strip()})
    if len(ids) > MAX_BRANDS:
        raise ValidationFailed("brands", f"must name at most {MAX_BRANDS} brands")
    for brand_id in ids:
        if not is_valid_id(brand_id):
            raise ValidationFailed("brands", f"must be brand ids ({brand_id!r} is not one)")
    return tuple(ids)


def parse_allowlist(values: Iterable[str]) -> tuple[str, ...]:
    """CIDRs or addresses (IPv4, IPv6) as their canonical network text."""
    try:
        networks: list[Network] = []
        for value in values:
            networks += parse_networks(value)
    except ValueError as exc:
        raise ValidationFailed(
            "allowlist", f"must be IPv4 or IPv6 addresses or CIDRs ({exc})"
        ) from None
    if len(networks) > MAX_NETWORKS:
        raise ValidationFailed("allowlist", f"must name at most {MAX_NETWORKS} networks")
    return tuple(dict.fromkeys(str(network) for network in networks))


def stored(values: tuple[str, ...] | None) -> str | None:
    return None if values is None else " ".join(values)


def loaded(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(text.split())


def effective_scopes(role: Role | None, scopes: Iterable[str] | None) -> frozenset[str]:
    """What a key may do: an organization key (no role) its scopes; a personal key its
    scopes (all its role allows when none were named) within what its role allows now."""
    if role is None:
        return frozenset(scopes or ()) & ORG_SCOPES
    allowed = ROLE_SCOPES[role]
    return allowed if scopes is None else allowed & frozenset(scopes)


def build_principal(
    key_id: str,
    member_id: str | None,
    org_id: str,
    role: str | None,
    active: bool | None,
    expires_at: datetime | None,
    revoked_at: datetime | None,
    last_used_at: datetime | None,
    scopes: str | None,
    brands: str | None,
    allowlist: str | None,
) -> Principal:
    """What a key stands for; the one constructor of `Principal`. `expires_at` is the
    earlier of the key's expiry and, for a rolled key's previous secret, its grace's end."""
    member_role = Role(role) if role is not None else None
    scope_set = _EFFECTIVE.get((role, scopes))
    if scope_set is None:
        scope_set = _shared(
            _EFFECTIVE, (role, scopes), lambda: effective_scopes(member_role, loaded(scopes))
        )
    limited_to: frozenset[str] | None = None
    if brands is not None:
        limited_to = _shared(_BRANDS, brands, lambda: frozenset(brands.split()))
    networks: Networks | None = None
    if allowlist is not None:
        networks = _shared(_ALLOWLISTS, allowlist, lambda: Networks(_networks(allowlist)))
    return Principal(
        key_id=key_id,
        member_id=member_id,
        org_id=org_id,
        role=member_role,
        active=bool(active) if member_id is not None else True,
        expires_at=expires_at,
        revoked_at=revoked_at,
        last_used_at=last_used_at,
        scopes=scope_set,
        brands=limited_to,
        allowlist=networks,
    )


def _networks(text: str) -> tuple[Network, ...]:
    return parse_networks(",".join(text.split()))


def check_scope(actor: Actor, scope: str) -> None:
    """Refuse `actor` unless its key holds `scope`: a personal key whose member's role forbids
    the action gets today's `forbidden`; any other missing scope is `insufficient_scope`.
    The one check of every surface a key reaches (/api/v1 routes, the MCP tools)."""
    if actor.has_scope(scope):
        return
    if actor.member_id is not None and actor.role is not None:
        if scope not in ROLE_SCOPES[actor.role]:
            raise Forbidden(f"Your role ({actor.role.value}) does not allow this action.")
    raise InsufficientScope(scope)
