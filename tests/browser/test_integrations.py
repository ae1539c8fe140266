"""Issue 12's dashboard pages in a real browser: the Webhooks page (the secret shown once,
a test event a real receiver verifies, status and failure count, Redeliver), a brand's Trash
and a segment's History with restore."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect
from standardwebhooks import Webhook as StandardWebhook

from tests.browser.conftest import Account, screenshot, sign_in
from tests.live import wait_for
from tests.receiver import Answer, Receiver, receiver

pytestmark = pytest.mark.slow


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


def _reload_until(page: Page, selector: str, text: str) -> None:
    """Deliveries are made in the background: reload until the page shows the outcome."""

    def shown() -> bool:
        page.reload()
        return text in page.locator(selector).inner_text()

    wait_for(shown, timeout=15, interval=0.3)


def test_webhooks_page_secret_once_test_event_failures_and_redeliver(
    page: Page, account: Account, hook: Receiver
) -> None:
    sign_in(page, account.owner_email)
    page.click("nav >> text=Webhooks")
    expect(page.locator("h1")).to_have_text("Webhooks")
    page.fill("#url", hook.url)
    page.fill("#description", "CRM sync")
    page.click("button:has-text('Add endpoint')")
    secret_input = page.locator("#new-secret-value")
    expect(secret_input).to_be_visible()
    secret = secret_input.input_value()
    assert secret.startswith("whsec_")
    expect(page.locator("h1")).to_have_text("CRM sync")
    expect(page.locator("#webhook-url")).to_have_text(hook.url)
    expect(page.locator("#webhook-status")).to_have_text("enabled")
    # The page's buttons sit in one row (they were stacked, one form a line).
    tops = {
        round(page.locator(f"button:has-text('{name}')").bounding_box()["y"])  # type: ignore[index]
        for name in ("Send test event", "Disable", "Rotate secret", "Delete")
    }
    assert len(tops) == 1, tops
    expect(page.locator("#failure-count")).to_have_text("0")
    screenshot(page, "20-webhook-created")

    page.click("button:has-text('Send test event')")
    wait_for(lambda: hook.count() == 1, timeout=15)
    received = hook.received[0]
    event = StandardWebhook(secret).verify(received.body, received.headers)
    assert event["type"] == "webhook.test"
    _reload_until(page, "#deliveries", "HTTP 200")
    expect(page.locator("#new-secret-value")).to_have_count(0)  # shown once only
    tested = page.locator("#deliveries tbody tr", has_text=str(event["id"]))
    expect(tested).to_contain_text("succeeded")

    hook.answer(Answer(500, body=b"down for maintenance"))
    page.click("button:has-text('Send test event')")
    wait_for(lambda: hook.count() == 2, timeout=15)
    _reload_until(page, "#failure-count", "1")
    failed = page.locator("#deliveries tbody tr").first
    expect(failed).to_contain_text("HTTP 500")
    expect(failed).to_contain_text("down for maintenance")
    expect(failed).to_contain_text("pending")  # its retry is scheduled
    screenshot(page, "21-webhook-failure")
    failed.locator("button:has-text('Redeliver')").click()
    wait_for(lambda: hook.count() == 3, timeout=15)
    assert hook.received[2].headers["webhook-id"] == hook.received[1].headers["webhook-id"]
    _reload_until(page, "#failure-count", "0")
    expect(page.locator("#deliveries tbody tr").first).to_contain_text("succeeded")

    page.click("text=Webhooks >> nth=0")
    row = page.locator("#webhooks tr", has_text=hook.url)
    expect(row).to_contain_text("enabled")
    expect(row).to_contain_text("CRM sync")


def test_trash_and_history_restore(page: Page, account: Account) -> None:
    auth = {"Authorization": f"Bearer {account.owner_key}"}
    base = f"{account.base_url}/api/v1/brands/{account.brand_id}/segments"
    created = httpx.post(
        base, json={"segment_label": "Trail Runners", "segment_type": "behavioral"}, headers=auth
    )
    assert created.status_code == 201, created.text
    segment_id = created.json()["data"]["segment_id"]
    changed = httpx.patch(f"{base}/{segment_id}", json={"segment_tone": "upbeat"}, headers=auth)
    assert changed.status_code == 200, changed.text

    sign_in(page, account.in_charge_email)
    page.goto(f"/app/brands/{account.brand_id}/segments/{segment_id}")
    page.click("text=History")
    expect(page.locator("h1")).to_contain_text("Trail Runners")
    latest = page.locator("#revisions > li").first
    expect(latest).to_contain_text("updated")
    expect(latest.locator("tr", has_text="segment_tone")).to_contain_text("upbeat")
    screenshot(page, "22-segment-history")
    # Back to the fields it was created with: one click, itself a new revision.
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#revisions > li", has_text="created").locator(
        "button:has-text('Restore this version')"
    ).click()
    expect(page.locator("#revisions > li").first).to_contain_text("reverted")
    expect(page.locator("#revisions > li")).to_have_count(3)
    tone = httpx.get(f"{base}/{segment_id}", headers=auth).json()["data"]["segment_tone"]
    assert tone == ""

    page.goto(f"/app/brands/{account.brand_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#segments tr#{segment_id}").locator("button:has-text('Delete')").click()
    expect(page.locator(f"#segments tr#{segment_id}")).to_have_count(0)
    assert httpx.get(f"{base}/{segment_id}", headers=auth).status_code == 404
    page.click("a:has-text('Trash')")
    expect(page.locator("h1")).to_have_text("Trash")
    row = page.locator(f"#trash tr#{segment_id}")
    expect(row).to_contain_text("Trail Runners")
    expect(row).to_contain_text("Ivan In-Charge")
    screenshot(page, "23-trash")
    row.locator("button:has-text('Restore')").click()
    expect(page.locator(f"#trash tr#{segment_id}")).to_have_count(0)
    back = httpx.get(f"{base}/{segment_id}", headers=auth)
    assert back.status_code == 200 and back.json()["data"]["segment_label"] == "Trail Runners"
