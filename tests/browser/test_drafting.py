"""Drafting in a real browser: brand profile, describe the audience, review the drafts, take
one into the form, edit it, create it; the provider is a Chat Completions server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.apps.chat_completions import ChatCompletionsServer, chat_completions_server
from tests.browser.conftest import NAVIGATION_MS, PASSWORD, SECRET, screenshot, sign_in
from tests.live import live_server
from zyntro.domain import Role
from zyntro.service import SYSTEM, Service
from zyntro.store import Store, migrate

pytestmark = pytest.mark.slow

DRAFTS = [
    {
        "segment_label": "Ultra Trail Rookies",
        "segment_type": "lifecycle",
        "segment_tag": "first_ultra",
        "segment_decision_drivers": "Comfort, Grip, Advice",
        "segment_pain_points": ["blisters", "race_nerves", "gear_overwhelm"],
        "segment_use_cases": ["training_plans", "starter_bundles"],
        "segment_tone": "encouraging_expert",
        "reasoning": "Runners stepping up to their first ultra buy a whole kit at once.",
    },
    {
        "segment_label": "Rainy Season Hikers",
        "segment_type": "behavioral",
        "segment_tag": "wet_weather",
        "segment_decision_drivers": "Waterproofing, Durability",
        "segment_pain_points": ["wet_feet", "slippery_rocks"],
        "segment_use_cases": ["seasonal_campaigns"],
        "segment_tone": "practical_friendly",
        "reasoning": "Autumn rain brings hikers looking for waterproof shoes.",
    },
]


@dataclass
class Drafting:
    base_url: str
    database_url: str
    brand_id: str
    email: str
    provider: ChatCompletionsServer


@pytest.fixture(scope="module")
def drafting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drafting]:
    url = f"sqlite:///{tmp_path_factory.mktemp('drafting') / 'zyntro.db'}"
    store = Store(url)
    try:
        migrate.upgrade(store.engine)
        service = Service(store)
        org = service.create_org(SYSTEM, "Acme Outdoor")
        brand = service.create_brand(SYSTEM, org.id, "Acme Trail Shoes")
        lead = service.add_member(SYSTEM, org.id, "ivan@acme.example", "Ivan", Role.IN_CHARGE)
        service.set_password(SYSTEM, lead.id, PASSWORD)
        service.add_segment(
            service.act_as(lead.id),
            brand.id,
            {"segment_label": "Weekend Hikers", "segment_type": "behavioral"},
        )
    finally:
        store.dispose()
    with chat_completions_server() as provider:
        env = {
            "ZYNTRO_SECRET_KEY": SECRET,
            "ZYNTRO_LLM_BASE_URL": provider.base_url,
            "ZYNTRO_LLM_MODEL": "llama3.2",
        }
        with live_server(url, env=env) as base_url:
            yield Drafting(base_url, url, brand.id, "ivan@acme.example", provider)


def _saved(drafting: Drafting) -> dict[str, list[str]]:
    """The brand's segments in the database (label: pain points), read as another process."""
    store = Store(drafting.database_url)
    try:
        segments = Service(store).list_segments(SYSTEM, drafting.brand_id)
    finally:
        store.dispose()
    return {s.segment_label: list(s.segment_pain_points) for s in segments}


def _labels(drafting: Drafting) -> list[str]:
    return list(_saved(drafting))


@pytest.fixture
def page(browser: Browser, drafting: Drafting) -> Iterator[Page]:
    context = browser.new_context(
        base_url=drafting.base_url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    new_page = context.new_page()
    blocked: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            blocked.append(message.text)

    new_page.on("console", record)
    yield new_page
    context.close()
    assert blocked == [], blocked


def test_profile_then_draft_edit_and_save(page: Page, drafting: Drafting) -> None:
    sign_in(page, drafting.email)
    page.click("text=Acme Trail Shoes")
    page.click("text=Brand profile")
    expect(page.locator("h1")).to_have_text("Brand profile")
    page.fill("#offering", "Trail running shoes")
    page.fill("#audience", "Trail runners in the Alps")
    page.fill("#voice", "Encouraging and expert")
    page.click("button:has-text('Save profile')")
    expect(page.locator(".notice")).to_contain_text("Profile of “Acme Trail Shoes” saved")

    page.click("text=New segment")
    expect(page.locator("#draft-panel")).to_be_visible()
    page.fill("#description", "Runners training for their first ultra marathon")
    page.select_option("#count", "2")
    drafting.provider.script(drafting.provider.json_reply({"segments": DRAFTS}))
    page.click("button:has-text('Draft with AI')")
    expect(page.locator("#drafts .draft")).to_have_count(2, timeout=NAVIGATION_MS)
    expect(page.locator("#draft-1")).to_contain_text("Ultra Trail Rookies")
    expect(page.locator("#draft-2")).to_contain_text("wet_feet")
    expect(page.locator("#description")).to_have_value(
        "Runners training for their first ultra marathon"
    )
    screenshot(page, "20-drafts")

    # What the provider was told: the brand, its profile, its segment, the description.
    sent = drafting.provider.received[-1].body
    told = "\n".join(message["content"] for message in sent["messages"])
    for fact in ("Acme Trail Shoes", "Trail runners in the Alps", "Weekend Hikers", "first ultra"):
        assert fact in told
    assert sent["model"] == "llama3.2"

    # Nothing saved yet (seen in another tab, this one keeps its drafts).
    other = page.context.new_page()
    other.goto(f"/app/brands/{drafting.brand_id}")
    expect(other.locator("#segments")).to_contain_text("Weekend Hikers")
    expect(other.locator("#segments")).not_to_contain_text("Ultra Trail Rookies")
    other.close()

    page.locator("#draft-1 button:has-text('Review and save')").click()
    expect(page.locator("h1")).to_have_text("New segment")
    expect(page.locator("#from-draft")).to_be_visible()
    expect(page.locator("#segment_label")).to_have_value("Ultra Trail Rookies")
    expect(page.locator("[data-tags=segment_pain_points] .tag")).to_have_count(3)
    page.fill("#segment_label", "First Ultra Runners")
    page.locator("[data-tags=segment_pain_points] .tag-remove").first.click()
    screenshot(page, "21-draft-in-form")
    # The draft is in the form, edited: still nothing saved until "Create segment".
    assert _labels(drafting) == ["Weekend Hikers"]
    page.click("button:has-text('Create segment')")
    expect(page.locator(".notice")).to_contain_text("Segment “First Ultra Runners” created")
    expect(page.locator("#segments")).to_contain_text("First Ultra Runners")
    expect(page.locator("#segments")).not_to_contain_text("Rainy Season Hikers")

    # Saved as edited: the new label, one pain point fewer; the other draft not at all.
    assert _saved(drafting) == {
        "Weekend Hikers": [],
        "First Ultra Runners": ["race_nerves", "gear_overwhelm"],
    }
    saved = httpx.get(drafting.base_url + "/healthz", timeout=5)  # the server is still fine
    assert saved.status_code == 200


def test_a_provider_failure_keeps_the_description(page: Page, drafting: Drafting) -> None:
    sign_in(page, drafting.email)
    page.goto(f"/app/brands/{drafting.brand_id}/segments/new")
    page.fill("#description", "Commuters who run to work")
    broken = json.dumps({"segments": [{"segment_label": ""}]})
    drafting.provider.script(
        drafting.provider.json_reply(json.loads(broken)),
        drafting.provider.json_reply(json.loads(broken)),
    )
    page.click("button:has-text('Draft with AI')")
    expect(page.locator("#draft-problem")).to_contain_text("segment rules", timeout=NAVIGATION_MS)
    expect(page.locator("#description")).to_have_value("Commuters who run to work")
    expect(page.locator("#drafts")).to_have_count(0)
