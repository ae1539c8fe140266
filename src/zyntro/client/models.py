"""What the API returns, as immutable typed values: exactly the seed's fields, no more."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class AudienceSegment:
    """One audience segment of a brand, with the seed's twelve fields in the seed's order."""

    segment_id: str
    created_at: datetime
    updated_at: datetime
    initiated_by: str
    segment_label: str
    segment_tag: str
    segment_type: str
    segment_decision_drivers: str
    segment_pain_points: tuple[str, ...]
    segment_use_cases: tuple[str, ...]
    segment_tone: str
    reasoning: str

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> AudienceSegment:
        """Read one element of the response's `data`; fields added by a newer server are ignored.

        Raises `ValueError` when a field is missing or has the wrong type.
        """
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name not in item:
                raise ValueError(f"segment field {field.name} is missing")
            value = item[field.name]
            if field.name in ("created_at", "updated_at"):
                values[field.name] = _parse_timestamp(field.name, value)
            elif field.name in ("segment_pain_points", "segment_use_cases"):
                values[field.name] = _string_tuple(field.name, value)
            elif isinstance(value, str):
                values[field.name] = value
            else:
                raise ValueError(f"segment field {field.name} is not a string")
        return cls(**values)

    def to_api(self) -> dict[str, Any]:
        """The segment as the API writes it (timestamps `YYYY-MM-DD HH:MM:SS` UTC, lists)."""
        result: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, datetime):
                value = value.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)
            elif isinstance(value, tuple):
                value = list(value)
            result[field.name] = value
        return result


@dataclass(frozen=True, slots=True)
class AudiencesResponse:
    """A whole fetchAudiences answer: the segments plus what came with them.

    A brand without segments (the API's `no_segments`, HTTP 404) is a response with no
    segments, the API's message and `status_code` 404.
    """

    segments: tuple[AudienceSegment, ...]
    message: str
    status_code: int
    request_id: str | None
    content: bytes  # the body exactly as the server sent it


@dataclass(frozen=True, slots=True)
class BrandProfile:
    """What a brand sells, to whom, and its voice (each "" when unset); drafting reads it."""

    offering: str = ""
    audience: str = ""
    voice: str = ""

    @classmethod
    def from_api(cls, item: Any) -> BrandProfile:
        if not isinstance(item, Mapping):
            raise ValueError("brand field profile is not an object")
        values = {field.name: item.get(field.name, "") for field in fields(cls)}
        if not all(isinstance(value, str) for value in values.values()):
            raise ValueError("brand profile parts must be strings")
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Brand:
    """A brand of your organization (management API)."""

    brand_id: str
    org_id: str
    name: str
    created_at: datetime
    # None from a server older than the brand profile.
    profile: BrandProfile | None = None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Brand:
        values: dict[str, Any] = {}
        for field in fields(cls):
            value = item.get(field.name)
            if field.name == "created_at":
                values[field.name] = _parse_timestamp(field.name, value)
            elif field.name == "profile":
                values[field.name] = None if value is None else BrandProfile.from_api(value)
            elif isinstance(value, str):
                values[field.name] = value
            else:
                raise ValueError(f"brand field {field.name} is missing or not a string")
        return cls(**values)


@dataclass(frozen=True, slots=True)
class SegmentDraft:
    """A segment proposed by the server's AI provider: not saved. `to_create()` is the body
    `create_segment` takes, after you have reviewed (and perhaps edited) it."""

    segment_label: str
    segment_tag: str
    segment_type: str
    segment_decision_drivers: str
    segment_pain_points: tuple[str, ...]
    segment_use_cases: tuple[str, ...]
    segment_tone: str
    reasoning: str

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> SegmentDraft:
        values: dict[str, Any] = {}
        for field in fields(cls):
            value = item.get(field.name)
            if field.name in ("segment_pain_points", "segment_use_cases"):
                values[field.name] = _string_tuple(field.name, value)
            elif isinstance(value, str):
                values[field.name] = value
            else:
                raise ValueError(f"draft field {field.name} is missing or not a string")
        return cls(**values)

    def to_create(self) -> dict[str, Any]:
        return {
            field.name: list(value) if isinstance(value, tuple) else value
            for field in fields(self)
            for value in (getattr(self, field.name),)
        }


@dataclass(frozen=True, slots=True)
class SegmentPage:
    """One page of a brand's segments (management API); `next_cursor` is None on the last."""

    segments: tuple[AudienceSegment, ...]
    next_cursor: str | None
    etag: str | None


def _parse_timestamp(name: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"segment field {name} is not a string")
    try:
        moment = datetime.strptime(value, _TIMESTAMP_FORMAT)
    except ValueError:
        try:  # be lenient with ISO 8601, in case a server adds an offset
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"segment field {name} is not a timestamp: {value!r}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # the API writes UTC without saying so
    return moment.astimezone(UTC)


def _string_tuple(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"segment field {name} is not a list of strings")
    return tuple(value)
