"""Two-factor sign-in in a real browser, on SQLite and PostgreSQL: set it up from the QR page
(the secret read from the setup key shown for manual entry, codes computed with pyotp as an
authenticator app would), save the recovery codes, sign in with password and code (a replayed
code refused), sign in with a recovery code; an owner requires it and a member is asked to
set it up at their next sign-in; the owner sees each member's last sign-in and 2FA state."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    NAVIGATION_MS,
    PASSWORD,
    SIGNED_IN,
    SIGNED_OUT,
    Account,
    screenshot,
    serve_account,
    sign_in,
)
from tests.helpers import truncate

pytestmark = pytest.mark.slow
CODE_STEP = re.compile(r"/app/sign-in/code")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def account(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Account]:
    """The browser tests' account on each database (this module only: the others use SQLite)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'zyntro.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        truncate(url)
    with serve_account(url) as found:
        yield found


def set_up(page: Page, shots: bool = False) -> tuple[pyotp.TOTP, str, list[str]]:
    """On Me > Two-factor sign-in: scan (read) the secret, confirm with a code; the
    authenticator, the code used, and the recovery codes shown."""
    page.click("button:has-text('Set up two-factor sign-in')")
    qr = page.locator("#qr-code")
    expect(qr).to_be_visible()
    # The QR code is an SVG data URI the Content-Security-Policy allows: it really drew.
    assert qr.evaluate("img => img.complete && img.naturalWidth > 100")
    if shots:
        screenshot(page, "12-two-factor-setup")
    page.click("text=Can't scan it?")
    uri = page.locator("#otpauth-uri").inner_text()
    assert uri.startswith("otpauth://totp/") and "issuer=Zyntro%20Audiences" in uri
    secret = page.locator("#setup-key").inner_text().replace(" ", "")
    authenticator = pyotp.parse_uri(uri)
    assert isinstance(authenticator, pyotp.TOTP) and authenticator.secret == secret

    page.fill("#code", "000000" if authenticator.now() != "000000" else "111111")
    page.click("button:has-text('Turn on two-factor sign-in')")
    expect(page.locator("#code-error")).to_contain_text("not right")
    used = authenticator.now()
    page.fill("#code", used)
    page.click("button:has-text('Turn on two-factor sign-in')")
    expect(page.locator("#recovery-code-list li")).to_have_count(10)
    expect(page.locator("#two-factor-state")).to_have_text("on")
    if shots:
        screenshot(page, "13-two-factor-recovery-codes")
    codes = page.locator("#recovery-code-list li").all_inner_texts()
    return authenticator, used, [code.strip() for code in codes]


def password_step(page: Page, email: str) -> None:
    page.goto("/app/sign-in")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")


def code_step(page: Page, code: str) -> None:
    page.fill("#code", code)
    page.click("button:has-text('Verify')")


def sign_out(page: Page) -> None:
    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(SIGNED_OUT, timeout=NAVIGATION_MS)


def test_set_up_two_factor_and_sign_in_with_a_code(page: Page, account: Account) -> None:
    sign_in(page, account.member_email)
    page.click("a.me")
    expect(page.locator("#two-factor")).to_contain_text("off")
    page.click("text=Set up two-factor sign-in")
    expect(page.locator("h1")).to_have_text("Two-factor sign-in")
    authenticator, used, recovery = set_up(page, shots=True)
    used_at = time.time()
    sign_out(page)

    password_step(page, account.member_email)
    expect(page).to_have_url(CODE_STEP, timeout=NAVIGATION_MS)
    screenshot(page, "14-two-factor-sign-in")
    if time.time() - used_at < 25:  # still within its window: refused as used, not as wrong
        code_step(page, used)
        expect(page.locator(".alert")).to_contain_text("used already")
    code_step(page, "12345" if authenticator.now() != "12345" else "54321")
    expect(page.locator(".alert")).to_contain_text("not right")
    expect(page).to_have_url(CODE_STEP)
    # The next step's code: the one used to turn it on cannot be used again.
    code_step(page, authenticator.at(time.time() + 30))
    expect(page).to_have_url(SIGNED_IN, timeout=NAVIGATION_MS)
    expect(page.locator("h1")).to_have_text("Brands")
    sign_out(page)

    # A recovery code signs in once, without the authenticator.
    password_step(page, account.member_email)
    expect(page).to_have_url(CODE_STEP, timeout=NAVIGATION_MS)
    code_step(page, recovery[0])
    expect(page).to_have_url(SIGNED_IN, timeout=NAVIGATION_MS)


def test_an_owner_requires_it_and_a_member_sets_it_up_at_next_sign_in(
    page: Page, account: Account
) -> None:
    sign_in(page, account.owner_email)
    page.goto("/app/members")
    policy = page.locator("#two-factor-policy")
    expect(policy).to_contain_text("Turn it on for yourself first")
    page.goto("/app/me/two-factor")
    owner_authenticator, _used, _codes = set_up(page)
    page.goto("/app/members")
    rows = page.locator("#members tbody tr")
    owner_row = rows.filter(has_text=account.owner_email)
    lead_row = rows.filter(has_text=account.in_charge_email)
    expect(owner_row.locator("td[data-label='Two-factor']")).to_have_text("on")
    expect(owner_row.locator("td[data-label='Last sign-in']")).not_to_have_text("never")
    expect(lead_row.locator("td[data-label='Two-factor']")).to_have_text("off")
    expect(lead_row.locator("td[data-label='Last sign-in']")).to_have_text("never")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Require two-factor sign-in')")
    expect(policy).to_contain_text("Required")
    sign_out(page)

    # The member in-charge signs in with the password alone and is asked to set it up.
    password_step(page, account.in_charge_email)
    expect(page).to_have_url(re.compile(r"/app/me/two-factor$"), timeout=NAVIGATION_MS)
    expect(page.locator("main")).to_contain_text("requires two-factor sign-in")
    page.goto("/app/brands")
    expect(page).to_have_url(re.compile(r"/app/me/two-factor$"), timeout=NAVIGATION_MS)
    set_up(page)
    page.goto("/app/brands")
    expect(page.locator("h1")).to_have_text("Brands")
    sign_out(page)

    # The owner (code step: they have it) sees the member's sign-in and 2FA now.
    password_step(page, account.owner_email)
    expect(page).to_have_url(CODE_STEP, timeout=NAVIGATION_MS)
    code_step(page, owner_authenticator.at(time.time() + 30))  # the step after the one used
    expect(page).to_have_url(SIGNED_IN, timeout=NAVIGATION_MS)
    page.goto("/app/members")
    lead_row = page.locator("#members tbody tr").filter(has_text=account.in_charge_email)
    expect(lead_row.locator("td[data-label='Two-factor']")).to_have_text("on")
    expect(lead_row.locator("td[data-label='Last sign-in']")).not_to_have_text("never")
