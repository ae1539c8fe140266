"""`/api/v1/brands/{brand_id}/segments`: list with cursors and ETags; create, update, delete."""

from __future__ import annotations

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from zyntro.access import Scope
from zyntro.api.deps import service_of
from zyntro.api.v1.auth import LimitedRoute, requires
from zyntro.api.v1.http import conditional_json, json_response
from zyntro.api.v1.models import (
    BODY_WRITE_ERRORS,
    ERRORS,
    WRITE_ERRORS,
    SegmentCreate,
    SegmentOne,
    SegmentPage,
    SegmentUpdate,
)
from zyntro.cursors import decode_cursor, encode_cursor
from zyntro.domain import parse_timestamp
from zyntro.errors import ValidationFailed
from zyntro.service import Actor

router = APIRouter(route_class=LimitedRoute)
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def _location(brand_id: str, segment_id: str) -> str:
    return f"/api/v1/brands/{brand_id}/segments/{segment_id}"


@router.get(
    "/brands/{brand_id}/segments",
    response_model=SegmentPage,
    responses={
        **ERRORS,
        304: {"description": "Not modified: your copy (If-None-Match) is current"},
    },
    summary="List a brand's segments, a page at a time",
)
def list_segments(
    brand_id: str,
    request: Request,
    actor: Actor = requires(Scope.SEGMENTS_READ),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size, 1-500."),
    cursor: str | None = Query(
        None, max_length=512, description="`next_cursor` of the previous page."
    ),
    segment_type: str | None = Query(
        None, max_length=40, description="Only segments of this type."
    ),
    updated_since: str | None = Query(
        None,
        max_length=64,
        description="Only segments updated at or after this time (YYYY-MM-DD HH:MM:SS, UTC).",
        examples=["2025-01-15 10:30:00"],
    ),
) -> Response:
    """Segments in the fetchAudiences order. Send `If-None-Match` with a page's `ETag` to get
    304 when it has not changed. An empty brand gives an empty page, not an error."""
    since = parse_timestamp(updated_since, "updated_since") if updated_since else None
    filters = (segment_type, since.isoformat() if since else None)
    after = decode_cursor(cursor, filters) if cursor else None
    page, more = service_of(request).segments_page(
        actor, brand_id, limit=limit, after=after, segment_type=segment_type, updated_since=since
    )
    next_cursor = encode_cursor((page[-1].created_at, page[-1].id), filters) if more else None
    body = {
        "status": "success",
        "data": [segment.to_public() for segment in page],
        "next_cursor": next_cursor,
    }
    return conditional_json(request, body)


@router.post(
    "/brands/{brand_id}/segments",
    status_code=201,
    response_model=SegmentOne,
    responses=BODY_WRITE_ERRORS,
    summary="Create a segment (owner or member in-charge)",
)
def create_segment(
    brand_id: str,
    body: SegmentCreate,
    request: Request,
    actor: Actor = requires(Scope.SEGMENTS_WRITE),
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        max_length=200,
        description="Retry safely: the same key and body within 24 hours return the first "
        "response (with `Idempotent-Replayed: true`) instead of creating another segment.",
    ),
) -> Response:
    service = service_of(request)
    values = body.model_dump()
    replayed = False
    if idempotency_key is not None:
        public, replayed = service.add_segment_once(actor, brand_id, values, idempotency_key)
    else:
        public = service.add_segment(actor, brand_id, values).to_public()
    headers = {"Location": _location(brand_id, public["segment_id"])}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response({"status": "success", "data": public}, 201, headers)


@router.get(
    "/brands/{brand_id}/segments/{segment_id}",
    response_model=SegmentOne,
    responses=ERRORS,
    summary="Get one segment",
)
def get_segment(
    brand_id: str, segment_id: str, request: Request, actor: Actor = requires(Scope.SEGMENTS_READ)
) -> Response:
    segment = service_of(request).get_brand_segment(actor, brand_id, segment_id)
    return conditional_json(request, {"status": "success", "data": segment.to_public()})


@router.patch(
    "/brands/{brand_id}/segments/{segment_id}",
    response_model=SegmentOne,
    responses=BODY_WRITE_ERRORS,
    summary="Change some fields of a segment (owner or member in-charge)",
)
def update_segment(
    brand_id: str,
    segment_id: str,
    body: SegmentUpdate,
    request: Request,
    actor: Actor = requires(Scope.SEGMENTS_WRITE),
) -> Response:
    values = body.model_dump(exclude_unset=True)
    if not values:
        raise ValidationFailed("body", "must have at least one field to change")
    service = service_of(request)
    segment = service.get_brand_segment(actor, brand_id, segment_id)
    updated = service.update_segment(actor, segment.id, values)
    return json_response({"status": "success", "data": updated.to_public()})


@router.delete(
    "/brands/{brand_id}/segments/{segment_id}",
    status_code=204,
    responses=WRITE_ERRORS,
    summary="Delete a segment (owner or member in-charge)",
)
def delete_segment(
    brand_id: str, segment_id: str, request: Request, actor: Actor = requires(Scope.SEGMENTS_WRITE)
) -> Response:
    service = service_of(request)
    segment = service.get_brand_segment(actor, brand_id, segment_id)
    service.delete_segment(actor, segment.id)
    return Response(status_code=204)
