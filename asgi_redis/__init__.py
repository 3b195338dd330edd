"""asgi_redis: the production ASGI 1 channel layer on Redis (SPEC section 3).

``RedisChannelLayer`` serves one or more sharded servers,
``RedisSentinelChannelLayer`` the masters of Sentinel services.
``RedisLocalChannelLayer`` (which needed the shared-memory ``asgi_ipc``
package) is not carried over: asking for it raises an ImportError that
names ``RedisChannelLayer`` instead.
"""

from __future__ import annotations

from typing import Any

from .core import BaseRedisChannelLayer, RedisChannelLayer
from .exceptions import RedisCommandError, RedisUnavailable, UnsupportedRedis
from .sentinel import RedisSentinelChannelLayer

__version__ = "1.4.3"

__all__ = [
    "BaseRedisChannelLayer",
    "RedisChannelLayer",
    "RedisCommandError",
    "RedisSentinelChannelLayer",
    "RedisUnavailable",
    "UnsupportedRedis",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "RedisLocalChannelLayer":
        from . import local  # noqa: F401 - raises the ImportError naming the alternative
    raise AttributeError(f"module 'asgi_redis' has no attribute {name!r}")
