"""Two-factor sign-in in a real browser: set it up from the QR page (the secret read from the
setup key shown for manual entry, codes computed with pyotp as an authenticator app would),
save the recovery codes, then sign in with password and code."""

from __future__ import annotations

import re
import time

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
    sign_in,
)

pytestmark = pytest.mark.slow


def test_set_up_two_factor_and_sign_in_with_a_code(page: Page, account: Account) -> None:
    sign_in(page, account.member_email)
    page.click("a.me")
    expect(page.locator("#two-factor")).to_contain_text("off")
    page.click("text=Set up two-factor sign-in")
    expect(page.locator("h1")).to_have_text("Two-factor sign-in")
    page.click("button:has-text('Set up two-factor sign-in')")
    qr = page.locator("#qr-code")
    expect(qr).to_be_visible()
    # The QR code is an SVG data URI the Content-Security-Policy allows: it really drew.
    assert qr.evaluate("img => img.complete && img.naturalWidth > 100")
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
    page.fill("#code", authenticator.now())
    page.click("button:has-text('Turn on two-factor sign-in')")
    expect(page.locator("#recovery-code-list li")).to_have_count(10)
    expect(page.locator("#two-factor-state")).to_have_text("on")
    screenshot(page, "13-two-factor-recovery-codes")

    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(SIGNED_OUT, timeout=NAVIGATION_MS)
    page.fill("#email", account.member_email)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(re.compile(r"/app/sign-in/code"), timeout=NAVIGATION_MS)
    screenshot(page, "14-two-factor-sign-in")
    # The next step's code: the one used to turn it on cannot be used again.
    page.fill("#code", authenticator.at(time.time() + 30))
    page.click("button:has-text('Verify')")
    expect(page).to_have_url(SIGNED_IN, timeout=NAVIGATION_MS)
    expect(page.locator("h1")).to_have_text("Brands")
