"""Strict per-connection ordering for ``enforce_ordering``.

See docs/topics/sessions.rst, "Strict ordering".

The channel session keeps the connection's next expected ``order``. A
message ahead of it is parked on its own wait channel,
``wait_channel_name(reply_channel) + "." + str(order)``, so that releasing a
message is one receive on one channel, whatever else is parked:

* when a message finishes, its sends are flushed, the counter advances (it
  never moves back), and the message with the next order, if parked, goes
  back to its original channel: nothing is re-queued in a loop;
* a message that parks reads the counter again afterwards, and releases
  itself if its predecessor finished meanwhile (1.x could leave it stuck);
* the session also notes when the counter last moved (``__channels_waiting``,
  written with the counter); once a message has been missing for longer
  than ``CHANNELS_ORDERING_MAX_WAIT`` seconds (default 10), the next message
  to park gives up on it and releases the lowest parked message.
  A message that turns up after it was given up on runs at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings

from asgi.types import ChannelLayer
from channels import _drops
from channels._retry import retry_while_full
from channels._session_store import ORDER_KEY, channel_session_key, open_session, save_session
from channels.exceptions import ConsumeLater
from channels.message import pending_message_store

logger = logging.getLogger("channels.sessions")

#: Default bound, in seconds, on waiting for a missing earlier message.
DEFAULT_ORDERING_MAX_WAIT = 10.0
#: The channel-session key noting ``[expected order, since when]``.
WAITING_KEY = "__channels_waiting"
_ORIGINAL_CHANNEL = "original_channel"
#: How many wait channels a give-up looks at for the lowest parked message.
_GIVE_UP_WINDOW = 200
#: How long a released message insists on its full original channel, and the pause.
_SEND_BACK_TIMEOUT = 2.0
_SEND_BACK_INTERVAL = 0.05


def wait_channel_name(reply_channel: str) -> str:
    """The prefix of the channels where out-of-order messages of ``reply_channel`` wait."""
    return "__wait__." + reply_channel.replace("!", "?")


def _parking_channel(reply_channel: str, order: int) -> str:
    return f"{wait_channel_name(reply_channel)}.{order}"


def _max_wait() -> float:
    return float(getattr(settings, "CHANNELS_ORDERING_MAX_WAIT", DEFAULT_ORDERING_MAX_WAIT))


def _fresh_next_order(session_key: str) -> int:
    store, _found = open_session(session_key)
    return int(store.get(ORDER_KEY, 0))


def _send_back(layer: ChannelLayer, content: dict) -> None:
    content = dict(content)
    channel = content.pop(_ORIGINAL_CHANNEL)
    if not retry_while_full(
        lambda: layer.send(channel, content),
        layer.ChannelFull,
        timeout=_SEND_BACK_TIMEOUT,
        interval=_SEND_BACK_INTERVAL,
    ):
        logger.error(
            "Dropped message order %s of %s: channel %s stayed full",
            content.get("order"),
            content.get("reply_channel"),
            channel,
        )


def _park(layer: ChannelLayer, reply_channel: str, content: dict) -> bool:
    try:
        layer.send(_parking_channel(reply_channel, int(content["order"])), content)
        return True
    except layer.ChannelFull:
        _drops.report_drop(_drops.CHANNEL_FULL, "__wait__")
        logger.error(
            "Dropped message order %s of %s: its wait channel is full",
            content.get("order"),
            reply_channel,
        )
        return False


def _release(layer: ChannelLayer, reply_channel: str, order: int) -> bool:
    """Send the message parked with ``order`` back to its channel, if there is one."""
    _channel, content = layer.receive([_parking_channel(reply_channel, order)], block=False)
    if content is None:
        return False
    _send_back(layer, content)
    return True


def requeue_messages(message: Any) -> None:
    """Release the parked message of ``message``'s connection that is due now, if any."""
    reply_channel = message.reply_channel.name
    expected = _fresh_next_order(channel_session_key(reply_channel))
    _release(message.channel_layer, reply_channel, expected)


def _give_up_waiting(message: Any, expected: int, own_order: int) -> None:
    """Skip the missing orders before the lowest parked message, and release it."""
    layer = message.channel_layer
    reply_channel = message.reply_channel.name
    upper = min(own_order, expected + _GIVE_UP_WINDOW)
    names = [_parking_channel(reply_channel, n) for n in range(expected, upper + 1)]
    found = []
    while True:
        _channel, content = layer.receive(names, block=False)
        if content is None:
            break
        found.append(content)
    if not found:
        return
    found.sort(key=lambda content: int(content["order"]))
    lowest = int(found[0]["order"])
    logger.warning(
        "Gave up waiting for messages %s to %s of %s after %.1f s; going on from %s",
        expected,
        lowest - 1,
        reply_channel,
        _max_wait(),
        lowest,
    )
    store, _found = open_session(channel_session_key(reply_channel))
    store[ORDER_KEY] = lowest
    store.pop(WAITING_KEY, None)
    save_session(store)
    _send_back(layer, found[0])
    for content in found[1:]:
        _park(layer, reply_channel, content)


def run_in_order(func: Callable, message: Any, args: tuple, kwargs: dict) -> Any:
    order = int(message.content["order"])
    session = message.channel_session
    expected = int(session.get(ORDER_KEY, 0))
    if order > expected:
        _wait_in_line(message, order, expected)
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


def _wait_in_line(message: Any, order: int, expected: int) -> None:
    layer = message.channel_layer
    reply_channel = message.reply_channel.name
    content = dict(message.content)
    content[_ORIGINAL_CHANNEL] = message.channel.name
    if not _park(layer, reply_channel, content):
        return
    logger.debug("Parked message order %s of %s until %s is done", order, reply_channel, expected)
    session = message.channel_session
    now = time.time()
    waiting = session.get(WAITING_KEY)
    if not waiting or waiting[0] != expected:
        session[WAITING_KEY] = [expected, now]
    fresh = _fresh_next_order(session.session_key)
    if fresh >= order:
        # Our predecessor finished between our read of the counter and the park.
        _release(layer, reply_channel, order)
    elif (
        fresh == expected and waiting and waiting[0] == expected and now - waiting[1] > _max_wait()
    ):
        _give_up_waiting(message, expected, order)


def _finish(message: Any, order: int) -> None:
    session = message.channel_session
    session[ORDER_KEY] = order + 1
    session[WAITING_KEY] = [order + 1, time.time()]
    save_session(session)  # merged: the stored counter never moves back
    _release(message.channel_layer, message.reply_channel.name, int(session[ORDER_KEY]))
