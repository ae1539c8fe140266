"""The MCP server's write tools, off unless asked for (`ZYNTRO_MCP_WRITES`, `--allow-writes`).

They call the same service methods as `/api/v1`: the fields are checked by the domain's rules,
roles by the service (only an owner or a member in-charge writes), and each write is one
transaction with its change and audit rows. There is no delete tool.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from zyntro.agents.models import AgentSegment
from zyntro.agents.server import BrandId, Reads, SegmentId, agent_segment, plain_doc
from zyntro.domain import MAX_ITEM_LENGTH, MAX_LIST_ITEMS, TYPE_MAX_LENGTH
from zyntro.errors import ValidationFailed
from zyntro.identity import Actor

WRITE_SCOPE = "segments:write"
_CREATES = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
_UPDATES = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
_LIST = f"At most {MAX_LIST_ITEMS} items of 1-{MAX_ITEM_LENGTH} characters, e.g. "

Label = Annotated[str, Field(description="A short name for the audience, 1-200 characters.")]
Type = Annotated[
    str,
    Field(
        description=f"Lowercase snake_case, 1-{TYPE_MAX_LENGTH} characters: demographic, "
        "behavioral, psychographic, geographic, firmographic, technographic, transactional, "
        "lifecycle, …"
    ),
]
Tag = Annotated[str, Field(description="A snake_case tag, e.g. high_value_prospects.")]
Drivers = Annotated[str, Field(description='Comma-separated, e.g. "Quality, Price, Support".')]
PainPoints = Annotated[list[str], Field(description=_LIST + '["budget_limitations"].')]
UseCases = Annotated[list[str], Field(description=_LIST + '["lead_generation"].')]
Tone = Annotated[str, Field(description="The tone to write in, e.g. professional_friendly.")]
Reasoning = Annotated[str, Field(description="Why this audience matters, at most 4000 characters.")]


def add_write_tools(server: MCPServer[Any], reads: Reads) -> None:
    """`create_segment` and `update_segment` on `server`."""
    service = reads.service

    @server.tool(title="Create a segment", annotations=_CREATES)
    @plain_doc
    async def create_segment(
        brand_id: BrandId,
        segment_label: Label,
        segment_type: Type,
        segment_tag: Tag = "",
        segment_decision_drivers: Drivers = "",
        segment_pain_points: PainPoints | None = None,
        segment_use_cases: UseCases | None = None,
        segment_tone: Tone = "",
        reasoning: Reasoning = "",
    ) -> AgentSegment:
        """Create an audience segment in a brand, recorded as created by your key's member
        (an owner or a member in-charge). Check list_segments first: do not repeat one."""
        values = {
            "segment_label": segment_label,
            "segment_type": segment_type,
            "segment_tag": segment_tag,
            "segment_decision_drivers": segment_decision_drivers,
            "segment_pain_points": segment_pain_points or [],
            "segment_use_cases": segment_use_cases or [],
            "segment_tone": segment_tone,
            "reasoning": reasoning,
        }

        def create(actor: Actor) -> AgentSegment:
            return agent_segment(service.add_segment(actor, brand_id, values))

        return await reads.run(create, scope=WRITE_SCOPE)

    @server.tool(title="Update a segment", annotations=_UPDATES)
    @plain_doc
    async def update_segment(
        segment_id: SegmentId,
        segment_label: Label | None = None,
        segment_type: Type | None = None,
        segment_tag: Tag | None = None,
        segment_decision_drivers: Drivers | None = None,
        segment_pain_points: PainPoints | None = None,
        segment_use_cases: UseCases | None = None,
        segment_tone: Tone | None = None,
        reasoning: Reasoning | None = None,
    ) -> AgentSegment:
        """Change some fields of an audience segment (an owner or a member in-charge); the
        fields left out keep their values. Lists are replaced whole."""
        given = {
            "segment_label": segment_label,
            "segment_type": segment_type,
            "segment_tag": segment_tag,
            "segment_decision_drivers": segment_decision_drivers,
            "segment_pain_points": segment_pain_points,
            "segment_use_cases": segment_use_cases,
            "segment_tone": segment_tone,
            "reasoning": reasoning,
        }
        values = {name: value for name, value in given.items() if value is not None}

        def update(actor: Actor) -> AgentSegment:
            if not values:
                raise ValidationFailed("fields", "must name at least one field to change")
            return agent_segment(service.update_segment(actor, segment_id, values))

        return await reads.run(update, scope=WRITE_SCOPE)
