"""The dashboard in tests: an app with a real secret, members with passwords, signing in."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

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
