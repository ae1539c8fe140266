"""Identifiers: a prefix and a time-sortable random part (ULID-style, Crockford base32)."""

from __future__ import annotations

import re
import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_IMPORTED_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

PREFIXES = ("org", "brand", "mem", "seg", "key")


def new_id(prefix: str) -> str:
    """Return `<prefix>_` + 26 chars: 48 bits of milliseconds then 80 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def is_valid_id(value: str) -> bool:
    """True when `value` could be an id: 1-64 chars of [A-Za-z0-9_-] (imported ids included)."""
    return _IMPORTED_ID.fullmatch(value) is not None
