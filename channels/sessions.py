"""Sessions for consumers and strict message ordering (SPEC 5.8).

Two sessions exist for a WebSocket:

* the **channel session**, keyed by the reply channel
  (``"chn" + sha1(reply_channel)[:29]``), lives as long as the connection and is
  reached with ``@channel_session`` (``message.channel_session``);
* the **HTTP session** of the browser, found from the handshake's session cookie
  (or a ``session_key`` query parameter), reached with ``@http_session``
  (``message.http_session``).

Differences from 1.x, all behind the same API:

* Saving merges: only the keys a consumer changed are written over a fresh copy
  of the stored session (under a row lock where the database supports one), so
  two messages of one connection running at once on different workers do not
  erase each other's keys.
* A channel session whose row has expired is replaced instead of failing with
  ``ConsumeLater`` forever.
* ``enforce_ordering`` parks out-of-order messages on a ``__wait__.*`` channel
  and releases exactly the next one when its predecessor finishes; nothing
  is re-queued in a loop. A missing message is waited for at most
  ``CHANNELS_ORDERING_MAX_WAIT`` seconds (default 10), checked whenever the
  connection's next message arrives; a message arriving after it was given up
  on runs at once, with a warning.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase
from django.db import connections, router, transaction

from channels.exceptions import ConsumeLater
from channels.message import pending_message_store

__all__ = [
    "channel_and_http_session",
    "channel_session",
    "enforce_ordering",
    "http_session",
    "requeue_messages",
    "session_for_reply_channel",
    "wait_channel_name",
]

logger = logging.getLogger("channels.sessions")

#: The channel-session key holding the next expected ``order`` of a connection.
ORDER_KEY = "__channels_next_order"
#: Default bound, in seconds, on waiting for a missing earlier message.
DEFAULT_ORDERING_MAX_WAIT = 10.0
_PARKED_AT = "__parked_at__"
_ORIGINAL_CHANNEL = "original_channel"
_RELEASE_ROUNDS = 50
# A merge holds the lock for one load and one save: milliseconds.
_LOCK_WAIT = 2.0
_LOCK_EXPIRY = 10


# -- finding the message ------------------------------------------------------------


def find_message(args: tuple, decorator: str) -> Any:
    """The Message among the first two positional arguments (functions and methods)."""
    for arg in args[:2]:
        if hasattr(arg, "content") and hasattr(arg, "channel_layer"):
            return arg
    raise ValueError(
        f"@{decorator} expects a Message as the consumer's first argument (or the second, "
        f"after self); got {[type(a).__name__ for a in args[:2]]}"
    )


# -- the channel session ----------------------------------------------------------


def _session_engine() -> Any:
    engine = getattr(settings, "CHANNEL_SESSION_ENGINE", None) or settings.SESSION_ENGINE
    if engine.rsplit(".", 1)[-1] == "signed_cookies":
        raise ValueError(
            f"Channel sessions need a server-side session store, but the session engine is "
            f"{engine!r}, which keeps data in the browser's cookie. Set CHANNEL_SESSION_ENGINE "
            "(or SESSION_ENGINE) to e.g. 'django.contrib.sessions.backends.db' or '.cache'."
        )
    return import_module(engine)


def channel_session_key(reply_channel: str) -> str:
    """The 32-character session key of a reply channel's channel session."""
    return "chn" + hashlib.sha1(reply_channel.encode("utf-8")).hexdigest()[:29]


def _open(session_key: str) -> tuple[SessionBase, bool]:
    """Load a session by key; return it (keeping the key) and whether it was stored."""
    store = _session_engine().SessionStore(session_key=session_key)
    store._session  # noqa: B018 - forces the load now, not at first access
    found = store.session_key is not None
    if not found:
        # Django forgets an unknown key (against session fixation); a channel
        # session's key is derived, not chosen by a client, so keep it.
        store._session_key = session_key
    store._channels_snapshot = copy.deepcopy(dict(store._session))
    return store, found


def session_for_reply_channel(reply_channel: str) -> SessionBase:
    """The channel session of ``reply_channel``, loaded, and stored if it was new.

    (1.x returned an unstored session whose plain ``save()`` then failed on
    database backends.)
    """
    return _open_or_create(reply_channel)


def _open_or_create(reply_channel: str) -> SessionBase:
    key = channel_session_key(reply_channel)
    store, found = _open(key)
    if found:
        return store
    try:
        store.save(must_create=True)
        return store
    except CreateError:
        pass
    # Another worker created it meanwhile, or an expired row holds the key.
    store, found = _open(key)
    if found:
        return store
    store.delete(key)
    store._session_key = key
    try:
        store.save(must_create=True)
    except CreateError:
        raise ConsumeLater() from None
    return store


def _changes(store: SessionBase) -> tuple[dict, list]:
    snapshot = getattr(store, "_channels_snapshot", {})
    current = store._session
    changed = {k: v for k, v in current.items() if k not in snapshot or snapshot[k] != v}
    deleted = [k for k in snapshot if k not in current]
    return changed, deleted


def save_session(store: SessionBase) -> None:
    """Save a session if modified, writing only its changed keys over the stored copy."""
    if not store.modified or store.is_empty():
        return
    key = store.session_key
    if key is None or not hasattr(store, "_channels_snapshot"):
        store.save()
        return
    changed, deleted = _changes(store)
    if not changed and not deleted:
        return
    model = getattr(store, "model", None)
    if model is not None and hasattr(store, "_get_session_from_db"):
        using = router.db_for_write(model)
        with transaction.atomic(using=using):
            if connections[using].features.has_select_for_update:
                list(model.objects.using(using).select_for_update().filter(pk=key))
            fresh = store._get_session_from_db()
            stored = store.decode(fresh.session_data) if fresh is not None else {}
            store._session_key = key
            _write_merged(store, stored, changed, deleted)
    else:
        with _cache_lock(store, key):
            stored, _found = _open(key)
            _write_merged(store, dict(stored._session), changed, deleted)


@contextlib.contextmanager
def _cache_lock(store: SessionBase, key: str) -> Iterator[None]:
    """Hold a short lock (an atomic cache ``add``) around a cache session's merge."""
    cache = getattr(store, "_cache", None)
    if cache is None:
        yield
        return
    lock_key = f"channels.session-lock.{key}"
    deadline = time.monotonic() + _LOCK_WAIT
    while not cache.add(lock_key, 1, _LOCK_EXPIRY):
        if time.monotonic() > deadline:
            logger.warning(
                "Session %s... stayed locked for %.0f s; saving anyway", key[:8], _LOCK_WAIT
            )
            break
        time.sleep(0.001)
    try:
        yield
    finally:
        cache.delete(lock_key)


def _write_merged(store: SessionBase, stored: dict, changed: dict, deleted: list) -> None:
    for name in deleted:
        stored.pop(name, None)
    stored.update(changed)
    store._session_cache = stored
    store.modified = True
    store.save()
    store._channels_snapshot = copy.deepcopy(stored)


def channel_session(func: Callable) -> Callable:
    """Give the consumer ``message.channel_session``, saved when the consumer ends."""

    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        message = find_message(args, "channel_session")
        session = getattr(message, "channel_session", None)
        if session is None:
            if message.reply_channel is None:
                raise ValueError(
                    "@channel_session needs a message with a reply_channel; the message on "
                    f"{message.channel.name!r} has none"
                )
            session = _open_or_create(message.reply_channel.name)
            message.channel_session = session
        try:
            return func(*args, **kwargs)
        finally:
            save_session(session)

    return inner


# -- ordering -----------------------------------------------------------------------


def wait_channel_name(reply_channel: str) -> str:
    """The channel where out-of-order messages of ``reply_channel`` wait."""
    return "__wait__." + reply_channel.replace("!", "?")


def _max_wait() -> float:
    return float(getattr(settings, "CHANNELS_ORDERING_MAX_WAIT", DEFAULT_ORDERING_MAX_WAIT))


def _fresh_next_order(session_key: str) -> int:
    store, _found = _open(session_key)
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
    store, _found = _open(session_key)
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


def enforce_ordering(func: Callable | None = None, slight: bool = False) -> Callable:
    """Run a connection's messages one at a time in their ``order``.

    Implies ``channel_session``. Messages without an ``order`` key raise
    ``ValueError``; so does ``slight=True`` (removed in 1.0).
    """
    if slight:
        raise ValueError(
            "Slight ordering is no longer supported (removed in Channels 1.0); "
            "use @enforce_ordering for strict ordering or no decorator at all"
        )

    def decorator(func: Callable) -> Callable:
        @channel_session
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            message = find_message(args, "enforce_ordering")
            if "order" not in message.content:
                raise ValueError(
                    "@enforce_ordering needs messages with an 'order' key (websocket.*); "
                    f"the message on {message.channel.name!r} has none"
                )
            return _run_in_order(func, message, args, kwargs)

        return inner

    if func is not None:
        return decorator(func)
    return decorator


def _run_in_order(func: Callable, message: Any, args: tuple, kwargs: dict) -> Any:
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
    session[ORDER_KEY] = order + 1
    save_session(session)
    requeue_messages(message)


# -- the HTTP session --------------------------------------------------------------


def _http_session_key(message: Any) -> str | None:
    if "headers" not in message.content and "query_string" not in message.content:
        return None  # not a handshake: later frames carry no cookies
    from channels.handler import AsgiRequest

    content = dict(message.content)
    # A handshake is an HTTP GET with an Upgrade; read it as a request.
    content.setdefault("method", "FAKE")
    content.setdefault("http_version", "1.1")
    content.setdefault("query_string", b"")
    content.setdefault("headers", [])
    content.setdefault("path", "/")
    try:
        request = AsgiRequest(
            message.__class__(content, message.channel.name, message.channel_layer)
        )
        key = request.GET.get("session_key") or request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    except Exception as exc:
        raise ValueError(
            f"@http_session could not parse the message on {message.channel.name!r} as an "
            f"HTTP request: {exc}"
        ) from exc
    return key or None


def _open_http_session(session_key: str | None) -> SessionBase | None:
    if not session_key:
        logger.debug(
            "No HTTP session: the handshake carried no %s cookie", settings.SESSION_COOKIE_NAME
        )
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    store._session  # noqa: B018 - load now so a missing session is noticed here
    if store.session_key is None:
        why = "has expired" if store.exists(session_key) else "is unknown (or expired and purged)"
        logger.debug(
            "HTTP session %s... %s; the consumer gets an empty session", session_key[:8], why
        )
    return store


def http_session(func: Callable) -> Callable:
    """Give the consumer ``message.http_session`` (a session store, or None)."""

    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        message = find_message(args, "http_session")
        if getattr(message, "_channels_http_session_done", False):
            return func(*args, **kwargs)
        session = _open_http_session(_http_session_key(message))
        message.http_session = session
        message._channels_http_session_done = True
        try:
            return func(*args, **kwargs)
        finally:
            if session is not None and session.modified and not session.is_empty():
                session.save()

    return inner


def channel_and_http_session(func: Callable) -> Callable:
    """Both sessions; the HTTP session key seen on connect is kept in the channel session.

    Later messages (which carry no cookie) rebuild ``message.http_session``
    from that key.
    """

    @http_session
    @channel_session
    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        message = find_message(args, "channel_and_http_session")
        cookie_name = settings.SESSION_COOKIE_NAME
        if message.http_session is not None and message.http_session.session_key:
            if message.channel_session.get(cookie_name) != message.http_session.session_key:
                message.channel_session[cookie_name] = message.http_session.session_key
        elif message.channel_session.get(cookie_name):
            message.http_session = _open_http_session(message.channel_session[cookie_name])
        return func(*args, **kwargs)

    return inner
