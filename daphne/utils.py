"""Proxy-header parsing: ``parse_x_forwarded_for``.

See docs/topics/daphne.rst, "Behind a proxy".

Kept under its 1.x module name because 1.x projects imported it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._proxy import TrustedProxies, pick_companion, pick_forwarded, split_host_port

__all__ = ["header_value", "parse_x_forwarded_for"]


def header_value(headers: Any, name: str) -> str | None:
    """The first value of header ``name`` (any case) as str, or None.

    ``headers`` is a twisted ``Headers`` or a mapping of names (bytes or str,
    any case) to a value or a list of values.
    """
    if hasattr(headers, "getRawHeaders"):
        values = headers.getRawHeaders(name.encode("latin-1"))
        value = values[0] if values else None
    else:
        value = _lookup(headers, name)
    if value is None:
        return None
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _lookup(headers: Mapping[Any, Any], name: str) -> Any:
    wanted = name.lower()
    for key, value in headers.items():
        key_text = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if key_text.lower() == wanted:
            if isinstance(value, list | tuple):
                return value[0] if value else None
            return value
    return None


def parse_x_forwarded_for(
    headers: Any,
    address_header_name: str | None = "X-Forwarded-For",
    port_header_name: str | None = "X-Forwarded-Port",
    proto_header_name: str | None = "X-Forwarded-Proto",
    original_addr: list[Any] | None = None,
    original_scheme: str | None = None,
    *,
    trusted_proxies: TrustedProxies | None = None,
) -> tuple[list[Any] | None, str | None]:
    """Return ``(client address, scheme)`` as a proxy in front reports them.

    The leftmost address of ``address_header_name`` wins (IPv6 understood,
    brackets stripped), or with ``trusted_proxies`` the rightmost one that is
    not a trusted proxy; its port is ``port_header_name`` or 0. Without
    ``trusted_proxies`` the port and proto headers' first values count (1.x);
    with it, the values the same proxy hop wrote (see ``pick_companion``).
    The port and proto headers are only read when the address header is
    present; without it the originals come back unchanged. Whether the peer
    itself may be believed is the caller's question (``ProxyHeaders.believes``).
    """
    if not address_header_name:
        return original_addr, original_scheme
    raw_address = header_value(headers, address_header_name)
    if raw_address is None:
        return original_addr, original_scheme
    entry, from_right, count = pick_forwarded(raw_address, trusted_proxies)
    host, port = split_host_port(entry)
    if port_header_name:
        raw_port = header_value(headers, port_header_name)
        if raw_port is not None:
            # 1.x read the whole value: "80, 443" is no port at all
            if trusted_proxies is None:
                raw_port = raw_port.strip()
            else:
                raw_port = pick_companion(raw_port, from_right, count)
            if raw_port.isdigit():
                port = int(raw_port)
    scheme = original_scheme
    if proto_header_name:
        raw_proto = header_value(headers, proto_header_name)
        if raw_proto:
            if trusted_proxies is None:
                proto = raw_proto.split(",")[0]
            else:
                proto = pick_companion(raw_proto, from_right, count)
            scheme = proto.strip().lower() or original_scheme
    return [host, port], scheme
