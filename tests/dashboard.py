"""The dashboard in tests: an app with a real secret, members with passwords, signing in."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx2 as httpx
import pyotp
from starlette.testclient import TestClient

from zyntro.api.app import ZyntroApp, create_app
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings

if TYPE_CHECKING:  # conftest imports this module for its fixtures
    from tests.conftest import World

PASSWORD = "correct horse battery staple"
SECRET = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

ClientFactory = Callable[[], TestClient]


def dashboard_app(service: Service, database_url: str, **overrides: object) -> ZyntroApp:
    values: dict[str, object] = {
        "database_url": database_url,
        "log_level": "WARNING",
        "secret_key": SECRET,
        **overrides,
    }
    return create_app(Settings(**values), service)  # type: ignore[arg-type]


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, html
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the CSRF token of the new session."""
    token = csrf_of(client.get("/app/sign-in").text)
    response = client.post(
        "/app/sign-in",
        data={"email": email, "password": password, "csrf_token": token, "next": "/app/brands"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/app/brands"
    page = client.get("/app/brands")
    assert page.status_code == 200
    return csrf_of(page.text)


def email_of(service: Service, member_id: str) -> str:
    return service.get_member(SYSTEM, member_id).email


def with_passwords(service: Service, world: World) -> World:
    for member_id in (world.owner_id, world.in_charge_id, world.member_id):
        service.set_password(SYSTEM, member_id, PASSWORD)
    return world


# --- two-factor sign-in ------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    """A member with two-factor sign-in on: the TOTP secret their app holds, and their
    recovery codes."""

    secret: str
    recovery_codes: list[str]


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now, or `steps_ahead` 30-second steps later (the
    server accepts one step either side, so the next step's code is a fresh one that is
    valid now: no test waits for the clock)."""
    return str(pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead))


def enrol(service: Service, member_id: str, secret_key: str = SECRET) -> Enrolled:
    """Turn two-factor sign-in on for a member, as Me > Two-factor sign-in does."""
    actor = service.act_as(member_id)
    enrolment = service.begin_enrolment(actor, secret_key)
    codes = service.confirm_enrolment(actor, totp_code(enrolment.secret), secret_key)
    return Enrolled(enrolment.secret, codes)


def submit_password(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    """The sign-in form with email and password, as a browser posts it (not followed)."""
    token = csrf_of(client.get("/app/sign-in").text)
    return client.post(
        "/app/sign-in",
        data={"email": email, "password": password, "csrf_token": token, "next": "/app/brands"},
        follow_redirects=False,
    )


def submit_code(client: TestClient, code: str) -> httpx.Response:
    """The two-factor step's form, after a right password (not followed)."""
    token = csrf_of(client.get("/app/sign-in/code?next=/app/brands").text)
    return client.post(
        "/app/sign-in/code",
        data={"code": code, "csrf_token": token, "next": "/app/brands"},
        follow_redirects=False,
    )
