"""Me > API Keys: create (the key is shown this once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zyntro.domain import ApiKey, utcnow
from zyntro.errors import ValidationFailed
from zyntro.service.accounts import MAX_EXPIRY_DAYS
from zyntro.web.context import PREFIX, CheckedForm, Dashboard, DashboardRoute, SignedIn, text
from zyntro.web.listing import ListQuery, list_query, page_of

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
EXPIRY_CHOICES = (
    (None, "Never"),
    (7, "In 7 days"),
    (30, "In 30 days"),
    (90, "In 90 days"),
    (365, "In 1 year"),
)


def _status(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= utcnow():
        return "expired"
    return "active"


def _keys_page(
    dash: Dashboard,
    status: int = 200,
    new_key: str | None = None,
    errors: dict[str, str] | None = None,
    label: str = "",
    query: ListQuery | None = None,
) -> Response:
    query = query or ListQuery()
    keys = dash.service.list_keys(dash.actor, dash.member_id)
    revoked = sum(key.revoked_at is not None for key in keys)
    # Revoked keys fold away: listed only when asked for (the status filter, or the link).
    shown = keys if query.type else [key for key in keys if key.revoked_at is None]
    page = page_of(
        shown,
        query,
        position=lambda key: (key.created_at, key.id),
        text=lambda key: f"{key.label} {key.prefix} {key.id}",
        kind=_status,
    )
    page.kinds = sorted({_status(key) for key in keys})
    return dash.render(
        "keys.html",
        status,
        section="keys",
        page=page,
        all_count=len(keys),
        revoked=revoked,
        keys=[(key, _status(key)) for key in page.items],
        new_key=new_key,
        errors=errors or {},
        label=label,
        expiry_choices=EXPIRY_CHOICES,
    )


@router.get(PREFIX + "/me/keys")
def keys_page(request: Request, dash: Dashboard = SignedIn) -> Response:
    return _keys_page(dash, query=list_query(request))


@router.post(PREFIX + "/me/keys")
def create_key(dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    label = text(form, "label").strip()
    expiry = text(form, "expires_in")
    errors: dict[str, str] = {}
    days: int | None = None
    if expiry:
        # ASCII digits only: `isdigit` is true for "²", which `int` refuses.
        if not (expiry.isascii() and expiry.isdigit()):
            errors["expires_in"] = "must be a number of days"
        elif len(expiry) > len(str(MAX_EXPIRY_DAYS)):  # `int` refuses 4,300 digits and more
            errors["expires_in"] = f"must be 1-{MAX_EXPIRY_DAYS} days"
        else:
            days = int(expiry)
    if not errors:
        try:
            _key, plain = dash.service.create_key(dash.actor, dash.member_id, label, days)
        except ValidationFailed as error:
            errors[error.field] = error.reason
        else:
            # Rendered, not redirected: the key must never travel in a cookie or a URL.
            return _keys_page(dash, 201, new_key=plain)
    return _keys_page(dash, 422, errors=errors, label=label)


@router.post(PREFIX + "/me/keys/{key_id}/revoke")
def revoke_key(key_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    key = dash.service.revoke_key(dash.actor, key_id)
    name = f"“{key.label}” ({key.prefix}…)" if key.label else f"{key.prefix}…"
    return dash.redirect("/me/keys", f"Key {name} revoked. It stops working at once.")
