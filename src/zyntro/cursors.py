"""Opaque page cursors: a few JSON values, base64url without padding.

The management API, the dashboard's lists, the events feed and the MCP tools page with them;
a cursor this server did not give out (or one of another listing) is `400 invalid_parameter`.
No web framework here: the MCP server and the CLI import it without loading one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson

from zyntro.errors import ValidationFailed

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def pack(*values: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def unpack(cursor: str, read: Callable[[list[Any]], T]) -> T:
    """`read` takes the cursor's values apart, raising ValueError or TypeError when they are
    not the shape it gave out; any such failure is the user's `invalid_parameter`."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list):
            raise ValueError
        return read(values)
    except (binascii.Error, ValueError, TypeError, OverflowError):  # JSONDecodeError too
        raise ValidationFailed("cursor", "is not a cursor this API gave out") from None


def _epoch_us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_cursor(position: tuple[datetime, str], filters: tuple[str | None, ...]) -> str:
    """A keyset cursor: the last row's (time, id) and the filters of the listing."""
    return pack(_epoch_us(position[0]), position[1], *filters)


def decode_cursor(cursor: str, filters: tuple[str | None, ...]) -> tuple[datetime, str]:
    def read(values: list[Any]) -> tuple[datetime, str, list[Any]]:
        micros, row_id, *given = values
        if not isinstance(micros, int) or not isinstance(row_id, str):
            raise ValueError
        return _EPOCH + timedelta(microseconds=micros), row_id, given

    moment, row_id, given = unpack(cursor, read)
    if tuple(given) != filters:
        raise ValidationFailed(
            "cursor", "belongs to a listing with other filters; send the same ones with it"
        )
    return moment, row_id
