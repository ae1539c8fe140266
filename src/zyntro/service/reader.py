"""The public endpoint's reads: the caches first, then one batch read for what they miss.

`cached_principal` and `cached_body` do no I/O: the endpoint calls them on the event loop.
`principals` and `bodies` read the misses of any number of requests in one statement each and
answer every request with its value or the error it must raise; the endpoint calls them for
one request (SQLite, inline) or for the misses of concurrent requests (PostgreSQL,
`api/coalesce.py`), chosen once at start.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from zyntro import keys
from zyntro.cache import MISSING, ReadCache
from zyntro.errors import (
    BrandNotFound,
    InsufficientScope,
    InvalidApiKey,
    NoSegments,
    OrgMismatch,
    ZyntroError,
)
from zyntro.identity import Principal
from zyntro.ids import is_valid_id
from zyntro.service.recording import ASSEMBLED, brand_body
from zyntro.store import Store
from zyntro.store.hot import BrandEntry, HotReader
from zyntro.usage import UsageRecorder

KeyRequest = tuple[str, str | None]  # (api key, brand id to read along, if any)
BodyRequest = tuple[Principal, str, str]  # (principal, org id, brand id)

_UNKNOWN_BRAND: BrandEntry = (None, None)
AUDIENCES_READ = "audiences:read"  # the scope fetchAudiences needs (zyntro.access.Scope)


class AudienceReader:
    """API key → principal and brand → served body, cached in this process."""

    def __init__(self, store: Store, cache_bytes: int, usage: UsageRecorder) -> None:
        self.cache = ReadCache(store, cache_bytes)
        self._store = store
        self._db = HotReader(store.engine)
        self._usage = usage
        self._following = False

    # --- the cache alone -----------------------------------------------------------------

    def cached_principal(self, api_key: str) -> Principal | None:
        """The key's principal from the cache; None when the database must be asked.

        Raises `InvalidApiKey` for a key that cannot be valid (length, checksum) or is known
        to be unusable.
        """
        if len(api_key) != keys.KEY_LENGTH:
            raise InvalidApiKey()
        # Only well-formed keys are ever cached, so a hit needs no checksum check.
        cached = self.cache.principals.get(keys.digest(api_key))
        if cached is MISSING:
            if not keys.is_well_formed(api_key):
                raise InvalidApiKey()
            return None
        return self._usable(cached)  # type: ignore[arg-type]

    def cached_body(self, principal: Principal, org_id: str, brand_id: str) -> bytes | None:
        """The success body from the cache; None when the database must be asked."""
        _check_access(principal, org_id, brand_id)
        entry = self.cache.bodies.get(brand_id)
        return None if entry is MISSING else _served(entry, org_id)  # type: ignore[arg-type]

    # --- batch reads of what the cache misses --------------------------------------------

    def principals(self, requests: Sequence[KeyRequest]) -> list[Principal | ZyntroError]:
        """The principal or the error of each request: the keys the cache misses are read in
        one statement, then the brands the cache misses of the keys found in another (an
        invalid key never makes a brand be read)."""
        cache = self.cache.principals
        generation = cache.generation
        results: list[Principal | ZyntroError] = []
        wanted: dict[str, list[int]] = {}
        for index, (api_key, _brand_id) in enumerate(requests):
            results.append(InvalidApiKey())  # until found usable
            if not keys.is_well_formed(api_key):
                continue  # format and checksum: no database touched
            digest = keys.digest(api_key)
            cached = cache.get(digest)
            if cached is MISSING:
                wanted.setdefault(digest, []).append(index)
            else:
                results[index] = self._usable_or_error(cached)  # type: ignore[arg-type]
        if not wanted:
            return results
        found = self._db.principals(list(wanted))
        self._read_bodies(
            brand_id
            for digest in found
            for index in wanted[digest]
            if (brand_id := requests[index][1]) is not None
        )
        for digest, indexes in wanted.items():
            principal = found.get(digest)
            cache.put(digest, principal, generation)
            for index in indexes:
                results[index] = self._usable_or_error(principal)
        return results

    def bodies(self, requests: Sequence[BodyRequest]) -> list[bytes | ZyntroError]:
        """The success body or the error of each request, reading the brands the cache misses
        in one statement."""
        entries = self._read_bodies(brand_id for _principal, _org_id, brand_id in requests)
        results: list[bytes | ZyntroError] = []
        for principal, org_id, brand_id in requests:
            try:
                _check_access(principal, org_id, brand_id)
                results.append(_served(entries[brand_id], org_id))
            except ZyntroError as error:
                results.append(error.with_traceback(None))  # no frame <-> error cycle
        return results

    def _read_bodies(self, brand_ids: Iterable[str]) -> dict[str, BrandEntry]:
        """brand id → cache entry for each valid id, reading (and caching) the misses."""
        cache = self.cache.bodies
        generation = cache.generation
        entries: dict[str, BrandEntry] = {}
        missing: list[str] = []
        for brand_id in brand_ids:
            if brand_id in entries or not is_valid_id(brand_id):
                continue
            cached = cache.get(brand_id)
            if cached is MISSING:
                missing.append(brand_id)
                entries[brand_id] = _UNKNOWN_BRAND
            else:
                entries[brand_id] = cached  # type: ignore[assignment]
        if missing:
            found = self._db.brands(sorted(missing))
            for brand_id in missing:
                entry = found.get(brand_id, _UNKNOWN_BRAND)
                if entry[1] == ASSEMBLED:  # a big brand: its body is its segments' objects
                    entry = (entry[0], self._assemble(brand_id))
                entries[brand_id] = entry
                cache.put(brand_id, entry, generation)
        return entries

    def _assemble(self, brand_id: str) -> bytes | None:
        """A big brand's body (service/recording.py, `STORED_BODY_MAX_SEGMENTS`): one indexed
        read of its segments' stored objects, on a cache miss only."""
        with self._store.read() as conn:
            return brand_body(conn, brand_id)

    def _usable_or_error(self, principal: Principal | None) -> Principal | ZyntroError:
        try:
            return self._usable(principal)
        except InvalidApiKey as error:
            return error.with_traceback(None)  # its frames would hold the caller's results

    def _usable(self, principal: Principal | None) -> Principal:
        now = time.time()
        if principal is None or now >= principal.usable_until:
            raise InvalidApiKey()
        self._usage.record(principal.key_id, now, principal.last_used)
        return principal

    def use_db(self, db: HotReader) -> None:
        """Read the misses through `db` from now on (a traced reader: zyntro.tracing)."""
        self._db.close()
        self._db = db

    # --- keeping the cache true ----------------------------------------------------------

    def invalidate(self, kind: str, entity_id: str) -> None:
        """A write of this process committed (`Service.on_change`)."""
        self.cache.invalidate(kind, entity_id)

    def follow_changes(self, notified: bool = False) -> None:
        """Apply what other processes wrote since the last call (polled by the server;
        `notified`: woken by a PostgreSQL notification, see store/notify.py)."""
        feed = self.cache.feed
        if not self._following:
            feed.start_at_current()
            self._following = True
        feed.poll(notified)
        feed.prune()

    def close(self) -> None:
        self._db.close()


def _check_access(principal: Principal, org_id: str, brand_id: str) -> None:
    """The key's scope, organization and brand limits, in docs/api.md's order."""
    if AUDIENCES_READ not in principal.scopes:
        raise InsufficientScope(AUDIENCES_READ)
    if org_id != principal.org_id:
        raise OrgMismatch()
    if not is_valid_id(brand_id) or (
        principal.brands is not None and brand_id not in principal.brands
    ):
        raise BrandNotFound()  # outside the key's limits: as if it did not exist


def _served(entry: BrandEntry, org_id: str) -> bytes:
    brand_org, body = entry
    if brand_org != org_id:
        raise BrandNotFound()  # missing, or another organization's: the very same answer
    if body is None:
        raise NoSegments()
    return body
