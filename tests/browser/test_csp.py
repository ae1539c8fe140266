"""Finding 16 in a real browser: the dashboard and the API reference work under the
Content-Security-Policy, with no violation reported and nothing loaded from another origin."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import Account, csp_violations, screenshot, sign_in

pytestmark = pytest.mark.slow


def _other_origins(page: Page, account: Account) -> list[str]:
    """Requests the page makes to any origin but the server's (filled as the page loads)."""
    own = urlsplit(account.base_url).netloc
    seen: list[str] = []

    def record(request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https") and parts.netloc != own:
            seen.append(request.url)

    page.on("request", record)
    return seen


def test_finding_16_docs_render_from_the_server_alone(page: Page, account: Account) -> None:
    elsewhere = _other_origins(page, account)
    response = page.goto("/docs")
    assert response is not None and response.status == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    operation = page.locator("#operations-public-fetchAudiences")
    expect(operation).to_be_visible()
    screenshot(page, "11-docs")
    # Try it out: Swagger UI calls the endpoint from the page (connect-src 'self').
    operation.locator(".opblock-summary").click()
    page.click("button:has-text('Try it out')")
    page.click("button:has-text('Execute')")
    expect(page.locator(".live-responses-table tr.response .response-col_status")).to_have_text(
        "401"
    )
    assert elsewhere == []
    assert csp_violations(page) == []


def test_finding_16_dashboard_pages_keep_working_under_the_policy(
    page: Page, account: Account
) -> None:
    elsewhere = _other_origins(page, account)
    sign_in(page, account.owner_email)
    response = page.goto("/app/brands")
    assert response is not None and response.status == 200
    assert "style-src 'self'" in response.headers["content-security-policy"]
    for link, heading in (
        ("nav >> text=API Keys", "API Keys"),
        ("nav >> text=Members", "Members"),
        ('nav >> text="API"', "API"),
        ("nav >> text=Brands", "Brands"),
    ):
        page.click(link)
        expect(page.locator("h1")).to_have_text(heading)
    page.click("text=Acme Trail Shoes")
    page.click("text=New segment")
    # The tag input is app.js at work: a script from the server, allowed. It runs once the
    # page has loaded (`defer`): typing before that would be typing into a plain field.
    expect(page.locator("[data-tags=segment_pain_points]")).to_have_attribute("data-ready", "1")
    page.fill("#segment_pain_points", "wet_socks")
    page.keyboard.press("Enter")
    expect(page.locator("[data-tags=segment_pain_points] .tag")).to_have_count(1)
    page.click("a.me")
    expect(page.locator("h1")).to_have_text("Olivia Owner")
    assert elsewhere == []
    assert csp_violations(page) == []
