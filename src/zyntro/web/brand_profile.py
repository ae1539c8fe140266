"""A brand's profile (what it sells, to whom, its voice): read by every member, edited by
owners and members in-charge. Drafting shows it to the model (docs/ai.md)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import Response

from zyntro.domain import PROFILE_FIELDS, PROFILE_MAX_LENGTH, Brand
from zyntro.errors import Forbidden, ValidationFailed
from zyntro.web.context import PREFIX, CheckedForm, Dashboard, DashboardRoute, SignedIn, text

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
PARTS = (
    ("offering", "What it sells", "e.g. Durable trail running shoes and apparel"),
    ("audience", "To whom", "e.g. Amateur and competitive trail runners in Europe"),
    ("voice", "Its voice", "e.g. Encouraging, expert, a little playful"),
)
assert tuple(name for name, _, _ in PARTS) == PROFILE_FIELDS


def _page(
    dash: Dashboard,
    brand: Brand,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return dash.render(
        "brand_profile.html",
        status,
        section="brands",
        brand=brand,
        values=values,
        errors=errors or {},
        parts=PARTS,
        limit=PROFILE_MAX_LENGTH,
        editable=dash.can_edit,
    )


@router.get(PREFIX + "/brands/{brand_id}/profile")
def profile_page(brand_id: str, dash: Dashboard = SignedIn) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    return _page(dash, brand, brand.profile.to_public())


@router.post(PREFIX + "/brands/{brand_id}/profile")
def save_profile(
    brand_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm
) -> Response:
    brand = dash.service.get_brand(dash.actor, brand_id)
    if not dash.can_edit:
        raise Forbidden("Only an owner or a member in-charge can change a brand's profile.")
    values = {name: text(form, name) for name in PROFILE_FIELDS}
    try:
        dash.service.set_brand_profile(dash.actor, brand.id, values)
    except ValidationFailed as error:
        return _page(dash, brand, values, {error.field: error.reason}, 422)
    return dash.redirect(f"/brands/{brand.id}", f"Profile of “{brand.name}” saved.")
