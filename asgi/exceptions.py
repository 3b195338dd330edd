"""Exceptions of the ASGI 1 layer API (spec section 1.2).

Every layer exposes these as ``layer.ChannelFull`` and
``layer.MessageTooLarge``; they are defined once here so that code catching
``layer.ChannelFull`` works whichever layer raised it.
"""

from __future__ import annotations

__all__ = [
    "ChannelFull",
    "InvalidChannelName",
    "InvalidChannelNames",
    "InvalidMessage",
    "MessageTooLarge",
]


class ChannelFull(Exception):
    """Raised by ``send()`` when the channel holds its capacity already.

    ``send_group()`` never raises it: a full member silently misses the message.
    """


class MessageTooLarge(Exception):
    """Raised by ``send()`` / ``send_group()`` when the encoded message is
    larger than the layer's ``max_message_size``."""


class InvalidChannelName(TypeError):
    """Raised for a channel or group name that breaks the naming rules.

    A ``TypeError`` subclass because the ASGI 1 reference layer raised
    ``TypeError`` here and callers catch that.
    """


class InvalidChannelNames(InvalidChannelName, AssertionError):
    """Raised when ``receive`` (or ``valid_channel_names``) gets no list of
    channel names, or an empty one.

    Also an ``AssertionError``: the 1.x base layer asserted this, and 1.x
    tests catch ``AssertionError`` (one bad name inside the list stays a
    plain ``InvalidChannelName``, a ``TypeError``, as in 1.x).
    """


class InvalidMessage(TypeError):
    """Raised when a message is not a dict of the allowed value types, or
    lacks a key its format requires."""
