"""Validation errors in the project's voice: what a value must be, never a library's wording.

pydantic (behind FastAPI's request checks and Typer's option parsing) says "Input should be
greater than or equal to 1"; we say "must be at least 1", after the name of what was wrong.
This module reads its error records (`type`, `ctx`, `msg`) without importing pydantic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_NOT_ONE_OF = re.compile(r"^(.*) is not one of (.*)$")
_PHRASES = {
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "string_too_long": "must be at most {max_length} characters",
    "string_too_short": "must be at least {min_length} characters",
    "too_long": "must have at most {max_length} items",
    "too_short": "must have at least {min_length} items",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list of strings",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "missing": "is required",
    "extra_forbidden": "is not a field this request takes",
    "json_invalid": "is not valid JSON",
    "enum": "must be one of {expected}",
    "literal_error": "must be one of {expected}",
}


def requirement(error: Mapping[str, Any]) -> str:
    """The end of a sentence saying what the value must be: `must be at least 1`."""
    kind = str(error.get("type", ""))
    context = dict(error.get("ctx") or {})
    if "expected" in context:
        context["expected"] = str(context["expected"]).replace("'", "")
    if kind == "string_too_short" and context.get("min_length") == 1:
        return "must not be empty"
    template = _PHRASES.get(kind)
    if template is not None:
        try:
            return template.format(**context)
        except (KeyError, IndexError):
            pass
    message = str(error.get("msg", "")).removeprefix("Value error, ").rstrip(".")
    choice = _NOT_ONE_OF.match(message)  # an Enum's own ValueError
    if choice:
        return f"must be one of {choice.group(2).replace(chr(39), '')} (not {choice.group(1)})"
    return f"is not valid ({message[:1].lower()}{message[1:]})" if message else "is not valid"


def field_path(parts: Sequence[Any]) -> str:
    """`segment_pain_points[3]` for ("segment_pain_points", 3)."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


_WHERE = {"query": "The query parameter", "header": "The header", "path": "The path parameter"}


def request_error(error: Mapping[str, Any]) -> str:
    """A whole sentence for one failed check of a request, naming the field."""
    location = list(error.get("loc", ()))
    kind = str(error.get("type", ""))
    source = str(location.pop(0)) if location else "body"
    if source == "body":
        if kind == "json_invalid":
            return "The request body is not valid JSON."
        if not location or (kind in ("model_type", "dict_type") and len(location) <= 1):
            if kind == "missing":
                return "The request body is required: a JSON object."
            return "The request body must be a JSON object."
        return f"The field {field_path(location)} {requirement(error)}."
    where = _WHERE.get(source, f"The {source}")
    return f"{where} {field_path(location)} {requirement(error)}."
