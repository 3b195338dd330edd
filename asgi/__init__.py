"""The ASGI 1 channel-layer specification in code.

``asgi.base_layer`` holds the rules every layer shares, ``asgi.inmemory`` the
single-process layer, ``asgi.conformance`` the test suite every layer must
pass, and ``asgi.www`` the HTTP and WebSocket message formats.

(The name ``asgiref`` belongs to Django's own ASGI 3 dependency.)
"""

from ._version import __version__
from .base_layer import BaseChannelLayer
from .exceptions import ChannelFull, InvalidChannelName, InvalidMessage, MessageTooLarge

__all__ = [
    "BaseChannelLayer",
    "ChannelFull",
    "InvalidChannelName",
    "InvalidMessage",
    "MessageTooLarge",
    "__version__",
]
