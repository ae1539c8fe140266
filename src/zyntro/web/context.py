"""What every dashboard route shares: the signed-in member, CSRF checks, rendering, and the
route class that turns errors into pages (the JSON error body is for the APIs)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from zyntro.api.deps import service_of
from zyntro.api.errors import REQUEST_ID, user_error
from zyntro.domain import Organization
from zyntro.errors import InvalidRequest, ZyntroError
from zyntro.passwords import SessionEnded
from zyntro.service import Actor, Service
from zyntro.service.rules import can_manage_content, can_manage_members
from zyntro.settings import Settings
from zyntro.web.session import CSRF_FIELD, CSRF_HEADER, Session, SessionCodec, signing_secret
from zyntro.web.templating import templates

PREFIX = "/app"
MAX_FORM_FIELDS = 400  # a segment form: 2 lists of at most 50 items, and the rest
ENROLMENT_NOTICE = (
    "Your organization requires two-factor sign-in: set it up to go on using the dashboard."
)


class SignInRequired(Exception):
    """No session, or one that has ended: the browser is sent to the sign-in page."""


class EnrolmentRequired(Exception):
    """The organization requires two-factor sign-in and the member has none: every page but
    setting it up (and signing out) sends them to set it up."""


class CsrfRejected(ZyntroError):
    code = "csrf_failed"
    status = 403
    default_message = (
        "This form has expired or did not come from this site. Reload the page and try again."
    )


class SignInDisabled(ZyntroError):
    code = "sign_in_disabled"
    status = 503
    default_message = (
        "Dashboard sign-in is disabled: the administrator must set ZYNTRO_SECRET_KEY "
        "to a long random value."
    )


def codec_of(request: Request) -> SessionCodec:
    """The session codec of this app, made once (None secret: sign-in is disabled)."""
    state = request.app.state
    codec: SessionCodec | None = getattr(state, "dashboard_codec", None)
    if codec is None:
        settings: Settings | None = getattr(state, "settings", None)
        secret = signing_secret(settings) if settings is not None else None
        if secret is None:
            raise SignInDisabled()
        codec = state.dashboard_codec = SessionCodec(secret)
    return codec


def session_of(request: Request) -> Session:
    """This request's session, read once; a new anonymous one when there is none."""
    session: Session | None = getattr(request.state, "session", None)
    if session is None:
        session = codec_of(request).load(request)
        if session is None:
            session = Session(changed=True)
        request.state.session = session
    return session


@dataclass
class Dashboard:
    """The signed-in member on one request, and how pages are rendered for them."""

    request: Request
    service: Service
    session: Session
    actor: Actor
    org: Organization

    @property
    def member_id(self) -> str:
        assert self.actor.member_id is not None
        return self.actor.member_id

    @property
    def org_id(self) -> str:
        return self.org.id

    @property
    def can_edit(self) -> bool:
        return can_manage_content(self.actor)

    @property
    def is_owner(self) -> bool:
        return can_manage_members(self.actor)

    def render(
        self, template: str, status: int = 200, section: str = "", **context: Any
    ) -> Response:
        return render(
            self.request,
            template,
            status,
            dash=self,
            section=section,
            notice=self.session.take_notice(),
            **context,
        )

    def redirect(self, path: str, notice: str | None = None) -> Response:
        if notice:
            self.session.flash(notice)
        return RedirectResponse(PREFIX + path, status_code=303)


def _signed_in(request: Request, enrolling: bool) -> Dashboard:
    session = session_of(request)
    if session.member_id is None:
        raise SignInRequired()
    service = service_of(request)
    try:
        actor, must_enrol = service.session_state(
            session.member_id, session.fingerprint, session.token
        )
    except SessionEnded:
        session.end()
        raise SignInRequired() from None
    if must_enrol and not enrolling:
        raise EnrolmentRequired()
    assert actor.org_id is not None
    org = service.get_org(actor, actor.org_id)
    dashboard = request.state.dashboard = Dashboard(request, service, session, actor, org)
    return dashboard


def current(request: Request) -> Dashboard:
    """Dependency: the signed-in member, or `SignInRequired` (`EnrolmentRequired` while
    their organization requires two-factor sign-in they have not set up)."""
    return _signed_in(request, enrolling=False)


def current_enrolling(request: Request) -> Dashboard:
    """Dependency of the two-factor set-up pages: the signed-in member, set up or not."""
    return _signed_in(request, enrolling=True)


async def checked_form(request: Request) -> FormData:
    """Dependency of every POST: the form, once its CSRF token matches the session's."""
    session = session_of(request)
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    token = form.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = request.headers.get(CSRF_HEADER)
    if not session.csrf_ok(token):
        raise CsrfRejected()
    return form


SignedIn = Depends(current)
SignedInEnrolling = Depends(current_enrolling)
CheckedForm = Depends(checked_form)


def text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("dash", None)
    context.setdefault("section", "")
    context.setdefault("notice", None)
    session = session_of(request)
    context["csrf_token"] = session.csrf
    return templates.TemplateResponse(request, template, context, status_code=status)


def error_page(request: Request, error: ZyntroError) -> Response:
    dash: Dashboard | None = getattr(request.state, "dashboard", None)
    context: Mapping[str, Any] = {"error": error, "dash": dash}
    if isinstance(error, SignInDisabled):
        return templates.TemplateResponse(
            request,
            "error.html",
            {**context, "csrf_token": "", "section": "", "notice": None},
            status_code=error.status,
        )
    return render(request, "error.html", error.status, **context)


class DashboardRoute(APIRoute):
    """Renders errors as pages, sends signed-out browsers to sign in, and saves the session."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                target = request.url.path if request.method == "GET" else PREFIX
                response = RedirectResponse(
                    f"{PREFIX}/sign-in?next={quote(target, safe='/')}", status_code=303
                )
            except EnrolmentRequired:
                session_of(request).flash(ENROLMENT_NOTICE)
                response = RedirectResponse(f"{PREFIX}/me/two-factor", status_code=303)
            except HTTPException as exc:  # e.g. a form body Starlette could not parse
                response = error_page(request, InvalidRequest(str(exc.detail)))
            except Exception as exc:  # a page, never a stack trace; the log has the details
                response = error_page(request, user_error(exc, request.scope.get(REQUEST_ID)))
            _save_session(request, response)
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            return response

        return route


def _save_session(request: Request, response: Response) -> None:
    session: Session | None = getattr(request.state, "session", None)
    if session is not None and session.changed:
        codec_of(request).save(request, response, session)
