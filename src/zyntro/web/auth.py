"""Sign-in, sign-out, and Me > Password."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from zyntro.api.deps import service_of
from zyntro.errors import RateLimited, ValidationFailed
from zyntro.passwords import MIN_LENGTH, InvalidCredentials, SessionEnded
from zyntro.web.context import (
    PREFIX,
    CheckedForm,
    Dashboard,
    DashboardRoute,
    SignedIn,
    render,
    session_of,
    text,
)

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


def _safe_next(value: str) -> str:
    """Only a dashboard path: never another site (`//evil`, `https://…`) after sign-in."""
    if value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/brands"


def _signed_in(request: Request) -> bool:
    session = session_of(request)
    if session.member_id is None:
        return False
    try:
        service_of(request).session_actor(session.member_id, session.fingerprint)
    except SessionEnded:
        return False
    return True


@router.get(PREFIX)
@router.get(PREFIX + "/")
def home(request: Request) -> Response:
    target = "/brands" if _signed_in(request) else "/sign-in"
    return RedirectResponse(PREFIX + target, status_code=303)


@router.get(PREFIX + "/sign-in")
def sign_in_page(request: Request, target: str = Query("", alias="next")) -> Response:
    if _signed_in(request):
        return RedirectResponse(_safe_next(target), status_code=303)
    notice = session_of(request).take_notice()
    return render(
        request, "sign_in.html", next=_safe_next(target), email="", error=None, notice=notice
    )


@router.post(PREFIX + "/sign-in")
def sign_in(request: Request, form: FormData = CheckedForm) -> Response:
    email, password = text(form, "email"), text(form, "password")
    target = _safe_next(text(form, "next"))
    client = request.client.host if request.client else "unknown"
    try:
        actor, fingerprint = service_of(request).sign_in(email, password, client)
    except (InvalidCredentials, RateLimited) as error:
        return render(
            request, "sign_in.html", error.status, next=target, email=email, error=error.message
        )
    assert actor.member_id is not None
    session_of(request).begin(actor.member_id, fingerprint)
    return RedirectResponse(target, status_code=303)


@router.post(PREFIX + "/sign-out")
def sign_out(request: Request, form: FormData = CheckedForm) -> Response:
    session = session_of(request)
    session.end()
    session.flash("You have signed out.")
    return RedirectResponse(PREFIX + "/sign-in", status_code=303)


@router.get(PREFIX + "/me")
def me_page(dash: Dashboard = SignedIn) -> Response:
    member = dash.service.get_member(dash.actor, dash.member_id)
    return dash.render("me.html", section="me", member=member, errors={}, min_length=MIN_LENGTH)


@router.post(PREFIX + "/me/password")
def change_password(dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    member = dash.service.get_member(dash.actor, dash.member_id)
    new, confirm = text(form, "new_password"), text(form, "confirm_password")
    errors: dict[str, str] = {}
    if new != confirm:
        errors["confirm_password"] = "does not match the new password"
    else:
        try:
            fingerprint = dash.service.set_password(
                dash.actor, dash.member_id, new, text(form, "current_password")
            )
        except ValidationFailed as error:
            field = "new_password" if error.field == "password" else error.field
            errors[field] = error.reason
    if errors:
        return dash.render(
            "me.html", 422, section="me", member=member, errors=errors, min_length=MIN_LENGTH
        )
    dash.session.begin(dash.member_id, fingerprint)
    return dash.redirect("/me", "Your password has been changed.")
