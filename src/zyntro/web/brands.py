"""Brands (list; owners and members in-charge create, rename, delete) and the API page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zyntro.errors import ValidationFailed
from zyntro.web.context import PREFIX, CheckedForm, Dashboard, DashboardRoute, SignedIn, text
from zyntro.web.listing import ListQuery, list_query, page_of

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


def _brands_page(
    dash: Dashboard, status: int = 200, query: ListQuery | None = None, **context: object
) -> Response:
    brands = dash.service.list_brands(dash.actor, dash.org_id)
    counts = dash.service.segment_counts(dash.actor, dash.org_id)
    page = page_of(
        brands,
        query or ListQuery(),
        position=lambda brand: (brand.created_at, brand.id),
        text=lambda brand: f"{brand.name} {brand.id}",
    )
    context.setdefault("errors", {})
    context.setdefault("name", "")
    context.setdefault("renaming", None)
    return dash.render(
        "brands.html",
        status,
        section="brands",
        page=page,
        all_count=len(brands),
        counts=counts,
        **context,
    )


@router.get(PREFIX + "/brands")
def brands_page(request: Request, dash: Dashboard = SignedIn) -> Response:
    return _brands_page(dash, query=list_query(request))


@router.post(PREFIX + "/brands")
def create_brand(dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    name = text(form, "name")
    try:
        brand = dash.service.create_brand(dash.actor, dash.org_id, name)
    except ValidationFailed as error:
        return _brands_page(dash, 422, errors={"name": error.reason}, name=name)
    return dash.redirect("/brands", f"Brand “{brand.name}” created.")


@router.post(PREFIX + "/brands/{brand_id}/rename")
def rename_brand(
    brand_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm
) -> Response:
    try:
        brand = dash.service.rename_brand(dash.actor, brand_id, text(form, "name"))
    except ValidationFailed as error:
        # Shown at the top of the page, where the answer leaves the person looking, with the
        # form again: never in a row further down (or on another page of the list).
        renaming = dash.service.get_brand(dash.actor, brand_id)
        return _brands_page(dash, 422, renaming=renaming, rename_error=error.reason)
    return dash.redirect("/brands", f"Brand renamed to “{brand.name}”.")


@router.post(PREFIX + "/brands/{brand_id}/delete")
def delete_brand(
    brand_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm
) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    dash.service.delete_brand(dash.actor, brand.id)
    return dash.redirect("/brands", f"Brand “{brand.name}” and its segments deleted.")


@router.get(PREFIX + "/api")
def api_page(request: Request, dash: Dashboard = SignedIn) -> Response:
    brands = dash.service.list_brands(dash.actor, dash.org_id)
    base = str(request.base_url).rstrip("/")
    # The snippets and the "Your ids" card name one brand: the one asked for, else the first.
    asked = request.query_params.get("brand", "")
    brand = next((b for b in brands if b.id == asked), brands[0] if brands else None)
    return dash.render("api.html", section="api", brands=brands, brand=brand, base_url=base)
