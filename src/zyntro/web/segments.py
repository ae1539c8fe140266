"""A brand's segments: the table, and the form that creates, edits and deletes one.

A plain member sees the same pages read-only; the service refuses their writes regardless.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zyntro.domain import Brand, Segment
from zyntro.errors import Forbidden, ValidationFailed
from zyntro.web import segment_form
from zyntro.web.context import PREFIX, CheckedForm, Dashboard, DashboardRoute, SignedIn
from zyntro.web.listing import Page, list_query, next_cursor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
READ_ONLY = "Only an owner or a member in-charge can change brands and segments."


def _require_editor(dash: Dashboard) -> None:
    if not dash.can_edit:
        raise Forbidden(READ_ONLY)


def _form_page(
    dash: Dashboard,
    brand: Brand,
    values: dict[str, Any],
    segment: Segment | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return dash.render(
        "segment.html",
        status,
        section="brands",
        brand=brand,
        segment=segment,
        values=values,
        errors=errors or {},
        fields=segment_form.FIELDS,
        types=segment_form.SEGMENT_TYPES,
        pending=segment_form.PENDING_SUFFIX,
        editable=dash.can_edit,
        creators=_names(dash) if segment is not None else {},
    )


@router.get(PREFIX + "/brands/{brand_id}")
def segments_page(brand_id: str, request: Request, dash: Dashboard = SignedIn) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    query = list_query(request)
    kind, search = query.type or None, query.q or None
    rows, more = dash.service.segments_page(
        dash.actor,
        brand.id,
        limit=query.size,
        after=query.after(),
        segment_type=kind,
        search=search,
    )
    total, types = dash.service.segment_facets(dash.actor, brand.id, kind, search)
    cursor = next_cursor((rows[-1].created_at, rows[-1].id), query) if more and rows else None
    page = Page(rows, query, total, cursor, types)
    return dash.render(
        "segments.html",
        section="brands",
        brand=brand,
        page=page,
        all_count=total
        if not query.filtered
        else dash.service.segment_facets(dash.actor, brand.id, None, None)[0],
        creators=_names(dash),
        editable=dash.can_edit,
    )


def _names(dash: Dashboard) -> dict[str, str]:
    """member id -> name, to show who created a segment instead of an id."""
    return {member.id: member.name for member in dash.service.list_members(dash.actor, dash.org_id)}


@router.get(PREFIX + "/brands/{brand_id}/segments/new")
def new_segment_page(brand_id: str, dash: Dashboard = SignedIn) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    _require_editor(dash)
    return _form_page(dash, brand, segment_form.empty_values())


@router.post(PREFIX + "/brands/{brand_id}/segments")
def create_segment(
    brand_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm
) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    _require_editor(dash)
    values, errors = segment_form.parse(form)
    if not errors:
        try:
            segment = dash.service.add_segment(dash.actor, brand.id, values)
        except ValidationFailed as error:
            errors[error.field] = error.reason
        else:
            return dash.redirect(
                f"/brands/{brand.id}", f"Segment “{segment.segment_label}” created ({segment.id})."
            )
    return _form_page(dash, brand, values, errors=errors, status=422)


@router.get(PREFIX + "/brands/{brand_id}/segments/{segment_id}")
def segment_page(brand_id: str, segment_id: str, dash: Dashboard = SignedIn) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    segment = dash.service.get_brand_segment(dash.actor, brand.id, segment_id)
    return _form_page(dash, brand, segment_form.values_of(segment), segment)


@router.post(PREFIX + "/brands/{brand_id}/segments/{segment_id}")
def update_segment(
    brand_id: str, segment_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm
) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    segment = dash.service.get_brand_segment(dash.actor, brand.id, segment_id)
    _require_editor(dash)
    values, errors = segment_form.parse(form)
    if not errors:
        try:
            updated = dash.service.update_segment(dash.actor, segment.id, values)
        except ValidationFailed as error:
            errors[error.field] = error.reason
        else:
            return dash.redirect(f"/brands/{brand.id}", f"Segment “{updated.segment_label}” saved.")
    return _form_page(dash, brand, values, segment, errors, status=422)


@router.post(PREFIX + "/brands/{brand_id}/segments/{segment_id}/delete")
def delete_segment(
    brand_id: str, segment_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm
) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    segment = dash.service.get_brand_segment(dash.actor, brand.id, segment_id)
    dash.service.delete_segment(dash.actor, segment.id)
    return dash.redirect(f"/brands/{brand.id}", f"Segment “{segment.segment_label}” deleted.")
