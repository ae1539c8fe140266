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

Stdlib only (`ipaddress`, `socket`): settings.py validates the setting with it, and
`import zyntro.cli` stays light. With no trusted proxies configured, nothing here runs on the
request path.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_HOPS = 16  # X-Forwarded-For entries looked at, right to left
_PEERS_KEPT = 4096  # peers whose verdict is remembered (the proxies' few addresses, in practice)
_V4_MAPPED = bytes(10) + b"\xff\xff"  # ::ffff:0:0/96


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


def _packed(text: str) -> bytes | None:
    """An address as a proxy writes it (`1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80`)
    as 4 or 16 bytes (IPv4-mapped IPv6 as IPv4), or None when it is not one. The C parser
    (inet_pton): `ipaddress.ip_address` costs some 20 times more, on every proxied request."""
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
        return socket.inet_pton(socket.AF_INET, text)
    except OSError:
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        return None
    return packed[12:] if packed[:12] == _V4_MAPPED else packed


def _text(packed: bytes) -> str:
    """The canonical text of an address from `_packed`."""
    return socket.inet_ntop(socket.AF_INET if len(packed) == 4 else socket.AF_INET6, packed)


def parse_address(text: str) -> IPAddress | None:
    """One address as a proxy writes it, or None when it is not one."""
    packed = _packed(text)
    return None if packed is None else ipaddress.ip_address(packed)


class Networks:
    """A set of networks and the test whether an address is in one of them."""

    def __init__(self, networks: Sequence[Network]) -> None:
        self.networks = tuple(networks)
        # For `_trusts`: single addresses as their bytes; wider networks as (network, netmask)
        # integers, by address length in bytes.
        single = [n for n in self.networks if n.prefixlen == n.max_prefixlen]
        self._addresses = frozenset(n.network_address.packed for n in single)
        self._ranges: dict[int, tuple[tuple[int, int], ...]] = {
            size: tuple(
                (int(n.network_address), int(n.netmask))
                for n in self.networks
                if n.max_prefixlen == size * 8 and n.prefixlen < n.max_prefixlen
            )
            for size in (4, 16)
        }

    def __contains__(self, address: object) -> bool:
        """Whether an address as a server or proxy writes it is in one of the networks."""
        packed = _packed(address) if isinstance(address, str) else None
        return packed is not None and self._trusts(packed)

    def _trusts(self, packed: bytes) -> bool:
        if packed in self._addresses:
            return True
        value = int.from_bytes(packed, "big")
        for network, mask in self._ranges[len(packed)]:
            if value & mask == network:
                return True
        return False


class TrustedProxies(Networks):
    """The configured proxies, and the client address of a request that came through them."""

    def __init__(self, networks: Sequence[Network]) -> None:
        super().__init__(networks)
        self._peers: dict[str, bool] = {}  # a peer's address as the server gave it -> trusted

    @classmethod
    def from_setting(cls, value: str) -> TrustedProxies | None:
        """None when the setting names no proxy: then the socket's peer is the client."""
        networks = parse_networks(value)
        return cls(networks) if networks else None

    def trusts(self, address: IPAddress) -> bool:
        return self._trusts(address.packed)

    def trusts_peer(self, peer: str) -> bool:
        """Whether the socket's peer is a trusted proxy: a dict lookup once it has been seen."""
        trusted = self._peers.get(peer)
        if trusted is None:
            packed = _packed(peer)
            trusted = packed is not None and self._trusts(packed)
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
            packed = _packed(entry)
            if packed is None:  # not an address: the last trusted hop is all that is known
                return client
            client = _text(packed)
            if not self._trusts(packed):
                return client
        return client
