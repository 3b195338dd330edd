"""The one explanation of why ``RedisLocalChannelLayer`` is missing.

See docs/moving.rst, "What to change".

Shared by ``asgi_redis.local`` (whose import raises it) and the package's
``__getattr__`` (which raises it, or an AttributeError carrying it), so both
say the same thing.
"""

from __future__ import annotations

__all__ = ["local_layer_error"]


def local_layer_error() -> ImportError:
    """The ImportError naming the replacement of ``RedisLocalChannelLayer``."""
    return ImportError(
        "asgi_redis.RedisLocalChannelLayer is not available: it depended on the "
        "shared-memory asgi_ipc package, which is not carried over. Use "
        "asgi_redis.RedisChannelLayer (same options; run Redis on the same machine "
        "for the lowest latency)."
    )
