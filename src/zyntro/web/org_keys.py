"""Organization > API Keys (owners): the organization's own keys, which no member's
departure touches; create (shown once), roll, revoke, usage."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zyntro.access import ORG_DEFAULT_SCOPES, ORG_SCOPES, Scope
from zyntro.errors import Forbidden, ValidationFailed
from zyntro.web.context import PREFIX, CheckedForm, Dashboard, DashboardRoute, SignedIn, text
from zyntro.web.keys import form_grace, form_limits, key_list, usage_page
from zyntro.web.listing import ListQuery, list_query

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
PAGE = "/org/keys"


def _page(
    dash: Dashboard,
    status: int = 200,
    new_key: str | None = None,
    errors: dict[str, str] | None = None,
    label: str = "",
    query: ListQuery | None = None,
) -> Response:
    if not dash.is_owner:
        raise Forbidden("Only an owner can manage the organization's API keys.")
    found = dash.service.list_org_keys(dash.actor, dash.org_id)
    return dash.render(
        "org_keys.html",
        status,
        **key_list(dash, found, query or ListQuery()),
        section="org-keys",
        base=PREFIX + PAGE,
        new_key=new_key,
        errors=errors or {},
        label=label,
        scope_choices=[s for s in Scope if s in ORG_SCOPES],
        default_scopes=ORG_DEFAULT_SCOPES,
    )


@router.get(PREFIX + PAGE)
def org_keys_page(request: Request, dash: Dashboard = SignedIn) -> Response:
    return _page(dash, query=list_query(request))


@router.post(PREFIX + PAGE)
def create_org_key(dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    label = text(form, "label").strip()
    expiry = text(form, "expires_in")
    try:
        days = int(expiry) if expiry else None
    except ValueError:
        return _page(dash, 422, errors={"expires_in": "must be a number of days"}, label=label)
    try:
        limits = form_limits(form)
        _key, plain = dash.service.create_org_key(dash.actor, dash.org_id, label, days, limits)
    except ValidationFailed as error:
        return _page(dash, 422, errors={error.field: error.reason}, label=label)
    return _page(dash, 201, new_key=plain)  # rendered: the key never travels in a URL


@router.get(PREFIX + PAGE + "/{key_id}/usage")
def org_key_usage(key_id: str, dash: Dashboard = SignedIn) -> Response:
    if not dash.is_owner:
        raise Forbidden("Only an owner can manage the organization's API keys.")
    return usage_page(dash, key_id, organization=True)


@router.post(PREFIX + PAGE + "/{key_id}/roll")
def roll_org_key(key_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    _key, plain = dash.service.roll_key(dash.actor, key_id, form_grace(form))
    return _page(dash, 200, new_key=plain)


@router.post(PREFIX + PAGE + "/{key_id}/revoke")
def revoke_org_key(
    key_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm
) -> Response:
    key = dash.service.revoke_key(dash.actor, key_id)
    name = f"“{key.label}” ({key.prefix}…)" if key.label else f"{key.prefix}…"
    return dash.redirect(PAGE, f"Key {name} revoked. It stops working at once.")
