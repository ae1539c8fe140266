"""Drafting segments through /api/v1 against a Chat Completions server on loopback: what the
provider receives, what the user gets, and every way the provider can fail (docs/ai.md).

The provider's wire format is no storage matter: these run on SQLite only; the brand
profile's storage is tested on both backends in tests/test_brand_profile.py.
"""

from __future__ import annotations

import email.utils
import json
import logging
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from starlette.testclient import TestClient

from tests.apps.chat_completions import (
    OVERLOADED,
    RATE_LIMITED,
    SCHEMA_REFUSED,
    SERVER_ERROR,
    ChatCompletionsServer,
    Reply,
    chat_completions_server,
    completion,
    error,
    no_choices,
)
from tests.cli import Cli
from tests.clock import FakeClock
from tests.conftest import REDIS_URL, World, make_world
from tests.dashboard import SECRET, ClientFactory, email_of, sign_in
from tests.helpers import assert_error_shape
from tests.sdk import build_client
from zyntro.api.app import create_app
from zyntro.client import (
    AsyncZyntroClient,
    DraftingNotConfigured,
    DraftingUnavailable,
    SegmentDraft,
)
from zyntro.ratelimit import Quota, RateLimits
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings

MODEL = "gpt-4o-mini"
API_KEY = "sk-test-drafting-0123456789"
DESCRIPTION = "Parents buying school shoes online in late August, on a tight budget"
DRAFT_A = {
    "segment_label": "Back-to-School Budget Parents",
    "segment_type": "behavioral",
    "segment_tag": "back_to_school",
    "segment_decision_drivers": "Price, Durability, Fast Delivery",
    "segment_pain_points": ["tight_budget", "fast_growing_feet", "last_minute_shopping"],
    "segment_use_cases": ["august_promotions", "bundle_offers", "reminder_emails"],
    "segment_tone": "warm_practical",
    "reasoning": "Parents shop in a short window before term starts and compare prices.",
}
DRAFT_B = {
    **DRAFT_A,
    "segment_label": "Deal-Hunting Grandparents",
    "segment_type": "demographic",
    "segment_tag": "gift_buyers",
}


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "zyntro.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def provider() -> Iterator[ChatCompletionsServer]:
    with chat_completions_server() as server:
        yield server


def drafting_settings(database_url: str, base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "log_level": "WARNING",
        "llm_base_url": base_url,
        "llm_model": MODEL,
        "llm_api_key": API_KEY,
        "llm_timeout_seconds": 1.0,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def world(service: Service) -> World:
    world = make_world(service, segments=2)
    service.set_brand_profile(
        SYSTEM,
        world.brand_id,
        {
            "offering": "Durable children's shoes",
            "audience": "Families in the UK",
            "voice": "Warm, plain-spoken",
        },
    )
    return world


@pytest.fixture
def api(
    service: Service, database_url: str, provider: ChatCompletionsServer
) -> Iterator[TestClient]:
    app = create_app(drafting_settings(database_url, provider.base_url), service)
    with TestClient(app) as client:
        yield client


def draft(
    client: TestClient, world: World, key: str | None = None, **body: Any
) -> Any:  # an httpx response
    return client.post(
        f"/api/v1/brands/{body.pop('brand_id', world.brand_id)}/segments/draft",
        json={"description": DESCRIPTION, "count": 2, **body},
        headers={"Authorization": f"Bearer {key or world.owner_key}"},
    )


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = assert_error_shape(response)
    assert body["code"] == code, body
    return body


def test_json_schema_request_and_drafts_for_review(
    api: TestClient, world: World, service: Service, provider: ChatCompletionsServer
) -> None:
    provider.script(provider.json_reply({"segments": [DRAFT_A, DRAFT_B]}))
    response = draft(api, world)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success", "data": [DRAFT_A, DRAFT_B]}

    [sent] = provider.received
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.body["model"] == MODEL
    assert sent.body["stream"] is False
    assert set(sent.body) == {"model", "messages", "stream", "response_format"}  # nothing else
    assert sent.headers["content-type"] == "application/json"
    schema = sent.body["response_format"]
    assert schema["type"] == "json_schema"
    assert schema["json_schema"]["strict"] is True
    items = schema["json_schema"]["schema"]["properties"]["segments"]["items"]
    assert set(items["required"]) == set(DRAFT_A)
    roles = [message["role"] for message in sent.body["messages"]]
    assert roles == ["system", "user", "user"]
    told = "\n".join(message["content"] for message in sent.body["messages"])
    for fact in ("Brand", "Durable children's shoes", "Families in the UK", "Warm, plain-spoken"):
        assert fact in told
    assert '"label": "Segment 0"' in told and '"label": "Segment 1"' in told  # existing ones
    assert json.dumps(DESCRIPTION) in told
    assert "Draft 2 audience segments" in told
    # A draft is a proposal: nothing was written.
    assert len(service.list_segments(SYSTEM, world.brand_id)) == 2
    # Saved by the usual create call, as it came.
    created = api.post(
        f"/api/v1/brands/{world.brand_id}/segments",
        json=response.json()["data"][0],
        headers={"Authorization": f"Bearer {world.owner_key}"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["segment_label"] == DRAFT_A["segment_label"]


def test_a_tool_less_model_answering_json_in_prose(
    service: Service, database_url: str, provider: ChatCompletionsServer, world: World
) -> None:
    """`ZYNTRO_LLM_STRUCTURED_OUTPUT=none`: no response_format, and the answer (Ollama's
    shape, JSON fenced in a sentence, fields left out, a type in words) still parses."""
    content = (
        "Sure! Here are the segments:\n```json\n"
        + json.dumps(
            {"segments": [{"segment_label": "Night Owls", "segment_type": "Late Night Shoppers"}]}
        )
        + "\n```"
    )
    provider.script(Reply(200, completion(content, model="llama3.2", ollama=True)))
    settings = drafting_settings(
        database_url, provider.base_url, llm_structured_output="none", llm_api_key=None
    )
    with TestClient(create_app(settings, service)) as client:
        response = draft(client, world, count=1)
    assert response.status_code == 200, response.text
    [only] = response.json()["data"]
    assert only["segment_label"] == "Night Owls"
    assert only["segment_type"] == "late_night_shoppers"
    assert only["segment_pain_points"] == [] and only["reasoning"] == ""
    [sent] = provider.received
    assert "response_format" not in sent.body
    assert sent.headers["authorization"] == "Bearer unset"  # never OPENAI_API_KEY


def test_a_reasoning_models_thinking_is_not_taken_for_the_answer(
    api: TestClient, world: World, provider: ChatCompletionsServer
) -> None:
    """DeepSeek-R1 or Qwen3 through Ollama's OpenAI endpoint: `<think>…</think>` (braces and
    a first try at the JSON in it) before the answer, in `content`."""
    thinking = (
        '<think>\nThey want {segments}. Maybe {"segment_label": "Parents"}? No, '
        "a budget angle is better.\n</think>\n\n"
    )
    content = thinking + "```json\n" + json.dumps({"segments": [DRAFT_A]}) + "\n```"
    provider.script(Reply(200, completion(content, model="deepseek-r1:8b", ollama=True)))
    response = draft(api, world, count=1)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == [DRAFT_A]
    assert len(provider.received) == 1  # no repair needed


def test_lists_as_text_and_drivers_as_a_list_are_read_as_meant(
    api: TestClient, world: World, provider: ChatCompletionsServer
) -> None:
    """A model without the schema writing the drivers as an array and a list as one text:
    taken as meant, without a repair round."""
    loose = {
        **DRAFT_A,
        "segment_decision_drivers": ["Price", " Durability", "Fast Delivery"],
        "segment_pain_points": "tight_budget, fast_growing_feet;last_minute_shopping",
        "segment_use_cases": "august_promotions\nbundle_offers\nreminder_emails\n",
    }
    provider.script(provider.json_reply({"segments": [loose]}, model="llama3.2", ollama=True))
    response = draft(api, world, count=1)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == [DRAFT_A]
    assert len(provider.received) == 1


def test_an_endpoint_that_refuses_json_schema_is_asked_without_it(
    api: TestClient, world: World, provider: ChatCompletionsServer
) -> None:
    provider.script(
        SCHEMA_REFUSED,
        provider.json_reply({"segments": [DRAFT_A]}),
        provider.json_reply([DRAFT_B]),  # a bare array is taken too
    )
    first = draft(api, world)
    assert first.status_code == 200, first.text
    assert first.json()["data"] == [DRAFT_A]
    second = draft(api, world)
    assert second.json()["data"] == [DRAFT_B]
    with_schema = ["response_format" in sent.body for sent in provider.received]
    assert with_schema == [True, False, False]  # remembered after the refusal


def test_another_bad_request_does_not_turn_the_schema_off(
    api: TestClient, world: World, provider: ChatCompletionsServer
) -> None:
    too_long = error(
        400,
        "This model's maximum context length is 8192 tokens. However, your messages resulted "
        "in 9120 tokens.",
        "invalid_request_error",
        "context_length_exceeded",
    )
    provider.script(Reply(400, too_long), provider.json_reply({"segments": [DRAFT_A]}))
    assert_error(draft(api, world), 502, "drafting_failed")
    assert draft(api, world).status_code == 200
    assert ["response_format" in sent.body for sent in provider.received] == [True, True]


def test_malformed_json_is_repaired_once(
    api: TestClient, world: World, provider: ChatCompletionsServer
) -> None:
    broken = json.dumps({"segments": [DRAFT_A]})[:-9]  # cut off mid-answer
    provider.script(
        Reply(200, completion(broken, finish_reason="length")),
        provider.json_reply({"segments": [DRAFT_A]}),
    )
    response = draft(api, world)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == [DRAFT_A]
    first, repair = provider.received
    assert repair.body["messages"][: len(first.body["messages"])] == first.body["messages"]
    assistant, ask = repair.body["messages"][-2:]
    assert assistant == {"role": "assistant", "content": broken}
    assert ask["role"] == "user" and "not valid JSON" in ask["content"]


def test_output_breaking_the_field_rules_is_sent_back_then_refused(
    api: TestClient, world: World, service: Service, provider: ChatCompletionsServer
) -> None:
    bad = {**DRAFT_A, "segment_label": "", "segment_pain_points": ["x" * 300]}
    provider.script(provider.json_reply({"segments": [bad]}), provider.json_reply([bad]))
    body = assert_error(draft(api, world), 502, "drafting_failed")
    assert "segment_label" in body["message"]
    ask = provider.received[1].body["messages"][-1]["content"]
    assert "segments[0].segment_label: must be 1-200 characters long" in ask
    assert "segments[0].segment_pain_points" in ask
    assert len(provider.received) == 2  # one repair, no more
    assert len(service.list_segments(SYSTEM, world.brand_id)) == 2


def test_empty_choices_are_asked_again_then_refused(
    api: TestClient, world: World, provider: ChatCompletionsServer
) -> None:
    provider.script(Reply(200, no_choices()), Reply(200, no_choices()))
    body = assert_error(draft(api, world), 502, "drafting_failed")
    assert "empty" in body["message"]


def _rate_limited(headers: dict[str, str]) -> Reply:
    return Reply(429, RATE_LIMITED.body, headers)


def _http_date(days: int) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + timedelta(days=days), usegmt=True)


@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [
        (RATE_LIMITED, "20"),
        (SERVER_ERROR, "10"),
        (OVERLOADED, "10"),
        (Reply(hang=True), "10"),
        (_rate_limited({"retry-after-ms": "4500"}), "5"),  # Azure OpenAI's
        (_rate_limited({"retry-after": _http_date(days=2)}), "3600"),  # a date, capped
        (_rate_limited({"retry-after": _http_date(days=-1)}), "30"),  # past: the default
        (_rate_limited({"retry-after": "soon"}), "30"),
        (Reply(200, completion(json.dumps({"segments": [DRAFT_A]})), trickle=0.3), "10"),
    ],
    ids=[
        "429",
        "500",
        "503-not-json",
        "timeout",
        "429-retry-after-ms",
        "429-http-date",
        "429-past-date",
        "429-unreadable",
        "timeout-slow-body",
    ],
)
def test_provider_failures_are_503_with_retry_after(
    api: TestClient,
    world: World,
    provider: ChatCompletionsServer,
    reply: Reply,
    retry_after: str,
) -> None:
    provider.script(reply)
    response = draft(api, world)
    assert_error(response, 503, "drafting_unavailable")
    assert response.headers["retry-after"] == retry_after
    assert len(provider.received) == 1  # not retried behind the user's back


def test_an_account_out_of_quota_is_told_apart_from_a_busy_provider(
    api: TestClient, world: World, provider: ChatCompletionsServer
) -> None:
    """OpenAI's 429 `insufficient_quota` (no Retry-After): still 503 (a 429 of the provider's),
    but waiting a minute will not help, and the message says who must act."""
    out_of_quota = error(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        "insufficient_quota",
    )
    provider.script(Reply(429, out_of_quota))
    response = draft(api, world)
    body = assert_error(response, 503, "drafting_unavailable")
    assert "run out of quota" in body["message"] and "billing" in body["message"]
    assert response.headers["retry-after"] == "3600"
    assert len(provider.received) == 1


def test_a_content_filter_is_named_and_not_asked_again(
    api: TestClient, world: World, provider: ChatCompletionsServer
) -> None:
    """Azure OpenAI's filter: on the prompt (400 `content_filter`), or on the answer (cut off,
    finish_reason `content_filter`). The words are the cause, not the setup; no repair."""
    on_prompt = error(
        400,
        "The response was filtered due to the prompt triggering Azure OpenAI's content "
        "management policy.",
        "invalid_request_error",
        "content_filter",
    )
    cut = completion('{"segments": [{"segment_label": "', finish_reason="content_filter")
    provider.script(Reply(400, on_prompt), Reply(200, cut))
    for _ in range(2):
        body = assert_error(draft(api, world), 502, "drafting_failed")
        assert "content filter stopped this draft" in body["message"]
        assert "ZYNTRO_LLM" not in body["message"]
    assert len(provider.received) == 2
    assert all("response_format" in sent.body for sent in provider.received)  # schema kept


def test_a_refusal_or_a_refused_request_is_502_with_the_reason(
    api: TestClient, world: World, provider: ChatCompletionsServer
) -> None:
    declined = completion(None)
    declined["choices"][0]["message"]["refusal"] = "I can't help with that request."
    unauthorized = error(
        401, "Incorrect API key provided: sk-test***.", "invalid_request_error", "invalid_api_key"
    )
    provider.script(Reply(200, declined), Reply(401, unauthorized))
    body = assert_error(draft(api, world), 502, "drafting_failed")
    assert "declined to draft: I can't help with that request." in body["message"]
    body = assert_error(draft(api, world), 502, "drafting_failed")
    assert "HTTP 401" in body["message"] and "ZYNTRO_LLM_API_KEY" in body["message"]
    assert "sk-test" not in body["message"]
    assert len(provider.received) == 2  # neither is asked again


def test_a_base_url_without_v1_is_named_in_the_error(
    service: Service, database_url: str, provider: ChatCompletionsServer, world: World
) -> None:
    """The usual mistake (`http://127.0.0.1:11434` for Ollama): the endpoint answers 404,
    and the person is told the administrator should check the base URL."""
    settings = drafting_settings(database_url, provider.base_url.removesuffix("/v1"))
    with TestClient(create_app(settings, service)) as client:
        body = assert_error(draft(client, world), 502, "drafting_failed")
    assert "HTTP 404" in body["message"] and "ZYNTRO_LLM_BASE_URL" in body["message"]
    [sent] = provider.received
    assert sent.path == "/chat/completions"


@pytest.mark.anyio
async def test_quotas_are_shared_through_redis(redis_prefix: str) -> None:
    """Two server processes on one Redis count one member's drafts together."""
    nodes = [RateLimits(redis_url=REDIS_URL, redis_prefix=redis_prefix) for _ in range(2)]
    quotas = [Quota("draft-member", "3/hour", limits) for limits in nodes]
    try:
        verdicts = [(await quotas[n % 2].hit("mem_1"))[0] for n in range(4)]
        assert verdicts == [True, True, True, False]
        assert (await quotas[0].hit("mem_2"))[0]  # another member has its own count
    finally:
        for limits in nodes:
            await limits.aclose()


def test_unconfigured_server_answers_501(client: TestClient, world: World) -> None:
    response = draft(client, world)
    body = assert_error(response, 501, "drafting_not_configured")
    assert "ZYNTRO_LLM_BASE_URL" in body["message"]


def test_requests_refused_before_the_provider_is_asked(
    api: TestClient, world: World, service: Service, provider: ChatCompletionsServer
) -> None:
    assert_error(draft(api, world, count=6), 400, "invalid_request")
    assert_error(draft(api, world, description=""), 400, "invalid_request")
    assert_error(draft(api, world, description="   "), 400, "invalid_parameter")
    assert_error(draft(api, world, key=world.member_key), 403, "forbidden")
    other = make_world(service)
    assert_error(draft(api, world, brand_id=other.brand_id), 404, "brand_not_found")
    assert provider.received == []


def test_drafts_are_rate_limited_per_member_and_per_organization(
    service: Service, database_url: str, provider: ChatCompletionsServer, world: World
) -> None:
    settings = drafting_settings(
        database_url,
        provider.base_url,
        draft_member_rate_limit="2/hour",
        draft_org_rate_limit="3/hour",
    )
    for _ in range(3):
        provider.script(provider.json_reply({"segments": [DRAFT_A]}))
    lead = service.act_as(world.in_charge_id)
    _, lead_key = service.create_key(lead, world.in_charge_id, "lead")
    with TestClient(create_app(settings, service)) as client:
        assert draft(client, world).status_code == 200
        assert draft(client, world).status_code == 200
        over = draft(client, world)
        assert_error(over, 429, "rate_limited")
        assert "You have drafted too often" in over.json()["message"]
        assert 0 < int(over.headers["retry-after"]) <= 3600
        assert draft(client, world, key=lead_key).status_code == 200  # another member
        org_over = draft(client, world, key=lead_key)
        assert_error(org_over, 429, "rate_limited")
        assert "Your organization" in org_over.json()["message"]
    assert len(provider.received) == 3


def test_prompts_and_answers_stay_out_of_the_log_at_info(
    service: Service, database_url: str, provider: ChatCompletionsServer, world: World
) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    provider.script(
        Reply(200, completion("not json at all: " + DRAFT_A["reasoning"])),
        provider.json_reply({"segments": [DRAFT_A]}),
    )
    settings = drafting_settings(database_url, provider.base_url, log_level="INFO")
    with TestClient(create_app(settings, service)) as client:
        logger = logging.getLogger("zyntro")
        logger.addHandler(handler)
        try:
            assert draft(client, world).status_code == 200
        finally:
            logger.removeHandler(handler)
    logged = "\n".join(record.getMessage() for record in records)
    assert records, "the repair is logged, without its content"
    for secret in (DESCRIPTION, DRAFT_A["reasoning"], "Durable children's shoes", "Segment 0"):
        assert secret not in logged


def test_a_big_brand_is_shown_to_the_model_bounded(
    api: TestClient, world: World, service: Service, provider: ChatCompletionsServer
) -> None:
    lead = service.act_as(world.in_charge_id)
    for n in range(60):
        service.add_segment(lead, world.brand_id, {**DRAFT_A, "segment_label": f"Extra {n:02d}"})
    provider.script(provider.json_reply({"segments": [DRAFT_B]}))
    assert draft(api, world).status_code == 200
    told = provider.received[0].body["messages"][1]["content"]
    assert "62 in all; the first 50 shown" in told
    assert told.count('"label": ') == 50


# --- the SDK, the CLI and the dashboard ----------------------------------------------------


@pytest.mark.anyio
async def test_sdk_drafts_then_creates(
    kind: str,
    service: Service,
    database_url: str,
    provider: ChatCompletionsServer,
    world: World,
) -> None:
    app = create_app(drafting_settings(database_url, provider.base_url), service)
    client = build_client(
        kind, FakeClock(), app, api_key=world.owner_key, org_id=world.org_id, max_retries=0
    )
    provider.script(provider.json_reply({"segments": [DRAFT_A, DRAFT_B]}), RATE_LIMITED)

    async def call(name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(client, name)
        if isinstance(client, AsyncZyntroClient):
            return await method(*args, **kwargs)
        return await anyio.to_thread.run_sync(lambda: method(*args, **kwargs))

    try:
        drafts = await call("draft_segments", world.brand_id, DESCRIPTION, count=2)
        assert [d.segment_label for d in drafts] == [
            DRAFT_A["segment_label"],
            DRAFT_B["segment_label"],
        ]
        assert all(isinstance(d, SegmentDraft) for d in drafts)
        assert drafts[0].to_create() == DRAFT_A
        created = await call("create_segment", world.brand_id, drafts[1].to_create())
        assert created.segment_label == DRAFT_B["segment_label"]
        with pytest.raises(DraftingUnavailable) as unavailable:
            await call("draft_segments", world.brand_id, DESCRIPTION)
        assert unavailable.value.retry_after == 20
    finally:
        if isinstance(client, AsyncZyntroClient):
            await client.aclose()
        else:
            await anyio.to_thread.run_sync(client.close)
    assert provider.received[0].body["messages"][-1]["content"].startswith("Draft 2 audience")


@pytest.mark.anyio
async def test_sdk_raises_not_configured(
    settings: Settings, service: Service, world: World
) -> None:
    sdk = build_client(
        "async",
        FakeClock(),
        create_app(settings, service),
        api_key=world.owner_key,
        org_id=world.org_id,
    )
    assert isinstance(sdk, AsyncZyntroClient)
    try:
        with pytest.raises(DraftingNotConfigured) as refused:
            await sdk.draft_segments(world.brand_id, DESCRIPTION)
    finally:
        await sdk.aclose()
    assert refused.value.status_code == 501


def test_cli_prints_drafts_and_saves_nothing(
    database_url: str,
    service: Service,
    provider: ChatCompletionsServer,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli = Cli(database_url)
    assert "ZYNTRO_LLM_BASE_URL" in cli.fails("segment", "draft", "--brand", world.brand_id, "x")
    monkeypatch.setenv("ZYNTRO_LLM_BASE_URL", provider.base_url)
    monkeypatch.setenv("ZYNTRO_LLM_MODEL", "llama3.2")
    provider.script(provider.json_reply({"segments": [DRAFT_A, DRAFT_B]}))
    drafts = cli.json("segment", "draft", "--brand", world.brand_id, "--count", "2", DESCRIPTION)
    assert drafts == [DRAFT_A, DRAFT_B]
    provider.script(provider.json_reply({"segments": [DRAFT_A]}))
    text = cli.ok("segment", "draft", "--brand", world.brand_id, "--count", "1", DESCRIPTION)
    assert f"Draft 1: {DRAFT_A['segment_label']} (behavioral)" in text
    assert "pain points: tight_budget, fast_growing_feet" in text
    assert "Nothing was saved" in text
    assert len(service.list_segments(SYSTEM, world.brand_id)) == 2
    # The --json output is a file `segment import` takes.
    saved = Path(database_url.removeprefix("sqlite:///")).with_name("drafts.json")
    saved.write_text(json.dumps(drafts))
    cli.ok("segment", "import", "--brand", world.brand_id, "--member", world.owner_id, str(saved))
    assert len(service.list_segments(SYSTEM, world.brand_id)) == 4
    provider.script(RATE_LIMITED)
    assert "busy" in cli.fails("segment", "draft", "--brand", world.brand_id, DESCRIPTION)


def test_dashboard_hides_drafting_without_a_provider(
    clients: ClientFactory, people: World, service: Service
) -> None:
    browser = clients()
    token = sign_in(browser, email_of(service, people.in_charge_id))
    page = browser.get(f"/app/brands/{people.brand_id}/segments/new")
    assert page.status_code == 200 and "Draft with AI" not in page.text
    profile = browser.get(f"/app/brands/{people.brand_id}/profile")
    assert profile.status_code == 200 and "Drafting with AI" not in profile.text  # unnamed
    refused = browser.post(
        f"/app/brands/{people.brand_id}/drafts",
        data={"description": DESCRIPTION, "csrf_token": token},
    )
    assert refused.status_code == 501 and "not set up" in refused.text


def test_dashboard_draft_failures_keep_the_description(
    service: Service,
    database_url: str,
    provider: ChatCompletionsServer,
    people: World,
) -> None:
    settings = drafting_settings(database_url, provider.base_url, secret_key=SECRET)
    with TestClient(create_app(settings, service)) as browser:
        token = sign_in(browser, email_of(service, people.in_charge_id))
        page = browser.get(f"/app/brands/{people.brand_id}/segments/new")
        assert 'id="draft-panel"' in page.text
        profile = browser.get(f"/app/brands/{people.brand_id}/profile")
        assert "Drafting with AI reads it" in profile.text
        provider.script(RATE_LIMITED)
        busy = browser.post(
            f"/app/brands/{people.brand_id}/drafts",
            data={"description": DESCRIPTION, "count": "2", "csrf_token": token},
        )
        assert busy.status_code == 503
        assert "busy with too many requests" in busy.text and DESCRIPTION in busy.text
        provider.script(provider.json_reply({"segments": [DRAFT_A]}))
        shown = browser.post(
            f"/app/brands/{people.brand_id}/drafts",
            data={"description": DESCRIPTION, "count": "1", "csrf_token": token},
        )
        assert shown.status_code == 200 and DRAFT_A["segment_label"] in shown.text
    assert len(service.list_segments(SYSTEM, people.brand_id)) == 2  # nothing saved
