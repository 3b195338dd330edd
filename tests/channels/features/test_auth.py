"""Users for consumers, including the talk's chat example (slide 29).

See docs/topics/sessions.rst, "Users".
"""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import User
from django.test import Client as DjangoClient

from channels.auth import (
    channel_and_http_session_user_from_http,
    channel_session_user,
    channel_session_user_from_http,
    http_session_user,
    transfer_user,
)
from channels.routing import route

from .conftest import Socket

pytestmark = [pytest.mark.unit, pytest.mark.django_db]


def login_cookie(user):
    browser = DjangoClient()
    browser.force_login(user)
    key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    return key, [[b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode()]]


def name_of(user):
    return user.username if user.is_authenticated else "anonymous"


@channel_session_user_from_http
def connect_reporting_user(message):
    message.reply_channel.send({"text": name_of(message.user)})


@channel_session_user
def receive_reporting_user(message):
    message.reply_channel.send({"text": name_of(message.user)})


def run_connection(
    harness, headers, connect=connect_reporting_user, receive=receive_reporting_user
):
    harness.route([route("websocket.connect", connect), route("websocket.receive", receive)])
    sock = Socket(harness, headers=headers)
    sock.connect()
    harness.run_all()
    sock.receive("who am I?")
    harness.run_all()
    return sock.texts()


@pytest.fixture
def ada():
    return User.objects.create_user("ada", password="lovelace")


def test_user_logged_in_over_http_is_the_user_on_connect_and_on_later_frames(harness, ada):
    _key, headers = login_cookie(ada)
    assert run_connection(harness, headers) == ["ada", "ada"]


def test_without_a_session_cookie_the_user_is_anonymous_and_a_debug_log_says_why(harness, caplog):
    with caplog.at_level(logging.DEBUG, logger="channels"):
        assert run_connection(harness, []) == ["anonymous", "anonymous"]
    assert "no HTTP session" in caplog.text
    assert "no sessionid cookie" in caplog.text


def test_unknown_session_cookie_gives_anonymous_and_the_log_says_unknown(harness, caplog):
    headers = [[b"cookie", f"{settings.SESSION_COOKIE_NAME}={'z' * 32}".encode()]]
    with caplog.at_level(logging.DEBUG, logger="channels"):
        assert run_connection(harness, headers) == ["anonymous", "anonymous"]
    assert "unknown" in caplog.text


def test_deleted_user_gives_anonymous_and_the_log_says_the_user_is_gone(harness, ada, caplog):
    _key, headers = login_cookie(ada)
    ada.delete()
    with caplog.at_level(logging.DEBUG, logger="channels.auth"):
        assert run_connection(harness, headers) == ["anonymous", "anonymous"]
    assert "no longer exists" in caplog.text


def test_password_change_after_login_logs_the_socket_out(harness, ada):
    _key, headers = login_cookie(ada)
    ada.set_password("changed")
    ada.save()
    assert run_connection(harness, headers) == ["anonymous", "anonymous"]


def test_session_without_a_login_gives_anonymous_and_the_log_says_nobody_logged_in(harness, caplog):
    browser = DjangoClient()
    session = browser.session
    session["theme"] = "dark"
    session.save()
    headers = [[b"cookie", f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()]]
    with caplog.at_level(logging.DEBUG, logger="channels.auth"):
        assert run_connection(harness, headers) == ["anonymous", "anonymous"]
    assert "nobody is logged in" in caplog.text


def test_http_session_user_reads_the_http_session(harness, ada):
    @http_session_user
    def connect(message):
        message.reply_channel.send({"text": name_of(message.user)})

    _key, headers = login_cookie(ada)
    harness.route([route("websocket.connect", connect)])
    sock = Socket(harness, headers=headers)
    sock.connect()
    harness.run_all()
    assert sock.texts() == ["ada"]


def test_channel_and_http_session_user_from_http_keeps_both_sessions(harness, ada):
    @channel_and_http_session_user_from_http
    def connect(message):
        message.http_session["seen"] = True
        message.reply_channel.send({"text": name_of(message.user)})

    @channel_session_user
    def receive(message):
        message.reply_channel.send({"text": name_of(message.user)})

    key, headers = login_cookie(ada)
    assert run_connection(harness, headers, connect, receive) == ["ada", "ada"]
    from django.contrib.sessions.backends.db import SessionStore

    assert SessionStore(key)["seen"] is True


def test_auth_decorators_work_on_methods(harness, ada):
    class Chat:
        @channel_session_user_from_http
        def connect(self, message):
            message.reply_channel.send({"text": name_of(message.user)})

        @channel_session_user
        def receive(self, message):
            message.reply_channel.send({"text": name_of(message.user)})

    chat = Chat()
    _key, headers = login_cookie(ada)
    assert run_connection(harness, headers, chat.connect, chat.receive) == ["ada", "ada"]


def test_transfer_user_copies_a_complete_login_only():
    login = {auth.SESSION_KEY: "1", auth.BACKEND_SESSION_KEY: "b", auth.HASH_SESSION_KEY: "h"}
    target = {}
    transfer_user(login, target)
    assert target == login
    partial = {auth.SESSION_KEY: "1", auth.BACKEND_SESSION_KEY: "b"}
    untouched = {"kept": 1}
    transfer_user(partial, untouched)
    assert untouched == {"kept": 1}


def test_a_logged_in_connection_logs_nothing_about_anonymous_users(harness, ada, caplog):
    _key, headers = login_cookie(ada)
    with caplog.at_level(logging.DEBUG, logger="channels"):
        assert run_connection(harness, headers) == ["ada", "ada"]
    assert "Anonymous" not in caplog.text
    assert "No HTTP session" not in caplog.text
