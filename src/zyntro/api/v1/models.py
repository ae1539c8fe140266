"""Request and response models of the management API (the OpenAPI document shows them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from zyntro.api.schemas import AudienceSegment, ErrorBody
from zyntro.domain import Brand, format_timestamp


class BrandPublic(BaseModel):
    brand_id: str
    org_id: str
    name: str
    created_at: str = Field(description="YYYY-MM-DD HH:MM:SS, UTC")

    @classmethod
    def of(cls, brand: Brand) -> dict[str, Any]:
        return {
            "brand_id": brand.id,
            "org_id": brand.org_id,
            "name": brand.name,
            "created_at": format_timestamp(brand.created_at),
        }


class BrandList(BaseModel):
    status: Literal["success"]
    data: list[BrandPublic]


class BrandOne(BaseModel):
    status: Literal["success"]
    data: BrandPublic


class SegmentPage(BaseModel):
    """One page of segments, in the order of fetchAudiences (created_at, then segment_id)."""

    status: Literal["success"]
    data: list[AudienceSegment]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class SegmentOne(BaseModel):
    status: Literal["success"]
    data: AudienceSegment


class SegmentCreate(BaseModel):
    """A new segment: label and type are required; the rest default to empty."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "segment_label": "Weekend Bargain Hunters",
                "segment_type": "behavioral",
                "segment_tag": "deal_seekers",
                "segment_decision_drivers": "Price, Promotions",
                "segment_pain_points": ["price_sensitivity", "limited_time"],
                "segment_use_cases": ["flash_sales", "reactivation"],
                "segment_tone": "upbeat_casual",
                "reasoning": "Orders spike on weekends when discounts run.",
            }
        },
    )

    segment_label: str = Field(description="1-200 characters")
    segment_type: str = Field(description="lowercase snake_case, 1-40 characters")
    segment_tag: str = ""
    segment_decision_drivers: str = Field("", description="comma-separated text")
    segment_pain_points: list[str] = Field(default_factory=list, description="≤ 50 items")
    segment_use_cases: list[str] = Field(default_factory=list, description="≤ 50 items")
    segment_tone: str = ""
    reasoning: str = Field("", description="≤ 4000 characters")


class SegmentUpdate(BaseModel):
    """The fields to change; those left out keep their values (null clears an optional one)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"segment_tone": "warm_direct"}}
    )

    segment_label: str | None = None
    segment_type: str | None = None
    segment_tag: str | None = None
    segment_decision_drivers: str | None = None
    segment_pain_points: list[str] | None = None
    segment_use_cases: list[str] | None = None
    segment_tone: str | None = None
    reasoning: str | None = None


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("`invalid_request` (malformed) or `invalid_parameter` (a value breaks a rule)."),
    401: _error("`invalid_api_key`: missing, unknown, revoked or expired key."),
    404: _error("`brand_not_found` or `not_found`."),
    429: _error("`rate_limited`: the key's quota, shared with fetchAudiences, is used up."),
    503: _error("`service_unavailable`: the database cannot be reached."),
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    403: _error("`forbidden`: only an owner or a member in-charge may change segments."),
    409: _error("`conflict`: the Idempotency-Key was used with a different request."),
}
