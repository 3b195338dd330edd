"""asgi_redis: the production ASGI 1 channel layer on Redis.

See docs/topics/backends.rst.

``RedisChannelLayer`` serves one or more sharded servers,
``RedisSentinelChannelLayer`` the masters of Sentinel services,
``RedisClusterChannelLayer`` a Redis Cluster.
``RedisLocalChannelLayer`` (which needed the shared-memory ``asgi_ipc``
package) is not carried over: ``from asgi_redis import
RedisLocalChannelLayer`` raises an ImportError that names
``RedisChannelLayer`` instead, while ``getattr(asgi_redis,
"RedisLocalChannelLayer", None)`` (code that probes for it, as 1.x users
did) gets None.
"""

from __future__ import annotations

import dis
import sys
from typing import Any

from asgi._version import __version__

from .cluster import RedisClusterChannelLayer
from .core import BaseRedisChannelLayer, RedisChannelLayer
from .exceptions import RedisCommandError, RedisUnavailable, RedisWritesRefused, UnsupportedRedis
from .sentinel import RedisSentinelChannelLayer

__all__ = [
    "BaseRedisChannelLayer",
    "RedisChannelLayer",
    "RedisClusterChannelLayer",
    "RedisCommandError",
    "RedisSentinelChannelLayer",
    "RedisUnavailable",
    "RedisWritesRefused",
    "UnsupportedRedis",
    "__version__",
]


_IMPORT_FROM = dis.opmap.get("IMPORT_FROM")


def __getattr__(name: str) -> Any:
    """Answer for names the package does not have.

    ``RedisLocalChannelLayer`` gets an ImportError naming the alternative
    when asked for by ``from asgi_redis import ...`` (the import statement
    would otherwise swallow our message into a bare "cannot import name"),
    and an AttributeError with the same explanation otherwise, so that
    ``getattr(..., None)`` and ``hasattr`` see it as simply absent.
    """
    if name == "RedisLocalChannelLayer":
        from ._local_error import local_layer_error

        error = local_layer_error()
        if _asked_by_from_import():
            raise error
        raise AttributeError(str(error), name=name, obj=sys.modules[__name__])
    raise AttributeError(f"module 'asgi_redis' has no attribute {name!r}")


def _asked_by_from_import() -> bool:
    """Whether the caller's current instruction is ``IMPORT_FROM``. CPython
    only (``inspect.currentframe``, deoptimized ``co_code``, ``f_lasti`` in bytes,
    as on 3.11-3.13); anywhere else it says False and the import statement
    raises its own, plainer ImportError."""
    import inspect

    try:
        frame = inspect.currentframe().f_back.f_back  # this function, __getattr__, the asker
        return frame.f_code.co_code[frame.f_lasti] == _IMPORT_FROM
    except (AttributeError, IndexError, ValueError):
        return False
