"""Issue 15 items 9-12 in Chromium at 1280 px and 390 px: lists of real size (23 brands, a
brand of 300 imported segments) search, filter and page; the rename form is never clipped and
its error shows where the person looks; names, code and ids read well on a phone.
Fresh screenshots for the docs: scripts/dashboard_screenshots.py (tests leave docs/img be)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, SECRET, screenshot, sign_in
from tests.live import live_server
from zyntro.domain import Role
from zyntro.service import SYSTEM, Service
from zyntro.store import Store, migrate

pytestmark = pytest.mark.slow
TYPES = ("behavioral", "demographic", "lifecycle", "psychographic", "transactional")


@dataclass
class Big:
    base_url: str
    brand_id: str
    other_brand_id: str
    owner_email: str
    creator_name: str


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Big]:
    url = f"sqlite:///{tmp_path_factory.mktemp('big') / 'zyntro.db'}"
    store = Store(url)
    try:
        migrate.upgrade(store.engine)
        service = Service(store)
        org = service.create_org(SYSTEM, "Acme Outdoor")
        brands = [service.create_brand(SYSTEM, org.id, f"Acme Line {n:02d}") for n in range(23)]
        owner = service.add_member(SYSTEM, org.id, "olivia@acme.example", "Olivia", Role.OWNER)
        lead = service.add_member(SYSTEM, org.id, "ivan@acme.example", "Ivan Lead", Role.IN_CHARGE)
        service.set_password(SYSTEM, owner.id, PASSWORD)
        for label in ("production", "old laptop", "intern test"):
            key, _plain = service.create_key(SYSTEM, owner.id, label)
            if label != "production":
                service.revoke_key(SYSTEM, key.id)
        rows = [
            {
                "segment_id": f"seg_import_{(n * 37) % 300:03d}",
                "segment_label": f"Imported audience {(n * 37) % 300:03d}",
                "segment_type": TYPES[(n * 37) % 300 % len(TYPES)],
                "created_at": "2026-05-01 09:00:00",
            }
            for n in range(300)
        ]
        service.import_segments(SYSTEM, brands[0].id, rows, initiated_by=lead.id)
    finally:
        store.dispose()
    with live_server(url, env={"ZYNTRO_SECRET_KEY": SECRET}) as base_url:
        yield Big(base_url, brands[0].id, brands[1].id, "olivia@acme.example", "Ivan Lead")


@pytest.fixture(params=[1280, 390], ids=["1280px", "390px"])
def page(request: pytest.FixtureRequest, browser: Browser, big: Big) -> Iterator[Page]:
    width: int = request.param
    context = browser.new_context(base_url=big.base_url, viewport={"width": width, "height": 800})
    context.set_default_timeout(10_000)
    new_page = context.new_page()
    sign_in(new_page, big.owner_email)
    yield new_page
    context.close()


def _width(page: Page) -> int:
    size = page.viewport_size
    assert size is not None
    return int(size["width"])


def _rows(page: Page) -> list[str]:
    return page.locator("#segments tbody tr").evaluate_all("rows => rows.map(r => r.id)")


def test_a_brand_of_300_segments_searches_filters_and_pages(page: Page, big: Big) -> None:
    page.goto(f"/app/brands/{big.brand_id}")
    summary = page.locator("#list-summary")
    expect(summary).to_contain_text("1–25 of 300 segments")
    expect(summary).to_contain_text("in fetchAudiences order")
    assert _rows(page) == [f"seg_import_{n:03d}" for n in range(25)]  # stable: by segment_id
    # A page of 25, not 300 rows (33,075 px at 1280 before issue 15).
    height = page.evaluate("document.body.scrollHeight")
    assert height < (6_000 if _width(page) >= 720 else 16_000), height
    screenshot(page, f"first-hour-segments-{_width(page)}", full_page=False)

    page.fill("#segments-q", "audience 01")
    page.press("#segments-q", "Enter")
    expect(summary).to_contain_text("1–10 of 10 segments matching")
    assert _rows(page) == [f"seg_import_01{n}" for n in range(10)]
    page.click("a:has-text('Clear')")
    expect(summary).to_contain_text("1–25 of 300 segments")

    page.select_option("#segments-type", "lifecycle")  # applies at once
    expect(summary).to_contain_text("1–25 of 60 segments matching")
    page.click("a:has-text('Next page')")
    expect(summary).to_contain_text("26–50 of 60 segments matching")
    types = page.locator("#segments td[data-label='Type']").all_inner_texts()
    assert len(types) == 25 and set(types) == {"lifecycle"}

    page.goto("/app/me/keys")
    expect(page.locator("#revoked-folded")).to_contain_text("2 revoked keys folded away")
    expect(page.locator("#keys")).not_to_contain_text("old laptop")


def _box(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_rename_on_the_last_row_and_its_error_in_view(page: Page, big: Big) -> None:
    page.goto("/app/brands")
    last = page.locator("#brands tbody tr").last
    last.locator("summary:has-text('Rename')").click()
    form = last.locator("details.popover form")
    expect(form).to_be_visible()
    form.scroll_into_view_if_needed()
    box = form.bounding_box()
    assert box is not None
    # Not clipped by the table's scroll box: what is drawn at the form's corners is the form.
    for x, y in ((box["x"] + 4, box["y"] + 4), (box["x"] + box["width"] - 4, box["y"] + 4)):
        inside = page.evaluate(
            "([x, y]) => !!document.elementFromPoint(x, y)?.closest('details.popover form')",
            [x, y],
        )
        assert inside, (x, y)
    delete = last.locator("button:has-text('Delete')").bounding_box()
    assert delete is not None and not _overlap(box, delete)
    screenshot(page, f"first-hour-rename-{_width(page)}", full_page=False)

    form.locator("input[name=name]").fill("   ")
    form.locator("button:has-text('Save')").click()
    alert = page.locator("#rename-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("was not renamed")
    alert_box = alert.bounding_box()
    height = page.evaluate("window.innerHeight")
    assert alert_box is not None and 0 <= alert_box["y"] < height  # where the person looks
    expect(page.locator("#rename-again")).to_be_focused()


def test_names_code_and_ids_read_well(page: Page, big: Big) -> None:
    page.goto(f"/app/brands/{big.brand_id}/segments/seg_import_000")
    expect(page.locator(".page-head")).to_contain_text(f"by {big.creator_name}")

    page.goto("/app/api")
    # Inline code that fits on a line is never broken inside a word: one that reaches the end
    # of a line moves to the next whole (the page's own stylesheet, a paragraph of the page).
    rects = page.evaluate(
        """() => {
            const p = document.querySelector('.page-head p');
            p.style.width = '220px';
            p.textContent = 'Send the identifier ';
            const code = document.createElement('code');
            code.textContent = 'segment_pain_points';
            p.appendChild(code);
            return code.getClientRects().length;
        }"""
    )
    assert rects == 1
    page.reload()
    for block in page.locator(".code-block").all():
        button = block.locator(".copy").bounding_box()
        code = block.locator("pre").bounding_box()
        assert button is not None and code is not None
        if _width(page) < 720:  # on a phone the button sits above the code, not over it
            assert button["y"] + button["height"] <= code["y"] + 1
    # The ids card names the brand the snippets use, and changes with it.
    card = page.locator("#your-ids")
    curl = page.locator("#snippet-curl")
    expect(card).to_contain_text(big.brand_id)
    expect(curl).to_contain_text(big.brand_id)
    page.select_option("#snippet-brand", big.other_brand_id)
    expect(card).to_contain_text(big.other_brand_id)
    expect(curl).to_contain_text(big.other_brand_id)
    expect(card).not_to_contain_text(big.brand_id)
    screenshot(page, f"first-hour-api-{_width(page)}", full_page=False)
