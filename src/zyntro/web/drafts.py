"""Drafting with AI in the dashboard: describe the audience on the new-segment page, review
the drafts, take one into the usual form, edit it, create it. Nothing is saved before that.

Shown only when an AI provider is configured (docs/ai.md); the drafter counts the same
quotas per member and per organization as the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import Response

from zyntro.domain import Brand
from zyntro.drafting.schema import DEFAULT_COUNT, MAX_DRAFTS
from zyntro.errors import (
    DraftingFailed,
    DraftingNotConfigured,
    DraftingRateLimited,
    DraftingUnavailable,
    Forbidden,
    ValidationFailed,
)
from zyntro.web import segment_form
from zyntro.web.context import PREFIX, CheckedForm, Dashboard, DashboardRoute, SignedIn, text

if TYPE_CHECKING:
    from zyntro.drafting.drafter import Drafter

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
COUNTS = tuple(range(1, MAX_DRAFTS + 1))
# What a person is told for each way drafting can fail; the page stays, with what they typed.
_SHOWN = (DraftingFailed, DraftingRateLimited, DraftingUnavailable)


def _drafter(dash: Dashboard) -> Drafter:
    drafter: Drafter | None = getattr(dash.request.app.state, "drafter", None)
    if drafter is None:
        raise DraftingNotConfigured()
    if not dash.can_edit:
        raise Forbidden("Only an owner or a member in-charge can draft segments.")
    return drafter


def _count(form: FormData) -> int:
    try:
        return int(text(form, "count") or DEFAULT_COUNT)
    except ValueError:
        return DEFAULT_COUNT


def _drafts_page(
    dash: Dashboard,
    brand: Brand,
    description: str,
    count: int,
    drafts: list[dict[str, Any]],
    problem: str | None = None,
    status: int = 200,
) -> Response:
    return dash.render(
        "drafts.html",
        status,
        section="brands",
        brand=brand,
        description=description,
        count=count,
        counts=COUNTS,
        drafts=drafts,
        problem=problem,
        fields=segment_form.FIELDS,
    )


@router.get(PREFIX + "/brands/{brand_id}/drafts")
@router.get(PREFIX + "/brands/{brand_id}/drafts/use")
def drafts_address(brand_id: str, dash: Dashboard = SignedIn) -> Response:
    """Drafts live in the page that showed them; their address (back, reload) leads to the
    new-segment page, where drafting starts."""
    brand = dash.service.get_brand(dash.actor, brand_id)
    return dash.redirect(f"/brands/{brand.id}/segments/new")


@router.post(PREFIX + "/brands/{brand_id}/drafts")
async def draft_segments(
    brand_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm
) -> Response:
    """Draft, and show the drafts for review (or what went wrong, keeping the description)."""
    drafter = _drafter(dash)
    brand = await anyio.to_thread.run_sync(dash.service.get_brand, dash.actor, brand_id)
    description, count = text(form, "description"), _count(form)
    try:
        drafts = await drafter.draft(dash.actor, brand.id, description, count)
    except ValidationFailed as error:
        return _drafts_page(dash, brand, description, count, [], error.message, 422)
    except _SHOWN as error:
        return _drafts_page(dash, brand, description, count, [], error.message, error.status)
    return _drafts_page(dash, brand, description, count, drafts)


@router.post(PREFIX + "/brands/{brand_id}/drafts/use")
def use_draft(brand_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    """The new-segment form filled with a draft, to edit and create as usual."""
    brand = dash.service.get_brand(dash.actor, brand_id)
    _drafter(dash)
    values, errors = segment_form.parse(form)
    return dash.render(
        "segment.html",
        section="brands",
        brand=brand,
        segment=None,
        values=values,
        errors=errors,
        fields=segment_form.FIELDS,
        types=segment_form.SEGMENT_TYPES,
        pending=segment_form.PENDING_SUFFIX,
        editable=True,
        from_draft=True,
    )
