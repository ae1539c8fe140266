"""The shape of a drafting answer: the JSON schema the provider is asked to follow, and the
validating parse of whatever came back (the only way in when the endpoint ignores schemas).

Every draft then passes the field rules of every write (`domain.validate_segment_fields`); the
errors of either step are what the repair request shows the model.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from zyntro.domain import (
    EDITABLE_FIELDS,
    LIST_FIELDS,
    MAX_ITEM_LENGTH,
    MAX_LIST_ITEMS,
    TEXT_LIMITS,
    TYPE_MAX_LENGTH,
    validate_segment_fields,
)
from zyntro.errors import ValidationFailed

SCHEMA_NAME = "segment_drafts"
MAX_DRAFTS = 5
DEFAULT_COUNT = 3
DESCRIPTION_MAX = 2000

_DESCRIPTIONS = {
    "segment_label": f"a readable name of the audience, 1-{TEXT_LIMITS['segment_label'][1]} chars",
    "segment_type": f"lowercase snake_case, 1-{TYPE_MAX_LENGTH} chars, e.g. demographic, "
    "behavioral, psychographic, geographic, firmographic, technographic, transactional, lifecycle",
    "segment_tag": "a short lowercase snake_case tag, e.g. high_value_prospects",
    "segment_decision_drivers": "comma-separated, e.g. Quality, Price, Customer Service",
    "segment_pain_points": f"3-8 short snake_case items (at most {MAX_ITEM_LENGTH} chars each)",
    "segment_use_cases": f"3-8 short snake_case items (at most {MAX_ITEM_LENGTH} chars each)",
    "segment_tone": "the tone to write to them in, snake_case, e.g. professional_friendly",
    "reasoning": f"why this audience matters to the brand, at most "
    f"{TEXT_LIMITS['reasoning'][1]} chars",
}


def _property(name: str) -> dict[str, Any]:
    if name in LIST_FIELDS:
        return {"type": "array", "items": {"type": "string"}, "description": _DESCRIPTIONS[name]}
    return {"type": "string", "description": _DESCRIPTIONS[name]}


# Only the keywords every structured-output implementation takes (OpenAI's strict mode among
# them): the limits are in the descriptions, and the parse below enforces them.
SEGMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {name: _property(name) for name in EDITABLE_FIELDS},
    "required": list(EDITABLE_FIELDS),
    "additionalProperties": False,
}
DRAFTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"segments": {"type": "array", "items": SEGMENT_SCHEMA}},
    "required": ["segments"],
    "additionalProperties": False,
}


def response_format() -> dict[str, Any]:
    """The Chat Completions `response_format` asking for `DRAFTS_SCHEMA`."""
    return {
        "type": "json_schema",
        "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": DRAFTS_SCHEMA},
    }


class _Draft(BaseModel):
    """One draft as the model may write it: label and type required, the rest may be left out
    (a model without schema support often drops empty fields), extra keys ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)

    segment_label: str
    segment_type: str
    segment_tag: str = ""
    segment_decision_drivers: str = ""
    segment_pain_points: list[str] = []
    segment_use_cases: list[str] = []
    segment_tone: str = ""
    reasoning: str = ""

    # What models without the schema write for these fields as often as the right shape: the
    # drivers as a list, the lists as one comma-separated text. Read as meant, not repaired.
    @field_validator("segment_decision_drivers", mode="before")
    @classmethod
    def _drivers_as_text(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return ", ".join(item.strip() for item in value if item.strip())
        return value

    @field_validator("segment_pain_points", "segment_use_cases", mode="before")
    @classmethod
    def _list_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item for item in re.split(r"[,;\n]", value) if item.strip()]
        return value


class _Drafts(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    segments: list[_Draft]


class InvalidOutput(Exception):
    """What is wrong with an answer, one line per problem, as the model will be told."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.DOTALL)
# What reasoning models (DeepSeek-R1, QwQ, Qwen3 through Ollama's or a vendor's OpenAI shim)
# write before the answer; it may hold braces and drafts of the JSON.
_THINKING = re.compile(r"^\s*<(think|thinking)>.*?</\1>", re.DOTALL | re.IGNORECASE)


def _json_text(content: str) -> str:
    """The JSON of an answer: without the reasoning model's thinking, the Markdown fence or
    the sentence around it that models without a schema like to add."""
    text = _THINKING.sub("", content, count=1).strip()
    fenced = _FENCE.match(text)
    if fenced:
        return fenced.group(1).strip()
    if text[:1] not in "{[":
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            return text[start : end + 1]
    return text


def parse_drafts(content: str | None, count: int) -> list[dict[str, Any]]:
    """The drafts of an answer, each checked by the domain's field rules (lists as lists), at
    most `count` of them; `InvalidOutput` says what is wrong."""
    if not content or not content.strip():
        raise InvalidOutput(["the answer was empty"])
    try:
        value = json.loads(_json_text(content))
    except ValueError as exc:
        raise InvalidOutput([f"the answer is not valid JSON ({exc})"]) from None
    if isinstance(value, list):  # a bare array of segments
        value = {"segments": value}
    elif isinstance(value, dict) and "segments" not in value and "segment_label" in value:
        value = {"segments": [value]}  # one segment on its own
    try:
        drafts = _Drafts.model_validate(value)
    except ValidationError as exc:
        raise InvalidOutput([_pydantic_problem(error) for error in exc.errors()]) from None
    if not drafts.segments:
        raise InvalidOutput(["segments is empty: draft at least one segment"])
    problems: list[str] = []
    clean: list[dict[str, Any]] = []
    for index, draft in enumerate(drafts.segments[:count]):
        values = _tidy(draft.model_dump())
        checked: dict[str, Any] = {}
        for name in EDITABLE_FIELDS:  # field by field, so that every problem is named
            try:
                checked.update(validate_segment_fields({name: values[name]}, partial=True))
            except ValidationFailed as error:
                problems.append(f"segments[{index}].{error.field}: {error.reason}")
        if len(checked) == len(EDITABLE_FIELDS):
            clean.append({k: list(v) if k in LIST_FIELDS else v for k, v in checked.items()})
    if problems:
        raise InvalidOutput(problems)
    return clean


def _tidy(values: dict[str, Any]) -> dict[str, Any]:
    """What the dashboard's form forgives too: surrounding spaces, and a type written as words
    ("Weekend Shoppers" is weekend_shoppers); empty list items dropped."""
    tidy: dict[str, Any] = {}
    for name, value in values.items():
        if name in LIST_FIELDS:
            tidy[name] = [item.strip() for item in value if item.strip()][:MAX_LIST_ITEMS]
        elif name == "segment_type":
            tidy[name] = re.sub(r"[\s-]+", "_", value.strip().lower())
        else:
            tidy[name] = value.strip()
    return tidy


def _pydantic_problem(error: Any) -> str:
    where = ""
    for part in error.get("loc", ()):
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return f"{where or 'the answer'}: {error.get('msg', 'is invalid')}"
