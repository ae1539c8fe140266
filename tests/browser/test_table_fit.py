"""Issue 15, found walking the demo at 1280 px: the dashboard's tables fit their box with real
ids (26-character ULIDs) and a key of every scope. The segments table ran 21 px past its box
and the keys table 71 px, so the Delete, Roll and Revoke buttons were cut at its right edge,
and each scope was squeezed to a letter or three a line (`audien/ces:rea/d`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import Account, screenshot, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture(params=[1280, 390], ids=["1280px", "390px"])
def wide_or_phone(
    request: pytest.FixtureRequest, browser: Browser, account: Account
) -> Iterator[Page]:
    width: int = request.param
    context = browser.new_context(
        base_url=account.base_url, viewport={"width": width, "height": 800}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, account.owner_email)
    yield page
    context.close()


def test_tables_fit_their_box_and_scopes_stay_whole(wide_or_phone: Page, account: Account) -> None:
    page = wide_or_phone
    for path in (f"/app/brands/{account.brand_id}", "/app/members", "/app/me/keys", "/app/brands"):
        page.goto(path)
        overflow = page.evaluate(
            """() => [...document.querySelectorAll('.table-wrap')].map(
                box => box.scrollWidth - box.clientWidth)"""
        )
        assert overflow and max(overflow) <= 0, (path, overflow)
        # Every button of a row is drawn inside the table's box, none cut at its edge.
        cut = page.evaluate(
            """() => [...document.querySelectorAll('.table-wrap')].flatMap(box => {
                const edge = box.getBoundingClientRect();
                return [...box.querySelectorAll('button, summary')].filter(b => {
                    const r = b.getBoundingClientRect();
                    return r.width > 0 && (r.left < edge.left - 0.5 || r.right > edge.right + 0.5);
                }).map(b => b.textContent.trim());
            })"""
        )
        assert cut == [], (path, cut)
    page.goto("/app/me/keys")
    lines = page.locator("#keys .scopes code").evaluate_all(
        "codes => codes.map(c => [c.textContent, c.getClientRects().length])"
    )
    assert len(lines) >= 2 and all(count == 1 for _, count in lines), lines
    size = page.viewport_size
    screenshot(page, f"table-fit-keys-{size['width'] if size else 0}", full_page=False)


def test_between_phone_and_desktop_only_the_table_scrolls(
    browser: Browser, account: Account
) -> None:
    """At 1024 px a wide table scrolls inside its own box; the page never scrolls sideways
    (an off-screen label, absolutely placed, used to widen it by a few pixels)."""
    context = browser.new_context(
        base_url=account.base_url, viewport={"width": 1024, "height": 800}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        sign_in(page, account.owner_email)
        for path in (f"/app/brands/{account.brand_id}", "/app/members", "/app/me/keys"):
            page.goto(path)
            sideways = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert sideways <= 0, (path, sideways)
    finally:
        context.close()


def test_a_segments_times_never_break_at_a_hyphen(wide_or_phone: Page, account: Account) -> None:
    """On a phone the segment page's `created 2026-11-29 10:30:00` broke as `2026-` / `11-29`."""
    page = wide_or_phone
    page.goto(f"/app/brands/{account.brand_id}")
    page.locator("#segments tbody tr a").first.click()
    page.wait_for_url("**/segments/seg_*")
    times = page.locator(".page-head .nowrap").evaluate_all(
        "spans => spans.map(s => [s.textContent, s.getClientRects().length])"
    )
    assert len(times) == 2 and all(lines == 1 for _, lines in times), times
