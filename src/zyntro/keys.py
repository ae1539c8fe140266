"""API key format: `zk_` + 36 random base62 chars + a 6-char base62 CRC32 of them."""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX = "zk_"
BODY_LENGTH = 36
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(PREFIX) + BODY_LENGTH + CHECKSUM_LENGTH  # 45
DISPLAY_PREFIX_LENGTH = 8
_SHAPE = re.compile(r"zk_[0-9A-Za-z]{42}")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    """The 6-character base62 CRC32 of the random part."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def generate_key() -> str:
    """A new random API key."""
    body = "".join(secrets.choice(BASE62) for _ in range(BODY_LENGTH))
    return PREFIX + body + checksum(body)


def is_well_formed(key: str) -> bool:
    """Format and checksum check; needs no database, so garbage never reaches one."""
    if len(key) != KEY_LENGTH or _SHAPE.fullmatch(key) is None:
        return False
    body = key[len(PREFIX) : len(PREFIX) + BODY_LENGTH]
    return secrets.compare_digest(checksum(body), key[-CHECKSUM_LENGTH:])


def digest(key: str) -> str:
    """SHA-256 hex digest: the only form of a key that is stored."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]
