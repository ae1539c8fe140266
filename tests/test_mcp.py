"""The MCP server with the official MCP client: `zyntro mcp` spawned over stdio, and `/mcp`
of a live `zyntro serve` over streamable HTTP. The same checks run on both transports: every
tool and resource, tenancy, a bad key, the rate limit, the access log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError
from mcp.types import TextContent

from tests.agents import TOOLS, call, http_session, read_text, stdio_session, text_of
from tests.conftest import World, make_world
from tests.live import live_server, wait_for
from zyntro.service import SYSTEM, Service
from zyntro.store import Store, migrate

pytestmark = [pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Orgs:
    database_url: str
    ours: World
    theirs: World  # another organization in the same database


def _orgs(database_url: str) -> Orgs:
    store = Store(database_url)
    migrate.upgrade(store.engine)
    service = Service(store)
    orgs = Orgs(database_url, make_world(service), make_world(service, segments=1))
    service.close()
    return orgs


@pytest.fixture(scope="module")
def orgs(tmp_path_factory: pytest.TempPathFactory) -> Orgs:
    return _orgs(f"sqlite:///{tmp_path_factory.mktemp('mcp') / 'zyntro.db'}")


# Quota of the live server's keys: enough for the checks, few enough to run out of quickly.
HTTP_QUOTA = 40


@dataclass
class Live:
    url: str
    log: Path


@pytest.fixture(scope="module")
def live(orgs: Orgs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    log = tmp_path_factory.mktemp("mcp-log") / "server.log"
    env = {"ZYNTRO_LOG_LEVEL": "INFO", "ZYNTRO_RATE_LIMIT": f"{HTTP_QUOTA}/minute"}
    with live_server(orgs.database_url, env=env, log=log) as url:
        yield Live(url, log)


async def _exercise(session: ClientSession, orgs: Orgs) -> None:
    """Every tool and resource, as an agent would use them, and another org's data unseen."""
    world, other = orgs.ours, orgs.theirs
    tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():  # usable without the docs: described, typed, read-only
        assert tool.description and len(tool.description) > 40, tool.name
        assert " ".join(tool.description.split()) == tool.description  # no source indentation
        assert tool.annotations is not None and tool.annotations.read_only_hint
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), (tool.name, name)

    brands = (await call(session, "list_brands")).structured_content
    assert brands is not None
    assert {b["brand_id"]: b["segment_count"] for b in brands["brands"]} == {
        world.brand_id: 3,
        world.empty_brand_id: 0,
    }

    listed = (await call(session, "list_segments", brand_id=world.brand_id)).structured_content
    assert listed is not None and listed["name"] == "Brand"
    assert [s["segment_id"] for s in listed["segments"]] == world.segment_ids
    assert listed["next_cursor"] is None
    # A page at a time: a brand of a thousand segments does not flood the agent's context.
    page = await call(session, "list_segments", brand_id=world.brand_id, limit=2)
    assert page.structured_content is not None
    assert [s["segment_id"] for s in page.structured_content["segments"]] == world.segment_ids[:2]
    cursor = page.structured_content["next_cursor"]
    rest = await call(session, "list_segments", brand_id=world.brand_id, limit=2, cursor=cursor)
    assert rest.structured_content is not None
    assert [s["segment_id"] for s in rest.structured_content["segments"]] == world.segment_ids[2:]
    assert rest.structured_content["next_cursor"] is None
    elsewhere = await call(session, "list_segments", brand_id=world.empty_brand_id, cursor=cursor)
    assert elsewhere.is_error and "(invalid_parameter)" in text_of(elsewhere)
    too_many = await call(session, "list_segments", brand_id=world.brand_id, limit=101)
    assert too_many.is_error

    one = (await call(session, "get_segment", segment_id=world.segment_ids[1])).structured_content
    assert one is not None
    assert (one["segment_label"], one["brand_id"]) == ("Segment 1", world.brand_id)

    found = await call(
        session, "search_segments", query="IDEAL segment 2", segment_type="demographic"
    )
    assert found.structured_content is not None
    assert [s["segment_label"] for s in found.structured_content["segments"]] == ["Segment 2"]
    assert found.structured_content["more"] is False
    capped = await call(session, "search_segments", limit=2)
    assert capped.structured_content is not None and capped.structured_content["more"] is True

    context = text_of(await call(session, "segment_context", segment_id=world.segment_ids[0]))
    assert context.startswith(f'<audience_segment id="{world.segment_ids[0]}" brand="Brand">')
    assert "Pain points: time_constraints; budget_limitations; complex_solutions" in context

    # Resources: the brand list, and the templates for a brand, a segment, its context.
    listed_resources = await session.list_resources()
    assert [str(r.uri) for r in listed_resources.resources] == ["zyntro://brands"]
    templates = {
        t.uri_template for t in (await session.list_resource_templates()).resource_templates
    }
    assert templates == {
        "zyntro://brands/{brand_id}",
        "zyntro://segments/{segment_id}",
        "zyntro://segments/{segment_id}/context",
    }
    assert json.loads(await read_text(session, "zyntro://brands")) == brands
    brand = json.loads(await read_text(session, f"zyntro://brands/{world.brand_id}"))
    assert brand == listed
    segment = json.loads(await read_text(session, f"zyntro://segments/{world.segment_ids[1]}"))
    assert segment == one
    uri = f"zyntro://segments/{world.segment_ids[0]}/context"
    assert await read_text(session, uri) == context

    # The prompt: a brief and a segment's context in one message.
    prompts = (await session.list_prompts()).prompts
    assert all(p.description and "\n" not in p.description for p in prompts)
    assert [(p.name, sorted(a.name for a in p.arguments or [])) for p in prompts] == [
        ("write_for_audience", ["brief", "segment_id"])
    ]
    brief = {"segment_id": world.segment_ids[0], "brief": "A welcome email."}
    message = (await session.get_prompt("write_for_audience", brief)).messages[0]
    assert message.role == "user" and isinstance(message.content, TextContent)
    assert message.content.text.startswith("A welcome email.\n\nWrite it for this audience")
    assert message.content.text.endswith(context)

    # Tenancy: the other organization's brand and segment are not found, nor searched.
    missing = await call(session, "list_segments", brand_id=other.brand_id)
    assert missing.is_error and "brand_not_found" in text_of(missing)
    missing = await call(session, "segment_context", segment_id=other.segment_ids[0])
    assert missing.is_error and "not_found" in text_of(missing)
    searched = await call(session, "search_segments", query="segment 0")
    assert searched.structured_content is not None
    assert [s["brand_id"] for s in searched.structured_content["segments"]] == [world.brand_id]
    with pytest.raises(MCPError, match="not_found"):
        await session.read_resource(f"zyntro://brands/{other.brand_id}")
    with pytest.raises(MCPError, match="not_found"):
        await session.get_prompt(
            "write_for_audience", {**brief, "segment_id": other.segment_ids[0]}
        )


def _mcp_lines(log: Path) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("msg") == "mcp"]


def _innermost(error: BaseException) -> BaseException:
    """The one error inside the task groups' exception groups."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


# --- stdio ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stdio_tools_resources_and_tenancy(database_url: str, tmp_path: Path) -> None:
    orgs = _orgs(database_url)  # SQLite and PostgreSQL
    errlog = tmp_path / "stderr.log"
    async with stdio_session(orgs.database_url, orgs.ours.member_key, errlog) as session:
        await _exercise(session, orgs)
    calls = _mcp_lines(errlog)
    assert {line["target"] for line in calls if line["mcp_method"] == "tools/call"} == TOOLS
    assert {line["target"] for line in calls if line["mcp_method"] == "prompts/get"} == {
        "write_for_audience"
    }
    assert all(line["transport"] == "stdio" for line in calls)
    assert {"status": 404, "target": "list_segments"}.items() <= next(
        line for line in calls if line["status"] == 404
    ).items()
    assert orgs.ours.member_key not in errlog.read_text()


@pytest.mark.anyio
async def test_stdio_refuses_a_bad_key(orgs: Orgs, tmp_path: Path) -> None:
    errlog = tmp_path / "stderr.log"
    with pytest.raises(BaseExceptionGroup) as info:
        async with stdio_session(orgs.database_url, "zk_not_a_key", errlog):
            pass
    assert "Connection closed" in str(_innermost(info.value))  # the server exited
    assert "error: The API key is invalid, revoked or expired." in errlog.read_text()


@pytest.mark.anyio
async def test_stdio_stops_at_the_call_after_the_key_is_revoked(orgs: Orgs, tmp_path: Path) -> None:
    service = Service(Store(orgs.database_url))  # the administrator, in another process's place
    try:
        key, secret = service.create_key(SYSTEM, orgs.ours.member_id, "agent")
        async with stdio_session(orgs.database_url, secret, tmp_path / "stderr.log") as session:
            assert not (await call(session, "list_brands")).is_error
            service.revoke_key(SYSTEM, key.id)
            refused = await call(session, "list_brands")
    finally:
        service.close()
    assert refused.is_error and "(invalid_api_key)" in text_of(refused)


@pytest.mark.anyio
async def test_stdio_rate_limit(orgs: Orgs, tmp_path: Path) -> None:
    errlog = tmp_path / "stderr.log"
    env = {"ZYNTRO_RATE_LIMIT": "3/minute"}
    async with stdio_session(orgs.database_url, orgs.ours.owner_key, errlog, env) as session:
        results = [await call(session, "list_brands") for _ in range(4)]
    assert [r.is_error for r in results] == [False, False, False, True]
    assert "Too many requests for this API key; retry in" in text_of(results[3])
    assert "(rate_limited)" in text_of(results[3])
    assert [line["status"] for line in _mcp_lines(errlog)] == [200, 200, 200, 429]


@pytest.mark.anyio
async def test_stdio_writes_when_allowed(tmp_path: Path) -> None:
    orgs = _orgs(f"sqlite:///{tmp_path / 'zyntro.db'}")
    world, env = orgs.ours, {"ZYNTRO_MCP_WRITES": "true"}  # as --allow-writes
    async with stdio_session(orgs.database_url, world.owner_key, tmp_path / "e", env) as session:
        listed = (await session.list_tools()).tools
        assert {tool.name for tool in listed} == TOOLS | {"create_segment", "update_segment"}
        assert all(tool.description and "\n" not in tool.description for tool in listed)
        created = await call(
            session,
            "create_segment",
            brand_id=world.brand_id,
            segment_label="Night Owls",
            segment_type="behavioral",
            segment_pain_points=["sleep"],
        )
        assert created.structured_content is not None, text_of(created)
        segment_id = created.structured_content["segment_id"]
        updated = await call(session, "update_segment", segment_id=segment_id, segment_tone="calm")
        assert updated.structured_content is not None
        assert updated.structured_content["segment_pain_points"] == ["sleep"]  # kept
        bad = await call(
            session,
            "create_segment",
            brand_id=world.brand_id,
            segment_label="X",
            segment_type="Not Snake",
        )
        assert bad.is_error and "invalid_parameter" in text_of(bad)
        theirs = await call(
            session, "update_segment", segment_id=orgs.theirs.segment_ids[0], segment_tone="mine"
        )
        assert theirs.is_error and "not_found" in text_of(theirs)
        context = text_of(await call(session, "segment_context", segment_id=segment_id))
    assert "Audience: Night Owls\nType: behavioral\nTone: calm\nPain points: sleep" in context


# --- streamable HTTP ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_http_tools_resources_and_tenancy(orgs: Orgs, live: Live) -> None:
    async with http_session(live.url, orgs.ours.owner_key) as session:
        await _exercise(session, orgs)

    def http_calls() -> list[dict[str, object]]:
        return [line for line in _mcp_lines(live.log) if line["transport"] == "http"]

    wait_for(lambda: len(http_calls()) >= 14, timeout=5)  # written in batches, every 0.2 s
    calls = http_calls()
    assert {line["target"] for line in calls if line["mcp_method"] == "tools/call"} == TOOLS
    # Each call's line carries the request id of the POST /mcp that carried it.
    requests = [
        json.loads(line) for line in live.log.read_text().splitlines() if '"path":"/mcp"' in line
    ]
    assert {line["request_id"] for line in calls} <= {line["request_id"] for line in requests}


@pytest.mark.anyio
async def test_http_refuses_a_bad_key(orgs: Orgs, live: Live) -> None:
    with pytest.raises(BaseExceptionGroup) as info:
        async with http_session(live.url, "zk_not_a_key"):
            pass
    assert isinstance(_innermost(info.value), MCPError)
    answer = httpx2.post(
        f"{live.url}/mcp",
        headers={"Authorization": "Bearer zk_not_a_key", "Accept": "application/json"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )
    assert answer.status_code == 401
    assert answer.json()["code"] == "invalid_api_key"
    missing = httpx2.post(f"{live.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert missing.status_code == 401


@pytest.mark.anyio
async def test_http_rate_limit_is_the_keys(orgs: Orgs, live: Live) -> None:
    key = orgs.theirs.owner_key  # a key of its own: the quota is per key
    async with http_session(live.url, key) as session:
        with pytest.raises(MCPError, match="error response"):  # the SDK's word for a 429
            for _ in range(HTTP_QUOTA):
                await call(session, "list_brands")
    answer = httpx2.post(
        f"{live.url}/mcp",
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )
    assert answer.status_code == 429
    assert answer.json()["code"] == "rate_limited"
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.headers["RateLimit-Policy"] == f'"default";q={HTTP_QUOTA};w=60'
