"""Use cases. The one place that enforces roles and tenancy; every surface calls it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from zyntro import keys
from zyntro.cache import MISSING, ReadCache
from zyntro.domain import (
    ApiKey,
    Brand,
    Member,
    Organization,
    Role,
    Segment,
    parse_timestamp,
    utcnow,
    validate_email,
    validate_name,
    validate_segment_fields,
)
from zyntro.errors import (
    BrandNotFound,
    Conflict,
    Forbidden,
    InvalidApiKey,
    NoSegments,
    NotFound,
    OrgMismatch,
    ValidationFailed,
    ZyntroError,
)
from zyntro.identity import SYSTEM, Actor, Principal
from zyntro.ids import is_valid_id, new_id
from zyntro.store import Store, queries
from zyntro.store.hot import HotReader
from zyntro.usage import UsageRecorder

T = TypeVar("T")

__all__ = ["SYSTEM", "Actor", "ImportResult", "Principal", "Service"]

Progress = Callable[[int], None]
DEFAULT_CACHE_BYTES = 128 * 1024 * 1024


@dataclass(slots=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    segment_ids: list[str] = field(default_factory=list)


class Service:
    """Every use case of the product, over one `Store`."""

    def __init__(self, store: Store, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.store = store
        self.usage = UsageRecorder(store)
        self.cache = ReadCache(store, cache_bytes)
        self.hot = HotReader(store.engine)
        # Called with (kind, entity_id) after a write commits; the caches listen here.
        self.on_change: list[Callable[[str, str], None]] = [self.cache.invalidate]

    def close(self) -> None:
        """Close every database connection this service holds."""
        self.hot.close()
        self.store.dispose()

    # --- plumbing ------------------------------------------------------------------------

    def _changed(self, conn: sa.Connection, kind: str, entity_id: str, moment: datetime) -> None:
        """Record a change in the writing transaction (other processes poll for it)."""
        if kind == "brand":  # its segments may have changed: keep the served body in step
            queries.refresh_brand_body(conn, entity_id)
        queries.record_change(conn, kind, entity_id, moment)
        pending: list[tuple[str, str]] = conn.info.setdefault("zyntro_changes", [])
        pending.append((kind, entity_id))

    def _audit(
        self,
        conn: sa.Connection,
        actor: Actor,
        action: str,
        target_type: str,
        target_id: str,
        org_id: str | None,
        moment: datetime,
    ) -> None:
        queries.record_audit(
            conn,
            org_id=org_id,
            actor=actor.name,
            action=action,
            target_type=target_type,
            target_id=target_id,
            moment=moment,
        )

    def _write(self) -> _WriteScope:
        return _WriteScope(self)

    def _notify(self, changed: Iterable[tuple[str, str]]) -> None:
        for kind, entity_id in changed:
            for listener in self.on_change:
                listener(kind, entity_id)

    @staticmethod
    def _require_content_role(actor: Actor, org_id: str) -> None:
        _require_same_org(actor, org_id)
        if not actor.is_system and not (actor.role and actor.role.manages_content):
            raise Forbidden("Only an owner or a member in-charge can change brands and segments.")

    def act_as(self, member_id: str) -> Actor:
        """The actor for an active member (the CLI's `--member`, a dashboard session)."""
        with self.store.read() as conn:
            member = queries.get_member(conn, member_id)
        if member is None:
            raise NotFound("No such member.")
        if not member.active:
            raise Forbidden("This member has been deactivated.")
        return Actor(member_id=member.id, org_id=member.org_id, role=member.role)

    # --- organizations -------------------------------------------------------------------

    def create_org(self, actor: Actor, name: str) -> Organization:
        if not actor.is_system:
            raise Forbidden("Organizations are created by the administrator.")
        org = Organization(id=new_id("org"), name=validate_name("name", name), created_at=utcnow())
        with self._write() as conn:
            queries.insert_org(conn, org)
            self._audit(conn, actor, "org.create", "org", org.id, org.id, org.created_at)
        return org

    def get_org(self, actor: Actor, org_id: str) -> Organization:
        with self.store.read() as conn:
            org = queries.get_org(conn, org_id)
        if org is None or not _visible(actor, org.id):
            raise NotFound("No such organization.")
        return org

    def list_orgs(self, actor: Actor) -> list[Organization]:
        with self.store.read() as conn:
            return [org for org in queries.list_orgs(conn) if _visible(actor, org.id)]

    # --- brands --------------------------------------------------------------------------

    def create_brand(self, actor: Actor, org_id: str, name: str) -> Brand:
        self.get_org(actor, org_id)
        self._require_content_role(actor, org_id)
        brand = Brand(
            id=new_id("brand"), org_id=org_id, name=validate_name("name", name), created_at=utcnow()
        )
        with self._write() as conn:
            queries.insert_brand(conn, brand)
            self._changed(conn, "brand", brand.id, brand.created_at)
            self._audit(conn, actor, "brand.create", "brand", brand.id, org_id, brand.created_at)
        return brand

    def get_brand(self, actor: Actor, brand_id: str) -> Brand:
        """A brand the actor may see; another organization's brand is simply not found."""
        with self.store.read() as conn:
            brand = queries.get_brand(conn, brand_id)
        if brand is None or not _visible(actor, brand.org_id):
            raise BrandNotFound()
        return brand

    def list_brands(self, actor: Actor, org_id: str) -> list[Brand]:
        self.get_org(actor, org_id)
        with self.store.read() as conn:
            return queries.list_brands(conn, org_id)

    def rename_brand(self, actor: Actor, brand_id: str, name: str) -> Brand:
        brand = self.get_brand(actor, brand_id)
        self._require_content_role(actor, brand.org_id)
        name = validate_name("name", name)
        now = utcnow()
        with self._write() as conn:
            queries.rename_brand(conn, brand.id, name)
            self._changed(conn, "brand", brand.id, now)
            self._audit(conn, actor, "brand.rename", "brand", brand.id, brand.org_id, now)
        return replace(brand, name=name)

    def delete_brand(self, actor: Actor, brand_id: str) -> None:
        brand = self.get_brand(actor, brand_id)
        self._require_content_role(actor, brand.org_id)
        now = utcnow()
        with self._write() as conn:
            queries.delete_brand(conn, brand.id)
            self._changed(conn, "brand", brand.id, now)
            self._audit(conn, actor, "brand.delete", "brand", brand.id, brand.org_id, now)

    # --- members -------------------------------------------------------------------------

    def add_member(self, actor: Actor, org_id: str, email: str, name: str, role: Role) -> Member:
        self.get_org(actor, org_id)
        _require_owner(actor, org_id)
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
            self._audit(conn, actor, "member.add", "member", member.id, org_id, member.created_at)
        return member

    def get_member(self, actor: Actor, member_id: str) -> Member:
        with self.store.read() as conn:
            member = queries.get_member(conn, member_id)
        if member is None or not _visible(actor, member.org_id):
            raise NotFound("No such member.")
        return member

    def list_members(self, actor: Actor, org_id: str) -> list[Member]:
        self.get_org(actor, org_id)
        with self.store.read() as conn:
            return queries.list_members(conn, org_id)

    def set_role(self, actor: Actor, member_id: str, role: Role) -> Member:
        member = self.get_member(actor, member_id)
        _require_owner(actor, member.org_id)
        role = Role(role)
        now = utcnow()
        with self._write() as conn:
            if role is not Role.OWNER:
                _keep_an_owner(conn, member)
            queries.update_member(conn, member.id, role=role.value)
            self._changed(conn, "member", member.id, now)
            self._audit(conn, actor, "member.set_role", "member", member.id, member.org_id, now)
        return replace(member, role=role)

    def deactivate_member(self, actor: Actor, member_id: str) -> Member:
        """The member's keys stop working at once (every process within a second)."""
        member = self.get_member(actor, member_id)
        _require_owner(actor, member.org_id)
        now = utcnow()
        with self._write() as conn:
            _keep_an_owner(conn, member)
            queries.update_member(conn, member.id, active=False)
            self._changed(conn, "member", member.id, now)
            self._audit(conn, actor, "member.deactivate", "member", member.id, member.org_id, now)
        return replace(member, active=False)

    # --- API keys ------------------------------------------------------------------------

    def create_key(
        self, actor: Actor, member_id: str, label: str = "", expires_in_days: int | None = None
    ) -> tuple[ApiKey, str]:
        """Issue a key; the plain key is returned this once and never stored."""
        member = self.get_member(actor, member_id)
        _require_self_or_system(actor, member)
        if not member.active:
            raise Forbidden("A deactivated member cannot get API keys.")
        if len(label) > 200 or "\x00" in label:
            raise ValidationFailed("label", "must be at most 200 characters")
        if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
            raise ValidationFailed("expires_in", "must be 1-3650 days")
        plain = keys.generate_key()
        now = utcnow()
        key = ApiKey(
            id=new_id("key"),
            member_id=member.id,
            prefix=keys.display_prefix(plain),
            label=label.strip(),
            created_at=now,
            last_used_at=None,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
            revoked_at=None,
        )
        with self._write() as conn:
            queries.insert_key(conn, key, keys.digest(plain))
            self._changed(conn, "key", key.id, now)  # the digest may be cached as unknown
            self._audit(conn, actor, "key.create", "key", key.id, member.org_id, now)
        return key, plain

    def list_keys(self, actor: Actor, member_id: str) -> list[ApiKey]:
        member = self.get_member(actor, member_id)
        _require_self_or_system(actor, member)
        with self.store.read() as conn:
            return queries.list_keys(conn, member.id)

    def revoke_key(self, actor: Actor, key_id: str) -> ApiKey:
        with self.store.read() as conn:
            key = queries.get_key(conn, key_id)
            member = queries.get_member(conn, key.member_id) if key else None
        if key is None or member is None or not _visible(actor, member.org_id):
            raise NotFound("No such API key.")
        _require_self_or_system(actor, member)
        now = utcnow()
        with self._write() as conn:
            queries.revoke_key(conn, key.id, now)
            self._changed(conn, "key", key.id, now)
            self._audit(conn, actor, "key.revoke", "key", key.id, member.org_id, now)
        return replace(key, revoked_at=key.revoked_at or now)

    def principal_for_key(self, api_key: str, brand_id: str | None = None) -> Principal:
        """The member an API key acts for; one error for every way a key can be wrong.

        With `brand_id`, a brand the caches do not know is read along and cached, for the
        `audiences` call that follows (the public endpoint's cold path).
        """
        return _raised(self.principals_for_keys([(api_key, brand_id)])[0])

    def principals_for_keys(
        self, requests: Sequence[tuple[str, str | None]]
    ) -> list[Principal | ZyntroError]:
        """The principal or the error of each (api key, brand id) request: the keys the cache
        misses are read in one statement, then the brands of the keys found that the cache
        misses in another (an invalid key never makes a brand be read). `principal_for_key`
        is the one-request case; the public endpoint gathers concurrent misses into this on
        PostgreSQL.
        """
        cache = self.cache
        generation = cache.principals.generation
        body_generation = cache.bodies.generation
        results: list[Principal | ZyntroError] = []
        wanted: dict[str, list[int]] = {}
        for index, (api_key, _brand_id) in enumerate(requests):
            results.append(InvalidApiKey())  # until found usable
            if not keys.is_well_formed(api_key):
                continue  # format and checksum: no database touched
            digest = keys.digest(api_key)
            cached = cache.principals.get(digest)
            if cached is MISSING:
                wanted.setdefault(digest, []).append(index)
            else:
                results[index] = self._usable_or_error(cached)
        if not wanted:
            return results
        rows = self.hot.principals(list(wanted))
        brand_ids = {
            brand_id
            for digest in rows
            for index in wanted[digest]
            if (brand_id := requests[index][1]) is not None
            and is_valid_id(brand_id)
            and cache.bodies.get(brand_id) is MISSING
        }
        if brand_ids:  # only for keys that exist: an invalid key never makes brands be read
            found = self.hot.brands(sorted(brand_ids))
            for brand_id in brand_ids:
                cache.bodies.put(brand_id, found.get(brand_id, (None, None)), body_generation)
        for digest, indexes in wanted.items():
            row = rows.get(digest)
            principal = _principal(row)
            cache.principals.put(digest, principal, generation)
            for index in indexes:
                results[index] = self._usable_or_error(principal)
        return results

    def audiences_many(
        self, requests: Sequence[tuple[Principal, str, str]]
    ) -> list[bytes | ZyntroError]:
        """The success body or the error of each (principal, org id, brand id) request, reading
        the brands the cache misses in one statement; `audiences` is the one-request case."""
        bodies = self.cache.bodies
        generation = bodies.generation
        missing = sorted(
            {
                brand_id
                for _principal_, _org_id, brand_id in requests
                if is_valid_id(brand_id) and bodies.get(brand_id) is MISSING
            }
        )
        read: dict[str, tuple[str | None, bytes | None]] = {}
        if missing:
            found = self.hot.brands(missing)
            for brand_id in missing:
                read[brand_id] = found.get(brand_id, (None, None))
                bodies.put(brand_id, read[brand_id], generation)
        results: list[bytes | ZyntroError] = []
        for principal, org_id, brand_id in requests:
            try:
                if org_id != principal.org_id:
                    raise OrgMismatch()
                if not is_valid_id(brand_id):
                    raise BrandNotFound()
                entry = read.get(brand_id)
                if entry is None:
                    cached = bodies.get(brand_id)
                    entry = self._load_body(brand_id) if cached is MISSING else cached  # type: ignore[assignment]
                results.append(_body_or_error(entry, org_id))  # type: ignore[arg-type]
            except ZyntroError as error:
                results.append(error.with_traceback(None))  # no frame <-> error cycle
        return results

    def _usable_or_error(self, principal: object) -> Principal | ZyntroError:
        try:
            return self._usable(principal)
        except InvalidApiKey as error:
            return error.with_traceback(None)  # its frames would hold the caller's results

    def _usable(self, principal: object) -> Principal:
        now = utcnow()
        if not isinstance(principal, Principal) or not principal.usable_at(now):
            raise InvalidApiKey()
        self.usage.record(principal.key_id, now, principal.last_used_at)
        return principal

    # --- segments ------------------------------------------------------------------------

    def list_segments(self, actor: Actor, brand_id: str) -> list[Segment]:
        brand = self.get_brand(actor, brand_id)
        with self.store.read() as conn:
            return queries.brand_segments(conn, brand.id)

    def get_segment(self, actor: Actor, segment_id: str) -> Segment:
        with self.store.read() as conn:
            segment = queries.get_segment(conn, segment_id)
            brand = queries.get_brand(conn, segment.brand_id) if segment else None
        if segment is None or brand is None or not _visible(actor, brand.org_id):
            raise NotFound("No such segment.")
        return segment

    def add_segment(
        self,
        actor: Actor,
        brand_id: str,
        values: Mapping[str, Any],
        initiated_by: str | None = None,
    ) -> Segment:
        brand = self.get_brand(actor, brand_id)
        self._require_content_role(actor, brand.org_id)
        creator = self._creator(actor, brand, initiated_by)
        clean = validate_segment_fields(dict(values))
        now = utcnow()
        segment = _segment(new_id("seg"), brand.id, creator, clean, now, now)
        with self._write() as conn:
            queries.insert_segments(conn, [segment])
            self._changed(conn, "brand", brand.id, now)
            self._audit(conn, actor, "segment.create", "segment", segment.id, brand.org_id, now)
        return segment

    def update_segment(self, actor: Actor, segment_id: str, values: Mapping[str, Any]) -> Segment:
        segment = self.get_segment(actor, segment_id)
        brand = self.get_brand(actor, segment.brand_id)
        self._require_content_role(actor, brand.org_id)
        clean = validate_segment_fields(dict(values), partial=True)
        merged = {**_editable(segment), **clean}
        now = utcnow()
        updated = _segment(
            segment.id, brand.id, segment.initiated_by, merged, segment.created_at, now
        )
        with self._write() as conn:
            queries.replace_segment(conn, updated)
            self._changed(conn, "brand", brand.id, now)
            self._audit(conn, actor, "segment.update", "segment", segment.id, brand.org_id, now)
        return updated

    def delete_segment(self, actor: Actor, segment_id: str) -> None:
        segment = self.get_segment(actor, segment_id)
        brand = self.get_brand(actor, segment.brand_id)
        self._require_content_role(actor, brand.org_id)
        now = utcnow()
        with self._write() as conn:
            queries.delete_segment(conn, segment.id)
            self._changed(conn, "brand", brand.id, now)
            self._audit(conn, actor, "segment.delete", "segment", segment.id, brand.org_id, now)

    def import_segments(
        self,
        actor: Actor,
        brand_id: str,
        rows: list[dict[str, Any]],
        initiated_by: str | None = None,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Upsert rows by segment id: every row is checked before anything is written.

        Rows without an id get one derived from the brand and their content, so importing
        the same file twice neither duplicates nor loses anything.
        """
        brand = self.get_brand(actor, brand_id)
        self._require_content_role(actor, brand.org_id)
        creator = self._creator(actor, brand, initiated_by)
        now = utcnow()
        planned: list[Segment] = []
        seen: dict[str, int] = {}
        for number, row in enumerate(rows, start=1):
            try:
                segment = _import_row(row, brand.id, creator, now)
            except ValidationFailed as exc:
                raise ValidationFailed(f"row {number}, {exc.field}", _reason(exc)) from None
            if segment.id in seen:
                raise ValidationFailed(
                    f"row {number}, segment_id",
                    f"repeats row {seen[segment.id]} ({segment.id})",
                )
            seen[segment.id] = number
            planned.append(segment)
        result = ImportResult()
        with self._write() as conn:
            owners = queries.segment_owners(conn, [s.id for s in planned])
            new: list[Segment] = []
            for number, segment in enumerate(planned, start=1):
                owner = owners.get(segment.id)
                if owner is None:
                    new.append(segment)
                    result.created += 1
                elif owner != brand.id:
                    raise Conflict(
                        f"row {number}, segment_id: {segment.id} belongs to another brand"
                    )
                else:
                    existing = queries.get_segment(conn, segment.id)
                    assert existing is not None
                    merged = _merge_import(existing, segment, rows[number - 1], now)
                    if merged is None:
                        result.unchanged += 1
                    else:
                        queries.replace_segment(conn, merged)
                        result.updated += 1
                if progress:
                    progress(1)
            for start in range(0, len(new), 500):
                queries.insert_segments(conn, new[start : start + 500])
            result.segment_ids = [s.id for s in planned]
            if result.created or result.updated:
                self._changed(conn, "brand", brand.id, now)
            self._audit(conn, actor, "segment.import", "brand", brand.id, brand.org_id, now)
        return result

    def _creator(self, actor: Actor, brand: Brand, initiated_by: str | None) -> str:
        """The member recorded as initiated_by: the actor, or a member of the brand's org."""
        if initiated_by is None:
            if actor.member_id is None:
                raise ValidationFailed("member", "is required to record who created the segment")
            return actor.member_id
        member = self.get_member(actor, initiated_by)
        if member.org_id != brand.org_id:
            raise NotFound("No such member.")
        if not actor.is_system and member.id != actor.member_id:
            raise Forbidden("Segments are recorded as created by the member who creates them.")
        return member.id

    # --- the public endpoint -------------------------------------------------------------

    def fetch_audiences(self, api_key: str, org_id: str, brand_id: str) -> bytes:
        """SPEC §2: the success body for a brand, or the error its checks call for (in order)."""
        return self.audiences(self.principal_for_key(api_key), org_id, brand_id)

    def cached_principal(self, api_key: str) -> Principal | None:
        """`principal_for_key` from the cache alone; None when the database must be asked.

        This and `cached_audiences` do no I/O, so the endpoint runs them on the event loop.
        """
        if len(api_key) != keys.KEY_LENGTH:
            raise InvalidApiKey()
        # Only well-formed keys are ever cached, so a hit needs no checksum check.
        principal = self.cache.principals.get(keys.digest(api_key))
        if principal is MISSING:
            if not keys.is_well_formed(api_key):
                raise InvalidApiKey()
            return None
        return self._usable(principal)

    def audiences(self, principal: Principal, org_id: str, brand_id: str) -> bytes:
        """The success body of a brand of the key's organization (other orgs' brands are 404)."""
        return _raised(self.audiences_many([(principal, org_id, brand_id)])[0])

    def cached_audiences(self, principal: Principal, org_id: str, brand_id: str) -> bytes | None:
        """`audiences` from the cache alone; None when the database must be asked."""
        if org_id != principal.org_id:
            raise OrgMismatch()
        if not is_valid_id(brand_id):
            raise BrandNotFound()
        entry = self.cache.bodies.get(brand_id)
        return None if entry is MISSING else _body_or_error(entry, org_id)  # type: ignore[arg-type]

    def _load_body(self, brand_id: str) -> tuple[str | None, bytes | None]:
        return self.hot.brands([brand_id]).get(brand_id, (None, None))

    # --- audit ---------------------------------------------------------------------------

    def list_audit(self, actor: Actor, org_id: str, limit: int = 100) -> list[dict[str, Any]]:
        self.get_org(actor, org_id)
        _require_owner(actor, org_id)
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

    # --- dashboard and management API ---
    # Imports here are local so this section merges cleanly beside parallel edits above.

    SIGN_IN_WINDOW = timedelta(minutes=15)
    SIGN_IN_LOCK = timedelta(minutes=15)
    # Failures within the window before a lock: per email, and per client address.
    SIGN_IN_LIMITS = {"email": 5, "client": 30}
    IDEMPOTENCY_TTL = timedelta(hours=24)
    MAX_PAGE = 500

    def can_manage_content(self, actor: Actor) -> bool:
        """Whether the actor may create, edit and delete brands and segments."""
        return actor.is_system or bool(actor.role and actor.role.manages_content)

    def can_manage_members(self, actor: Actor) -> bool:
        """Whether the actor may add members, change roles and deactivate members."""
        return actor.is_system or actor.role is Role.OWNER

    def set_password(
        self,
        actor: Actor,
        member_id: str,
        password: str,
        current_password: str | None = None,
    ) -> str:
        """Set a dashboard password: the member (who confirms the current one), an owner of the
        organization, or the administrator. Sessions signed in with the old one end; the new
        session fingerprint is returned."""
        from zyntro import passwords

        member = self.get_member(actor, member_id)
        if not actor.is_system and actor.member_id == member.id:
            with self.store.read() as conn:
                stored = queries.get_password_hash(conn, member.id)
            if stored is not None and not passwords.verify_password(stored, current_password or ""):
                raise ValidationFailed("current_password", "is not your current password")
        else:
            _require_owner(actor, member.org_id)
        hashed = passwords.hash_password(password)
        now = utcnow()
        with self._write() as conn:
            queries.set_password_hash(conn, member.id, hashed)
            self._audit(conn, actor, "member.set_password", "member", member.id, member.org_id, now)
        return passwords.fingerprint(hashed)

    def sign_in(self, email: str, password: str, client: str) -> tuple[Actor, str]:
        """The member an email and password belong to, and the fingerprint its session carries.

        Failures count per email and per client address in the database, so every process
        shares them; past a limit, sign-in is refused for a while without checking anything.
        """
        from zyntro import passwords
        from zyntro.errors import RateLimited

        address = email.strip().lower()[:254]
        throttle_keys = {
            "email": self._sign_in_key("email", address),
            "client": self._sign_in_key("client", client),
        }
        now = utcnow()
        with self.store.read() as conn:
            locked_until = queries.sign_in_locked_until(conn, list(throttle_keys.values()), now)
        if locked_until is not None:
            minutes = max(1, -(-int((locked_until - now).total_seconds()) // 60))
            raise RateLimited(
                f"Too many failed sign-in attempts. Try again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}."
            )
        with self.store.read() as conn:
            candidates = [(m, h) for m, h in queries.members_by_email(conn, address) if h]
        matched = next(
            ((m, h) for m, h in candidates if passwords.verify_password(h, password)), None
        )
        if not candidates:
            passwords.verify_password(None, password)  # an unknown email takes as long
        if matched is None:
            self._sign_in_failed(throttle_keys, now)
            raise passwords.InvalidCredentials()
        member, stored = matched
        if not member.active:
            raise Forbidden("This member has been deactivated. Ask an owner of your organization.")
        with self._write() as conn:
            queries.clear_sign_in_throttle(conn, throttle_keys["email"])
            if passwords.needs_rehash(stored):
                stored = passwords.hash_password(password)
                queries.set_password_hash(conn, member.id, stored)
            self._audit(
                conn,
                self._member_actor(member),
                "member.sign_in",
                "member",
                member.id,
                member.org_id,
                now,
            )
        return self._member_actor(member), passwords.fingerprint(stored)

    def _sign_in_failed(self, throttle_keys: Mapping[str, str], now: datetime) -> None:
        with self._write() as conn:
            queries.prune_sign_in_throttle(conn, now - self.SIGN_IN_WINDOW, now)
            for kind, key in throttle_keys.items():
                row = queries.get_sign_in_throttle(conn, key, for_update=True)
                if row is None or row.window_started_at <= now - self.SIGN_IN_WINDOW:
                    failures, started = 1, now
                else:
                    failures, started = row.failures + 1, row.window_started_at
                locked = row.locked_until if row is not None else None
                if failures >= self.SIGN_IN_LIMITS[kind]:
                    locked, failures, started = now + self.SIGN_IN_LOCK, 0, now
                queries.put_sign_in_throttle(conn, key, failures, started, locked)

    def session_actor(self, member_id: str, fingerprint: str) -> Actor:
        """The actor of a dashboard session: the member must still be active, with the same
        password as when the session began."""
        import hmac

        from zyntro import passwords

        with self.store.read() as conn:
            member = queries.get_member(conn, member_id)
            stored = queries.get_password_hash(conn, member_id) if member else None
        if (
            member is None
            or not member.active
            or stored is None
            or not hmac.compare_digest(passwords.fingerprint(stored), fingerprint)
        ):
            raise passwords.SessionEnded()
        return self._member_actor(member)

    def members_with_password(self, actor: Actor, org_id: str) -> set[str]:
        """Ids of the organization's members who can sign in to the dashboard."""
        self.get_org(actor, org_id)
        with self.store.read() as conn:
            return queries.members_with_password(conn, org_id)

    def segment_counts(self, actor: Actor, org_id: str) -> dict[str, int]:
        """brand id -> number of segments, for the organization's brands."""
        self.get_org(actor, org_id)
        with self.store.read() as conn:
            return queries.segment_counts(conn, org_id)

    def segments_page(
        self,
        actor: Actor,
        brand_id: str,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
        segment_type: str | None = None,
        updated_since: datetime | None = None,
    ) -> tuple[list[Segment], bool]:
        """One page of a brand's segments in the endpoint's order, and whether more follow."""
        brand = self.get_brand(actor, brand_id)
        if not 1 <= limit <= self.MAX_PAGE:
            raise ValidationFailed("limit", f"must be 1-{self.MAX_PAGE}")
        with self.store.read() as conn:
            found = queries.segments_page(
                conn,
                brand.id,
                limit=limit + 1,
                after=after,
                segment_type=segment_type,
                updated_since=updated_since,
            )
        return found[:limit], len(found) > limit

    def get_brand_segment(self, actor: Actor, brand_id: str, segment_id: str) -> Segment:
        """A segment of this brand; a segment of another brand is not found here."""
        brand = self.get_brand(actor, brand_id)
        segment = self.get_segment(actor, segment_id)
        if segment.brand_id != brand.id:
            raise NotFound("No such segment.")
        return segment

    def add_segment_once(
        self, actor: Actor, brand_id: str, values: Mapping[str, Any], idempotency_key: str
    ) -> tuple[dict[str, Any], bool]:
        """`add_segment` under an Idempotency-Key: the public form of the segment, and whether
        it is a replay. The same key with the same request gives the first response for 24
        hours; with a different request it is a conflict. Failed requests are not kept."""
        import json

        import sqlalchemy.exc

        brand = self.get_brand(actor, brand_id)
        self._require_content_role(actor, brand.org_id)
        if actor.member_id is None:
            raise ValidationFailed("member", "is required to record who created the segment")
        if not 1 <= len(idempotency_key) <= 200 or not idempotency_key.isascii():
            raise ValidationFailed("Idempotency-Key", "must be 1-200 ASCII characters")
        request = json.dumps([brand.id, dict(values)], sort_keys=True, default=str)
        request_hash = hashlib.sha256(request.encode()).hexdigest()

        def replay() -> tuple[dict[str, Any], bool] | None:
            with self.store.read() as conn:
                record = queries.get_idempotency_record(
                    conn, actor.member_id or "", idempotency_key
                )
            if record is None or record.created_at < utcnow() - self.IDEMPOTENCY_TTL:
                return None
            if record.request_hash != request_hash:
                raise Conflict("This Idempotency-Key was already used with a different request.")
            stored: dict[str, Any] = json.loads(record.response)
            return stored, True

        earlier = replay()
        if earlier is not None:
            return earlier
        clean = validate_segment_fields(dict(values))
        now = utcnow()
        segment = _segment(new_id("seg"), brand.id, actor.member_id, clean, now, now)
        public = segment.to_public()
        try:
            with self._write() as conn:
                queries.prune_idempotency_records(conn, now - self.IDEMPOTENCY_TTL)
                queries.insert_idempotency_record(
                    conn, actor.member_id, idempotency_key, request_hash, json.dumps(public), now
                )
                queries.insert_segments(conn, [segment])
                self._changed(conn, "brand", brand.id, now)
                self._audit(conn, actor, "segment.create", "segment", segment.id, brand.org_id, now)
        except sqlalchemy.exc.IntegrityError:
            earlier = replay()  # a concurrent request with this key won the race
            if earlier is None:
                raise
            return earlier
        return public, False

    @staticmethod
    def _member_actor(member: Member) -> Actor:
        return Actor(member_id=member.id, org_id=member.org_id, role=member.role)

    @staticmethod
    def _sign_in_key(kind: str, value: str) -> str:
        """A throttle row's key: a digest, so no email or address is stored."""
        return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def _principal(row: tuple[Any, ...] | None) -> Principal | None:
    if row is None:
        return None
    key_id, expires_at, revoked_at, last_used_at, member_id, org_id, role, active = row
    return Principal(
        key_id=key_id,
        member_id=member_id,
        org_id=org_id,
        role=Role(role),
        active=bool(active),
        expires_at=expires_at,
        revoked_at=revoked_at,
        last_used_at=last_used_at,
    )


def _raised(result: T | ZyntroError) -> T:
    """One answer of a batch read: the value, or its error raised."""
    if isinstance(result, ZyntroError):
        try:
            raise result
        finally:  # else this frame and the error's traceback hold each other until a full GC
            del result
    return result


def _body_or_error(entry: tuple[str | None, bytes | None], org_id: str) -> bytes:
    brand_org, body = entry
    if brand_org != org_id:
        raise BrandNotFound()  # missing, or another organization's: the very same answer
    if body is None:
        raise NoSegments()
    return body


class _WriteScope:
    """A write transaction; listeners hear of its changes only once it has committed."""

    def __init__(self, service: Service) -> None:
        self._service = service
        self._cm = service.store.write()

    def __enter__(self) -> sa.Connection:
        self._conn = self._cm.__enter__()
        self._conn.info["zyntro_changes"] = []
        return self._conn

    def __exit__(self, *exc: Any) -> None:
        changed = self._conn.info.pop("zyntro_changes", [])
        self._cm.__exit__(*exc)
        if exc[0] is None:
            self._service._notify(changed)


# --- rules -------------------------------------------------------------------------------


def _visible(actor: Actor, org_id: str) -> bool:
    return actor.is_system or actor.org_id == org_id


def _require_same_org(actor: Actor, org_id: str) -> None:
    if not _visible(actor, org_id):
        raise NotFound("Not found.")


def _require_owner(actor: Actor, org_id: str) -> None:
    _require_same_org(actor, org_id)
    if not actor.is_system and actor.role is not Role.OWNER:
        raise Forbidden("Only an owner can manage members.")


def _keep_an_owner(conn: sa.Connection, member: Member) -> None:
    """Refuse to demote or deactivate the organization's last active owner."""
    if member.role is not Role.OWNER or not member.active:
        return
    owners = [m for m in queries.list_members(conn, member.org_id) if m.role is Role.OWNER]
    if sum(m.active for m in owners) <= 1:
        raise Conflict("An organization keeps at least one active owner: appoint another first.")


def _require_self_or_system(actor: Actor, member: Member) -> None:
    if not actor.is_system and actor.member_id != member.id:
        raise Forbidden("Members manage their own API keys.")


def _editable(segment: Segment) -> dict[str, Any]:
    public = segment.to_public()
    return {
        name: public[name] for name in public if name.startswith("segment_") or name == "reasoning"
    }


def _segment(
    segment_id: str,
    brand_id: str,
    initiated_by: str,
    clean: Mapping[str, Any],
    created_at: datetime,
    updated_at: datetime,
) -> Segment:
    return Segment(
        id=segment_id,
        brand_id=brand_id,
        created_at=_whole_seconds(created_at),
        updated_at=_whole_seconds(updated_at),
        initiated_by=initiated_by,
        label=clean["segment_label"],
        tag=clean["segment_tag"],
        type=clean["segment_type"],
        decision_drivers=clean["segment_decision_drivers"],
        pain_points=tuple(clean["segment_pain_points"]),
        use_cases=tuple(clean["segment_use_cases"]),
        tone=clean["segment_tone"],
        reasoning=clean["reasoning"],
    )


_IMPORT_META = ("segment_id", "created_at", "updated_at", "initiated_by")


def _import_row(row: Mapping[str, Any], brand_id: str, creator: str, now: datetime) -> Segment:
    if not isinstance(row, Mapping):
        raise ValidationFailed("row", "must be an object with the segment fields")
    editable = {k: v for k, v in row.items() if k not in _IMPORT_META}
    clean = validate_segment_fields(editable)
    segment_id = row.get("segment_id") or None
    if segment_id is not None and (not isinstance(segment_id, str) or not is_valid_id(segment_id)):
        raise ValidationFailed("segment_id", "must be 1-64 characters of A-Z a-z 0-9 _ -")
    initiated_by = row.get("initiated_by") or creator
    if not isinstance(initiated_by, str) or not is_valid_id(initiated_by):
        raise ValidationFailed("initiated_by", "must be a member id")
    created_at = _import_time(row, "created_at", now)
    updated_at = _import_time(row, "updated_at", created_at)
    if segment_id is None:
        segment_id = _content_id(brand_id, clean)
    return _segment(segment_id, brand_id, initiated_by, clean, created_at, updated_at)


def _import_time(row: Mapping[str, Any], name: str, default: datetime) -> datetime:
    value = row.get(name)
    if value in (None, ""):
        return default
    if not isinstance(value, str):
        raise ValidationFailed(name, "must be a timestamp like 2025-01-15 10:30:00")
    return parse_timestamp(value, name)


def _content_id(brand_id: str, clean: Mapping[str, Any]) -> str:
    material = repr(
        (brand_id, sorted((k, tuple(v) if isinstance(v, tuple) else v) for k, v in clean.items()))
    )
    return "seg_" + hashlib.sha256(material.encode()).hexdigest()[:26]


def _merge_import(
    existing: Segment, incoming: Segment, row: Mapping[str, Any], now: datetime
) -> Segment | None:
    """The segment an import row turns `existing` into, or None when nothing changes.

    Timestamps and the creator the row leaves out keep their stored values, so a file without
    them never rewrites history; a changed row without `updated_at` is stamped now.
    """
    if not row.get("created_at"):
        incoming = replace(incoming, created_at=existing.created_at)
    if not row.get("updated_at"):
        incoming = replace(incoming, updated_at=existing.updated_at)
    if not row.get("initiated_by"):
        incoming = replace(incoming, initiated_by=existing.initiated_by)
    if incoming == existing:
        return None
    if not row.get("updated_at"):
        incoming = replace(incoming, updated_at=_whole_seconds(now))
    return incoming


def _whole_seconds(moment: datetime) -> datetime:
    # Segment times are kept as served (YYYY-MM-DD HH:MM:SS): an export reads back equal, and
    # the order by created_at, then segment_id, is the one a caller can see.
    return moment.replace(microsecond=0)


def _reason(exc: ValidationFailed) -> str:
    return exc.message.split(": ", 1)[1] if ": " in exc.message else exc.message
