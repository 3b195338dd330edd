"""daphne: the ASGI 1 interface server for HTTP/1.x, HTTP/2 and WebSocket.

See docs/topics/daphne.rst.

It holds the sockets and only translates: bytes in become messages on
``http.request`` and ``websocket.*``; messages arriving on the process's own
``daphne.response.<random>!`` inbox become bytes out.
"""

from asgi._version import __version__

__all__ = ["__version__"]
