"""A brand's trash and a segment's history in the dashboard: restore from either.

Every member reads both; only owners and members in-charge see (and may use) the restore
buttons, and the service refuses anyone else's restore regardless.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zyntro.domain import EDITABLE_FIELDS, Member
from zyntro.history import Revision
from zyntro.web.context import PREFIX, CheckedForm, Dashboard, DashboardRoute, SignedIn
from zyntro.web.listing import Page, list_query, next_cursor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@router.get(PREFIX + "/brands/{brand_id}/trash")
def trash_page(brand_id: str, request: Request, dash: Dashboard = SignedIn) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    query = list_query(request)
    items, more = dash.service.trash_page(
        dash.actor, brand.id, limit=query.size, before=query.after()
    )
    last = items[-1] if items else None
    cursor = next_cursor((last.deleted_at, last.id), query) if more and last else None
    total = dash.service.trash_size(dash.actor, brand.id)
    return dash.render(
        "trash.html",
        section="brands",
        brand=brand,
        page=Page(items, query, total, cursor),
        people=_people(dash),
        editable=dash.can_edit,
        retention_days=dash.service.trash_retention.days,
    )


def _people(dash: Dashboard) -> dict[str, Member]:
    """The organization's members by id: who deleted or changed something, by name and role."""
    return {member.id: member for member in dash.service.list_members(dash.actor, dash.org_id)}


@router.post(PREFIX + "/brands/{brand_id}/trash/{segment_id}/restore")
def restore_segment(
    brand_id: str, segment_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm
) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    segment = dash.service.restore_segment(dash.actor, segment_id, brand.id)
    return dash.redirect(
        f"/brands/{brand.id}", f"Segment “{segment.segment_label}” restored ({segment.id})."
    )


def _changes(revision: Revision) -> list[dict[str, Any]]:
    """The fields a revision changed, each with its value before and after."""
    before, after = revision.before or {}, revision.after or {}
    return [
        {"name": name, "before": before.get(name), "after": after.get(name)}
        for name in EDITABLE_FIELDS
        if before.get(name) != after.get(name)
    ]


@router.get(PREFIX + "/brands/{brand_id}/segments/{segment_id}/history")
def history_page(
    brand_id: str, segment_id: str, request: Request, dash: Dashboard = SignedIn
) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    query = list_query(request)
    after = query.after()
    before_seq = int(after[1]) if after and after[1].isdigit() else None
    found, more = dash.service.revisions_page(
        dash.actor, segment_id, brand.id, limit=query.size, before_seq=before_seq
    )
    revisions = [revision for _, revision in found]
    # The latest revision says what the segment is now: its label, and whether it is trashed.
    latest = (
        revisions[:1]
        if before_seq is None
        else [
            revision
            for _, revision in dash.service.revisions_page(
                dash.actor, segment_id, brand.id, limit=1
            )[0]
        ]
    )
    in_trash = bool(latest) and latest[0].action == "deleted"
    label = latest[0].state["segment_label"] if latest else segment_id
    cursor = None
    if more and found:
        seq, last = found[-1]
        cursor = next_cursor((last.at, str(seq)), query)
    items = [(revision, _changes(revision)) for revision in revisions]
    total = dash.service.revision_count(dash.actor, segment_id, brand.id)
    return dash.render(
        "history.html",
        section="brands",
        brand=brand,
        segment_id=segment_id,
        label=label,
        page=Page(items, query, total, cursor),
        latest_id=latest[0].id if latest else None,
        people=_people(dash),
        in_trash=in_trash,
        editable=dash.can_edit,
    )


@router.post(PREFIX + "/brands/{brand_id}/segments/{segment_id}/history/{revision_id}/restore")
def restore_revision(
    brand_id: str,
    segment_id: str,
    revision_id: str,
    dash: Dashboard = SignedIn,
    form: FormData = CheckedForm,
) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    segment = dash.service.restore_revision(dash.actor, segment_id, revision_id, brand.id)
    return dash.redirect(
        f"/brands/{brand.id}/segments/{segment.id}/history",
        f"Segment “{segment.segment_label}” has the fields of that version again.",
    )
