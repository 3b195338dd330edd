"""Channel-session storage: keys, loading, creation and merged saves.

See docs/topics/sessions.rst, "Channel sessions".

Private helpers of ``channels.sessions`` and its ordering. A save writes
only the keys a consumer changed over a fresh copy of the stored session,
under a lock (a row lock for database engines that have one, an atomic
cache ``add`` for cache engines), so two messages of one connection saving
at once keep each other's changes.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import time
from collections.abc import Iterator
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.db import connections, router, transaction
from django.utils.crypto import salted_hmac

from channels._compat import (
    has_stored_row,
    keep_session_key,
    replace_session_data,
    session_data,
    stored_session_row,
)
from channels.exceptions import ConsumeLater

logger = logging.getLogger("channels.sessions")

#: The attribute of a loaded channel session holding a copy of its data as
#: loaded: a save writes only what changed since.
_SNAPSHOT = "_channels_snapshot"

#: The channel-session key holding the next expected ``order`` of a connection
#: (see ``channels._ordering``); merges keep the larger value, so it never moves back.
ORDER_KEY = "__channels_next_order"

#: The HMAC salt of channel-session keys (see ``channel_session_key``).
_KEY_SALT = "channels.sessions.channel_session_key"

# A merge holds the lock for one load and one save: milliseconds.
_LOCK_WAIT = 2.0
_LOCK_EXPIRY = 10


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
    """The 32-character session key of a reply channel's channel session.

    1.x used a plain SHA-1 of the reply channel, so anyone who learnt a
    reply channel name could compute the key and, where HTTP sessions share
    the store, present it as a session cookie. The key is now an HMAC keyed
    with ``SECRET_KEY``: the same for every worker, unguessable without it.
    """
    digest = salted_hmac(_KEY_SALT, reply_channel, algorithm="sha256").hexdigest()
    return "chn" + digest[:29]


@functools.cache
def _store_class(engine_store: type[SessionBase]) -> type[SessionBase]:
    """``engine_store`` whose plain ``save()`` stores a session not stored yet.

    A channel session's key is derived from its reply channel, not handed out
    by the store, so the session may not be stored when a caller first saves
    it. Django's ``save()`` then raises ``UpdateError`` on every backend; here
    it stores the session instead. ``save(must_create=True)`` is Django's own,
    so 1.x's ``if not s.exists(s.session_key): s.save(must_create=True)``
    still reports a creation race with ``CreateError``.
    """

    class ChannelSessionStore(engine_store):
        def save(self, must_create: bool = False) -> None:
            if must_create:
                return super().save(must_create=True)
            try:
                return super().save()
            except UpdateError:
                pass
            try:
                return super().save(must_create=True)
            except CreateError:
                # Stored by another worker meanwhile: update that copy.
                return super().save()

    ChannelSessionStore.__qualname__ = ChannelSessionStore.__name__ = engine_store.__name__
    ChannelSessionStore.__module__ = engine_store.__module__
    return ChannelSessionStore


def open_session(session_key: str) -> tuple[SessionBase, bool]:
    """Load a session by key; return it (keeping the key) and whether it was stored."""
    store = _store_class(_session_engine().SessionStore)(session_key=session_key)
    data = session_data(store)  # loaded now, not at first access
    # (the file engine replaces an expired session by a new random key: not ours)
    found = store.session_key == session_key
    if not found:
        keep_session_key(store, session_key)
    vars(store)[_SNAPSHOT] = copy.deepcopy(dict(data))
    return store, found


def open_unstored(reply_channel: str) -> SessionBase:
    """The channel session of ``reply_channel``, loaded but, if new, not stored (as 1.x).

    Both ``save(must_create=True)`` and a plain ``save()`` succeed on a new
    session. An expired copy still holding the key is removed first, so that
    a creating save does not collide with it.
    """
    key = channel_session_key(reply_channel)
    store, found = open_session(key)
    if not found and store.exists(key):
        store.delete(key)
        keep_session_key(store, key)
    return store


def open_or_create(reply_channel: str) -> SessionBase:
    """The channel session of ``reply_channel``, created in the store if missing.

    Raises ``ConsumeLater`` only if another worker keeps winning the creation race.
    """
    key = channel_session_key(reply_channel)
    store, found = open_session(key)
    if found:
        return store
    try:
        store.save(must_create=True)
        return store
    except CreateError:
        pass
    # Another worker created it meanwhile, or an expired row holds the key.
    store, found = open_session(key)
    if found:
        return store
    store.delete(key)
    keep_session_key(store, key)
    try:
        store.save(must_create=True)
    except CreateError:
        raise ConsumeLater() from None
    return store


def _changes(store: SessionBase) -> tuple[dict, list]:
    snapshot = getattr(store, _SNAPSHOT, {})
    current = session_data(store)
    changed = {k: v for k, v in current.items() if k not in snapshot or snapshot[k] != v}
    deleted = [k for k in snapshot if k not in current]
    return changed, deleted


def save_session(store: SessionBase) -> None:
    """Save a session if modified, writing only its changed keys over the stored copy."""
    if not store.modified or store.is_empty():
        return
    key = store.session_key
    if key is None or not hasattr(store, _SNAPSHOT):
        store.save()
        return
    changed, deleted = _changes(store)
    if not changed and not deleted:
        return
    model = getattr(store, "model", None)
    if model is not None and has_stored_row(store):
        using = router.db_for_write(model)
        with transaction.atomic(using=using):
            if connections[using].features.has_select_for_update:
                list(model.objects.using(using).select_for_update().filter(pk=key))
            fresh = stored_session_row(store)
            stored = store.decode(fresh.session_data) if fresh is not None else {}
            keep_session_key(store, key)
            _write_merged(store, stored, changed, deleted)
    else:
        with _cache_lock(store, key):
            stored, _found = open_session(key)
            _write_merged(store, dict(session_data(stored)), changed, deleted)


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
    if ORDER_KEY in changed and isinstance(stored.get(ORDER_KEY), int):
        changed[ORDER_KEY] = max(changed[ORDER_KEY], stored[ORDER_KEY])
    stored.update(changed)
    replace_session_data(store, stored)
    store.modified = True
    try:
        store.save()
    except UpdateError:
        # The row went away meanwhile (cleared sessions): store it afresh.
        store.save(must_create=True)
    vars(store)[_SNAPSHOT] = copy.deepcopy(stored)
