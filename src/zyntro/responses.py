"""The public endpoint's two body shapes, pre-encoded with orjson (key order as the seed)."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from zyntro.domain import Segment
from zyntro.errors import ZyntroError

JSON_TYPE = "application/json; charset=utf-8"  # every JSON answer of every surface
_MORE = "You can ask your member in-charge to add more audiences if you like."


def success_message(count: int) -> str:
    if count == 1:
        return f"1 audience segment has been defined for your brand. {_MORE}"
    return f"{count} audience segments have been defined for your brand. {_MORE}"


def success_body(segments: Sequence[Segment]) -> bytes:
    return orjson.dumps(
        {
            "status": "success",
            "message": success_message(len(segments)),
            "data": [segment.to_public() for segment in segments],
        }
    )


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"status": "error", "message": message, "code": code})


def body_for(error: ZyntroError) -> bytes:
    return error_body(error.code, error.message)
