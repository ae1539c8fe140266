"""What the MCP tools read, without a transport: the search (SQLite and PostgreSQL), the
prompt-ready rendering, and /mcp over the in-process ASGI app."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import SEED_SEGMENT, World, make_world
from zyntro.agents.prompt import segment_context
from zyntro.api.app import create_app
from zyntro.errors import BrandNotFound, NotFound, ValidationFailed
from zyntro.service import SYSTEM, Service
from zyntro.service.keys import KeyLimits
from zyntro.settings import Settings

# --- search ---------------------------------------------------------------------------------


def test_search_matches_every_word_in_any_field(service: Service, world: World) -> None:
    actor = service.act_as(world.member_id)
    special = service.add_segment(
        service.act_as(world.in_charge_id),
        world.brand_id,
        {
            **SEED_SEGMENT,
            "segment_label": "Weekend Café Regulars",
            "segment_type": "behavioral",
            "segment_tag": "loyal",
            "segment_pain_points": ["Queue at 9am"],
        },
    )

    def labels(**options: object) -> list[str]:
        found, _more = service.search_segments(actor, world.org_id, **options)  # type: ignore[arg-type]
        return [s.segment_label for s in found]

    assert labels(text="café QUEUE weekend") == ["Weekend Café Regulars"]  # any field, any case
    assert labels(text="weekend absent-word") == []
    assert labels(segment_type="behavioral") == ["Weekend Café Regulars"]
    assert labels(segment_tag="loyal", text="regulars") == ["Weekend Café Regulars"]
    assert labels(segment_type="demographic") == ["Segment 0", "Segment 1", "Segment 2"]
    assert labels(brand_id=world.empty_brand_id) == []
    found, more = service.search_segments(actor, world.org_id, text="segment", limit=2)
    assert [s.id for s in found] == world.segment_ids[:2] and more
    assert special.id not in [s.id for s in found]


def test_search_stays_in_the_organization(service: Service, world: World) -> None:
    other = make_world(service, segments=1)
    actor = service.act_as(world.member_id)
    found, _ = service.search_segments(actor, world.org_id, text="segment 0")
    assert [s.brand_id for s in found] == [world.brand_id]
    with pytest.raises(BrandNotFound):
        service.search_segments(actor, world.org_id, brand_id=other.brand_id)
    with pytest.raises(NotFound):
        service.search_segments(actor, other.org_id)
    with pytest.raises(ValidationFailed):
        service.search_segments(actor, world.org_id, limit=0)


def test_search_stays_in_the_keys_brands(service: Service, world: World) -> None:
    """A key narrowed to some brands (issue 13's brand limits) finds nothing of the others,
    as list_brands and list_segments already do not show them."""
    lead = service.act_as(world.in_charge_id)
    hidden = service.add_segment(
        lead, world.empty_brand_id, {**SEED_SEGMENT, "segment_label": "Hidden Hikers"}
    )
    _, secret = service.create_key(
        SYSTEM, world.member_id, "one brand", limits=KeyLimits(brands=[world.brand_id])
    )
    actor = service.principal_for_key(secret).actor
    found, more = service.search_segments(actor, world.org_id, limit=100)
    assert [s.id for s in found] == world.segment_ids and not more
    assert hidden.id not in [s.id for s in found]
    found, _ = service.search_segments(actor, world.org_id, text="hidden hikers")
    assert found == []
    with pytest.raises(BrandNotFound):
        service.search_segments(actor, world.org_id, brand_id=world.empty_brand_id)
    unlimited = service.act_as(world.member_id)
    assert hidden.id in [s.id for s in service.search_segments(unlimited, world.org_id)[0]]


# --- prompt-ready context -------------------------------------------------------------------


def test_segment_context_is_compact_and_stable(service: Service, world: World) -> None:
    segment = service.get_segment(service.act_as(world.member_id), world.segment_ids[0])
    text = segment_context(segment, "Acme  Coffee")
    assert text == (
        f'<audience_segment id="{segment.id}" brand="Acme Coffee">\n'
        "Audience: Segment 0\n"
        "Type: demographic\n"
        "Tag: high_value_prospects\n"
        "Tone: professional_friendly\n"
        "Decision drivers: Quality, Price, Customer Service\n"
        "Pain points: time_constraints; budget_limitations; complex_solutions\n"
        "Use cases: lead_generation; customer_retention; upselling\n"
        "Why this audience: This segment represents our ideal customers.\n"
        "</audience_segment>"
    )
    assert segment_context(segment, "Acme  Coffee") == text  # the same bytes every time

    sparse = replace(
        segment,
        segment_tag="",
        segment_tone="",
        segment_pain_points=(),
        reasoning="Line one.\n\n  </audience_segment> & <b>more</b>",
    )
    lines = segment_context(sparse, 'Say "hi"').splitlines()
    assert lines[0].endswith('brand="Say &quot;hi&quot;">')
    assert not any(line.startswith(("Tag:", "Tone:", "Pain points:")) for line in lines)
    assert lines[-2] == (
        "Why this audience: Line one. &lt;/audience_segment&gt; &amp; &lt;b&gt;more&lt;/b&gt;"
    )
    assert lines[-1] == "</audience_segment>"  # no value ends the block early


# --- /mcp in process ------------------------------------------------------------------------

_ACCEPT = {"Accept": "application/json, text/event-stream"}


def test_mcp_over_asgi(client: TestClient, world: World) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "segment_context", "arguments": {"segment_id": world.segment_ids[2]}},
    }
    answer = client.post(
        "/mcp", json=call, headers={**_ACCEPT, "Authorization": f"Bearer {world.member_key}"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["RateLimit-Policy"].startswith('"default";q=600')
    result = answer.json()["result"]
    assert not result.get("isError")
    assert "Audience: Segment 2" in result["content"][0]["text"]

    refused = client.post("/mcp", json=call, headers=_ACCEPT)
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_api_key"
    assert client.get("/mcp").status_code == 405
    assert "/mcp" in client.get("/openapi.json").json()["paths"]


def _rpc(client: TestClient, key: str, method: str, params: dict[str, object]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = client.post("/mcp", json=body, headers={**_ACCEPT, "Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    return result


def test_mcp_writes_are_off_by_default_and_follow_roles(
    client: TestClient, service: Service, database_url: str, world: World
) -> None:
    names = {tool["name"] for tool in _rpc(client, world.owner_key, "tools/list", {})["tools"]}
    assert "create_segment" not in names
    create = {
        "name": "create_segment",
        "arguments": {
            "brand_id": world.brand_id,
            "segment_label": "Night Owls",
            "segment_type": "behavioral",
        },
    }
    assert _rpc(client, world.owner_key, "tools/call", create)["isError"]

    settings = Settings(database_url=database_url, log_level="WARNING", mcp_writes=True)
    with TestClient(create_app(settings, service)) as writer:
        refused = _rpc(writer, world.member_key, "tools/call", create)
        assert refused["isError"] and "(forbidden)" in refused["content"][0]["text"]
        created = _rpc(writer, world.owner_key, "tools/call", create)
        assert not created.get("isError"), created
    labels = [s.segment_label for s in service.list_segments(SYSTEM, world.brand_id)]
    assert labels == ["Segment 0", "Segment 1", "Segment 2", "Night Owls"]
