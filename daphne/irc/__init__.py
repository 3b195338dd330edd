"""daphne-irc: the ASGI 1 IRC-client interface server (spec section 1.8, "IRC client").

It connects to an IRC server as a user and bridges it to the channel layer;
see :mod:`daphne.irc.client`.
"""

from .client import IRCInterface

__all__ = ["IRCInterface"]
