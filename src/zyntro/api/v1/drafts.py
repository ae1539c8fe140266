"""`POST /api/v1/brands/{brand_id}/segments/draft`: segments proposed by the configured AI
provider from a description of the audience. Nothing is saved (docs/ai.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from zyntro.api.v1.auth import KeyActor, LimitedRoute
from zyntro.api.v1.http import json_response
from zyntro.api.v1.models import BODY_WRITE_ERRORS, SegmentCreate, _error
from zyntro.drafting.schema import DEFAULT_COUNT, DESCRIPTION_MAX, MAX_DRAFTS
from zyntro.errors import DraftingNotConfigured
from zyntro.service import Actor

if TYPE_CHECKING:
    from zyntro.drafting.drafter import Drafter

router = APIRouter(route_class=LimitedRoute)


class DraftRequest(BaseModel):
    """A description of the audience, and how many drafts to propose."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "description": "Parents who buy school shoes online in August, on a budget",
                "count": 3,
            }
        },
    )

    description: str = Field(
        min_length=1, max_length=DESCRIPTION_MAX, description="Who the audience is, in words."
    )
    count: int = Field(DEFAULT_COUNT, ge=1, le=MAX_DRAFTS, description="1-5 drafts.")


class DraftList(BaseModel):
    """Drafts in the shape `POST .../segments` takes: review, edit, then create the ones you
    want. Fewer than `count` may come back."""

    status: Literal["success"]
    data: list[SegmentCreate]


DRAFT_ERRORS: dict[int | str, dict[str, Any]] = {
    **BODY_WRITE_ERRORS,
    429: _error("`rate_limited`: the key's quota, or the drafts of your member or organization."),
    501: _error("`drafting_not_configured`: the server has no AI provider."),
    502: _error("`drafting_failed`: the provider's answer broke the segment rules twice."),
    503: _error("`drafting_unavailable`: the provider timed out, is busy or failing."),
}


def drafter_of(request: Request) -> Drafter:
    """The app's drafter, or 501 when no provider is configured."""
    drafter: Drafter | None = getattr(request.app.state, "drafter", None)
    if drafter is None:
        raise DraftingNotConfigured()
    return drafter


@router.post(
    "/brands/{brand_id}/segments/draft",
    response_model=DraftList,
    responses=DRAFT_ERRORS,
    summary="Draft segments with AI from a description (owner or member in-charge)",
)
async def draft_segments(
    brand_id: str, body: DraftRequest, request: Request, actor: Actor = KeyActor
) -> Response:
    """The model sees the brand's name, profile and existing segments, so that drafts
    complement them. Nothing is written: create the drafts you keep with `POST .../segments`."""
    drafter = drafter_of(request)
    drafts = await drafter.draft(actor, brand_id, body.description, body.count)
    return json_response({"status": "success", "data": drafts})
