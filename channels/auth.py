"""Django users for consumers.

See docs/topics/sessions.rst, "Users".

The decorators set ``message.user`` from a session, the way Django's
``AuthenticationMiddleware`` sets ``request.user``:

* ``http_session_user``: from the browser's HTTP session (handshake cookie);
* ``channel_session_user``: from the channel session (every later message);
* ``channel_session_user_from_http``: for ``websocket.connect``, reads the HTTP
  user and copies the login into the channel session, so that
  ``channel_session_user`` finds it on ``websocket.receive``.

When the user comes out anonymous, the ``channels.auth`` logger says why at
DEBUG level (no session cookie, unknown or expired session, nobody logged in,
user deleted, or password changed since the login).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.contrib import auth
from django.contrib.auth.models import AnonymousUser

from channels.sessions import (
    channel_and_http_session,
    channel_session,
    find_message,
    http_session,
    is_handshake,
)

__all__ = [
    "channel_and_http_session_user_from_http",
    "channel_session_user",
    "channel_session_user_from_http",
    "http_session_user",
    "transfer_user",
]

logger = logging.getLogger("channels.auth")

_LOGIN_KEYS = (auth.BACKEND_SESSION_KEY, auth.SESSION_KEY, auth.HASH_SESSION_KEY)


class _SessionRequest:
    """The little of a request that ``django.contrib.auth.get_user`` reads."""

    def __init__(self, session: Any) -> None:
        self.session = session


def transfer_user(from_session: Any, to_session: Any) -> None:
    """Copy a login from one session to another (only when all its keys are there)."""
    if all(key in from_session for key in _LOGIN_KEYS):
        for key in _LOGIN_KEYS:
            to_session[key] = from_session[key]


def _user_from_session(session: Any, which: str, message: Any) -> Any:
    if session is None and which == "HTTP" and not is_handshake(message):
        # Only the handshake has cookies; the channel session carries the user on.
        return AnonymousUser()
    if session is None:
        logger.debug(
            "Anonymous user on %s: no %s session (the handshake had no session cookie, "
            "or the decorator order is wrong)",
            _where(message),
            which,
        )
        return AnonymousUser()
    if auth.SESSION_KEY not in session:
        if not session.session_key or session.is_empty():
            reason = f"the {which} session is unknown or has expired"
        else:
            reason = f"nobody is logged in to the {which} session"
        logger.debug("Anonymous user on %s: %s", _where(message), reason)
        return AnonymousUser()
    user = auth.get_user(_SessionRequest(session))
    if not user.is_authenticated:
        logger.debug(
            "Anonymous user on %s: the %s session names user %r, but that user no longer "
            "exists, its backend is gone, or its password changed since the login",
            _where(message),
            which,
            session.get(auth.SESSION_KEY),
        )
    return user


def _where(message: Any) -> str:
    reply = message.reply_channel.name if message.reply_channel is not None else None
    return f"{message.channel.name} ({reply})"


def http_session_user(func: Callable) -> Callable:
    """``message.user`` from the HTTP session (implies ``http_session``)."""

    @http_session
    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        message = find_message(args, "http_session_user")
        message.user = _user_from_session(message.http_session, "HTTP", message)
        return func(*args, **kwargs)

    return inner


def channel_session_user(func: Callable) -> Callable:
    """``message.user`` from the channel session (implies ``channel_session``)."""

    @channel_session
    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        message = find_message(args, "channel_session_user")
        message.user = _user_from_session(message.channel_session, "channel", message)
        return func(*args, **kwargs)

    return inner


def channel_session_user_from_http(func: Callable) -> Callable:
    """For connect: ``message.user`` from HTTP, and the login copied to the channel session."""

    @http_session_user
    @channel_session
    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        message = find_message(args, "channel_session_user_from_http")
        if message.http_session is not None:
            transfer_user(message.http_session, message.channel_session)
        return func(*args, **kwargs)

    return inner


def channel_and_http_session_user_from_http(func: Callable) -> Callable:
    """Like ``channel_session_user_from_http``, keeping the HTTP session for later messages."""

    @http_session_user
    @channel_and_http_session
    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        message = find_message(args, "channel_and_http_session_user_from_http")
        if message.http_session is not None:
            transfer_user(message.http_session, message.channel_session)
        return func(*args, **kwargs)

    return inner
