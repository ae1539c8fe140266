"""Sign-in (with its two-factor code step), sign-out, and Me > Password."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from zyntro.api.deps import service_of
from zyntro.errors import RateLimited, ValidationFailed
from zyntro.passwords import MIN_LENGTH, InvalidCredentials, SessionEnded
from zyntro.service.throttle import Origin, device_tag
from zyntro.totp import InvalidCode, SecondFactorRequired, SignInExpired
from zyntro.web.context import (
    PREFIX,
    CheckedForm,
    Dashboard,
    DashboardRoute,
    SignedIn,
    codec_of,
    render,
    session_of,
    text,
)
from zyntro.web.session import new_device

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
        service_of(request).session_actor(session.member_id, session.fingerprint, session.token)
    except SessionEnded:
        return False
    return True


def _origin(request: Request, email: str | None = None) -> Origin:
    """Where a password attempt comes from: the client address, and the known device when
    this browser signed in to `email` before (its signed cookie says so)."""
    codec = codec_of(request)
    address = request.client.host if request.client else "unknown"
    device = codec.load_device(request) if email is not None else None
    if device is not None and email is not None and device.knows(device_tag(codec.secret, email)):
        return Origin(codec.secret, address, device.id)
    return Origin(codec.secret, address)


def _remember_device(request: Request, response: Response, email: str) -> None:
    """This browser is a known device for `email` from now on (the cookie outlives sign-out)."""
    codec = codec_of(request)
    device = codec.load_device(request) or new_device()
    codec.save_device(request, response, device.remembering(device_tag(codec.secret, email)))


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
    service = service_of(request)
    try:
        actor, new = service.sign_in(email, password, _origin(request, email))
    except (InvalidCredentials, RateLimited) as error:
        return render(
            request, "sign_in.html", error.status, next=target, email=email, error=error.message
        )
    except SecondFactorRequired as waiting:
        session_of(request).await_code(waiting.pending)
        return RedirectResponse(
            f"{PREFIX}/sign-in/code?next={quote(target, safe='/')}", status_code=303
        )
    return _begin(request, actor.member_id, new.fingerprint, new.token, email, target)


def _begin(
    request: Request, member_id: str | None, fingerprint: str, token: str, email: str, target: str
) -> Response:
    """The browser is signed in: its session, the known-device cookie, on to `target`."""
    assert member_id is not None
    session = session_of(request)
    if session.token:  # signed in already in this browser: that session ends
        service_of(request).end_session(session.token)
    session.begin(member_id, fingerprint, token)
    response = RedirectResponse(target, status_code=303)
    _remember_device(request, response, email)
    return response


@router.get(PREFIX + "/sign-in/code")
def code_page(request: Request, target: str = Query("", alias="next")) -> Response:
    """The second step of sign-in, for members with two-factor sign-in on."""
    if session_of(request).pending is None:
        return RedirectResponse(PREFIX + "/sign-in", status_code=303)
    return render(request, "sign_in_code.html", next=_safe_next(target), error=None)


@router.post(PREFIX + "/sign-in/code")
def sign_in_with_code(request: Request, form: FormData = CheckedForm) -> Response:
    session = session_of(request)
    target = _safe_next(text(form, "next"))
    pending = session.pending
    if pending is None:
        return RedirectResponse(PREFIX + "/sign-in", status_code=303)
    try:
        actor, new = service_of(request).complete_sign_in(
            pending, text(form, "code")[:64], _origin(request, pending.email)
        )
    except SignInExpired as error:
        session.end()
        session.flash(error.message)
        return RedirectResponse(PREFIX + "/sign-in", status_code=303)
    except (InvalidCode, RateLimited) as error:
        return render(request, "sign_in_code.html", error.status, next=target, error=error.message)
    return _begin(request, actor.member_id, new.fingerprint, new.token, pending.email, target)


@router.post(PREFIX + "/sign-out")
def sign_out(request: Request, form: FormData = CheckedForm) -> Response:
    session = session_of(request)
    if session.token:
        service_of(request).end_session(session.token)
    session.end()
    session.flash("You have signed out.")
    return RedirectResponse(PREFIX + "/sign-in", status_code=303)


@router.get(PREFIX + "/me")
def me_page(dash: Dashboard = SignedIn) -> Response:
    return _me_page(dash, 200, {})


def _me_page(dash: Dashboard, status: int, errors: dict[str, str]) -> Response:
    member = dash.service.get_member(dash.actor, dash.member_id)
    return dash.render(
        "me.html",
        status,
        section="me",
        member=member,
        errors=errors,
        min_length=MIN_LENGTH,
        two_factor=dash.service.two_factor_status(dash.actor, dash.member_id),
    )


@router.post(PREFIX + "/me/password")
def change_password(dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    new, confirm = text(form, "new_password"), text(form, "confirm_password")
    errors: dict[str, str] = {}
    status = 422
    if new != confirm:
        errors["confirm_password"] = "does not match the new password"
    else:
        try:
            dash.service.set_password(
                dash.actor,
                dash.member_id,
                new,
                text(form, "current_password"),
                _origin(dash.request),  # never a known device: a session guessing counts
            )
        except ValidationFailed as error:
            field = "new_password" if error.field == "password" else error.field
            errors[field] = error.reason
        except RateLimited as error:
            status, errors["current_password"] = error.status, error.message
    if errors:
        return _me_page(dash, status, errors)
    # Every session of the member ended with the old password; this browser begins a new one.
    new_session = dash.service.start_session(dash.actor)
    dash.session.begin(dash.member_id, new_session.fingerprint, new_session.token)
    return dash.redirect("/me", "Your password has been changed.")
