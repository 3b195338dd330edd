"""Channel and HTTP sessions through the real worker and in-memory layer.

See docs/topics/sessions.rst.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from channels.message import Message
from channels.routing import route
from channels.sessions import (
    channel_and_http_session,
    channel_session,
    http_session,
    session_for_reply_channel,
)

from .conftest import Socket

pytestmark = [pytest.mark.unit, pytest.mark.django_db]

CACHE_SESSIONS = {
    "CHANNEL_SESSION_ENGINE": "django.contrib.sessions.backends.cache",
    "CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
}


@channel_session
def remember(message):
    message.channel_session["said"] = message["text"]


@channel_session
def recall(message):
    message.reply_channel.send({"text": message.channel_session.get("said", "nothing")})


def test_channel_session_key_is_chn_plus_29_hex_of_a_secret_keyed_hmac_of_the_reply_channel():
    session = session_for_reply_channel("websocket.send!abc")
    assert session.session_key.startswith("chn") and len(session.session_key) == 32
    # not the 1.x plain SHA-1, which anyone knowing the reply channel could compute
    assert session.session_key != "chn" + hashlib.sha1(b"websocket.send!abc").hexdigest()[:29]
    assert session_for_reply_channel("websocket.send!abc").session_key == session.session_key


def test_session_for_reply_channel_returns_a_session_that_plain_save_stores():
    session = session_for_reply_channel("websocket.send!fresh")
    session["colour"] = "teal"
    session.save()
    assert session_for_reply_channel("websocket.send!fresh")["colour"] == "teal"


def test_channel_session_keeps_data_between_messages_of_one_connection(harness):
    harness.route([route("websocket.connect", remember), route("websocket.receive", recall)])
    sock = Socket(harness)
    harness.send("websocket.connect", dict(sock.connect_message(), text="hello"))
    harness.run_all()
    sock.order = 1
    sock.receive("what did I say?")
    harness.run_all()
    assert sock.texts() == ["hello"]


def test_channel_sessions_of_two_connections_are_separate(harness):
    harness.route([route("websocket.connect", remember), route("websocket.receive", recall)])
    first, second = Socket(harness), Socket(harness)
    harness.send("websocket.connect", dict(first.connect_message(), text="first"))
    harness.run_all()
    second.receive("?")
    harness.run_all()
    assert second.texts() == ["nothing"]


def test_channel_session_works_on_methods(harness):
    class Consumer:
        @channel_session
        def connect(self, message):
            message.channel_session["by"] = type(self).__name__

        @channel_session
        def receive(self, message):
            message.reply_channel.send({"text": message.channel_session["by"]})

    consumer = Consumer()
    harness.route(
        [route("websocket.connect", consumer.connect), route("websocket.receive", consumer.receive)]
    )
    sock = Socket(harness)
    sock.connect()
    harness.run_all()
    sock.receive("?")
    harness.run_all()
    assert sock.texts() == ["Consumer"]


def test_channel_session_is_reentrant_and_shared_by_nested_decorators(harness):
    seen = []

    @channel_session
    @channel_session
    def consumer(message):
        seen.append(message.channel_session)
        message.channel_session["n"] = 1

    message = Message(Socket(harness).connect_message(), "websocket.connect", harness.layer)
    consumer(message)
    assert seen == [message.channel_session]
    assert session_for_reply_channel(message.reply_channel.name)["n"] == 1


def test_channel_session_without_reply_channel_is_a_value_error(harness):
    message = Message({"text": "x"}, "chat.message", harness.layer)
    with pytest.raises(ValueError, match="reply_channel"):
        remember(message)


def test_decorated_consumer_called_without_a_message_is_a_value_error():
    with pytest.raises(ValueError, match="Message"):
        remember("not a message")


@override_settings(SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies")
def test_signed_cookie_sessions_are_refused_with_a_clear_error(harness):
    message = Message(Socket(harness).connect_message(), "websocket.connect", harness.layer)
    with pytest.raises(ValueError, match="signed_cookies.*CHANNEL_SESSION_ENGINE"):
        remember(dict and message)


@override_settings(
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies", **CACHE_SESSIONS
)
def test_channel_session_engine_setting_overrides_session_engine(harness):
    harness.route([route("websocket.connect", remember), route("websocket.receive", recall)])
    sock = Socket(harness)
    harness.send("websocket.connect", dict(sock.connect_message(), text="cached"))
    harness.run_all()
    sock.order = 1
    sock.receive("?")
    harness.run_all()
    assert sock.texts() == ["cached"]
    assert not Session.objects.exists()


def test_expired_channel_session_row_is_replaced_not_retried_forever(harness):
    sock = Socket(harness)
    session = session_for_reply_channel(sock.reply_channel)
    session.save()
    key = session.session_key
    Session.objects.filter(pk=key).update(expire_date=timezone.now() - timedelta(days=1))
    harness.route([route("websocket.connect", remember), route("websocket.receive", recall)])
    harness.send("websocket.connect", dict(sock.connect_message(), text="again"))
    harness.run_all()
    sock.order = 1
    sock.receive("?")
    harness.run_all()
    assert sock.texts() == ["again"]


def _interleaved_saves(harness):
    """Message A loads the session; B runs to completion; then A changes and saves."""
    sock = Socket(harness)
    session_for_reply_channel(sock.reply_channel).save()  # the connection exists
    seed = session_for_reply_channel(sock.reply_channel)
    seed["doomed"] = True
    seed.save()

    @channel_session
    def consumer_b(message):
        message.channel_session["b"] = "from B"
        del message.channel_session["doomed"]

    @channel_session
    def consumer_a(message):
        consumer_b(Message(sock.receive_message("b"), "websocket.receive", harness.layer))
        message.channel_session["a"] = "from A"

    consumer_a(Message(sock.receive_message("a"), "websocket.receive", harness.layer))
    return dict(session_for_reply_channel(sock.reply_channel).items())


def test_two_messages_saving_at_once_keep_each_others_changes_database_sessions(harness):
    assert _interleaved_saves(harness) == {"a": "from A", "b": "from B"}


@override_settings(**CACHE_SESSIONS)
def test_two_messages_saving_at_once_keep_each_others_changes_cache_sessions(harness):
    cache.clear()
    assert _interleaved_saves(harness) == {"a": "from A", "b": "from B"}


@override_settings(**CACHE_SESSIONS)
def test_threads_saving_one_connections_session_lose_no_keys(harness):
    cache.clear()
    sock = Socket(harness)
    session_for_reply_channel(sock.reply_channel).save()  # the connection exists

    @channel_session
    def consumer(message):
        time.sleep(0.002)  # a consumer doing some work: the threads overlap
        message.channel_session[message["text"]] = True

    def hammer(prefix):
        for i in range(40):
            text = f"{prefix}{i}"
            consumer(Message(sock.receive_message(text), "websocket.receive", harness.layer))

    threads = [threading.Thread(target=hammer, args=(p,)) for p in "xyz"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    stored = session_for_reply_channel(sock.reply_channel)
    assert sorted(stored.keys()) == sorted(f"{p}{i}" for p in "xyz" for i in range(40))


# -- HTTP session ---------------------------------------------------------------------


def _browser_session(**data):
    session = DbSessionStore()
    session.update(data)
    session.create()
    return session


def _cookie_header(key):
    return [[b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}; other=1".encode()]]


@http_session
def show_http_session(message):
    session = message.http_session
    text = "none" if session is None else str(session.get("name", "empty"))
    message.reply_channel.send({"text": text})


def _handshake(harness, consumer, headers=(), query_string=b""):
    harness.route([route("websocket.connect", consumer)])
    sock = Socket(harness, headers=list(headers))
    sock.connect(query_string)
    harness.run_all()
    return sock.texts()


def test_http_session_comes_from_the_session_cookie(harness):
    session = _browser_session(name="ada")
    assert _handshake(harness, show_http_session, _cookie_header(session.session_key)) == ["ada"]


def test_http_session_key_may_come_from_the_query_string(harness):
    session = _browser_session(name="grace")
    query = f"session_key={session.session_key}".encode()
    assert _handshake(harness, show_http_session, query_string=query) == ["grace"]


def test_http_session_is_none_without_a_cookie_and_a_debug_log_says_so(harness, caplog):
    with caplog.at_level(logging.DEBUG, logger="channels.sessions"):
        assert _handshake(harness, show_http_session) == ["none"]
    assert "no sessionid cookie" in caplog.text


def test_unknown_http_session_is_empty_and_a_debug_log_says_so(harness, caplog):
    with caplog.at_level(logging.DEBUG, logger="channels.sessions"):
        texts = _handshake(harness, show_http_session, _cookie_header("x" * 32))
    assert texts == ["empty"]
    assert "unknown" in caplog.text


def test_expired_http_session_is_empty_and_a_debug_log_says_expired(harness, caplog):
    session = _browser_session(name="old")
    Session.objects.filter(pk=session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    with caplog.at_level(logging.DEBUG, logger="channels.sessions"):
        texts = _handshake(harness, show_http_session, _cookie_header(session.session_key))
    assert texts == ["empty"]
    assert "has expired" in caplog.text


def test_http_session_changes_are_saved(harness):
    session = _browser_session(visits=1)

    @http_session
    def count(message):
        message.http_session["visits"] += 1

    _handshake(harness, count, _cookie_header(session.session_key))
    assert DbSessionStore(session.session_key)["visits"] == 2


def test_channel_and_http_session_keeps_the_http_session_for_later_frames(harness):
    session = _browser_session(name="linus")

    @channel_and_http_session
    def consumer(message):
        http = message.http_session
        message.reply_channel.send({"text": http["name"] if http is not None else "none"})

    harness.route([route("websocket.connect", consumer), route("websocket.receive", consumer)])
    sock = Socket(harness, headers=_cookie_header(session.session_key))
    sock.connect()
    harness.run_all()
    sock.receive("later, without cookies")
    harness.run_all()
    assert sock.texts() == ["linus", "linus"]
    key = session_for_reply_channel(sock.reply_channel)[settings.SESSION_COOKIE_NAME]
    assert key == session.session_key


def test_saving_a_session_whose_row_was_cleared_meanwhile_stores_it_again(harness):
    sock = Socket(harness)

    @channel_session
    def consumer(message):
        Session.objects.all().delete()  # e.g. clearsessions ran meanwhile
        message.channel_session["kept"] = True

    consumer(Message(sock.receive_message("x"), "websocket.receive", harness.layer))
    assert session_for_reply_channel(sock.reply_channel)["kept"] is True
