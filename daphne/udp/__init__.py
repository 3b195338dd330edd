"""daphne-udp: the ASGI 1 UDP interface server (spec section 1.8, "UDP").

Each datagram becomes one ``udp.receive`` message; each ``udp.send``
message on a reply channel becomes one datagram back to that client.
"""

from .server import UDPServer

__all__ = ["UDPServer"]
