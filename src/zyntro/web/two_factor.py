"""Me > Two-factor sign-in (set up with a QR code, recovery codes, turn off), and what owners
do on the Members page: reset a member's two-factor sign-in, require it of everyone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import Response

from zyntro.errors import Conflict, RateLimited
from zyntro.service.throttle import Origin
from zyntro.service.two_factor import Enrolment
from zyntro.totp import InvalidCode
from zyntro.web.context import (
    PREFIX,
    CheckedForm,
    Dashboard,
    DashboardRoute,
    SignedIn,
    SignedInEnrolling,
    codec_of,
    text,
)

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
PAGE = "/me/two-factor"


def qr_data_uri(uri: str) -> str:
    """The QR code of an `otpauth://` URI as an SVG data URI: drawn on the server, so the
    secret goes to no other site, and allowed by the pages' `img-src 'self' data:`."""
    import segno

    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def _grouped(secret: str) -> str:
    """The secret in groups of four, as authenticator apps take it typed."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _page(
    dash: Dashboard,
    status: int = 200,
    *,
    enrolment: Enrolment | None = None,
    codes: list[str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    context: dict[str, Any] = {
        "state": dash.service.two_factor_status(dash.actor, dash.member_id),
        "codes": codes,
        "errors": errors or {},
        "enrolment": None,
    }
    if enrolment is not None:
        context["enrolment"] = {
            "qr": qr_data_uri(enrolment.uri),
            "secret": _grouped(enrolment.secret),
            "uri": enrolment.uri,
        }
    return dash.render("two_factor.html", status, section="me", **context)


def _origin(dash: Dashboard) -> Origin:
    """A signed-in member's code check counts as their client address, never a known device."""
    client = dash.request.client
    return Origin(codec_of(dash.request).secret, client.host if client else "unknown")


@router.get(PREFIX + PAGE)
def two_factor_page(dash: Dashboard = SignedInEnrolling) -> Response:
    return _page(dash)


@router.get(PREFIX + PAGE + "/{step}")
def after_a_form(step: str, dash: Dashboard = SignedInEnrolling) -> Response:
    """A reload of a form's answer (htmx put its URL in the address bar): the page again,
    without the secret or the codes, which were shown once."""
    return dash.redirect(PAGE)


@router.post(PREFIX + PAGE + "/setup")
def begin_setup(dash: Dashboard = SignedInEnrolling, form: FormData = CheckedForm) -> Response:
    try:
        enrolment = dash.service.begin_enrolment(dash.actor, codec_of(dash.request).secret)
    except Conflict as error:
        return dash.redirect(PAGE, error.message)
    # Rendered, not redirected: the secret never travels in a URL or a cookie.
    return _page(dash, enrolment=enrolment)


@router.post(PREFIX + PAGE + "/confirm")
def confirm_setup(dash: Dashboard = SignedInEnrolling, form: FormData = CheckedForm) -> Response:
    secret = codec_of(dash.request).secret
    try:
        codes = dash.service.confirm_enrolment(dash.actor, text(form, "code")[:64], secret)
    except Conflict as error:
        return dash.redirect(PAGE, error.message)
    except InvalidCode as error:
        enrolment = dash.service.pending_enrolment(dash.actor, secret)
        if enrolment is None:
            return dash.redirect(PAGE, error.message)
        return _page(dash, 422, enrolment=enrolment, errors={"code": error.message})
    dash.session.flash("Two-factor sign-in is on.")
    return _page(dash, codes=codes)


@router.post(PREFIX + PAGE + "/recovery-codes")
def replace_codes(dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    try:
        codes = dash.service.replace_recovery_codes(
            dash.actor, text(form, "code")[:64], _origin(dash)
        )
    except (InvalidCode, RateLimited) as error:
        return _page(dash, error.status, errors={"codes_code": error.message})
    except Conflict as error:
        return dash.redirect(PAGE, error.message)
    return _page(dash, codes=codes)


@router.post(PREFIX + PAGE + "/disable")
def disable(dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    try:
        dash.service.disable_two_factor(dash.actor, text(form, "code")[:64], _origin(dash))
    except (InvalidCode, RateLimited) as error:
        return _page(dash, error.status, errors={"disable_code": error.message})
    except Conflict as error:
        return dash.redirect(PAGE, error.message)
    return dash.redirect(PAGE, "Two-factor sign-in is off.")


@router.post(PREFIX + "/members/{member_id}/two-factor/reset")
def reset(member_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    member = dash.service.reset_two_factor(dash.actor, member_id)
    return dash.redirect(
        "/members",
        f"Two-factor sign-in of {member.name} is reset and their sessions have ended: "
        "they can set it up again after signing in with their password.",
    )


@router.post(PREFIX + "/members/two-factor")
def require(dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    required = text(form, "required") == "on"
    dash.service.set_two_factor_required(dash.actor, dash.org_id, required)
    if required:
        notice = (
            "Two-factor sign-in is now required: members without it set it up before "
            "they can use the dashboard."
        )
    else:
        notice = "Two-factor sign-in is no longer required."
    return dash.redirect("/members", notice)
