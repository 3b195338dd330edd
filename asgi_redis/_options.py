"""Checking the Redis layer's options.

See docs/topics/backends.rst, "Configuring the Redis layer".

Each option is checked when the layer is made, before any server is
dialled, with an error that names the option, what it takes and what it
got: ``hosts`` as ``(host, port)`` tuples or URLs, timeouts as positive
seconds, ``spin_wait`` within its bounds, and ``connection_kwargs`` with
the timeouts a blocking receive needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from ._link import DEFAULT_SPIN

__all__ = [
    "MAX_SPIN_WAIT",
    "check_positive",
    "check_spin_wait",
    "connection_options",
    "describe",
    "host_urls",
]

_URL_SCHEMES = ("redis", "rediss", "unix")

#: Longest ``spin_wait`` accepted (seconds): polling longer than a loopback
#: round trip or two only burns CPU.
MAX_SPIN_WAIT = 0.001


def check_spin_wait(value: Any) -> None:
    """ValueError unless ``value`` is seconds from 0 to ``MAX_SPIN_WAIT``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= MAX_SPIN_WAIT
    ):
        raise ValueError(
            f"spin_wait must be seconds from 0 (off) to {MAX_SPIN_WAIT} "
            f"(default {DEFAULT_SPIN}), got {value!r}"
        )


def check_positive(name: str, value: Any) -> None:
    """ValueError unless option ``name``'s ``value`` is a positive number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def connection_options(
    connection_kwargs: dict[str, Any] | None, blpop_timeout: float
) -> dict[str, Any]:
    """The redis-py connection options of the layer's servers: the user's,
    checked against the blocking receive's ``blpop_timeout``, with the
    layer's defaults filled in."""
    if connection_kwargs is not None and not isinstance(connection_kwargs, dict):
        raise TypeError(f"connection_kwargs must be a dict, got {connection_kwargs!r}")
    kwargs = dict(connection_kwargs or {})
    socket_timeout = kwargs.get("socket_timeout")
    if socket_timeout is not None and socket_timeout < blpop_timeout:
        raise ValueError(
            f"socket_timeout ({socket_timeout}) must be at least the blocking receive "
            f"timeout ({blpop_timeout} s), or blocking receives would time out"
        )
    # redis-py 8 defaults socket_timeout to 5 s, the length of a blocking
    # pop; blocking reads here wait longer than the pop anyway, and this
    # bounds every other reply.
    kwargs.setdefault("socket_timeout", blpop_timeout + 5)
    kwargs.setdefault("socket_connect_timeout", 5)
    # The layer parses replies itself, in RESP2.
    kwargs.pop("protocol", None)
    return kwargs


def host_urls(hosts: Any) -> list[str]:
    """``hosts`` (None: ``[("localhost", 6379)]``) as ``redis://``,
    ``rediss://`` or ``unix://`` URLs; ValueError naming a bad entry."""
    if hosts is None:
        hosts = [("localhost", 6379)]
    if isinstance(hosts, (str, bytes)):
        raise ValueError(
            f"hosts must be a list of (host, port) tuples or URLs, not a single string: {hosts!r}"
        )
    if not isinstance(hosts, Iterable):
        raise ValueError(f"hosts must be a list of (host, port) tuples or URLs, got {hosts!r}")
    urls = []
    for entry in hosts:
        if isinstance(entry, (tuple, list)) and len(entry) == 2:
            host, port = entry
            if not isinstance(host, str) or not isinstance(port, int):
                raise ValueError(f"A host tuple must be (str host, int port), got {entry!r}")
            urls.append(f"redis://{host}:{port}/0")
        elif isinstance(entry, str) and urlsplit(entry).scheme in _URL_SCHEMES:
            urls.append(entry)
        else:
            raise ValueError(
                "Each host must be a (host, port) tuple or a redis://, rediss:// or "
                f"unix:// URL, got {entry!r}"
            )
    if not urls:
        raise ValueError("hosts must name at least one Redis server")
    return urls


def describe(url: str) -> str:
    """A URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return parts._replace(netloc=f"***@{netloc}").geturl()
    return url
