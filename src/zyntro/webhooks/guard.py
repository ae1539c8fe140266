"""Server-side request forgery: a webhook may only reach public addresses over http(s).

The URL is checked when a webhook is created or changed, and again at every send: the name is
resolved, every address must be public, and the attempt connects to the address that was
checked (so a name that resolves elsewhere the second time, DNS rebinding, gains nothing).
`ZYNTRO_WEBHOOK_ALLOW_PRIVATE=true` lifts the address rule (the demo and the tests).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from zyntro.errors import ValidationFailed

MAX_URL = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata services that `is_global` alone would not catch on every platform.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)


class UnsafeAddress(ValidationFailed):
    """The URL's host resolves to an address a webhook may not reach."""

    def __init__(self, reason: str) -> None:
        super().__init__("url", reason)


def check_url(url: object) -> str:
    """The URL, if its form is acceptable: http(s), a host, no credentials, no fragment."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise ValidationFailed("url", f"must be an http(s) URL of at most {MAX_URL} characters")
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise ValidationFailed("url", "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValidationFailed("url", "is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationFailed("url", "must start with http:// or https://")
    if not parts.hostname:
        raise ValidationFailed("url", "must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed("url", "must not carry credentials: use auth instead")
    if parts.fragment:
        raise ValidationFailed("url", "must not have a #fragment")
    return url


def refused(address: IPAddress) -> bool:
    """Whether a webhook may not reach the address: anything not globally routable (loopback,
    private, link-local, shared, reserved, multicast) and the cloud metadata services."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address in _METADATA or not address.is_global or address.is_multicast


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address of the host (blocking: the sender runs it in a thread)."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeAddress(f"names a host that does not resolve ({host})") from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def safe_addresses(url: str) -> list[IPAddress]:
    """The URL's host's addresses, all of them allowed; else `UnsafeAddress`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    bad = [a for a in addresses if refused(a)]
    if bad or not addresses:
        raise UnsafeAddress(
            "must not reach a private, loopback, link-local or metadata address "
            f"({host} resolves to {bad[0] if bad else 'nothing'})"
        )
    return addresses
