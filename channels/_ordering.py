"""Strict per-connection ordering for ``enforce_ordering`` (SPEC 5.8).

A message whose ``order`` is ahead of the connection's next expected order
is parked on the connection's wait channel. When a message finishes, its
sends are flushed, the counter advances, and exactly the parked message that
is now due goes back to its original channel. A message that parks looks at
the parked set again, which both closes the race with a predecessor that
finished meanwhile and gives up on a missing message once the oldest parked
one has waited ``CHANNELS_ORDERING_MAX_WAIT`` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings

from channels._session_store import channel_session_key, open_session, save_session
from channels.exceptions import ConsumeLater
from channels.message import pending_message_store

logger = logging.getLogger("channels.sessions")

#: The channel-session key holding the next expected ``order`` of a connection.
ORDER_KEY = "__channels_next_order"
#: Default bound, in seconds, on waiting for a missing earlier message.
DEFAULT_ORDERING_MAX_WAIT = 10.0
_PARKED_AT = "__parked_at__"
_ORIGINAL_CHANNEL = "original_channel"
_RELEASE_ROUNDS = 50


def wait_channel_name(reply_channel: str) -> str:
    """The channel where out-of-order messages of ``reply_channel`` wait."""
    return "__wait__." + reply_channel.replace("!", "?")


def _max_wait() -> float:
    return float(getattr(settings, "CHANNELS_ORDERING_MAX_WAIT", DEFAULT_ORDERING_MAX_WAIT))


def _fresh_next_order(session_key: str) -> int:
    store, _found = open_session(session_key)
    return int(store.get(ORDER_KEY, 0))


def _drain(layer: Any, wait_channel: str) -> list[dict]:
    parked = []
    while True:
        _channel, content = layer.receive([wait_channel], block=False)
        if content is None:
            return parked
        parked.append(content)


def _send_back(layer: Any, content: dict) -> None:
    content = dict(content)
    channel = content.pop(_ORIGINAL_CHANNEL)
    content.pop(_PARKED_AT, None)
    deadline = time.monotonic() + 2.0
    while True:
        try:
            layer.send(channel, content)
            return
        except layer.ChannelFull:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _park(layer: Any, wait_channel: str, content: dict) -> None:
    try:
        layer.send(wait_channel, content)
    except layer.ChannelFull:
        logger.error(
            "Dropped message order %s of %s: its wait channel %s is full",
            content.get("order"),
            content.get("reply_channel"),
            wait_channel,
        )


def _skip_to(session_key: str, order: int) -> None:
    store, _found = open_session(session_key)
    store[ORDER_KEY] = order
    save_session(store)


def requeue_messages(message: Any) -> None:
    """Release the parked messages of ``message``'s connection that are now due.

    The one whose ``order`` is next goes back to its original channel; the rest
    stay parked. Loops only while the expected order moves under it.
    """
    reply_channel = message.reply_channel.name
    layer = message.channel_layer
    wait_channel = wait_channel_name(reply_channel)
    session_key = channel_session_key(reply_channel)
    for _round in range(_RELEASE_ROUNDS):
        expected = _fresh_next_order(session_key)
        parked = _drain(layer, wait_channel)
        if not parked:
            return
        due = [m for m in parked if int(m["order"]) <= expected]
        if not due:
            oldest = min(float(m.get(_PARKED_AT, 0)) for m in parked)
            if time.time() - oldest > _max_wait():
                lowest = min(int(m["order"]) for m in parked)
                logger.warning(
                    "Gave up waiting for messages %s to %s of %s after %.1f s; going on",
                    expected,
                    lowest - 1,
                    reply_channel,
                    _max_wait(),
                )
                _skip_to(session_key, lowest)
                expected = lowest
                due = [m for m in parked if int(m["order"]) <= expected]
        for content in parked:
            if int(content["order"]) <= expected:
                try:
                    _send_back(layer, content)
                except layer.ChannelFull:
                    logger.warning("Channel full releasing %s; keeping it parked", reply_channel)
                    _park(layer, wait_channel, content)
            else:
                _park(layer, wait_channel, content)
        if _fresh_next_order(session_key) == expected:
            return
    logger.warning("Ordering of %s kept moving while releasing; stopped", reply_channel)


def run_in_order(func: Callable, message: Any, args: tuple, kwargs: dict) -> Any:
    order = int(message.content["order"])
    session = message.channel_session
    expected = int(session.get(ORDER_KEY, 0))
    if order > expected:
        content = dict(message.content)
        content[_ORIGINAL_CHANNEL] = message.channel.name
        content[_PARKED_AT] = time.time()
        wait_channel = wait_channel_name(message.reply_channel.name)
        _park(message.channel_layer, wait_channel, content)
        # The predecessor may have finished (and found nothing to release)
        # between our read of the counter and the park, and a long-missing
        # message is only given up on here: so look at the parked set now.
        requeue_messages(message)
        return None
    if order < expected:
        logger.warning(
            "Message order %s of %s arrived after the connection moved on to %s; running it now",
            order,
            message.reply_channel.name,
            expected,
        )
        return func(*args, **kwargs)
    try:
        result = func(*args, **kwargs)
    except ConsumeLater:
        raise  # it will come back; its successors keep waiting
    except BaseException:
        _finish(message, order)
        raise
    # The consumer's own sends must leave before its successor can run.
    if pending_message_store.active:
        pending_message_store.send_and_flush()
        pending_message_store.prepare()
    _finish(message, order)
    return result


def _finish(message: Any, order: int) -> None:
    session = message.channel_session
    # Never move the counter back: if the connection gave up waiting for this
    # message while it ran, it has already moved past it.
    session[ORDER_KEY] = max(order + 1, _fresh_next_order(session.session_key))
    save_session(session)
    requeue_messages(message)
