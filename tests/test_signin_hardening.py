"""Dashboard sign-in hardening (issue 11: findings 4, 5, 6, 17, 19, 21), over SQLite and
PostgreSQL: sessions that end, a throttle that counts before it checks, lockouts that keep the
owner in, throttle rows keyed under the server secret, and failures in the audit log."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from tests.conftest import World
from tests.dashboard import (
    PASSWORD,
    SECRET,
    csrf_of,
    dashboard_app,
    email_of,
    sign_in,
    with_passwords,
)
from zyntro import passwords
from zyntro.api.app import ZyntroApp
from zyntro.domain import utcnow
from zyntro.service import SYSTEM, Service
from zyntro.store import Store
from zyntro.store.tables import audit_log, sign_in_throttle

WRONG = "not the password at all"
Browser = Callable[[str], TestClient]


@pytest.fixture
def people(service: Service, world: World) -> World:
    return with_passwords(service, world)


@pytest.fixture
def app(service: Service, database_url: str) -> ZyntroApp:
    return dashboard_app(service, database_url)


@pytest.fixture
def browser(app: ZyntroApp) -> Iterator[Browser]:
    """A new browser (its own cookie jar) at a client address of the test's choosing."""
    with ExitStack() as stack:
        yield lambda address: stack.enter_context(TestClient(app, client=(address, 50000)))


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password the server verifies (the real argon2 check still runs)."""
    seen: list[str] = []
    verify = passwords.verify_password

    def counting(stored_hash: str | None, password: str) -> bool:
        seen.append(password)
        return verify(stored_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    return seen


def small_limits(monkeypatch: pytest.MonkeyPatch, source: int, email: int, client: int) -> None:
    """Fewer failures before a lock, so a test spends fewer argon2 hashes: per email and
    source, per email over every source without a known device, per client address."""
    limits = {"source": source, "email": email, "client": client}
    monkeypatch.setattr(Service, "SIGN_IN_LIMITS", limits)


def attempt(client: TestClient, email: str, password: str) -> httpx.Response:
    """One sign-in through the form, as a browser sends it."""
    token = csrf_of(client.get("/app/sign-in").text)
    return client.post(
        "/app/sign-in",
        data={"email": email, "password": password, "csrf_token": token, "next": "/app/brands"},
        follow_redirects=False,
    )


def alert(response: httpx.Response) -> str:
    found = re.search(r'role="alert">([^<]+)<', response.text)
    assert found, response.text
    return found.group(1)


def expire_locks(service: Service) -> None:
    """As if every sign-in lock had run out (its window closed, its lock over)."""
    now = utcnow()
    with service.store.write() as conn:
        conn.execute(
            sa.update(sign_in_throttle).values(
                window_started_at=now - timedelta(hours=1), locked_until=now - timedelta(seconds=1)
            )
        )


# --- 4: sign-out ends the session, in every process -----------------------------------


def test_finding_04_sign_out_ends_the_session_in_every_process(
    service: Service, database_url: str, people: World, browser: Browser
) -> None:
    """The cookie and CSRF token of a signed-out session read nothing and write nothing, on
    this process and on another one (its own service and connections), at once."""
    other_store = Store(database_url)
    other_process = dashboard_app(Service(other_store), database_url)
    try:
        laptop, phone = browser("10.4.0.1"), browser("10.4.0.2")
        token = sign_in(laptop, email_of(service, people.owner_id))
        sign_in(phone, email_of(service, people.owner_id))
        cookie = laptop.cookies.get("zyntro_session")
        assert cookie
        with TestClient(other_process) as copy:  # the cookie works on every process...
            copy.cookies.set("zyntro_session", cookie, path="/app")
            assert copy.get("/app/brands", follow_redirects=False).status_code == 200
        signed_out = laptop.post("/app/sign-out", data={"csrf_token": token})
        assert "You have signed out." in signed_out.text
        for process in (laptop.app, other_process):  # ...and on none once signed out
            with TestClient(process) as replay:
                replay.cookies.set("zyntro_session", cookie, path="/app")
                page = replay.get("/app/brands", follow_redirects=False)
                assert page.status_code == 303
                assert page.headers["location"].startswith("/app/sign-in")
                created = replay.post(
                    "/app/brands",
                    data={"name": "After sign-out", "csrf_token": token},
                    follow_redirects=False,
                )
                assert created.status_code == 303
        assert all(b.name != "After sign-out" for b in service.list_brands(SYSTEM, people.org_id))
        # Only that browser signed out: the member's other session goes on.
        assert phone.get("/app/brands", follow_redirects=False).status_code == 200
    finally:
        other_store.dispose()


# --- 5: the throttle counts before it checks -------------------------------------------


def _parallel_attempts(app: ZyntroApp, email: str, addresses: list[str]) -> list[int]:
    """One wrong password from each address, all sent at the same moment."""
    ready = threading.Barrier(len(addresses))
    statuses: list[int] = []

    def one(address: str) -> None:
        with TestClient(app, client=(address, 50000)) as client:
            token = csrf_of(client.get("/app/sign-in").text)
            ready.wait(timeout=60)
            response = client.post(
                "/app/sign-in",
                data={"email": email, "password": WRONG, "csrf_token": token},
                follow_redirects=False,
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=one, args=(address,)) for address in addresses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(statuses) == len(addresses)
    return statuses


def test_finding_05_parallel_wrong_passwords_check_at_most_the_limit(
    service: Service,
    app: ZyntroApp,
    people: World,
    browser: Browser,
    checked: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small_limits(monkeypatch, source=3, email=6, client=50)
    email = email_of(service, people.owner_id)
    statuses = _parallel_attempts(app, email, ["10.5.0.1"] * 25)
    assert len(checked) <= 3, f"{len(checked)} passwords checked against a limit of 3"
    assert statuses.count(401) == len(checked)
    assert statuses.count(429) == 25 - len(checked)
    # The right password from there is refused too, without being checked.
    refused = attempt(browser("10.5.0.1"), email, PASSWORD)
    assert refused.status_code == 429
    assert len(checked) <= 3


def test_finding_05_parallel_attempts_from_many_addresses_stop_at_the_email_ceiling(
    service: Service,
    app: ZyntroApp,
    people: World,
    browser: Browser,
    checked: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small_limits(monkeypatch, source=3, email=6, client=50)
    email = email_of(service, people.owner_id)
    statuses = _parallel_attempts(app, email, [f"10.5.1.{n}" for n in range(14)])
    assert len(checked) <= 6, f"{len(checked)} passwords checked against a ceiling of 6"
    assert statuses.count(401) == len(checked)
    assert attempt(browser("10.5.2.1"), email, PASSWORD).status_code == 429


# --- 6: a lockout that keeps the owner in ----------------------------------------------


def test_finding_06_failures_from_one_address_do_not_lock_the_owner_out_elsewhere(
    service: Service, people: World, browser: Browser
) -> None:
    """The documented policy: 5 failures from one address lock that address out of the
    email, not the email out of every address."""
    email = email_of(service, people.owner_id)
    attacker = browser("10.6.0.66")
    for _ in range(5):
        assert attempt(attacker, email, WRONG).status_code == 401
    locked = attempt(attacker, email, PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in alert(locked)
    # The owner, who has not failed, signs in from their own address.
    sign_in(browser("10.6.0.1"), email)


def test_finding_06_a_known_device_passes_the_email_ceiling(
    service: Service, people: World, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_limits(monkeypatch, source=2, email=4, client=50)
    email = email_of(service, people.owner_id)
    laptop = browser("10.6.1.1")
    token = sign_in(laptop, email)  # the laptop is a known device from now on
    laptop.post("/app/sign-out", data={"csrf_token": token})
    for address in ("10.6.1.66", "10.6.1.67"):  # failures spread over addresses
        attacker = browser(address)
        for _ in range(2):
            assert attempt(attacker, email, WRONG).status_code == 401
        assert attempt(attacker, email, WRONG).status_code == 429
    # The email's ceiling is reached: a browser the owner never signed in with is refused,
    refused = attempt(browser("10.6.1.2"), email, PASSWORD)
    assert refused.status_code == 429
    # but the laptop signs in, even from a new address.
    travelling = browser("10.6.1.3")
    travelling.cookies = laptop.cookies
    sign_in(travelling, email)
    # Another member of the same organization is not affected at all.
    sign_in(browser("10.6.1.4"), email_of(service, people.member_id))


def test_finding_06_locks_grow_longer_each_time(
    service: Service, people: World, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_limits(monkeypatch, source=2, email=50, client=50)
    email = email_of(service, people.owner_id)
    attacker = browser("10.6.2.66")
    for expected in ("15 minutes", "30 minutes", "60 minutes", "2 hours"):
        for _ in range(2):
            assert attempt(attacker, email, WRONG).status_code == 401
        locked = attempt(attacker, email, WRONG)
        assert locked.status_code == 429
        assert alert(locked).endswith(f"Try again in {expected}."), alert(locked)
        expire_locks(service)
    sign_in(browser("10.6.2.1"), email)  # the owner was never locked out


# --- 17: throttle rows keyed under the server secret -----------------------------------


def test_finding_17_throttle_rows_are_keyed_under_the_server_secret(
    service: Service, database_url: str, people: World
) -> None:
    email, address = email_of(service, people.owner_id), "10.17.0.1"
    keys: list[set[str]] = []
    for secret in (SECRET, SECRET[::-1]):
        app = dashboard_app(service, database_url, secret_key=secret)
        with TestClient(app, client=(address, 50000)) as client:
            assert attempt(client, email, WRONG).status_code == 401
        with service.store.write() as conn:
            keys.append(set(conn.execute(sa.select(sign_in_throttle.c.key)).scalars()))
            conn.execute(sa.delete(sign_in_throttle))
    first, second = keys
    assert first and second
    assert not first & second, "the same rows under two secrets: the secret keys nothing"
    # None is a plain digest of what it counts (those were all recovered by brute force).
    values = (email, address, f"{email}:{address}", f"{email}\x00{address}")
    kinds = ("", "email:", "client:", "source:", "address:")
    plain = {hashlib.sha256(f"{k}{v}".encode()).hexdigest() for k in kinds for v in values}
    assert not (first | second) & plain


# --- 19: Me > Password counts its current_password check with sign-in ------------------


def test_finding_19_current_password_checks_are_throttled_with_sign_in(
    service: Service,
    people: World,
    browser: Browser,
    checked: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small_limits(monkeypatch, source=3, email=50, client=50)
    email = email_of(service, people.member_id)
    client = browser("10.19.0.1")
    token = sign_in(client, email)
    checked.clear()

    def change(current: str) -> httpx.Response:
        return client.post(
            "/app/me/password",
            data={
                "csrf_token": token,
                "current_password": current,
                "new_password": "a brand new passphrase",
                "confirm_password": "a brand new passphrase",
            },
        )

    for _ in range(3):
        assert change(WRONG).status_code == 422
    refused = change(PASSWORD)  # the right one, too late: not even checked
    assert refused.status_code == 429
    assert "Too many failed" in refused.text
    assert len(checked) == 3
    # Counted with sign-in: that address cannot sign in as the member either,
    assert attempt(browser("10.19.0.1"), email, PASSWORD).status_code == 429
    # and the password did not change.
    sign_in(browser("10.19.0.2"), email, PASSWORD)


# --- 21: failures in the audit log, and no oracle for deactivated members --------------


def test_finding_21_failed_sign_ins_are_in_the_audit_log(
    service: Service, people: World, browser: Browser
) -> None:
    email = email_of(service, people.owner_id)
    assert attempt(browser("10.21.0.1"), email, WRONG).status_code == 401
    rows = service.list_audit(SYSTEM, people.org_id, limit=5)
    failed = [row for row in rows if row["action"] == "member.sign_in_failed"]
    assert len(failed) == 1
    assert failed[0]["target_type"] == "member"
    assert failed[0]["target_id"] == people.owner_id
    # An email no member has: no organization to show it to; kept without one, and without
    # the email itself.
    stranger = "nobody-at-all@example.com"
    assert attempt(browser("10.21.0.2"), stranger, WRONG).status_code == 401
    with service.store.read() as conn:
        orphans = conn.execute(sa.select(audit_log).where(audit_log.c.org_id.is_(None))).all()
    assert [(row.action, row.target_type) for row in orphans] == [
        ("member.sign_in_failed", "email")
    ]
    assert all(stranger not in str(value) for value in orphans[0])


def test_finding_21_a_deactivated_member_gets_the_wrong_password_answer(
    service: Service, people: World, browser: Browser
) -> None:
    email = email_of(service, people.member_id)
    service.deactivate_member(SYSTEM, people.member_id)
    wrong = attempt(browser("10.21.1.1"), email, WRONG)
    right = attempt(browser("10.21.1.2"), email, PASSWORD)
    assert right.status_code == wrong.status_code == 401
    assert alert(right) == alert(wrong) == "The email or password is incorrect."
    assert "deactivated" not in right.text
    actions = [row["action"] for row in service.list_audit(SYSTEM, people.org_id, limit=5)]
    assert actions[:2] == ["member.sign_in_refused", "member.sign_in_failed"]


def test_right_passwords_take_their_count_back(
    service: Service, people: World, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting before checking must not make the owner's own sign-ins count as failures."""
    small_limits(monkeypatch, source=2, email=2, client=2)
    email = email_of(service, people.owner_id)
    for number in range(4):
        sign_in(browser(f"10.5.3.{number}"), email)
    for _ in range(4):
        sign_in(browser("10.5.3.9"), email)
