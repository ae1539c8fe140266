"""Me > API Keys: create (the key is shown this once), list, roll, revoke; usage per key.

The form's narrowing (scopes, brands, allowlist) and the roll are shared with Organization >
API Keys (web/org_keys.py)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zyntro.access import ROLE_SCOPES, Scope
from zyntro.domain import ApiKey, utcnow
from zyntro.errors import NotFound, ValidationFailed
from zyntro.service.accounts import MAX_EXPIRY_DAYS
from zyntro.service.keys import KeyLimits
from zyntro.web.context import PREFIX, CheckedForm, Dashboard, DashboardRoute, SignedIn, text
from zyntro.web.listing import ListQuery, list_query, page_of

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
GRACE_CHOICES = ((86400, "24 hours"), (3600, "1 hour"), (0, "None: stop it now"))
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
    keys = dash.service.list_keys(dash.actor, dash.member_id)
    assert dash.actor.role is not None
    return dash.render(
        "keys.html",
        status,
        **key_list(dash, keys, query or ListQuery()),
        section="keys",
        base=PREFIX + "/me/keys",
        new_key=new_key,
        errors=errors or {},
        label=label,
        scope_choices=[s for s in Scope if s in ROLE_SCOPES[dash.actor.role]],
    )


def key_list(dash: Dashboard, keys: list[ApiKey], query: ListQuery) -> dict[str, object]:
    """A page of the keys list of both pages (search, status filter, paging), revoked keys
    folded away unless asked for (the status filter, or the link), and its table."""
    revoked = sum(key.revoked_at is not None for key in keys)
    shown = keys if query.type else [key for key in keys if key.revoked_at is None]
    page = page_of(
        shown,
        query,
        position=lambda key: (key.created_at, key.id),
        text=lambda key: f"{key.label} {key.prefix} {key.id}",
        kind=_status,
    )
    page.kinds = sorted({_status(key) for key in keys})
    return {
        **key_table(dash, page.items),
        "page": page,
        "all_count": len(keys),
        "revoked": revoked,
    }


def key_table(dash: Dashboard, keys: list[ApiKey]) -> dict[str, object]:
    """What the keys table of both pages shows: each key's status, scopes and 30-day use."""
    usage = dash.service.usage_totals(dash.actor, keys)
    return {
        "keys": [
            (key, _status(key), dash.service.scopes_of(key), usage.get(key.id, (0, 0)))
            for key in keys
        ],
        "expiry_choices": EXPIRY_CHOICES,
        "grace_choices": GRACE_CHOICES,
        "brand_names": {b.id: b.name for b in dash.service.list_brands(dash.actor, dash.org_id)},
        "now": utcnow(),
    }


def form_limits(form: FormData) -> KeyLimits:
    """The narrowing chosen in a create form (none chosen: not narrowed)."""
    scopes = form.getlist("scopes")
    brands = form.getlist("brands")
    allowlist = text(form, "allowlist").replace("\n", ",").strip(", \r\t")
    return KeyLimits(
        [str(s) for s in scopes] if scopes else None,
        [str(b) for b in brands] if brands else None,
        [allowlist] if allowlist else None,
    )


def form_grace(form: FormData) -> timedelta:
    value = text(form, "grace")
    seconds = dict(GRACE_CHOICES)
    if not value.isdigit() or int(value) not in seconds:
        raise ValidationFailed("grace", "must be one of the offered periods")
    return timedelta(seconds=int(value))


def usage_page(dash: Dashboard, key_id: str, organization: bool) -> Response:
    """One key's requests and errors a day over the last 30 days, linked from its row on
    Me > API Keys (`organization` False) or Organization > API Keys (True)."""
    key = dash.service.get_key(dash.actor, key_id)  # the member's own, or (owners) the org's
    if (key.member_id is None) != organization:
        raise NotFound("No such API key on this page.")
    days = dash.service.key_usage(dash.actor, key.id)
    return dash.render(
        "key_usage.html",
        section="org-keys" if organization else "keys",
        base=PREFIX + ("/org/keys" if organization else "/me/keys"),
        key=key,
        days=days,
        requests=sum(day[1] for day in days),
        errors=sum(day[2] for day in days),
        peak=max([1, *(day[1] for day in days)]),
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
            limits = form_limits(form)
            _key, plain = dash.service.create_key(dash.actor, dash.member_id, label, days, limits)
        except ValidationFailed as error:
            errors[error.field] = error.reason
        else:
            # Rendered, not redirected: the key must never travel in a cookie or a URL.
            return _keys_page(dash, 201, new_key=plain)
    return _keys_page(dash, 422, errors=errors, label=label)


@router.get(PREFIX + "/me/keys/{key_id}/usage")
def key_usage(key_id: str, dash: Dashboard = SignedIn) -> Response:
    return usage_page(dash, key_id, organization=False)


@router.post(PREFIX + "/me/keys/{key_id}/revoke")
def revoke_key(key_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    key = dash.service.revoke_key(dash.actor, key_id)
    name = f"“{key.label}” ({key.prefix}…)" if key.label else f"{key.prefix}…"
    return dash.redirect("/me/keys", f"Key {name} revoked. It stops working at once.")


@router.post(PREFIX + "/me/keys/{key_id}/roll")
def roll_key(key_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    _key, plain = dash.service.roll_key(dash.actor, key_id, form_grace(form))
    return _keys_page(dash, 200, new_key=plain)
