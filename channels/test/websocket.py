"""``WSClient``: a test client that speaks WebSocket as daphne does.

See docs/topics/testing.rst, "Clients".

Its messages carry every key daphne puts in ``websocket.connect``,
``websocket.receive`` and ``websocket.disconnect`` (built with ``asgi.www``),
plus headers and cookies, a session, and log-in helpers, so consumers that
use sessions, auth, ordering and origin checks can be tested without a server.
"""

from __future__ import annotations

import copy
import json as json_module
from http.cookies import SimpleCookie
from typing import Any

from django.apps import apps
from django.conf import settings

from asgi import www

from .._aliases import DEFAULT_CHANNEL_LAYER
from .base import Client

__all__ = ["WSClient"]

#: The channels whose messages daphne numbers with ``order``.
_NUMBERED_CHANNELS = frozenset({"websocket.connect", "websocket.receive", "websocket.disconnect"})

#: The addresses a test connection appears to come from and go to.
TEST_CLIENT_ADDRESS = ["127.0.0.1", 50000]
TEST_SERVER_ADDRESS = ["testserver", 80]


class WSClient(Client):
    """A WebSocket connection's side of a test, with headers, cookies and a session.

    With ``ordered=True`` the client numbers every message itself and refuses
    an ``order`` given by hand (as 1.x did). Otherwise it numbers the
    ``websocket.connect``/``receive``/``disconnect`` messages that carry no
    ``order`` (as daphne always does), and an ``order`` in the content is sent
    exactly as given.
    """

    def __init__(
        self, alias: str = DEFAULT_CHANNEL_LAYER, ordered: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(alias=alias, **kwargs)
        self._ordered = ordered
        self._session = None
        self._headers: dict[str, Any] = {}
        self._cookies: dict[str, str] = {}
        self._session_cookie = True
        self.order = 0

    # -- headers, cookies and session ----------------------------------------------

    def set_cookie(self, key: str, value: str) -> None:
        self._cookies[key] = value

    def set_header(self, key: str, value: Any) -> None:
        if key.lower() == "cookie":
            raise ValueError("Use set_cookie() for cookies, not set_header('cookie', ...)")
        self._headers[key.lower()] = value

    def get_cookies(self) -> dict[str, str]:
        """The cookies sent, including the session cookie until the first send."""
        cookies = dict(self._cookies)
        if self._session_cookie and apps.is_installed("django.contrib.sessions"):
            cookies[settings.SESSION_COOKIE_NAME] = self.session.session_key
        return cookies

    @property
    def headers(self) -> dict[str, Any]:
        headers = copy.deepcopy(self._headers)
        headers.setdefault("cookie", _encode_cookies(self.get_cookies()))
        return headers

    @property
    def session(self) -> Any:
        """The session of this connection (its key is sent as the session cookie)."""
        if not apps.is_installed("django.contrib.sessions"):
            raise OSError("Add django.contrib.sessions to INSTALLED_APPS to use a session")
        if self._session is None:
            from ..sessions import session_for_reply_channel

            self._session = session_for_reply_channel(self.reply_channel)
        return self._session

    def login(self, **credentials: Any) -> bool:
        """Log a user in through the session; False for bad credentials or no sessions."""
        from django.contrib.auth import authenticate

        user = authenticate(**credentials)
        if user is None or not user.is_active or not apps.is_installed("django.contrib.sessions"):
            return False
        self._login(user)
        return True

    def force_login(self, user: Any, backend: str | None = None) -> None:
        """Log ``user`` in without credentials, as Django's test client does."""
        user.backend = backend or settings.AUTHENTICATION_BACKENDS[0]
        self._login(user)

    def _login(self, user: Any) -> None:
        from django.contrib.auth import login

        request = _SessionRequest(self.session)
        login(request, user)
        self.session.save()

    # -- messages ----------------------------------------------------------------------

    def build_message(
        self, to: str | None, content: dict | None = None, text: Any = None, path: str = "/"
    ) -> dict:
        """``content`` completed with the keys daphne sends on channel ``to``."""
        content = copy.deepcopy(content or {})
        path, _, query = path.partition("?")
        if text is None:
            text = content.get("text")
        if text is not None and not isinstance(text, str):
            text = json_module.dumps(text)
        order = self._number(to, content)
        reply = content.get("reply_channel", self.reply_channel)
        headers = [[_as_bytes(k), _as_bytes(v)] for k, v in self.headers.items()]
        if to == "websocket.connect":
            base = www.websocket_connect(
                reply_channel=reply,
                path=path,
                headers=headers,
                query_string=query.encode(),
                client=TEST_CLIENT_ADDRESS,
                server=TEST_SERVER_ADDRESS,
            )
        elif to == "websocket.receive":
            base = {"reply_channel": reply, "path": path, "order": order}
            if text is not None or "bytes" in content:
                base.update(text=text, bytes=content.get("bytes"))
        elif to == "websocket.disconnect":
            base = www.websocket_disconnect(reply_channel=reply, path=path, code=1000, order=order)
        else:
            base = {"reply_channel": reply, "path": path, "headers": headers}
        base.update(content)  # a caller's own order wins, exactly as given
        if order is not None:
            base["order"] = order
        if text is not None:
            base["text"] = text
        return base

    def _number(self, to: str | None, content: dict) -> int | None:
        """The ``order`` this client gives the message, or None when it gives none.

        A caller's own ``order`` is left as it is (only an integer one moves
        the counter on, so later numbered messages follow it).
        """
        if self._ordered:
            if "order" in content:
                raise ValueError(
                    "Do not set 'order' by hand on a WSClient(ordered=True): it numbers "
                    f"the messages itself; got order={content['order']!r}"
                )
        elif "order" in content:
            given = content["order"]
            if isinstance(given, int) and not isinstance(given, bool):
                self.order = max(self.order, given + 1)
            return None
        elif to not in _NUMBERED_CHANNELS:
            return None
        order = self.order
        self.order += 1
        return order

    def _get_content(self, content: dict | None = None, text: Any = None, path: str = "/") -> dict:
        """The message ``send`` would build for a channel other than ``websocket.*``.

        1.x test code calls this to check what a client sends. As in 1.x, a
        query in ``path`` comes back as ``query_string`` (the text after
        ``?``, unless the content has its own), and ``order`` only when the
        client is ``ordered``.
        """
        message = self.build_message(None, content, text, path)
        query = path.partition("?")[2]
        if query:
            message.setdefault("query_string", query)
        return message

    def send(self, to: str, content: dict | None = None, text: Any = None, path: str = "/") -> None:
        """Send a message to ``to`` as this connection; ``text`` that is not a
        str is JSON-encoded; ``path`` may carry a query string (used on connect)."""
        self.channel_layer.send(to, self.build_message(to, content, text, path))
        self._session_cookie = False

    def send_and_consume(
        self,
        channel: str,
        content: dict | None = None,
        text: Any = None,
        path: str = "/",
        fail_on_none: bool = True,
        check_accept: bool = True,
    ) -> Any:
        self.send(channel, content, text, path)
        return self.consume(channel, fail_on_none=fail_on_none, check_accept=check_accept)

    def consume(self, channel: str, fail_on_none: bool = True, check_accept: bool = True) -> Any:
        """Run the consumer of the next message; after a connect, check it was accepted."""
        result = super().consume(channel, fail_on_none=fail_on_none)
        if channel == "websocket.connect" and check_accept:
            received = self.receive(json=False)
            if received != {"accept": True}:
                raise AssertionError(f"Connection rejected: {received!r} != {{'accept': True}}")
        return result

    def receive(self, json: bool = True) -> Any:
        """The next reply: its decoded JSON text (``json=True``), its text, or its content."""
        content = super().receive()
        if not content:
            return None
        text = content.get("text")
        if json and isinstance(text, str):
            return json_module.loads(text)
        return text if "text" in content else content


class _SessionRequest:
    """The least of a request that ``django.contrib.auth.login`` needs."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.META: dict = {}


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("latin-1")


def _encode_cookies(cookies: dict[str, str]) -> bytes:
    jar = SimpleCookie()
    for key, value in cookies.items():
        jar[key] = value
    return jar.output(header="", sep=";").strip().encode("ascii")
