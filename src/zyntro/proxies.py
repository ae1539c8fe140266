"""The client's address behind trusted reverse proxies (`ZYNTRO_TRUSTED_PROXIES`).

A request's client is the address of the socket's peer. When that peer is a trusted proxy
(an address in one of the configured networks), the client is taken from the request's
`X-Forwarded-For` instead: its entries are read right to left, each one appended by the hop
after it, and the first that is not itself a trusted proxy is the client. Everything to its
left was written by the client and is ignored: anyone can send `X-Forwarded-For`.

- A peer that is not trusted: its own address, whatever `X-Forwarded-For` says.
- An entry that is not an IP address (a port is allowed: `1.2.3.4:5`, `[::1]:5`): the walk
  stops at the last trusted hop, whose address is the client (never a made-up value).
- Every entry trusted: the left-most one looked at. At most `MAX_HOPS` entries are looked at.
- IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) count as the IPv4 address they carry.

Stdlib only (`ipaddress`): settings.py validates the setting with it, and `import zyntro.cli`
stays light. With no trusted proxies configured, nothing here runs on the request path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_HOPS = 16  # X-Forwarded-For entries looked at, right to left
_PEERS_KEPT = 4096  # peers whose verdict is remembered (the proxies' few addresses, in practice)


def parse_networks(value: str) -> tuple[Network, ...]:
    """`10.0.0.1, 10.1.0.0/16, ::1, fd00::/8` as networks; ValueError names a bad item."""
    networks: list[Network] = []
    for item in value.split(","):
        text = item.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {text!r}") from None
    return tuple(networks)


def parse_address(text: str) -> IPAddress | None:
    """One address as a proxy writes it (`1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80`),
    or None when it is not one."""
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest[:1] == ":" and rest[1:].isdigit())):
            return None
        text = host
    elif text.count(":") == 1:  # IPv4 with a port (a bare IPv6 address has several colons)
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        text = host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The configured proxies, and the client address of a request that came through them."""

    def __init__(self, networks: Sequence[Network]) -> None:
        self.networks = tuple(networks)
        self._peers: dict[str, bool] = {}  # a peer's address as the server gave it -> trusted

    @classmethod
    def from_setting(cls, value: str) -> TrustedProxies | None:
        """None when the setting names no proxy: then the socket's peer is the client."""
        networks = parse_networks(value)
        return cls(networks) if networks else None

    def trusts(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)

    def trusts_peer(self, peer: str) -> bool:
        """Whether the socket's peer is a trusted proxy: a dict lookup once it has been seen."""
        trusted = self._peers.get(peer)
        if trusted is None:
            address = parse_address(peer)
            trusted = address is not None and self.trusts(address)
            if len(self._peers) >= _PEERS_KEPT:
                self._peers.clear()
            self._peers[peer] = trusted
        return trusted

    def client(self, peer: str, forwarded: str | None) -> str:
        """The client's address: `peer` (the socket's), or from `forwarded` (the request's
        X-Forwarded-For) when `peer` is a trusted proxy."""
        if not forwarded or not self.trusts_peer(peer):
            return peer
        client = peer
        for entry in reversed(forwarded.rsplit(",", MAX_HOPS)[-MAX_HOPS:]):
            address = parse_address(entry)
            if address is None:  # not an address: the last trusted hop is all that is known
                return client
            client = str(address)
            if not self.trusts(address):
                return client
        return client
