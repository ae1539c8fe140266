"""Importing segments: every row checked before anything is written, upserted by id."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from zyntro.domain import Brand, Segment, parse_timestamp, utcnow, validate_segment_fields
from zyntro.errors import BrandNotFound, Conflict, ValidationFailed
from zyntro.identity import Actor
from zyntro.ids import is_valid_id
from zyntro.service.recording import rebuild_brand_body, record_audit
from zyntro.service.revisions import CREATED, UPDATED, Change, record_segment_changes
from zyntro.service.rules import require_content_role
from zyntro.service.segments import Segments, new_segment, whole_seconds
from zyntro.store import queries

Progress = Callable[[int], None]

_IMPORT_META = ("segment_id", "created_at", "updated_at", "initiated_by", "brand_id")
_BATCH = 500  # rows per INSERT statement


@dataclass(slots=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Rows whose `initiated_by` named no member of the brand's organization (another
    # organization's member, an id that does not exist): recorded as the importing member.
    reattributed: int = 0
    brands: int = 0  # brands written to
    segment_ids: list[str] = field(default_factory=list)


class Imports(Segments):
    def import_segments(
        self,
        actor: Actor,
        brand_id: str | None,
        rows: list[dict[str, Any]],
        initiated_by: str | None = None,
        progress: Progress | None = None,
        new_ids: bool = False,
    ) -> ImportResult:
        """Upsert rows by segment id: every row is checked before anything is written.

        A row goes to the brand its `brand_id` names, else to `brand_id` (one file can fill
        many brands; each must be one the actor may change). Rows without an id get one
        derived from the brand and their content, so importing the same file twice neither
        duplicates nor loses anything. A row's `initiated_by` is kept only when it names a
        member of the brand's organization (deactivated ones too); any other id is replaced
        by the importing member, and counted in `reattributed`.

        Each brand's rows are written in a transaction of their own (all of the brand's rows
        or none), so a big import never holds the database's write lock for long.

        With `new_ids` (copying another brand's export into `brand_id`), every row goes to
        `brand_id` with an id derived from it and the row's own id: the copies keep the
        source's order, and copying the same file again changes nothing.
        """
        now = utcnow()
        result = ImportResult()
        plans: dict[str, _BrandPlan] = {}
        seen: dict[str, int] = {}
        for number, row in enumerate(rows, start=1):
            # A copy goes where it is asked to, whatever brand the row came from.
            target = brand_id if new_ids and brand_id else _row_brand(row, number, brand_id)
            plan = plans.get(target)
            if plan is None:
                plan = plans[target] = self._plan_brand(actor, target, number, initiated_by)
            try:
                segment = _import_row(row, plan.brand.id, plan.creator, now, new_ids)
            except ValidationFailed as exc:
                raise _row_error(number, exc.field, exc.reason) from None
            if segment.initiated_by not in plan.members:
                segment = replace(segment, initiated_by=plan.creator)
                result.reattributed += 1
            if segment.id in seen:
                raise _row_error(
                    number, "segment_id", f"repeats row {seen[segment.id]} ({segment.id})"
                )
            seen[segment.id] = number
            plan.rows.append((number, segment, row))
        with self.store.read() as conn:  # owners and caps, before anything is written
            owners = queries.segment_owners(conn, list(seen))
            for plan in plans.values():
                _check_owners(plan, owners)
                adding = sum(1 for _, s, _ in plan.rows if s.id not in owners)
                self._check_segment_cap(conn, plan.brand, adding, lock=False)
        for plan in plans.values():
            self._write_brand(actor, plan, now, result, progress)
        result.segment_ids = list(seen)
        return result

    def _plan_brand(
        self, actor: Actor, brand_id: str, number: int, initiated_by: str | None
    ) -> _BrandPlan:
        try:
            brand = self.get_brand(actor, brand_id)
        except BrandNotFound:
            raise BrandNotFound(
                f"Row {number}: no brand {brand_id} in your organization."
            ) from None
        require_content_role(actor, brand.org_id)
        creator = self._creator(actor, brand, initiated_by)
        with self.store.read() as conn:
            members = {member.id for member in queries.list_members(conn, brand.org_id)}
        return _BrandPlan(brand, creator, members)

    def _write_brand(
        self,
        actor: Actor,
        plan: _BrandPlan,
        now: datetime,
        result: ImportResult,
        progress: Progress | None,
    ) -> None:
        """One brand's rows in one transaction, its body rebuilt once at the end."""
        brand = plan.brand
        changed = False
        with self._write() as conn:
            owners = queries.segment_owners(conn, [s.id for _, s, _ in plan.rows])
            _check_owners(plan, owners)
            new = [segment for _, segment, _ in plan.rows if segment.id not in owners]
            self._check_segment_cap(conn, brand, len(new))
            existing = queries.segments_by_id(conn, [s.id for s in plan.rows_in(owners)])
            changes: list[Change] = [(CREATED, None, segment) for segment in new]
            for _number, segment, row in plan.rows:
                if segment.id in owners:
                    before = existing[segment.id]
                    merged = _merge_import(before, segment, row, now)
                    if merged is None:
                        result.unchanged += 1
                    else:
                        queries.replace_segment(conn, merged)
                        changes.append((UPDATED, before, merged))  # a revision and an event
                        result.updated += 1
                        changed = True
            # Each new segment's object encoded once: its row, its revision, its event.
            encoded = {segment.id: orjson.dumps(segment.to_public()) for segment in new}
            for start in range(0, len(new), _BATCH):
                batch = new[start : start + _BATCH]
                queries.insert_segments(conn, batch, [encoded[s.id] for s in batch])
                if progress:
                    progress(len(batch))
            result.created += len(new)
            record_segment_changes(conn, actor, brand.org_id, changes, now, encoded)
            if new or changed:  # an import that changed nothing is no event
                rebuild_brand_body(conn, brand.id, now)
                record_audit(conn, actor, "segment.import", ("brand", brand.id), brand.org_id, now)
        result.brands += 1
        if progress and len(plan.rows) > len(new):
            progress(len(plan.rows) - len(new))


@dataclass(slots=True)
class _BrandPlan:
    brand: Brand
    creator: str
    members: set[str]
    rows: list[tuple[int, Segment, Mapping[str, Any]]] = field(default_factory=list)

    def rows_in(self, owners: Mapping[str, str]) -> list[Segment]:
        return [segment for _, segment, _ in self.rows if segment.id in owners]


def _row_brand(row: Any, number: int, default: str | None) -> str:
    named = row.get("brand_id") if isinstance(row, Mapping) else None
    if named in (None, ""):
        if default is None:
            raise _row_error(number, "brand_id", "is required when no brand is given for the file")
        return default
    if not isinstance(named, str) or not is_valid_id(named):
        raise _row_error(number, "brand_id", "must be a brand id")
    return named


def _check_owners(plan: _BrandPlan, owners: Mapping[str, str]) -> None:
    for number, segment, _row in plan.rows:
        owner = owners.get(segment.id)
        if owner is not None and owner != plan.brand.id:
            raise Conflict(
                f"Row {number}: the segment {segment.id} belongs to another brand; "
                "to copy segments into this brand, import with --new-ids."
            )


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


def _row_error(number: int, field: str, reason: str) -> ValidationFailed:
    """A field of the file's row `number` (from 1), or the row itself, breaks a rule:
    `Row 3: the field segment_label is required.`, `Row 3 must be an object …`."""
    subject = f"Row {number}" if field == "row" else f"Row {number}: the field {field}"
    return ValidationFailed(f"row {number}, {field}", reason, subject)
