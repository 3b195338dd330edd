"""``RedisLocalChannelLayer`` is gone (SPEC 3.3).

It sent normal channels through the shared-memory ``asgi_ipc`` package,
which broke on macOS, Docker and Alpine and is not carried over. Importing
this module, or ``asgi_redis.RedisLocalChannelLayer``, raises an
ImportError naming the replacement.
"""

from __future__ import annotations

__all__ = ["local_layer_error"]


def local_layer_error() -> ImportError:
    return ImportError(
        "asgi_redis.RedisLocalChannelLayer is not available: it depended on the "
        "shared-memory asgi_ipc package, which is not carried over. Use "
        "asgi_redis.RedisChannelLayer (same options; run Redis on the same machine "
        "for the lowest latency)."
    )


raise local_layer_error()
