"""A brand's segments: read, page, create (also under an Idempotency-Key), edit, delete."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc

from zyntro.domain import EDITABLE_FIELDS, Brand, Segment, utcnow, validate_segment_fields
from zyntro.errors import Conflict, Forbidden, NotFound, SegmentLimitReached, ValidationFailed
from zyntro.identity import Actor
from zyntro.ids import new_id
from zyntro.service.accounts import Accounts
from zyntro.service.recording import rebuild_brand_body, record_audit
from zyntro.service.revisions import CREATED, UPDATED, move_to_trash, record_segment_change
from zyntro.service.rules import require_content_role, seen_by
from zyntro.store import queries

MAX_PAGE = 500
MAX_SEARCH = 100

# Segments one brand may hold (ZYNTRO_MAX_SEGMENTS_PER_BRAND): every write re-encodes the
# brand's served body in its transaction, so this bounds that work (a full brand re-encodes in
# a few ms) and the answer's size (~0.6 MB at 1,000 seed-shaped segments).
DEFAULT_MAX_SEGMENTS_PER_BRAND = 1000


class Segments(Accounts):
    """Segment use cases; every write re-encodes the brand's served body in its transaction."""

    MAX_PAGE = MAX_PAGE
    IDEMPOTENCY_TTL = timedelta(hours=24)  # how long an Idempotency-Key's answer is replayed

    def __init__(
        self,
        *args: Any,
        max_segments_per_brand: int = DEFAULT_MAX_SEGMENTS_PER_BRAND,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_segments_per_brand = max_segments_per_brand

    def _check_segment_cap(
        self, conn: sa.Connection, brand: Brand, adding: int, *, lock: bool = True
    ) -> None:
        """Refuse a write that would take `brand` past the cap (in a write: counted under the
        brand's row lock, so concurrent writes cannot both pass it)."""
        if not adding:
            return
        if lock:
            queries.lock_brand(conn, brand.id)
        cap = self.max_segments_per_brand
        held = queries.count_brand_segments(conn, brand.id)
        if held + adding > cap:
            raise SegmentLimitReached(
                f"A brand holds at most {cap:,} segment{'' if cap == 1 else 's'}; "
                f"{brand.name!r} has {held:,}"
                + (f" and this would add {adding:,}" if adding > 1 else "")
                + ". Delete some, or use another brand."
            )

    def list_segments(self, actor: Actor, brand_id: str) -> list[Segment]:
        brand = self.get_brand(actor, brand_id)
        with self.store.read() as conn:
            return queries.brand_segments(conn, brand.id)

    def get_segment(self, actor: Actor, segment_id: str) -> Segment:
        with self.store.read() as conn:
            segment = queries.get_segment(conn, segment_id)
            brand = queries.get_brand(conn, segment.brand_id) if segment else None
        if brand is not None and not actor.sees_brand(brand.id):
            brand = None  # outside the key's brand limits: as if it did not exist
        return seen_by(actor, segment, brand.org_id if brand else None, "segment")

    def get_brand_segment(self, actor: Actor, brand_id: str, segment_id: str) -> Segment:
        """A segment of this brand; a segment of another brand is not found here."""
        brand = self.get_brand(actor, brand_id)
        segment = self.get_segment(actor, segment_id)
        if segment.brand_id != brand.id:
            raise NotFound("No such segment.")
        return segment

    def segments_page(
        self,
        actor: Actor,
        brand_id: str,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
        segment_type: str | None = None,
        updated_since: datetime | None = None,
        search: str | None = None,
    ) -> tuple[list[Segment], bool]:
        """One page of a brand's segments in the endpoint's order, and whether more follow
        (`search`: label, tag or type containing the text, case-insensitively)."""
        brand = self.get_brand(actor, brand_id)
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed("limit", f"must be 1-{MAX_PAGE}")
        with self.store.read() as conn:
            found = queries.segments_page(
                conn,
                brand.id,
                limit=limit + 1,
                after=after,
                segment_type=segment_type,
                updated_since=updated_since,
                search=search,
            )
        return found[:limit], len(found) > limit

    def segment_facets(
        self, actor: Actor, brand_id: str, segment_type: str | None, search: str | None
    ) -> tuple[int, list[str]]:
        """How many of a brand's segments match the filters, and the types it has."""
        brand = self.get_brand(actor, brand_id)
        with self.store.read() as conn:
            return queries.segment_facets(conn, brand.id, segment_type, search)

    def search_segments(
        self,
        actor: Actor,
        org_id: str,
        *,
        text: str = "",
        segment_type: str | None = None,
        segment_tag: str | None = None,
        brand_id: str | None = None,
        limit: int = 20,
    ) -> tuple[list[Segment], bool]:
        """Segments of the organization (or of one of its brands) whose text holds every word
        of `text` (any case, any field) and whose type and tag are the ones given; at most
        `limit`, and whether more matched."""
        self.get_org(actor, org_id)
        if brand_id is not None:
            brand_id = self.get_brand(actor, brand_id).id
        if not 1 <= limit <= MAX_SEARCH:
            raise ValidationFailed("limit", f"must be 1-{MAX_SEARCH}")
        words = text.casefold().split()
        found: list[Segment] = []
        with self.store.read() as conn:
            candidates = queries.org_segments(
                conn,
                org_id,
                brand_id=brand_id,
                among=actor.brands,  # a key narrowed to some brands searches only those
                segment_type=segment_type or None,
                segment_tag=segment_tag or None,
            )
            for segment in candidates:
                haystack = _searchable(segment)
                if all(word in haystack for word in words):
                    found.append(segment)
                    if len(found) > limit:
                        break
        return found[:limit], len(found) > limit

    def add_segment(
        self,
        actor: Actor,
        brand_id: str,
        values: Mapping[str, Any],
        initiated_by: str | None = None,
    ) -> Segment:
        brand = self.get_brand(actor, brand_id)
        require_content_role(actor, brand.org_id)
        creator = self._creator(actor, brand, initiated_by)
        clean = validate_segment_fields(dict(values))
        now = utcnow()
        segment = new_segment(new_id("seg"), brand.id, creator, clean, now, now)
        with self._write() as conn:
            self._check_segment_cap(conn, brand, 1)
            queries.insert_segments(conn, [segment])
            rebuild_brand_body(conn, brand.id, now)
            record_audit(conn, actor, "segment.create", ("segment", segment.id), brand.org_id, now)
            record_segment_change(conn, actor, brand.org_id, (CREATED, None, segment), now)
        return segment

    def add_segment_once(
        self, actor: Actor, brand_id: str, values: Mapping[str, Any], idempotency_key: str
    ) -> tuple[dict[str, Any], bool]:
        """`add_segment` under an Idempotency-Key: the public form of the segment, and whether
        it is a replay. The same key with the same request gives the first response for 24
        hours; with a different request it is a conflict. Failed requests are not kept."""
        brand = self.get_brand(actor, brand_id)
        require_content_role(actor, brand.org_id)
        member_id = actor.member_id or actor.key_id  # an organization key creates as itself
        if member_id is None:
            raise ValidationFailed("member", "is required to record who created the segment")
        if not 1 <= len(idempotency_key) <= 200 or not idempotency_key.isascii():
            raise ValidationFailed("Idempotency-Key", "must be 1-200 ASCII characters")
        request = json.dumps([brand.id, dict(values)], sort_keys=True, default=str)
        request_hash = hashlib.sha256(request.encode()).hexdigest()

        def replay() -> tuple[dict[str, Any], bool] | None:
            with self.store.read() as conn:
                record = queries.get_idempotency_record(conn, member_id, idempotency_key)
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
        segment = new_segment(new_id("seg"), brand.id, member_id, clean, now, now)
        public = segment.to_public()
        try:
            with self._write() as conn:
                queries.prune_idempotency_records(conn, now - self.IDEMPOTENCY_TTL)
                queries.insert_idempotency_record(
                    conn, member_id, idempotency_key, request_hash, json.dumps(public), now
                )
                self._check_segment_cap(conn, brand, 1)
                queries.insert_segments(conn, [segment])
                rebuild_brand_body(conn, brand.id, now)
                record_audit(
                    conn, actor, "segment.create", ("segment", segment.id), brand.org_id, now
                )
                record_segment_change(conn, actor, brand.org_id, (CREATED, None, segment), now)
        except sqlalchemy.exc.IntegrityError:
            earlier = replay()  # a concurrent request with this key won the race
            if earlier is None:
                raise
            return earlier
        return public, False

    def update_segment(self, actor: Actor, segment_id: str, values: Mapping[str, Any]) -> Segment:
        segment = self.get_segment(actor, segment_id)
        brand = self.get_brand(actor, segment.brand_id)
        require_content_role(actor, brand.org_id)
        clean = validate_segment_fields(dict(values), partial=True)
        merged = {**segment.editable(), **clean}
        now = utcnow()
        updated = new_segment(
            segment.id, brand.id, segment.initiated_by, merged, segment.created_at, now
        )
        with self._write() as conn:
            if not queries.replace_segment(conn, updated):
                raise NotFound("No such segment.")  # deleted meanwhile by another request
            rebuild_brand_body(conn, brand.id, now)
            record_audit(conn, actor, "segment.update", ("segment", segment.id), brand.org_id, now)
            record_segment_change(conn, actor, brand.org_id, (UPDATED, segment, updated), now)
        return updated

    def delete_segment(self, actor: Actor, segment_id: str) -> None:
        segment = self.get_segment(actor, segment_id)
        brand = self.get_brand(actor, segment.brand_id)
        require_content_role(actor, brand.org_id)
        now = utcnow()
        with self._write() as conn:
            move_to_trash(conn, actor, brand.org_id, segment, now)  # with its tombstone event
            rebuild_brand_body(conn, brand.id, now)
            record_audit(conn, actor, "segment.delete", ("segment", segment.id), brand.org_id, now)

    def _creator(self, actor: Actor, brand: Brand, initiated_by: str | None) -> str:
        """The member recorded as initiated_by: the actor, or a member of the brand's org."""
        if initiated_by is None:
            creator = actor.member_id or actor.key_id  # an organization key creates as itself
            if creator is None:
                raise ValidationFailed("member", "is required to record who created the segment")
            return creator
        member = self.get_member(actor, initiated_by)
        if member.org_id != brand.org_id:
            raise NotFound("No such member.")
        if not actor.is_system and member.id != actor.member_id:
            raise Forbidden("Segments are recorded as created by the member who creates them.")
        return member.id


def new_segment(
    segment_id: str,
    brand_id: str,
    initiated_by: str,
    clean: Mapping[str, Any],
    created_at: datetime,
    updated_at: datetime,
) -> Segment:
    """A segment of validated fields (`validate_segment_fields`), times in whole seconds."""
    return Segment(
        id=segment_id,
        brand_id=brand_id,
        created_at=whole_seconds(created_at),
        updated_at=whole_seconds(updated_at),
        initiated_by=initiated_by,
        **{name: clean[name] for name in EDITABLE_FIELDS},
    )


def whole_seconds(moment: datetime) -> datetime:
    # Segment times are kept as served (YYYY-MM-DD HH:MM:SS): an export reads back equal, and
    # the order by created_at, then segment_id, is the one a caller can see.
    return moment.replace(microsecond=0)


def _searchable(segment: Segment) -> str:
    """Every text of a segment, casefolded, one field a line (a word never spans two)."""
    values = [
        value if isinstance(value, str) else "\n".join(value)
        for value in segment.editable().values()
    ]
    return "\n".join(values).casefold()
