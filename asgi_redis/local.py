"""``RedisLocalChannelLayer`` is gone.

See docs/moving.rst, "What to change".

It sent normal channels through the shared-memory ``asgi_ipc`` package,
which broke on macOS, Docker and Alpine and is not carried over. Importing
this module raises an ImportError naming the replacement.
"""

from __future__ import annotations

from ._local_error import local_layer_error

__all__ = ["local_layer_error"]

raise local_layer_error()
