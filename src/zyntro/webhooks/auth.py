"""How a webhook authenticates to its receiver, besides the signature: none, bearer, basic,
an API key header, or a custom header. Credentials are never shown back in full."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from zyntro.errors import ValidationFailed

AUTH_TYPES = ("none", "bearer", "basic", "api_key", "custom_header")
# The fields each type takes, and which of them are secret (masked whenever shown).
_FIELDS: dict[str, tuple[str, ...]] = {
    "none": (),
    "bearer": ("token",),
    "basic": ("username", "password"),
    "api_key": ("header_name", "key"),
    "custom_header": ("header_name", "header_value"),
}
_SECRET = frozenset({"token", "password", "key", "header_value"})
_DEFAULTS = {"api_key": {"header_name": "X-API-Key"}}
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
# Headers the sender sets itself: a credential may not replace them.
_RESERVED = frozenset(
    {
        "host",
        "content-type",
        "content-length",
        "transfer-encoding",
        "connection",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)
MAX_CREDENTIAL = 1000


def validate_auth(value: Any) -> dict[str, str]:
    """The stored form of an `auth` object: its type and exactly that type's fields."""
    if value is None:
        return {"type": "none"}
    if not isinstance(value, Mapping):
        raise ValidationFailed("auth", "must be an object with a type")
    kind = value.get("type", "none")
    if kind not in _FIELDS:
        raise ValidationFailed("auth.type", "must be one of " + ", ".join(AUTH_TYPES))
    clean = {"type": kind}
    given = {**_DEFAULTS.get(kind, {}), **{k: v for k, v in value.items() if k != "type"}}
    unknown = sorted(set(given) - set(_FIELDS[kind]))
    if unknown:
        raise ValidationFailed(f"auth.{unknown[0]}", f"is not a field of {kind} auth")
    for name in _FIELDS[kind]:
        text = given.get(name)
        if not isinstance(text, str) or not text or len(text) > MAX_CREDENTIAL:
            raise ValidationFailed(f"auth.{name}", f"must be 1-{MAX_CREDENTIAL} characters")
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise ValidationFailed(f"auth.{name}", "must not hold control characters")
        clean[name] = text
    if "header_name" in clean:
        header = clean["header_name"]
        if not _HEADER_NAME.fullmatch(header) or header.lower() in _RESERVED:
            raise ValidationFailed("auth.header_name", "must be a header name Zyntro does not set")
    if kind == "basic" and ":" in clean["username"]:
        raise ValidationFailed("auth.username", "must not contain a colon")
    return clean


def auth_headers(auth: Mapping[str, str]) -> dict[str, str]:
    """The headers an attempt sends for this auth."""
    kind = auth.get("type", "none")
    if kind == "bearer":
        return {"Authorization": f"Bearer {auth['token']}"}
    if kind == "basic":
        pair = f"{auth['username']}:{auth['password']}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    if kind == "api_key":
        return {auth["header_name"]: auth["key"]}
    if kind == "custom_header":
        return {auth["header_name"]: auth["header_value"]}
    return {}


def masked_auth(auth: Mapping[str, str]) -> dict[str, str]:
    """The auth as shown: secrets reduced to their last four characters."""
    return {name: mask(value) if name in _SECRET else value for name, value in auth.items()}


def mask(secret: str) -> str:
    return "…" + secret[-4:] if len(secret) >= 12 else "…"
