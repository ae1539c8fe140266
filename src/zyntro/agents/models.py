"""What the MCP tools answer: their output schemas, which agents read to use the results."""

from __future__ import annotations

from pydantic import BaseModel, Field

from zyntro.api.schemas import AudienceSegment


class BrandSummary(BaseModel):
    brand_id: str
    name: str
    segment_count: int = Field(description="How many audience segments the brand has.")


class BrandList(BaseModel):
    brands: list[BrandSummary]


class AgentSegment(AudienceSegment):
    """An audience segment: the fields of the fetchAudiences API, and its brand."""

    brand_id: str = Field(description="The brand this segment belongs to.")


class BrandSegments(BaseModel):
    brand_id: str
    name: str = Field(description="The brand's name.")
    segments: list[AgentSegment] = Field(description="Oldest first; empty when it has none.")
    next_cursor: str | None = Field(
        description="More segments follow: pass this as `cursor` (same brand_id) for the next "
        "page. Null on the last page."
    )


class SearchResult(BaseModel):
    segments: list[AgentSegment]
    more: bool = Field(
        description="True when more segments matched than `limit`: narrow the search "
        "(query, segment_type, segment_tag, brand_id) or raise the limit."
    )
