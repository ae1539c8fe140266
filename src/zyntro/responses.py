"""The public endpoint's two body shapes, pre-encoded with orjson (key order as the seed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from zyntro.domain import SEGMENT_FIELDS, Segment, format_timestamp
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


def success_body_of_parts(parts: Sequence[bytes]) -> bytes:
    """`success_body` of the segments' pre-encoded objects (`segments.public_json`): the same
    bytes, joined instead of encoded (what orjson writes for the dict, key for key)."""
    message = orjson.dumps(success_message(len(parts)))
    return b'{"status":"success","message":' + message + b',"data":[' + b",".join(parts) + b"]}"


def stamp(value: str | datetime) -> str:
    """A stored segment time as served: SQLite keeps `YYYY-MM-DD HH:MM:SS.ffffff` text (four
    year digits), PostgreSQL hands back a naive UTC datetime; an aware one is converted."""
    if isinstance(value, str):
        return value[:19]
    if value.tzinfo is not None:
        return format_timestamp(value)
    return value.isoformat(sep=" ", timespec="seconds")[:19]


def success_body_of_rows(rows: Sequence[Sequence[Any]]) -> bytes:
    """`success_body` of rows as `queries.brand_public_rows` reads them (the public fields in
    order; list fields as JSON text, or lists where the driver decodes JSON): the same bytes,
    without building a `Segment` a row (a 1,000-segment brand re-encodes in a few ms, not ~30)."""
    loads = orjson.loads
    data = [
        dict(
            zip(
                SEGMENT_FIELDS,
                (
                    row[0],
                    stamp(row[1]),
                    stamp(row[2]),
                    row[3],
                    row[4],
                    row[5],
                    row[6],
                    row[7],
                    row[8] if isinstance(row[8], list) else loads(row[8]),
                    row[9] if isinstance(row[9], list) else loads(row[9]),
                    row[10],
                    row[11],
                ),
                strict=True,
            )
        )
        for row in rows
    ]
    return orjson.dumps({"status": "success", "message": success_message(len(data)), "data": data})


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"status": "error", "message": message, "code": code})


def body_for(error: ZyntroError) -> bytes:
    return error_body(error.code, error.message)
