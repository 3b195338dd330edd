"""Turning a parsed request into the fields of an ASGI 1 message.

See docs/asgi/www.rst.

Pure functions over plain values: the raw request target, the raw header
list, the transport addresses. ``http_protocol`` and ``ws_protocol`` call
them and then hand the results to the builders in ``asgi.www``, which stay
the one definition of each message format.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from ._proxy import TrustedProxies
from .exceptions import BadRequest
from .utils import parse_x_forwarded_for

__all__ = [
    "NO_PROXY",
    "ProxyHeaders",
    "RequestTarget",
    "clean_headers",
    "request_fields",
    "split_target",
]

ROOT_PATH_HEADER = b"daphne-root-path"


@dataclass(frozen=True)
class RequestTarget:
    """The request target split into the decoded ``path`` and the raw ``query_string``."""

    path: str
    query_string: bytes


@dataclass(frozen=True)
class ProxyHeaders:
    """Which headers carry the client address, port and scheme behind a proxy
    (all None = do not trust any), and which peers may send them (``trusted``;
    None = any peer, as in 1.x)."""

    address: str | None = None
    port: str | None = None
    proto: str | None = None
    trusted: TrustedProxies | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def believes(self, peer: list[Any] | None) -> bool:
        """Whether headers from ``peer`` (``[host, port]``) count.

        A peer without an IP address (a UNIX socket) is a proxy on this host,
        so it is believed, as gunicorn does.
        """
        return self.trusted is None or peer is None or peer[0] in self.trusted


#: Trust no proxy header (the default).
NO_PROXY = ProxyHeaders()


def split_target(target: bytes) -> RequestTarget:
    """Split ``/a%20b?x=1`` into path ``"/a b"`` and query ``b"x=1"``.

    The path is percent-decoded, then UTF-8 decoded; the query string stays
    raw bytes. Raises ``BadRequest(400)`` for non-ASCII bytes in the raw path
    or a path whose decoded bytes are not UTF-8.
    """
    raw_path, _, query = target.partition(b"?")
    try:
        raw_path.decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest(400, "Invalid characters in path") from None
    if raw_path[:7].lower() == b"http://" or raw_path[:8].lower() == b"https://":
        # absolute-form target (sent to proxies): keep only the path part
        authority_and_path = raw_path.split(b"://", 1)[1]
        slash = authority_and_path.find(b"/")
        raw_path = authority_and_path[slash:] if slash >= 0 else b"/"
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(400, "Path is not valid UTF-8 once percent-decoded") from None
    return RequestTarget(path=path or "/", query_string=query)


def clean_headers(
    raw: Iterable[tuple[bytes, bytes]],
) -> tuple[list[tuple[bytes, bytes]], str | None]:
    """Lowercase header names, keep order and duplicates, drop names containing
    ``_`` (CVE-2015-0219), and take out ``Daphne-Root-Path``.

    Returns the header list, ``(name, value)`` tuples as 1.x made them, and
    the URL-unquoted root path header (or None).
    """
    headers: list[tuple[bytes, bytes]] = []
    root_path = None
    for name, value in raw:
        lowered = bytes(name).lower()
        if b"_" in lowered:
            continue
        if lowered == ROOT_PATH_HEADER:
            root_path = unquote(bytes(value).decode("latin-1"))
            continue
        headers.append((lowered, bytes(value)))
    return headers, root_path


@dataclass(frozen=True)
class RequestFields:
    """The connection-derived keys shared by ``http.request`` and ``websocket.connect``."""

    path: str
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    root_path: str
    scheme: str
    client: list[Any] | None
    server: list[Any] | None


def request_fields(
    *,
    target: bytes,
    raw_headers: Iterable[tuple[bytes, bytes]],
    secure: bool,
    websocket: bool,
    client: list[Any] | None,
    server: list[Any] | None,
    root_path: str = "",
    proxy: ProxyHeaders = NO_PROXY,
) -> RequestFields:
    """Everything an HTTP or WebSocket message needs from the request itself."""
    split = split_target(target)
    headers, header_root_path = clean_headers(raw_headers)
    scheme = ("wss" if secure else "ws") if websocket else ("https" if secure else "http")
    if proxy.enabled and proxy.believes(client):
        client, forwarded_scheme = parse_x_forwarded_for(
            _header_dict(headers),
            address_header_name=proxy.address,
            port_header_name=proxy.port,
            proto_header_name=proxy.proto,
            original_addr=client,
            original_scheme=scheme,
            trusted_proxies=proxy.trusted,
        )
        scheme = forwarded_scheme or scheme  # the original when no header names one
        if websocket and scheme in ("http", "https"):
            scheme = "ws" if scheme == "http" else "wss"
    return RequestFields(
        path=split.path,
        query_string=split.query_string,
        headers=headers,
        root_path=header_root_path if header_root_path is not None else root_path,
        scheme=scheme,
        client=client,
        server=server,
    )


def _header_dict(headers: list[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    result: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        result.setdefault(name, []).append(value)
    return result
