"""`GET /api/v1/events`: the organization's events feed, read after a cursor."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from zyntro.api.deps import service_of
from zyntro.api.v1.auth import KeyActor, LimitedRoute
from zyntro.api.v1.history_models import EventPage
from zyntro.api.v1.http import json_response
from zyntro.api.v1.models import ERRORS
from zyntro.service import Actor

router = APIRouter(route_class=LimitedRoute)
_TYPES = Query(
    None,
    alias="type",
    description="Only events of these types (repeat it, or separate them with commas).",
    examples=["segment.deleted"],
)


@router.get(
    "/events",
    response_model=EventPage,
    responses=ERRORS,
    summary="Read your organization's events, oldest first, after a cursor (every role)",
)
def list_events(
    request: Request,
    actor: Actor = KeyActor,
    cursor: str | None = Query(
        None,
        max_length=512,
        description="`next_cursor` of the previous page; without it the feed starts at the "
        "oldest event kept (ZYNTRO_EVENT_RETENTION_DAYS).",
    ),
    limit: int = Query(100, ge=1, le=500, description="Page size, 1-500."),
    event_types: list[str] | None = _TYPES,
    brand_id: str | None = Query(None, max_length=64, description="Only this brand's events."),
) -> Response:
    """Events of every write (API, dashboard, CLI, import), oldest first. Keep `next_cursor`
    and ask again from it: it is never null, and an empty `data` means nothing new yet. A
    deleted segment appears as `segment.deleted` with the segment as it was (a tombstone)."""
    assert actor.org_id is not None
    types = [t.strip() for value in event_types or [] for t in value.split(",") if t.strip()]
    page = service_of(request).list_events(
        actor, actor.org_id, cursor=cursor, limit=limit, types=types, brand_id=brand_id
    )
    return json_response(
        {"status": "success", "data": page.events, "next_cursor": page.next_cursor},
        headers={"Cache-Control": "no-store"},
    )
