"""The AI docs cannot drift from the code: docs/ai.md's example of what drafting sends and of
the prompt-ready rendering are what the code produces, and the README's two MCP client
configurations work as written, with the official MCP client (the snippet's values swapped
for this machine's: the command's path, a key, the database, the server's address)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.agents import TOOLS, text_of
from tests.conftest import make_world
from tests.live import ZYNTRO, live_server
from zyntro.agents.prompt import segment_context
from zyntro.domain import Brand, BrandProfile, Segment
from zyntro.drafting import prompt
from zyntro.service import DraftingContext, Service
from zyntro.store import Store, migrate

ROOT = Path(__file__).resolve().parent.parent
AI_MD = (ROOT / "docs" / "ai.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _text_block(starting: str) -> str:
    """The ```text block of docs/ai.md that starts with `starting`, without its last newline."""
    blocks = re.findall(r"```text\n(.*?)```", AI_MD, re.DOTALL)
    [block] = [b for b in blocks if b.startswith(starting)]
    return str(block).rstrip("\n")


def _segment(segment_id: str, label: str, **fields: Any) -> Segment:
    values: dict[str, Any] = {
        "segment_tag": "",
        "segment_type": "",
        "segment_decision_drivers": "",
        "segment_pain_points": (),
        "segment_use_cases": (),
        "segment_tone": "",
        "reasoning": "",
        **fields,
    }
    return Segment(segment_id, "brand_1", WHEN, WHEN, "mem_1", label, **values)


def test_the_prompt_ready_example_is_what_segment_context_renders() -> None:
    shown = _text_block("<audience_segment")
    opening = re.match(r'<audience_segment id="([^"]+)" brand="([^"]+)">', shown)
    assert opening is not None
    fields = dict(line.split(": ", 1) for line in shown.splitlines()[1:-1])
    segment = _segment(
        opening.group(1),
        fields["Audience"],
        segment_type=fields["Type"],
        segment_tag=fields["Tag"],
        segment_tone=fields["Tone"],
        segment_decision_drivers=fields["Decision drivers"],
        segment_pain_points=tuple(fields["Pain points"].split("; ")),
        segment_use_cases=tuple(fields["Use cases"].split("; ")),
        reasoning=fields["Why this audience"],
    )
    assert segment_context(segment, opening.group(2)) == shown


def test_the_example_of_what_is_sent_is_what_drafting_sends() -> None:
    shown = _text_block("The brand:")
    brand = Brand(
        "brand_1",
        "org_1",
        "Acme Trail Shoes",
        WHEN,
        BrandProfile(
            offering="Trail running shoes and apparel",
            audience="Amateur and competitive trail runners in Europe",
            voice="Encouraging, expert, a little playful",
        ),
    )
    hikers = _segment(
        "seg_1",
        "Weekend Hikers",
        segment_type="behavioral",
        segment_tag="weekend_trail",
        segment_pain_points=("rain", "blisters"),
        reasoning="Not sent: only label, type, tag and pain points are.",
    )
    messages = prompt.messages(
        DraftingContext(brand, [hikers], 1), "Runners training for their first ultra marathon", 3
    )
    assert [m["role"] for m in messages] == ["system", "user", "user"]
    assert f"{messages[1]['content']}\n\n{messages[2]['content']}" == shown


# --- the README's MCP client configurations, as written ---------------------------------------


def _readme_configs() -> list[dict[str, Any]]:
    section = README.split("## AI agents (MCP)", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```json\n(.*?)```", section, re.DOTALL)
    return [json.loads(block)["mcpServers"]["zyntro"] for block in blocks]


@pytest.fixture
def readme_world(tmp_path: Path) -> tuple[str, str, str]:
    """A database with one organization: its URL, an API key, and a brand's id."""
    url = f"sqlite:///{tmp_path / 'zyntro.db'}"
    store = Store(url)
    migrate.upgrade(store.engine)
    service = Service(store)
    try:
        world = make_world(service)
    finally:
        service.close()
    return url, world.member_key, world.brand_id


async def _agent_uses(session: ClientSession, brand_id: str) -> None:
    await session.initialize()
    assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS
    listed = await session.call_tool("list_segments", {"brand_id": brand_id})
    assert not listed.is_error and listed.structured_content is not None
    first = listed.structured_content["segments"][0]["segment_id"]
    context = await session.call_tool("segment_context", {"segment_id": first})
    assert text_of(context).startswith(f'<audience_segment id="{first}" brand="Brand">')


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_readme_stdio_configuration_works_as_written(
    readme_world: tuple[str, str, str], tmp_path: Path
) -> None:
    stdio, _http = _readme_configs()
    database_url, key, brand_id = readme_world
    # The command is where docs/deploy.md installs zyntro (the systemd unit runs it there).
    unit = (ROOT / "deploy" / "systemd" / "zyntro.service").read_text(encoding="utf-8")
    [installed] = re.findall(r"^ExecStart=(\S+) serve$", unit, re.MULTILINE)
    assert stdio["command"] == installed and stdio["args"] == ["mcp"]
    assert set(stdio["env"]) == {"ZYNTRO_API_KEY", "ZYNTRO_DATABASE_URL"}
    # What an agent does with it: this command, these args, only this env (the SDK adds the
    # few variables every process inherits, PATH and HOME among them, as agents do).
    parameters = StdioServerParameters(
        command=ZYNTRO,
        args=stdio["args"],
        env={"ZYNTRO_API_KEY": key, "ZYNTRO_DATABASE_URL": database_url},
    )
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with (
            stdio_client(parameters, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await _agent_uses(session, brand_id)


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_readme_http_configuration_works_as_written(
    readme_world: tuple[str, str, str],
) -> None:
    _stdio, http = _readme_configs()
    database_url, key, brand_id = readme_world
    assert http["type"] == "http" and http["url"].endswith("/mcp")
    headers = {
        name: value.replace("zk_…", key) for name, value in http["headers"].items()
    }  # Bearer zk_…
    assert headers == {"Authorization": f"Bearer {key}"}
    with live_server(database_url) as base_url:
        url = http["url"].replace("https://audiences.example.com", base_url)
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as client,
            streamable_http_client(url, http_client=client) as (read, write),
            ClientSession(read, write) as session,
        ):
            await _agent_uses(session, brand_id)
