"""Browser tests: Playwright (from PyPI) driving Debian's Chromium against a live server.

`make test` installs the chromium package when it is missing; nothing is downloaded by
Playwright itself. Screenshots of every page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.conftest import SEED_SEGMENT, service_missing
from tests.live import live_server
from zyntro.domain import Role
from zyntro.service import SYSTEM, Service
from zyntro.store import Store, migrate

CHROMIUM = os.environ.get("ZYNTRO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "browser test passphrase"
SECRET = "browser-test-secret-0123456789abcdefghijklmnop"


@dataclass
class Account:
    """The live server's data: one organization, a member of each role, keys for the API."""

    base_url: str
    org_id: str
    brand_id: str
    owner_email: str
    in_charge_email: str
    member_email: str
    owner_key: str


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    with serve_account(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'zyntro.db'}") as found:
        yield found


@contextmanager
def serve_account(url: str) -> Iterator[Account]:
    """The account written into the (empty) database at `url`, and a live server of it."""
    store = Store(url)
    try:
        migrate.upgrade(store.engine)
        service = Service(store)
        org = service.create_org(SYSTEM, "Acme Outdoor")
        brand = service.create_brand(SYSTEM, org.id, "Acme Trail Shoes")
        service.create_brand(SYSTEM, org.id, "Acme Tents")
        people = {}
        for role, email, name in (
            (Role.OWNER, "olivia@acme.example", "Olivia Owner"),
            (Role.IN_CHARGE, "ivan@acme.example", "Ivan In-Charge"),
            (Role.MEMBER, "mia@acme.example", "Mia Member"),
        ):
            member = service.add_member(SYSTEM, org.id, email, name, role)
            service.set_password(SYSTEM, member.id, PASSWORD)
            people[role] = member
        _, owner_key = service.create_key(SYSTEM, people[Role.OWNER].id, "integration")
        lead = service.act_as(people[Role.IN_CHARGE].id)
        service.add_segment(lead, brand.id, SEED_SEGMENT)
        service.add_segment(
            lead,
            brand.id,
            {
                **SEED_SEGMENT,
                "segment_label": "Weekend Hikers",
                "segment_type": "behavioral",
                "segment_tag": "weekend_trail",
                "segment_pain_points": ["rain", "blisters"],
                "segment_use_cases": ["newsletter"],
            },
        )
    finally:
        store.dispose()
    env = {
        "ZYNTRO_SECRET_KEY": SECRET,
        # The Webhooks page's flows post to a receiver on loopback; a failed attempt waits
        # for the Redeliver button rather than an automatic retry.
        "ZYNTRO_WEBHOOK_ALLOW_PRIVATE": "true",
        "ZYNTRO_WEBHOOK_RETRY_SCHEDULE": "600",
    }
    with live_server(url, env=env) as base_url:
        yield Account(
            base_url=base_url,
            org_id=org.id,
            brand_id=brand.id,
            owner_email="olivia@acme.example",
            in_charge_email="ivan@acme.example",
            member_email="mia@acme.example",
            owner_key=owner_key,
        )


# Module scope, not session: the sync API runs an event loop in this thread while it is open,
# and the async tests that follow need the thread without one.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        service_missing(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser, account: Account) -> Iterator[BrowserContext]:
    context = browser.new_context(
        base_url=account.base_url, viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


# What Chromium reported as blocked by the Content-Security-Policy, by page (finding 16).
_VIOLATIONS: dict[int, list[str]] = {}


def csp_violations(page: Page) -> list[str]:
    """The console's Content-Security-Policy reports of `page` so far."""
    return _VIOLATIONS[id(page)]


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page of the context; every flow run on it must pass without a CSP violation."""
    new_page = context.new_page()
    found: list[str] = []
    _VIOLATIONS[id(new_page)] = found

    def record(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            found.append(f"{message.text} ({message.location})")

    new_page.on("console", record)
    yield new_page
    del _VIOLATIONS[id(new_page)]
    assert found == [], found


def screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# Boosted forms change the URL with history.pushState, which `expect(...).to_have_url` sees
# (it polls) and `wait_for_url` can miss under load; sign-in also hashes with argon2.
# The path, not a query: the code step's URL ends with `?next=/app/brands` too.
SIGNED_IN = re.compile(r"^[^?]*/app/brands$")
SIGNED_OUT = re.compile(r"/app/sign-in$")
NAVIGATION_MS = 20_000


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/app")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(SIGNED_IN, timeout=NAVIGATION_MS)
