"""Request and response models of the management API (the OpenAPI document shows them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from zyntro.api.schemas import AudienceSegment, ErrorBody
from zyntro.domain import (
    MAX_ITEM_LENGTH,
    MAX_LIST_ITEMS,
    PROFILE_MAX_LENGTH,
    TEXT_LIMITS,
    TYPE_MAX_LENGTH,
    Brand,
    format_timestamp,
)

_PROFILE_TEXT = f"at most {PROFILE_MAX_LENGTH} characters; empty when unset"


class BrandProfile(BaseModel):
    """What the brand sells, to whom, and its voice: what drafting tells the model."""

    offering: str = Field(description="What the brand sells; " + _PROFILE_TEXT)
    audience: str = Field(description="To whom it sells; " + _PROFILE_TEXT)
    voice: str = Field(description="How it speaks; " + _PROFILE_TEXT)


class BrandPublic(BaseModel):
    brand_id: str
    org_id: str
    name: str
    created_at: str = Field(description="YYYY-MM-DD HH:MM:SS, UTC")
    profile: BrandProfile = Field(description="Added in 0.2: older servers leave it out.")

    @classmethod
    def of(cls, brand: Brand) -> dict[str, Any]:
        return {
            "brand_id": brand.id,
            "org_id": brand.org_id,
            "name": brand.name,
            "created_at": format_timestamp(brand.created_at),
            "profile": brand.profile.to_public(),
        }


class BrandProfileUpdate(BaseModel):
    """The profile parts to change; those left out keep their values (null or "" clears)."""

    model_config = ConfigDict(extra="forbid")

    offering: str | None = Field(None, max_length=PROFILE_MAX_LENGTH)
    audience: str | None = Field(None, max_length=PROFILE_MAX_LENGTH)
    voice: str | None = Field(None, max_length=PROFILE_MAX_LENGTH)


class BrandUpdate(BaseModel):
    """A new name, profile parts, or both."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "profile": {
                    "offering": "Trail running shoes and apparel",
                    "audience": "Amateur and competitive trail runners in Europe",
                    "voice": "Encouraging, expert, a little playful",
                }
            }
        },
    )

    name: str | None = Field(None, max_length=200)
    profile: BrandProfileUpdate | None = None


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


def _text(field: str) -> str:
    low, high = TEXT_LIMITS[field]
    return f"{low}-{high} characters" if low else f"at most {high} characters"


# The rules are the domain's (domain.py): these only describe them in the OpenAPI document.
_TYPE = f"lowercase snake_case, 1-{TYPE_MAX_LENGTH} characters"
_LIST = f"at most {MAX_LIST_ITEMS} items of 1-{MAX_ITEM_LENGTH} characters"


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

    segment_label: str = Field(description=_text("segment_label"))
    segment_type: str = Field(description=_TYPE)
    segment_tag: str = Field("", description=_text("segment_tag"))
    segment_decision_drivers: str = Field(
        "", description="comma-separated text, " + _text("segment_decision_drivers")
    )
    segment_pain_points: list[str] = Field(default_factory=list, description=_LIST)
    segment_use_cases: list[str] = Field(default_factory=list, description=_LIST)
    segment_tone: str = Field("", description=_text("segment_tone"))
    reasoning: str = Field("", description=_text("reasoning"))


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
# Writes with a body: its limits (api/body.py).
BODY_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **WRITE_ERRORS,
    408: _error("`request_timeout`: the body did not arrive within ZYNTRO_BODY_TIMEOUT_SECONDS."),
    413: _error("`payload_too_large`: the body is over ZYNTRO_MAX_BODY_BYTES (1 MiB)."),
}
