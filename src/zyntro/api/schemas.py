"""Pydantic models that document the public endpoint in the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FetchAudiencesRequest(BaseModel):
    """The request body: JSON, form-urlencoded or multipart with these fields."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {"api_key": "zk_…45 chars", "org_id": "org_…", "brand_id": "brand_…"}
        }
    )

    api_key: str = Field(
        min_length=1,
        max_length=256,
        description="Your API key (Me > API Keys). May instead be sent in "
        "`Authorization: Bearer <key>` or `X-API-Key`.",
    )
    org_id: str = Field(min_length=1, max_length=256, description="Your organization id.")
    brand_id: str = Field(min_length=1, max_length=256, description="A brand of your organization.")


class AudienceSegment(BaseModel):
    segment_id: str
    created_at: str = Field(
        description="YYYY-MM-DD HH:MM:SS, UTC", examples=["2025-01-15 10:30:00"]
    )
    updated_at: str = Field(description="YYYY-MM-DD HH:MM:SS, UTC; changes on every edit")
    initiated_by: str = Field(description="member_id of the creator")
    segment_label: str
    segment_tag: str = Field(description='"" when unset')
    segment_type: str = Field(description="lowercase snake_case, e.g. demographic")
    segment_decision_drivers: str = Field(description="comma-separated text")
    segment_pain_points: list[str]
    segment_use_cases: list[str]
    segment_tone: str
    reasoning: str


class FetchAudiencesSuccess(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "status": "success",
                "message": "1 audience segment has been defined for your brand. You can ask "
                "your member in-charge to add more audiences if you like.",
                "data": [
                    {
                        "segment_id": "seg_01JH8Z4XKQ0000000000000000",
                        "created_at": "2025-01-15 10:30:00",
                        "updated_at": "2025-01-15 14:45:00",
                        "initiated_by": "mem_01JH8Z4XKQ0000000000000000",
                        "segment_label": "Primary Target Audience",
                        "segment_tag": "high_value_prospects",
                        "segment_type": "demographic",
                        "segment_decision_drivers": "Quality, Price, Customer Service",
                        "segment_pain_points": ["time_constraints", "budget_limitations"],
                        "segment_use_cases": ["lead_generation", "customer_retention"],
                        "segment_tone": "professional_friendly",
                        "reasoning": "Our ideal customers, from market research.",
                    }
                ],
            }
        }
    )

    status: Literal["success"]
    message: str
    data: list[AudienceSegment]


class ErrorBody(BaseModel):
    """Every error, on every route."""

    status: Literal["error"]
    message: str = Field(description="A sentence for a person")
    code: str = Field(description="A machine code, e.g. invalid_api_key")
