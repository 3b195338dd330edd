"""The one door to the private names of Django that channels relies on.

Django has no public name for these; each access says what it relies on
and which versions were checked (Django 4.2 and 5.2, the supported
matrix). Django's documented model API (``Model._meta``,
``Model._state``, ``Model._default_manager``) is used directly instead:
ruff's ``flake8-self`` ``ignore-names`` lists it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpResponseBase

__all__ = [
    "close_with_response",
    "has_stored_row",
    "keep_session_key",
    "replace_session_data",
    "response_finishes_for",
    "session_data",
    "stored_session_row",
]


# -- responses ---------------------------------------------------------------------


def response_finishes_for(response: HttpResponseBase, handler_class: type) -> None:
    """Make ``response.close()`` send ``request_finished`` with
    ``handler_class`` as the sender, as Django's own handlers do.

    Relies on ``HttpResponseBase._handler_class``, the sender ``close()``
    uses (Django 4.2-5.2)."""
    response._handler_class = handler_class


def close_with_response(response: HttpResponseBase, closer: Callable[[], Any]) -> None:
    """Call ``closer`` when ``response`` is closed, as Django's handlers do
    with the request.

    Relies on ``HttpResponseBase._resource_closers``, the list ``close()``
    calls (Django 4.2-5.2)."""
    response._resource_closers.append(closer)


# -- sessions ----------------------------------------------------------------------


def session_data(store: SessionBase) -> dict:
    """The data of ``store``, loaded now if not yet (``SessionBase._session``,
    the lazily loaded dict itself, not a copy; Django 4.2-5.2)."""
    return store._session


def keep_session_key(store: SessionBase, key: str) -> None:
    """Make ``store`` keep ``key`` as its key, even if no session is stored
    under it (Django forgets an unknown key on load, against session
    fixation; a channel session's key is derived, not chosen by a client).

    Relies on the ``SessionBase._session_key`` setter (Django 4.2-5.2)."""
    store._session_key = key


def replace_session_data(store: SessionBase, data: dict) -> None:
    """Make ``data`` the loaded data of ``store`` (``SessionBase._session_cache``,
    what ``_session`` returns once loaded; Django 4.2-5.2)."""
    store._session_cache = data


def stored_session_row(store: SessionBase) -> Any:
    """The stored row of a database-backed ``store``, or None (the db
    engine's ``_get_session_from_db``, Django 4.2-5.2; call it only when
    ``store`` has one, see :func:`has_stored_row`)."""
    return store._get_session_from_db()


def has_stored_row(store: SessionBase) -> bool:
    """Whether ``store`` is database-backed (has ``_get_session_from_db``)."""
    return hasattr(store, "_get_session_from_db")
