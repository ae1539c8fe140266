"""The account model and the rules a segment's fields obey (docs/api.md)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from zyntro.errors import ValidationFailed

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
SEGMENT_FIELDS = (
    "segment_id",
    "created_at",
    "updated_at",
    "initiated_by",
    "segment_label",
    "segment_tag",
    "segment_type",
    "segment_decision_drivers",
    "segment_pain_points",
    "segment_use_cases",
    "segment_tone",
    "reasoning",
)
LIST_FIELDS = ("segment_pain_points", "segment_use_cases")
# Fields a caller may set; ids and timestamps are the server's (imports excepted).
EDITABLE_FIELDS = SEGMENT_FIELDS[4:]

_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# Limits the API contract leaves open (docs/decisions.md): generous, but bounded. The API's schema
# and the dashboard's hints are derived from these.
TYPE_MAX_LENGTH = 40
TEXT_LIMITS = {
    "segment_label": (1, 200),
    "segment_tag": (0, 200),
    "segment_decision_drivers": (0, 1000),
    "segment_tone": (0, 200),
    "reasoning": (0, 4000),
}
MAX_LIST_ITEMS = 50
MAX_ITEM_LENGTH = 200


class Role(enum.StrEnum):
    OWNER = "owner"
    IN_CHARGE = "in_charge"
    MEMBER = "member"

    @property
    def manages_content(self) -> bool:
        """Brands and segments are created, edited and deleted by owners and members in-charge."""
        return self in (Role.OWNER, Role.IN_CHARGE)


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """`YYYY-MM-DD HH:MM:SS` in UTC; the year always has four digits (glibc's `%Y` writes
    year 500 as `500`, which the format, and the import, would not take back)."""
    return moment.astimezone(UTC).isoformat(sep=" ", timespec="seconds")[:19]


def parse_timestamp(text: str, field: str) -> datetime:
    """Read `YYYY-MM-DD HH:MM:SS` (UTC); ISO 8601 with an offset is accepted and converted.

    ASCII digits only (`strptime` would take any Unicode digit), and the moment must exist
    in UTC: `0001-01-01T00:00:00+01:00` is before year 1 there.
    """
    if not isinstance(text, str) or not text.isascii():
        raise ValidationFailed(field, "must be a timestamp like 2025-01-15 10:30:00")
    try:
        moment = datetime.strptime(text, TIMESTAMP_FORMAT)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationFailed(field, "must be a timestamp like 2025-01-15 10:30:00") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed(field, "is outside the years 1-9999 once converted to UTC") from None


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str
    created_at: datetime


# The optional brand profile (docs/ai.md): what the brand sells, to whom, and its voice. Drafting
# shows it to the model; each part is free text, empty when unset.
PROFILE_FIELDS = ("offering", "audience", "voice")
PROFILE_MAX_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class BrandProfile:
    offering: str = ""
    audience: str = ""
    voice: str = ""

    def to_public(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in PROFILE_FIELDS}

    @property
    def empty(self) -> bool:
        return not (self.offering or self.audience or self.voice)


@dataclass(frozen=True, slots=True)
class Brand:
    id: str
    org_id: str
    name: str
    created_at: datetime
    profile: BrandProfile = BrandProfile()


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    org_id: str
    email: str
    name: str
    role: Role
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    member_id: str
    prefix: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    def usable_at(self, moment: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or moment < self.expires_at)


@dataclass(frozen=True, slots=True)
class Segment:
    """A segment; its content fields carry the names the API gives them (EDITABLE_FIELDS)."""

    id: str
    brand_id: str
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

    def editable(self) -> dict[str, Any]:
        """The fields a caller may set, as this segment has them (lists as tuples)."""
        return {name: getattr(self, name) for name in EDITABLE_FIELDS}

    def to_public(self) -> dict[str, Any]:
        """The seed's shape: exactly these keys, in this order, never null."""
        return {
            "segment_id": self.id,
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
            "initiated_by": self.initiated_by,
            **{
                name: list(value) if name in LIST_FIELDS else value
                for name, value in self.editable().items()
            },
        }


def _check_text(field: str, value: Any) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(field, "must be a string")
    if "\x00" in value:
        raise ValidationFailed(field, "must not contain NUL characters")
    low, high = TEXT_LIMITS[field]
    if not low <= len(value) <= high:
        if low:
            raise ValidationFailed(field, f"must be {low}-{high} characters long")
        raise ValidationFailed(field, f"must be at most {high} characters long")
    return value


def _check_type(value: Any) -> str:
    field = "segment_type"
    if not isinstance(value, str) or not value:
        raise ValidationFailed(field, "is required")
    if len(value) > TYPE_MAX_LENGTH or _SNAKE.fullmatch(value) is None:
        raise ValidationFailed(
            field, f"must be lowercase snake_case, 1-{TYPE_MAX_LENGTH} characters"
        )
    return value


def _check_list(field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ValidationFailed(field, "must be a list of strings")
    if len(value) > MAX_LIST_ITEMS:
        raise ValidationFailed(field, f"must have at most {MAX_LIST_ITEMS} items")
    for item in value:
        if not isinstance(item, str) or not 1 <= len(item) <= MAX_ITEM_LENGTH or "\x00" in item:
            raise ValidationFailed(
                field, f"items must be strings of 1-{MAX_ITEM_LENGTH} characters"
            )
    return tuple(value)


def validate_segment_fields(values: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Check the editable seed fields; return them normalised (lists as tuples, unset as "")."""
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(sorted(unknown)[0], "is not a segment field that can be set")
    clean: dict[str, Any] = {}
    for field in EDITABLE_FIELDS:
        if partial and field not in values:
            continue
        value = values.get(field)
        if field == "segment_type":
            clean[field] = _check_type(value)
        elif field in LIST_FIELDS:
            clean[field] = _check_list(field, value)
        else:
            clean[field] = _check_text(field, value)
    return clean


def validate_brand_profile(values: dict[str, Any]) -> dict[str, str]:
    """Check the profile parts given (None clears one); return them trimmed."""
    unknown = set(values) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationFailed(sorted(unknown)[0], "is not a part of the brand profile")
    clean: dict[str, str] = {}
    for field, value in values.items():
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValidationFailed(field, "must be a string")
        value = value.strip()
        if len(value) > PROFILE_MAX_LENGTH or "\x00" in value:
            raise ValidationFailed(field, f"must be at most {PROFILE_MAX_LENGTH} characters long")
        clean[field] = value
    return clean


def validate_name(field: str, value: Any, limit: int = 200) -> str:
    """Names of organizations, brands and members: 1-`limit` characters, trimmed."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(field, "is required")
    name: str = value.strip()
    if len(name) > limit or "\x00" in name:
        raise ValidationFailed(field, f"must be 1-{limit} characters")
    return name


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def validate_email(value: Any) -> str:
    if not isinstance(value, str) or _EMAIL.fullmatch(value.strip()) is None or len(value) > 254:
        raise ValidationFailed("email", "must be an email address")
    return value.strip().lower()
