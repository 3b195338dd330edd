"""Sessions for consumers and strict message ordering.

See docs/topics/sessions.rst.

Two sessions exist for a WebSocket:

* the **channel session**, keyed by the reply channel
  (``"chn"`` + 29 hex digits of an HMAC of it keyed with ``SECRET_KEY``; 1.x
  used a plain SHA-1 anyone could compute), lives as long as the connection and is
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
* ``enforce_ordering`` parks out-of-order messages on ``__wait__.*`` channels
  and releases exactly the next one when its predecessor finishes; nothing
  is re-queued in a loop (see ``channels._ordering``). A missing message is
  waited for at most ``CHANNELS_ORDERING_MAX_WAIT`` seconds (default 10),
  checked when the connection's next message arrives; a message arriving
  after it was given up on runs at once, with a warning.

Storage and merging live in ``channels._session_store``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase

from channels._compat import session_data
from channels._ordering import requeue_messages, run_in_order, wait_channel_name
from channels._session_store import open_or_create, open_unstored, save_session

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

#: Set on a message once ``http_session`` has opened its session (an outer
#: decorator did the work; an inner one leaves it be).
_HTTP_SESSION_DONE = "_channels_http_session_done"


# -- finding the message ------------------------------------------------------------


def find_message(args: tuple, decorator: str) -> Any:
    """The Message among the first two positional arguments (functions and methods).

    The error starts with 1.x's text (``"channel_session called without
    Message instance"``, and the same for each decorator), which 1.x tests
    match, and then says what was expected and what came.
    """
    for arg in args[:2]:
        if hasattr(arg, "content") and hasattr(arg, "channel_layer"):
            return arg
    raise ValueError(
        f"{decorator} called without Message instance: expected a Message as the "
        f"consumer's first argument (or the second, after self), got "
        f"{[type(a).__name__ for a in args[:2]]}"
    )


# -- the channel session ----------------------------------------------------------


def session_for_reply_channel(reply_channel: str) -> SessionBase:
    """The channel session of ``reply_channel``, loaded (and, if new, not yet stored).

    As in 1.x, a new session is not written here, so 1.x's idiom
    ``if not session.exists(session.session_key): session.save(must_create=True)``
    works; a plain ``save()`` works too, on every session engine: it stores
    the session if it is not stored yet (Django's own would raise
    ``UpdateError``).
    """
    return open_unstored(reply_channel)


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
            session = open_or_create(message.reply_channel.name)
            message.channel_session = session
        try:
            return func(*args, **kwargs)
        finally:
            save_session(session)

    return inner


# -- ordering -----------------------------------------------------------------------


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
            return run_in_order(func, message, args, kwargs)

        return inner

    if func is not None:
        return decorator(func)
    return decorator


# -- the HTTP session --------------------------------------------------------------


def is_handshake(message: Any) -> bool:
    """Whether the message carries the handshake's headers (later frames do not)."""
    return "headers" in message.content or "query_string" in message.content


def _http_session_key(message: Any) -> str | None:
    if not is_handshake(message):
        return None
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


def _open_http_session(session_key: str | None, handshake: bool = True) -> SessionBase | None:
    if not session_key:
        if handshake:
            logger.debug(
                "No HTTP session: the handshake carried no %s cookie (is the page on the same "
                "host as the socket, and the cookie's domain and path covering its URL?)",
                settings.SESSION_COOKIE_NAME,
            )
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    session_data(store)  # load now so a missing session is noticed here
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
        if getattr(message, _HTTP_SESSION_DONE, False):
            return func(*args, **kwargs)
        session = _open_http_session(_http_session_key(message), is_handshake(message))
        message.http_session = session
        setattr(message, _HTTP_SESSION_DONE, True)
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
