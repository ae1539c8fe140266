"""The trash and the history of segments: list, restore, revert, and purge what has expired.

Deleting a segment moves it to the trash (service/revisions.move_to_trash); it is restored
with its id until the trash retention ends, then purged with its revisions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from zyntro.domain import EDITABLE_FIELDS, Brand, Segment, utcnow, validate_segment_fields
from zyntro.errors import Conflict, NotFound, ValidationFailed
from zyntro.history import Revision, TrashedSegment, segment_from_public
from zyntro.identity import Actor
from zyntro.service.recording import rebuild_brand_body, record_audit
from zyntro.service.revisions import RESTORED, REVERTED, record_segment_change
from zyntro.service.rules import require_content_role, seen_by
from zyntro.service.segments import MAX_PAGE, Segments, new_segment, whole_seconds
from zyntro.store import queries

DEFAULT_TRASH_RETENTION_DAYS = 30
_PURGE_BATCH = 1000


class History(Segments):
    """The trash of each brand and the revisions of each segment."""

    trash_retention = timedelta(days=DEFAULT_TRASH_RETENTION_DAYS)

    def trash_page(
        self,
        actor: Actor,
        brand_id: str,
        *,
        limit: int = 100,
        before: tuple[datetime, str] | None = None,
    ) -> tuple[list[TrashedSegment], bool]:
        """A brand's trash, the latest deleted first (every role); and whether more follow."""
        brand = self.get_brand(actor, brand_id)
        _check_limit(limit)
        with self.store.read() as conn:
            rows = queries.trashed_page(conn, brand.id, limit=limit + 1, before=before)
        return [self._trashed(row) for row in rows[:limit]], len(rows) > limit

    def trash_size(self, actor: Actor, brand_id: str) -> int:
        """How many segments are in a brand's trash (every role)."""
        brand = self.get_brand(actor, brand_id)
        with self.store.read() as conn:
            return queries.count_trashed(conn, brand.id)

    def _trashed(self, row: Any) -> TrashedSegment:
        return TrashedSegment(
            segment=orjson.loads(row.segment),
            brand_id=row.brand_id,
            deleted_at=row.deleted_at,
            deleted_by=row.deleted_by,
            purge_at=row.deleted_at + self.trash_retention,
        )

    def restore_segment(
        self, actor: Actor, segment_id: str, brand_id: str | None = None
    ) -> Segment:
        """Bring a trashed segment back with its id (its `updated_at` now); a segment not in
        the trash (or of another brand than `brand_id`) is not found."""
        brand, live = self._find(actor, segment_id, brand_id)
        require_content_role(actor, brand.org_id)
        with self.store.read() as conn:
            row = queries.get_trashed(conn, segment_id)
        if row is None:
            if live is not None:
                raise Conflict("This segment is not in the trash.")
            raise NotFound("No such segment in the trash.")
        now = utcnow()
        segment = segment_from_public(orjson.loads(row.segment), brand.id, whole_seconds(now))
        with self._write() as conn:
            if not queries.delete_trashed(conn, segment.id):
                raise NotFound("No such segment in the trash.")  # restored meanwhile
            if queries.get_segment(conn, segment.id) is not None:
                raise Conflict("A segment with this id was imported since: restore refused.")
            self._check_segment_cap(conn, brand, 1)  # a full brand takes nothing back either
            queries.insert_segments(conn, [segment])
            rebuild_brand_body(conn, brand.id, now)
            record_segment_change(conn, actor, brand.org_id, (RESTORED, None, segment), now)
            record_audit(conn, actor, "segment.restore", ("segment", segment.id), brand.org_id, now)
        return segment

    def revisions_page(
        self,
        actor: Actor,
        segment_id: str,
        brand_id: str | None = None,
        *,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> tuple[list[tuple[int, Revision]], bool]:
        """A segment's revisions, the latest first, each with its keyset position (every
        role); a trashed segment keeps its history until it is purged."""
        self._find(actor, segment_id, brand_id)
        _check_limit(limit)
        with self.store.read() as conn:
            rows = queries.revisions_page(conn, segment_id, limit=limit + 1, before_seq=before_seq)
        return [(int(row.seq), _revision(row)) for row in rows[:limit]], len(rows) > limit

    def revision_count(self, actor: Actor, segment_id: str, brand_id: str | None = None) -> int:
        """How many revisions a segment has (every role)."""
        self._find(actor, segment_id, brand_id)
        with self.store.read() as conn:
            return queries.count_revisions(conn, segment_id)

    def restore_revision(
        self, actor: Actor, segment_id: str, revision_id: str, brand_id: str | None = None
    ) -> Segment:
        """Give a segment the fields an earlier revision left it with (a deletion's: those
        it took away); this is itself a new revision."""
        brand, segment = self._find(actor, segment_id, brand_id)
        with self.store.read() as conn:
            row = queries.get_revision(conn, revision_id)
        if row is None or row.segment_id != segment_id:
            raise NotFound("No such revision.")
        require_content_role(actor, brand.org_id)
        if segment is None:
            raise Conflict("This segment is in the trash: restore it first.")
        state = _revision(row).state
        now = utcnow()
        fields = validate_segment_fields({name: state[name] for name in EDITABLE_FIELDS})
        reverted = new_segment(
            segment.id, brand.id, segment.initiated_by, fields, segment.created_at, now
        )
        with self._write() as conn:
            if not queries.replace_segment(conn, reverted):
                raise Conflict("This segment was deleted meanwhile: restore it first.")
            rebuild_brand_body(conn, brand.id, now)
            record_segment_change(conn, actor, brand.org_id, (REVERTED, segment, reverted), now)
            record_audit(conn, actor, "segment.revert", ("segment", segment.id), brand.org_id, now)
        return reverted

    def _find(
        self, actor: Actor, segment_id: str, brand_id: str | None
    ) -> tuple[Brand, Segment | None]:
        """The brand of a live or trashed segment the actor may see, and the segment when it
        is live (None in the trash). With `brand_id`, a segment of another brand is not
        found; an unknown or unseen brand is `brand_not_found` first."""
        if brand_id is not None:
            self.get_brand(actor, brand_id)
        with self.store.read() as conn:
            live = queries.get_segment(conn, segment_id)
            trashed = None if live is not None else queries.get_trashed(conn, segment_id)
            owner = live.brand_id if live else (trashed.brand_id if trashed else None)
            brand = queries.get_brand(conn, owner) if owner else None
        if brand is None or (brand_id is not None and brand.id != brand_id):
            raise NotFound("No such segment.")
        return seen_by(actor, brand, brand.org_id, "segment"), live

    def purge_trash(self) -> int:
        """Delete segments trashed longer than the retention, with their revisions; returns
        how many. Safe to run in every process at once: each row goes once."""
        purged = 0
        while True:
            with self._write() as conn:
                ids = queries.purge_trash(conn, utcnow() - self.trash_retention, _PURGE_BATCH)
            purged += len(ids)
            if len(ids) < _PURGE_BATCH:
                return purged


def _revision(row: Any) -> Revision:
    return Revision(
        id=row.id,
        segment_id=row.segment_id,
        brand_id=row.brand_id,
        action=row.action,
        actor=row.actor,
        at=row.at,
        before=orjson.loads(row.before) if row.before is not None else None,
        after=orjson.loads(row.after) if row.after is not None else None,
    )


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed("limit", f"must be 1-{MAX_PAGE}")
