"""Exceptions of the ASGI 1 layer API (spec section 1.2).

Every layer exposes these as ``layer.ChannelFull`` and
``layer.MessageTooLarge``; they are defined once here so that code catching
``layer.ChannelFull`` works whichever layer raised it.
"""

from __future__ import annotations

__all__ = ["ChannelFull", "InvalidChannelName", "InvalidMessage", "MessageTooLarge"]


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


class InvalidMessage(TypeError):
    """Raised when a message is not a dict of the allowed value types, or
    lacks a key its format requires."""
