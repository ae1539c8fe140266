"""Importing segments: every row checked before anything is written, upserted by id."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from zyntro.domain import Segment, parse_timestamp, utcnow, validate_segment_fields
from zyntro.errors import Conflict, ValidationFailed
from zyntro.identity import Actor
from zyntro.ids import is_valid_id
from zyntro.service.recording import rebuild_brand_body, record_audit
from zyntro.service.revisions import CREATED, UPDATED, Change, record_segment_changes
from zyntro.service.rules import require_content_role
from zyntro.service.segments import Segments, new_segment, whole_seconds
from zyntro.store import queries

Progress = Callable[[int], None]

_IMPORT_META = ("segment_id", "created_at", "updated_at", "initiated_by")
_BATCH = 500  # rows per INSERT statement


@dataclass(slots=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Rows whose `initiated_by` named no member of the brand's organization (another
    # organization's member, an id that does not exist): recorded as the importing member.
    reattributed: int = 0
    segment_ids: list[str] = field(default_factory=list)


class Imports(Segments):
    def import_segments(
        self,
        actor: Actor,
        brand_id: str,
        rows: list[dict[str, Any]],
        initiated_by: str | None = None,
        progress: Progress | None = None,
        new_ids: bool = False,
    ) -> ImportResult:
        """Upsert rows by segment id: every row is checked before anything is written.

        Rows without an id get one derived from the brand and their content, so importing
        the same file twice neither duplicates nor loses anything. A row's `initiated_by` is
        kept only when it names a member of the brand's organization (deactivated ones too);
        any other id is replaced by the importing member, and counted in `reattributed`.
        With `new_ids` (copying another brand's export), each row gets an id derived from
        this brand and the row's own id, so copying the same file again changes nothing.
        """
        brand = self.get_brand(actor, brand_id)
        require_content_role(actor, brand.org_id)
        creator = self._creator(actor, brand, initiated_by)
        with self.store.read() as conn:
            members = {member.id for member in queries.list_members(conn, brand.org_id)}
        now = utcnow()
        result = ImportResult()
        planned: list[Segment] = []
        seen: dict[str, int] = {}
        for number, row in enumerate(rows, start=1):
            try:
                segment = _import_row(row, brand.id, creator, now, new_ids)
            except ValidationFailed as exc:
                raise ValidationFailed(f"row {number}, {exc.field}", exc.reason) from None
            if segment.initiated_by not in members:
                segment = replace(segment, initiated_by=creator)
                result.reattributed += 1
            if segment.id in seen:
                raise ValidationFailed(
                    f"row {number}, segment_id",
                    f"repeats row {seen[segment.id]} ({segment.id})",
                )
            seen[segment.id] = number
            planned.append(segment)
        with self._write() as conn:
            owners = queries.segment_owners(conn, [s.id for s in planned])
            new: list[Segment] = []
            changes: list[Change] = []  # a revision and an event for each
            for number, segment in enumerate(planned, start=1):
                owner = owners.get(segment.id)
                if owner is None:
                    new.append(segment)
                    changes.append((CREATED, None, segment))
                    result.created += 1
                elif owner != brand.id:
                    raise Conflict(
                        f"row {number}, segment_id: {segment.id} belongs to another brand; "
                        "to copy segments into this brand, import with --new-ids"
                    )
                else:
                    existing = queries.get_segment(conn, segment.id)
                    assert existing is not None
                    merged = _merge_import(existing, segment, rows[number - 1], now)
                    if merged is None:
                        result.unchanged += 1
                    else:
                        queries.replace_segment(conn, merged)
                        changes.append((UPDATED, existing, merged))
                        result.updated += 1
                if progress:
                    progress(1)
            for start in range(0, len(new), _BATCH):
                queries.insert_segments(conn, new[start : start + _BATCH])
            record_segment_changes(conn, actor, brand.org_id, changes, now)
            result.segment_ids = [s.id for s in planned]
            if result.created or result.updated:  # an import that changed nothing is no event
                rebuild_brand_body(conn, brand.id, now)
                record_audit(conn, actor, "segment.import", ("brand", brand.id), brand.org_id, now)
        return result


def _import_row(
    row: Mapping[str, Any], brand_id: str, creator: str, now: datetime, new_ids: bool = False
) -> Segment:
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
    if new_ids:
        segment_id = _copy_id(brand_id, segment_id or _content_id("", clean))
    elif segment_id is None:
        segment_id = _content_id(brand_id, clean)
    return new_segment(segment_id, brand_id, initiated_by, clean, created_at, updated_at)


def _copy_id(brand_id: str, source_id: str) -> str:
    """The id of a copy in `brand_id`: the brand's mark before the source id, so copies of one
    file keep the source's order (rows sharing a created_at follow their ids) and copying
    again finds them; a source id too long for that is hashed with the brand instead."""
    mark = hashlib.sha256(brand_id.encode()).hexdigest()[:8]
    copied = f"seg_{mark}_{source_id}"
    if len(copied) <= 64:
        return copied
    return "seg_" + hashlib.sha256(f"{brand_id}\0{source_id}".encode()).hexdigest()[:26]


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
        incoming = replace(incoming, updated_at=whole_seconds(now))
    return incoming
