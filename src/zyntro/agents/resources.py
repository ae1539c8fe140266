"""The MCP server's resources (brands and segments by URI) and its prompt."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts.base import UserMessage
from pydantic import Field

from zyntro.agents.server import Reads, plain_doc


def add_resources(server: MCPServer[Any], reads: Reads) -> None:
    """`zyntro://brands`, and the templates for a brand, a segment and its prompt context."""

    @server.resource(
        "zyntro://brands",
        name="brands",
        title="Brands",
        description="The brands of your organization, with their segment counts.",
        mime_type="application/json",
    )
    async def brands_resource() -> str:
        return (await reads.run(reads.brands, kind="resource")).model_dump_json()

    @server.resource(
        "zyntro://brands/{brand_id}",
        name="brand",
        title="A brand and its segments",
        description="One brand with its first audience segments (list_segments' first page; "
        "next_cursor leads to the rest).",
        mime_type="application/json",
    )
    async def brand_resource(brand_id: str) -> str:
        found = await reads.run(lambda a: reads.brand_segments(a, brand_id), kind="resource")
        return found.model_dump_json()

    @server.resource(
        "zyntro://segments/{segment_id}",
        name="segment",
        title="An audience segment",
        description="One audience segment, every field.",
        mime_type="application/json",
    )
    async def segment_resource(segment_id: str) -> str:
        found = await reads.run(lambda a: reads.segment(a, segment_id), kind="resource")
        return found.model_dump_json()

    @server.resource(
        "zyntro://segments/{segment_id}/context",
        name="segment-context",
        title="An audience segment as prompt context",
        description="The segment as a text block to paste into a generation prompt.",
        mime_type="text/plain",
    )
    async def segment_context_resource(segment_id: str) -> str:
        return await reads.run(lambda a: reads.context(a, segment_id), kind="resource")


def add_prompts(server: MCPServer[Any], reads: Reads) -> None:
    """`write_for_audience`: a brief and a segment's context in one message (a slash command
    in the agents that offer MCP prompts)."""

    @server.prompt(title="Write for an audience")
    @plain_doc
    async def write_for_audience(
        segment_id: Annotated[str, Field(description="The audience: a segment_id.")],
        brief: Annotated[str, Field(description="What to write, e.g. a three-line welcome email.")],
    ) -> list[UserMessage]:
        """Write something (an email, an ad, a landing page) for one audience segment: your
        brief and the segment's context in one message."""
        context = await reads.run(lambda a: reads.context(a, segment_id), kind="prompt")
        return [
            UserMessage(
                f"{brief.strip()}\n\nWrite it for this audience, in its tone, and speak to its "
                f"pain points and decision drivers where they fit:\n\n{context}"
            )
        ]
