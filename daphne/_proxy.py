"""Which proxies to believe and which forwarded address is the client.

See docs/topics/daphne.rst, "Behind a proxy".

1.x took the leftmost ``X-Forwarded-For`` entry. Behind a proxy that
*appends* the address it saw (nginx's ``$proxy_add_x_forwarded_for``, most
load balancers), that entry is whatever the client sent, so anyone can pick
their own address. With a trusted-proxy list (``--proxy-trusted-ips``, like
gunicorn's ``forwarded_allow_ips``) the headers count only when the peer is
one of the listed proxies, and the client is the rightmost entry that is
not: the last address a proxy we trust vouched for.

Pure values in, pure values out; ``_scope.request_fields`` calls it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

__all__ = [
    "TrustedProxies",
    "address_key",
    "pick_companion",
    "pick_forwarded",
    "pick_forwarded_entry",
    "split_host_port",
]

#: ``(4 or 6, the address as an int)``: what membership compares.
_Key = tuple[int, int]


class TrustedProxies:
    """A set of proxy addresses and networks (``"10.0.0.1"``, ``"10.0.0.0/8"``,
    ``"::1"``; ``"*"`` trusts every address).

    Answers are remembered per host string (at most ``MEMO_SIZE`` of them),
    so the proxies' own addresses, which come back on every request, cost a
    dict lookup; a new address costs one ``inet_pton`` and integer masks.
    """

    MEMO_SIZE = 4096

    def __init__(self, entries: Iterable[str]) -> None:
        self.trust_all = False
        self._entries: list[str] = []
        self._exact: set[_Key] = set()
        self._networks: list[tuple[int, int, int]] = []  # (version, network, netmask)
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            self._entries.append(entry)
            if entry == "*":
                self.trust_all = True
            elif "/" in entry:
                network = _network(entry)
                self._networks.append(
                    (network.version, int(network.network_address), int(network.netmask))
                )
            else:
                self._exact.add(_key_of(_address(entry)))
        self._memo: dict[str, bool] = {}

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """Build from a comma-separated list, as ``--proxy-trusted-ips`` takes it.

        Raises ``ValueError`` naming the first entry that is neither an IP
        address, a network, nor ``*``.
        """
        return cls(text.split(","))

    def __contains__(self, host: object) -> bool:
        if self.trust_all:
            return True
        if not isinstance(host, str):
            return False
        known = self._memo.get(host)
        if known is None:
            if len(self._memo) >= self.MEMO_SIZE:
                # many distinct clients: start again rather than grow without bound
                self._memo.clear()
            known = self._memo[host] = self._lookup(host)
        return known

    def _lookup(self, host: str) -> bool:
        key = address_key(host)
        if key is None:
            # "unknown", an obfuscated name (RFC 7239), garbage: never a proxy of ours
            return False
        if key in self._exact:
            return True
        version, value = key
        return any(
            version == net_version and value & netmask == network
            for net_version, network, netmask in self._networks
        )

    def __repr__(self) -> str:
        return f"TrustedProxies({', '.join(self._entries)!r})"


def address_key(host: str) -> _Key | None:
    """``(4 or 6, the address as an int)`` for an IP address string, else None.

    ``inet_pton`` rather than ``ipaddress``, because it runs for every new
    client address: a few hundred nanoseconds instead of microseconds. An
    IPv4-mapped IPv6 address (``::ffff:a.b.c.d``, how a dual-stack listener
    reports IPv4 peers) is its IPv4 address.
    """
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, host))
    except (OSError, ValueError):
        pass
    try:
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, host))
    except (OSError, ValueError):
        return None
    if value >> 32 == 0xFFFF:
        return 4, value & 0xFFFFFFFF
    return 6, value


def _key_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> _Key:
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.version, int(ip)


def _address(entry: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(entry)
    except ValueError:
        raise ValueError(
            f"expected an IP address, a network (10.0.0.0/8) or '*', got {entry!r}"
        ) from None


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ValueError(
            f"expected an IP address, a network (10.0.0.0/8) or '*', got {entry!r}"
        ) from None


def split_host_port(entry: str) -> tuple[str, int]:
    """Split one forwarded entry into host and port (0 if it has none).

    ``"1.2.3.4:80"``, ``"[::1]:80"`` and ``"[::1]"`` carry brackets or a
    single colon; a bare IPv6 address (several colons) has no port.
    """
    host, port = entry, 0
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif host.count(":") == 1:
        name, _, maybe_port = host.partition(":")
        if maybe_port.isdigit():
            host, port = name, int(maybe_port)
    return host, port


def pick_forwarded_entry(value: str, trusted: TrustedProxies | None) -> str:
    """The entry of an ``X-Forwarded-For`` value that names the client.

    Without ``trusted`` it is the leftmost entry (1.x). With it, the
    rightmost entry whose host is not a trusted proxy: entries to its left
    were written by the client or by proxies we do not know. If every entry
    is a trusted proxy, the leftmost one is the best there is.
    """
    return pick_forwarded(value, trusted)[0]


def pick_forwarded(value: str, trusted: TrustedProxies | None) -> tuple[str, int, int]:
    """``(entry, its position counted from the right, number of entries)``
    for the ``X-Forwarded-For`` entry :func:`pick_forwarded_entry` picks.

    The position lets :func:`pick_companion` read the ``X-Forwarded-Proto``
    and ``-Port`` entries that the same proxy hop wrote.
    """
    entries = value.split(",")
    count = len(entries)
    if trusted is not None and count > 1:
        for from_right, entry in enumerate(reversed(entries)):
            entry = entry.strip()
            # only entries with a colon can carry a port (or be IPv6)
            host = split_host_port(entry)[0] if ":" in entry else entry
            if host and host not in trusted:
                return entry, from_right, count
    return entries[0].strip(), count - 1, count


def pick_companion(value: str, from_right: int, count: int) -> str:
    """The entry of an ``X-Forwarded-Proto`` or ``-Port`` value that goes
    with the ``X-Forwarded-For`` entry at ``from_right`` of ``count``.

    A proxy chain that appends to all three headers keeps them in step, so
    when this header has ``count`` entries too, the one at the same place
    is the client's. Otherwise the header was set rather than appended (or
    a hop skipped it) and only its rightmost entry, written by the proxy
    nearest to us, which is one we trust, can be believed.
    """
    entries = value.split(",")
    if len(entries) == count:
        return entries[count - 1 - from_right].strip()
    return entries[-1].strip()
