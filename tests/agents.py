"""The official MCP client (the `mcp` package's ClientSession) against `zyntro mcp` over stdio
and against a live server's `/mcp` over streamable HTTP."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent, TextResourceContents

from tests.live import ZYNTRO

TOOLS = {"list_brands", "list_segments", "get_segment", "search_segments", "segment_context"}


def stdio_parameters(database_url: str, env: dict[str, str]) -> StdioServerParameters:
    """`zyntro mcp` as an agent's configuration starts it (nothing of the test's ZYNTRO_*)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
    return StdioServerParameters(
        command=ZYNTRO,
        args=["--database-url", database_url, "mcp"],
        env={**base, "ZYNTRO_LOG_LEVEL": "INFO", **env},
    )


@asynccontextmanager
async def stdio_session(
    database_url: str, api_key: str, errlog: Path, env: dict[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    """An initialized session with `zyntro mcp`; its standard error goes to `errlog`."""
    parameters = stdio_parameters(database_url, {"ZYNTRO_API_KEY": api_key, **(env or {})})
    with errlog.open("a") as stderr:
        async with (
            stdio_client(parameters, errlog=stderr) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


@asynccontextmanager
async def http_session(base_url: str, api_key: str) -> AsyncIterator[ClientSession]:
    """An initialized session with the server's /mcp, the key as `Authorization: Bearer`."""
    headers = {"Authorization": f"Bearer {api_key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{base_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text


async def read_text(session: ClientSession, uri: str) -> str:
    result = await session.read_resource(uri)
    content = result.contents[0]
    assert isinstance(content, TextResourceContents)
    return content.text


async def call(session: ClientSession, tool: str, **arguments: Any) -> CallToolResult:
    return await session.call_tool(tool, arguments)
