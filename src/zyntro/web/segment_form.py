"""The segment form: every seed field, list fields as tag inputs, an error beside each field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from zyntro.domain import (
    EDITABLE_FIELDS,
    LIST_FIELDS,
    MAX_LIST_ITEMS,
    TEXT_LIMITS,
    TYPE_MAX_LENGTH,
    Segment,
    validate_segment_fields,
)
from zyntro.errors import ValidationFailed

# Suggestions for the type field (docs/api.md); any lowercase snake_case value is accepted.
SEGMENT_TYPES = (
    "demographic",
    "behavioral",
    "psychographic",
    "geographic",
    "firmographic",
    "technographic",
    "transactional",
    "lifecycle",
)
_TAGS_HINT = f"Press Enter or comma after each one; up to {MAX_LIST_ITEMS}."
PENDING_SUFFIX = "__pending"  # the tag input's text box, for text not yet turned into a tag
_SPLIT = re.compile(r"[,\n]")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: str  # text, type, tags or textarea
    hint: str = ""
    required: bool = False


_LABEL_MIN, _LABEL_MAX = TEXT_LIMITS["segment_label"]
FIELDS = (
    FieldSpec(
        "segment_label", "Label", "text", f"{_LABEL_MIN}–{_LABEL_MAX} characters.", required=True
    ),
    FieldSpec(
        "segment_type",
        "Type",
        "type",
        f"Lowercase snake_case, up to {TYPE_MAX_LENGTH} characters, e.g. demographic.",
        True,
    ),
    FieldSpec("segment_tag", "Tag", "text", "Optional, e.g. high_value_prospects."),
    FieldSpec(
        "segment_decision_drivers",
        "Decision drivers",
        "text",
        "Comma-separated, e.g. Quality, Price, Customer Service.",
    ),
    FieldSpec("segment_pain_points", "Pain points", "tags", _TAGS_HINT),
    FieldSpec("segment_use_cases", "Use cases", "tags", _TAGS_HINT),
    FieldSpec("segment_tone", "Tone", "text", "Optional, e.g. professional_friendly."),
    FieldSpec(
        "reasoning",
        "Reasoning",
        "textarea",
        f"Why this segment exists; up to {TEXT_LIMITS['reasoning'][1]} characters.",
    ),
)
assert sorted(spec.name for spec in FIELDS) == sorted(EDITABLE_FIELDS)


def empty_values() -> dict[str, Any]:
    return {name: [] if name in LIST_FIELDS else "" for name in EDITABLE_FIELDS}


def values_of(segment: Segment) -> dict[str, Any]:
    return {
        name: list(value) if name in LIST_FIELDS else value
        for name, value in segment.editable().items()
    }


def _tags(form: FormData, name: str) -> list[str]:
    items = [item for item in form.getlist(name) if isinstance(item, str)]
    pending = form.get(name + PENDING_SUFFIX)
    if isinstance(pending, str):
        items.extend(_SPLIT.split(pending))
    return [item.strip() for item in items if item.strip()]


def parse(form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """The values a form sent, and an error for each field that breaks a rule."""
    values: dict[str, Any] = {}
    for name in EDITABLE_FIELDS:
        if name in LIST_FIELDS:
            values[name] = _tags(form, name)
            continue
        raw = form.get(name, "")
        value = raw if isinstance(raw, str) else ""
        value = value.strip() if name != "reasoning" else value.rstrip()
        if name == "segment_type":  # forgiving typing: "Weekend Shoppers" -> weekend_shoppers
            value = re.sub(r"[\s-]+", "_", value.lower())
        values[name] = value
    errors: dict[str, str] = {}
    for name in EDITABLE_FIELDS:
        try:
            validate_segment_fields({name: values[name]}, partial=True)
        except ValidationFailed as error:
            errors[name] = error.reason  # the form shows it beside the field
    return values, errors
