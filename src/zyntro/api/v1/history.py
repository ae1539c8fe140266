"""A brand's trash and a segment's revisions: list them, restore from either."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from zyntro.access import Scope
from zyntro.api.deps import service_of
from zyntro.api.v1.auth import LimitedRoute, requires
from zyntro.api.v1.history_models import RevisionPage, TrashPage
from zyntro.api.v1.http import json_response
from zyntro.api.v1.models import ERRORS, WRITE_ERRORS, SegmentOne
from zyntro.cursors import decode_cursor, encode_cursor, pack, unpack
from zyntro.service import Actor

router = APIRouter(route_class=LimitedRoute)

_CURSOR = Query(None, max_length=512, description="`next_cursor` of the previous page.")
_LIMIT = Query(100, ge=1, le=500, description="Page size, 1-500.")
_RESTORE_ERRORS = {
    **WRITE_ERRORS,
    409: {
        "model": WRITE_ERRORS[404]["model"],
        "description": "`conflict`: the segment is not in the trash (restore), or is in it "
        "(revision restore), or a segment with its id was imported since.",
    },
}


@router.get(
    "/brands/{brand_id}/trash",
    response_model=TrashPage,
    responses=ERRORS,
    summary="List a brand's deleted segments, restorable until purged (every role)",
)
def list_trash(
    brand_id: str,
    request: Request,
    actor: Actor = requires(Scope.SEGMENTS_READ),
    limit: int = _LIMIT,
    cursor: str | None = _CURSOR,
) -> Response:
    """The latest deleted first. fetchAudiences, segment lists and exports never show these."""
    before = decode_cursor(cursor, ("trash",)) if cursor else None
    page, more = service_of(request).trash_page(actor, brand_id, limit=limit, before=before)
    next_cursor = encode_cursor((page[-1].deleted_at, page[-1].id), ("trash",)) if more else None
    body = {"status": "success", "data": [t.to_public() for t in page], "next_cursor": next_cursor}
    return json_response(body, headers={"Cache-Control": "no-store"})


@router.post(
    "/brands/{brand_id}/segments/{segment_id}/restore",
    response_model=SegmentOne,
    responses=_RESTORE_ERRORS,
    summary="Bring a deleted segment back from the trash, with its id",
)
def restore_segment(
    brand_id: str, segment_id: str, request: Request, actor: Actor = requires(Scope.SEGMENTS_WRITE)
) -> Response:
    segment = service_of(request).restore_segment(actor, segment_id, brand_id)
    return json_response({"status": "success", "data": segment.to_public()})


@router.get(
    "/brands/{brand_id}/segments/{segment_id}/revisions",
    response_model=RevisionPage,
    responses=ERRORS,
    summary="List a segment's revisions, the latest first (every role)",
)
def list_revisions(
    brand_id: str,
    segment_id: str,
    request: Request,
    actor: Actor = requires(Scope.SEGMENTS_READ),
    limit: int = _LIMIT,
    cursor: str | None = _CURSOR,
) -> Response:
    """Who changed what, and when: the segment's 12 fields before and after each change. A
    segment in the trash keeps its history until it is purged."""
    before_seq = _decode_seq(cursor) if cursor else None
    page, more = service_of(request).revisions_page(
        actor, segment_id, brand_id, limit=limit, before_seq=before_seq
    )
    next_cursor = _encode_seq(page[-1][0]) if more else None
    data = [revision.to_public() for _, revision in page]
    body = {"status": "success", "data": data, "next_cursor": next_cursor}
    return json_response(body, headers={"Cache-Control": "no-store"})


@router.post(
    "/brands/{brand_id}/segments/{segment_id}/revisions/{revision_id}/restore",
    response_model=SegmentOne,
    responses=_RESTORE_ERRORS,
    summary="Give a segment the fields of an earlier revision (itself a new revision)",
)
def restore_revision(
    brand_id: str,
    segment_id: str,
    revision_id: str,
    request: Request,
    actor: Actor = requires(Scope.SEGMENTS_WRITE),
) -> Response:
    segment = service_of(request).restore_revision(actor, segment_id, revision_id, brand_id)
    return json_response({"status": "success", "data": segment.to_public()})


def _encode_seq(seq: int) -> str:
    return pack("r", seq)


def _decode_seq(cursor: str) -> int:
    def read(values: list[Any]) -> int:
        tag, seq = values
        if tag != "r" or not isinstance(seq, int):
            raise ValueError
        return seq

    return unpack(cursor, read)
