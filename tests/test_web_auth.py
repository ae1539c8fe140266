"""Dashboard sign-in, sessions, CSRF and throttling, over SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import World
from tests.dashboard import (
    PASSWORD,
    SECRET,
    ClientFactory,
    csrf_of,
    dashboard_app,
    email_of,
    sign_in,
)
from zyntro import passwords
from zyntro.cli import app as cli
from zyntro.errors import Forbidden, RateLimited, ValidationFailed
from zyntro.service import SYSTEM, Service
from zyntro.service.throttle import Origin
from zyntro.settings import PLACEHOLDER_SECRET
from zyntro.store import Store

# --- sign-in and sessions ------------------------------------------------------------------


def test_pages_need_a_session(clients: ClientFactory) -> None:
    client = clients()
    response = client.get("/app/brands", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/sign-in?next=/app/brands"
    assert client.get("/app", follow_redirects=False).headers["location"] == "/app/sign-in"


def test_session_cookie_flags(clients: ClientFactory) -> None:
    client = clients()
    cookie = client.get("/app/sign-in").headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/app" in cookie
    assert "Secure" not in cookie
    behind_https = clients().get("/app/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in behind_https.headers["set-cookie"]


def test_sign_in_and_out(clients: ClientFactory, service: Service, people: World) -> None:
    client = clients()
    token = sign_in(client, email_of(service, people.owner_id))
    page = client.get("/app/brands")
    assert "Empty brand" in page.text and people.org_id in page.text
    response = client.post("/app/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    after = client.get("/app/brands", follow_redirects=False)
    assert after.status_code == 303
    assert "You have signed out." in client.get("/app/sign-in").text


def test_wrong_password_and_unknown_email_look_the_same(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client = clients()
    answers = []
    for email, password in (
        (email_of(service, people.owner_id), "wrong password!!"),
        ("nobody@example.com", PASSWORD),
    ):
        token = csrf_of(client.get("/app/sign-in").text)
        response = client.post(
            "/app/sign-in", data={"email": email, "password": password, "csrf_token": token}
        )
        assert response.status_code == 401
        answers.append(re.search(r'role="alert">([^<]+)<', response.text))
    assert answers[0] and answers[1]
    assert answers[0].group(1) == answers[1].group(1) == "The email or password is incorrect."


def from_address(address: str) -> Origin:
    """A sign-in attempt from a client address, with the test app's secret."""
    return Origin(SECRET, address)


def test_sign_in_is_throttled_per_email(
    clients: ClientFactory, service: Service, people: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Service, "SIGN_IN_LIMITS", {"source": 3, "email": 6, "client": 30})
    email = email_of(service, people.owner_id)
    limit, ceiling = Service.SIGN_IN_LIMITS["source"], Service.SIGN_IN_LIMITS["email"]
    for _ in range(limit):
        with pytest.raises(passwords.InvalidCredentials):
            service.sign_in(email, "not the password", from_address("10.0.0.1"))
    # That address is locked out of the email now, even with the right password; shared
    # through the database, so another process (another Service) refuses too.
    other_process = Service(service.store)
    with pytest.raises(RateLimited, match="Too many failed sign-in attempts"):
        other_process.sign_in(email, PASSWORD, from_address("10.0.0.1"))
    # Failures from other addresses count towards the email's ceiling: past it, every
    # browser that never signed in to the email is refused, from any address.
    for _ in range(ceiling - limit):
        with pytest.raises(passwords.InvalidCredentials):
            service.sign_in(email, "not the password", from_address("10.0.0.2"))
    client = clients()
    token = csrf_of(client.get("/app/sign-in").text)
    response = client.post(
        "/app/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.text
    with pytest.raises(RateLimited, match="Too many failed sign-in attempts"):
        other_process.sign_in(email, PASSWORD, from_address("10.0.0.3"))
    # Other members are not affected.
    sign_in(clients(), email_of(service, people.member_id))


def test_sign_in_is_throttled_per_client(
    service: Service, people: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = {"source": 5, "email": 30, "client": 4}  # fewer hashes
    monkeypatch.setattr(Service, "SIGN_IN_LIMITS", limits)
    limit = Service.SIGN_IN_LIMITS["client"]
    for number in range(limit):
        with pytest.raises(passwords.InvalidCredentials):
            service.sign_in(
                f"guess{number}@example.com", "nope nope nope", from_address("10.9.9.9")
            )
    with pytest.raises(RateLimited, match="Too many failed sign-in attempts"):
        service.sign_in(email_of(service, people.owner_id), PASSWORD, from_address("10.9.9.9"))
    actor, _ = service.sign_in(
        email_of(service, people.owner_id), PASSWORD, from_address("10.1.1.1")
    )
    assert actor.member_id == people.owner_id


def test_tampered_cookie_is_no_session(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client = clients()
    sign_in(client, email_of(service, people.owner_id))
    value = client.cookies.get("zyntro_session")
    assert value
    client.cookies.clear()
    client.cookies.set("zyntro_session", value[:-2] + "xx", path="/app")
    assert client.get("/app/brands", follow_redirects=False).status_code == 303


def test_next_never_leaves_the_dashboard(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client = clients()
    for target, expected in (
        ("//evil.example/app/", "/app/brands"),
        ("https://evil.example/", "/app/brands"),
        ("/app/members", "/app/members"),
    ):
        token = csrf_of(client.get("/app/sign-in").text)
        response = client.post(
            "/app/sign-in",
            data={
                "email": email_of(service, people.owner_id),
                "password": PASSWORD,
                "csrf_token": token,
                "next": target,
            },
            follow_redirects=False,
        )
        assert response.headers["location"] == expected
        client.cookies.clear()


def test_new_password_ends_other_sessions(
    clients: ClientFactory, service: Service, people: World
) -> None:
    email = email_of(service, people.in_charge_id)
    laptop, phone = clients(), clients()
    token = sign_in(laptop, email)
    sign_in(phone, email)
    response = laptop.post(
        "/app/me/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
        },
    )
    assert response.status_code == 200
    assert "Your password has been changed." in response.text
    assert laptop.get("/app/brands", follow_redirects=False).status_code == 200
    assert phone.get("/app/brands", follow_redirects=False).status_code == 303
    sign_in(clients(), email, "a brand new passphrase")


def test_change_password_errors_show_beside_fields(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client = clients()
    token = sign_in(client, email_of(service, people.member_id))
    wrong = client.post(
        "/app/me/password",
        data={
            "csrf_token": token,
            "current_password": "not it at all",
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
        },
    )
    assert wrong.status_code == 422
    assert 'id="current_password-error"' in wrong.text
    short = client.post(
        "/app/me/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "short",
            "confirm_password": "short",
        },
    )
    assert short.status_code == 422
    assert 'id="new_password-error"' in short.text


def test_deactivation_ends_sessions(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client = clients()
    sign_in(client, email_of(service, people.member_id))
    service.deactivate_member(SYSTEM, people.member_id)
    assert client.get("/app/brands", follow_redirects=False).status_code == 303
    token = csrf_of(client.get("/app/sign-in").text)
    response = client.post(
        "/app/sign-in",
        data={
            "email": email_of(service, people.member_id),
            "password": PASSWORD,
            "csrf_token": token,
        },
    )
    # Exactly the answer of a wrong password: a deactivated member does not learn theirs
    # was right (issue 11, finding 21).
    assert response.status_code == 401
    assert "The email or password is incorrect." in response.text


# --- CSRF ----------------------------------------------------------------------------------


def test_posts_without_the_csrf_token_are_refused(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client = clients()
    token = sign_in(client, email_of(service, people.owner_id))
    for data in ({"name": "Sneaky"}, {"name": "Sneaky", "csrf_token": "forged"}):
        response = client.post("/app/brands", data=data)
        assert response.status_code == 403
        assert "did not come from this site" in response.text
    assert all(b.name != "Sneaky" for b in service.list_brands(SYSTEM, people.org_id))
    # A token from another session does not work either.
    other = clients()
    other_token = sign_in(other, email_of(service, people.in_charge_id))
    assert other_token != token
    forged = client.post("/app/brands", data={"name": "X", "csrf_token": other_token})
    assert forged.status_code == 403
    assert client.post("/app/brands", data={"name": "Real", "csrf_token": token}).status_code == 200


def test_sign_in_itself_needs_the_csrf_token(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client = clients()
    client.get("/app/sign-in")
    response = client.post(
        "/app/sign-in", data={"email": email_of(service, people.owner_id), "password": PASSWORD}
    )
    assert response.status_code == 403


# --- the signing secret --------------------------------------------------------------------


def test_placeholder_secret_disables_sign_in(service: Service, database_url: str) -> None:
    app = dashboard_app(service, database_url, secret_key=PLACEHOLDER_SECRET)
    with TestClient(app) as client:
        response = client.get("/app/sign-in")
        assert response.status_code == 503
        assert "ZYNTRO_SECRET_KEY" in response.text


def test_demo_mode_signs_with_a_process_secret(
    service: Service, database_url: str, people: World
) -> None:
    app = dashboard_app(service, database_url, secret_key=PLACEHOLDER_SECRET, demo=True)
    with TestClient(app) as client:
        sign_in(client, email_of(service, people.owner_id))


# --- passwords in the service and the CLI --------------------------------------------------


def test_who_may_set_a_password(service: Service, world: World) -> None:
    member = service.act_as(world.member_id)
    owner = service.act_as(world.owner_id)
    with pytest.raises(Forbidden):
        service.set_password(member, world.in_charge_id, PASSWORD)
    service.set_password(owner, world.member_id, PASSWORD)  # an owner may (re)set one
    here = from_address("10.0.0.1")
    with pytest.raises(ValidationFailed, match="current_password"):
        service.set_password(member, world.member_id, "another passphrase", "wrong", here)
    service.set_password(member, world.member_id, "another passphrase", PASSWORD, here)
    with pytest.raises(ValidationFailed, match="password"):
        service.set_password(SYSTEM, world.member_id, "short")


def test_password_hashes() -> None:
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, PASSWORD)
    assert not passwords.verify_password(stored, PASSWORD + "x")
    assert not passwords.verify_password(None, PASSWORD)
    assert not passwords.verify_password("not a hash", PASSWORD)
    long = "x" * passwords.MAX_LENGTH
    assert not passwords.verify_password(passwords.hash_password(long), long + "y")
    assert not passwords.needs_rehash(stored)
    assert passwords.fingerprint(stored) != passwords.fingerprint(passwords.hash_password(PASSWORD))


@pytest.fixture
def cli_stores(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close the stores the CLI opens, so no connection outlives the test."""
    opened: list[Store] = []

    class ClosedAfterwards(Store):
        def __init__(self, url: str, **kwargs: object) -> None:
            super().__init__(url, **kwargs)
            opened.append(self)

    monkeypatch.setattr("zyntro.store.Store", ClosedAfterwards)  # the CLI imports it when used
    yield
    for store in opened:
        store.dispose()


@pytest.mark.usefixtures("cli_stores")
def test_cli_set_password(
    clients: ClientFactory, service: Service, world: World, database_url: str
) -> None:
    runner = CliRunner()
    args = ["--database-url", database_url, "member", "set-password", world.in_charge_id]
    result = runner.invoke(cli, [*args, "--password-stdin", "--json"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert '"password_set":true' in result.output
    sign_in(clients(), email_of(service, world.in_charge_id))
    # Without a terminal it asks for nothing (getpass would echo it): issue 15 item 5.
    prompted = runner.invoke(cli, args, input="another passphrase\nanother passphrase\n")
    assert prompted.exit_code == 1 and "--password-stdin" in prompted.output
    again = runner.invoke(cli, [*args, "--password-stdin"], input="another passphrase\n")
    assert again.exit_code == 0, again.output
    sign_in(clients(), email_of(service, world.in_charge_id), "another passphrase")
    short = runner.invoke(cli, [*args, "--password-stdin"], input="short\n")
    assert short.exit_code == 1
    assert "The field password must be" in short.output
