"""The 1.x Channels API as 1.x code and its tests used it.

Written the way a 1.x user wrote tests: messages built by hand as
``Message(content, None, None)``, ``ChannelTestCase`` with ``WSClient``,
``Client`` and ``HttpClient``, the in-memory layer, and the channel session
got with ``session_for_reply_channel``. Covers:

* ``Message`` and ``Channel`` with no channel name and no layer;
* ``session_for_reply_channel``: 1.x's ``exists``/``save(must_create=True)``
  idiom and a plain ``save()`` on every session engine;
* the decorators' 1.x error text for a missing message;
* ``WSClient``/``HttpClient`` and a hand-made ``order``, and ``_get_content``;
* the origin validator on malformed ``Origin`` headers;
* ``Worker.apply_channel_filters`` keeping the channels' order.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import CreateError
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.contrib.sessions.models import Session
from django.test import override_settings
from django.utils import timezone

from asgi.exceptions import InvalidChannelName
from channels import DEFAULT_CHANNEL_LAYER, Channel
from channels.asgi import channel_layers
from channels.auth import (
    channel_and_http_session_user_from_http,
    channel_session_user,
    channel_session_user_from_http,
    http_session_user,
)
from channels.exceptions import DenyConnection
from channels.message import Message
from channels.routing import route
from channels.security.websockets import AllowedHostsOnlyOriginValidator, allowed_hosts_only
from channels.sessions import (
    channel_and_http_session,
    channel_session,
    enforce_ordering,
    http_session,
    session_for_reply_channel,
)
from channels.test import ChannelTestCase, Client, HttpClient, WSClient, apply_routes
from channels.worker import Worker

pytestmark = pytest.mark.unit


def _http_session_with(**data) -> DbSessionStore:
    """A stored browser session holding ``data`` (as a view would have made it)."""
    session = DbSessionStore()
    session.update(data)
    session.save()
    return session


# -- Message(content, None, None) and Channel(None) ---------------------------------


class MessageWithoutChannelNameTests(ChannelTestCase):
    def test_message_with_no_channel_name_and_no_layer_reads_like_a_dict(self):
        message = Message({"reply_channel": "test-reply", "text": "hi"}, None, None)
        self.assertIsNone(message.channel.name)
        self.assertIsNone(message.channel_layer)
        self.assertEqual(message["text"], "hi")
        self.assertEqual(message.reply_channel.name, "test-reply")

    def test_channels_of_a_message_with_no_layer_use_the_default_layer(self):
        message = Message({"reply_channel": "test-reply"}, None, None)
        default = channel_layers[DEFAULT_CHANNEL_LAYER]
        self.assertIs(message.channel.channel_layer, default)
        message.reply_channel.send({"text": "back"})
        self.assertEqual(self.get_next_message("test-reply", require=True)["text"], "back")

    def test_message_with_no_channel_name_keeps_the_layer_it_was_given(self):
        layer = channel_layers[DEFAULT_CHANNEL_LAYER]
        message = Message({"text": "x"}, None, layer)
        self.assertIs(message.channel_layer, layer)
        self.assertIs(message.channel.channel_layer, layer)
        self.assertIsNone(message.reply_channel)

    def test_copy_of_a_message_with_no_channel_name_has_no_channel_name(self):
        message = Message({"reply_channel": "test-reply", "n": [1]}, None, None)
        copied = message.copy()
        copied["n"].append(2)
        self.assertIsNone(copied.channel.name)
        self.assertEqual(message["n"], [1])

    def test_channel_named_none_prints_as_none_and_equals_another_named_none(self):
        channel = Channel(None)
        self.assertIsNone(channel.name)
        self.assertEqual(str(channel), "None")
        self.assertEqual(repr(channel), "<Channel None>")
        self.assertEqual(channel, Channel(None))
        self.assertNotEqual(channel, Channel("other"))

    def test_sending_to_a_channel_named_none_is_refused_by_the_layer(self):
        with pytest.raises(InvalidChannelName, match="got None"):
            Channel(None).send({"text": "nowhere"})

    def test_channel_name_of_a_type_other_than_text_or_none_is_a_type_error(self):
        with pytest.raises(TypeError, match="Channel name must be a str, got int"):
            Channel(42)

    def test_channel_session_on_a_message_with_no_channel_name_is_saved(self):
        @channel_session
        def inner(message):
            message.channel_session["num_ponies"] = -1

        inner(Message({"reply_channel": "test-reply"}, None, None))
        self.assertEqual(session_for_reply_channel("test-reply")["num_ponies"], -1)

    def test_channel_session_error_for_a_missing_reply_channel_names_the_none_channel(self):
        @channel_session
        def inner(message):
            pass

        with pytest.raises(ValueError, match="reply_channel.*None"):
            inner(Message({}, None, None))

    def test_enforce_ordering_error_for_a_missing_order_names_the_none_channel(self):
        @enforce_ordering
        def inner(message):
            pass

        with pytest.raises(ValueError, match="'order'.*None"):
            inner(Message({"reply_channel": "test-reply-e"}, None, None))

    def test_http_session_on_a_message_with_no_channel_name_finds_the_cookie_session(self):
        session = _http_session_with(species="horse")
        cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode("ascii")
        seen = []

        @http_session
        def inner(message):
            seen.append(message.http_session["species"])

        content = {
            "reply_channel": "test-reply",
            "http_version": "1.1",
            "method": "GET",
            "path": "/test2/",
            "headers": [[b"cookie", cookie]],
        }
        inner(Message(content, None, None))
        self.assertEqual(seen, ["horse"])

    def test_origin_validator_on_a_message_with_no_channel_name_checks_the_origin(self):
        @allowed_hosts_only
        def connect(message):
            return "accepted"

        headers = [[b"origin", b"http://allowed.example"]]
        message = Message({"reply_channel": "test-reply", "headers": headers}, None, None)
        with override_settings(ALLOWED_HOSTS=["allowed.example"]):
            self.assertEqual(connect(message), "accepted")
        with override_settings(ALLOWED_HOSTS=["other.example"]):
            with pytest.raises(DenyConnection, match="not allowed"):
                connect(message)


# -- session_for_reply_channel on every session engine -------------------------------

# The engines Django ships that can hold a channel session (signed_cookies
# cannot: the data would live in the browser).
ENGINES = {
    "db": {},
    "cache": {},
    "cached_db": {},
    "file": {},
}


@pytest.fixture(params=sorted(ENGINES))
def engine(request, tmp_path, settings):
    """Run the test with CHANNEL_SESSION_ENGINE set to each server-side engine."""
    settings.CHANNEL_SESSION_ENGINE = f"django.contrib.sessions.backends.{request.param}"
    settings.SESSION_FILE_PATH = str(tmp_path)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"channels-compat-{request.param}-{tmp_path.name}",
        }
    }
    return request.param


@pytest.mark.django_db
def test_session_for_reply_channel_is_not_stored_until_saved_as_in_1x(engine):
    session = session_for_reply_channel("websocket.send!unsaved")
    assert session.session_key.startswith("chn") and len(session.session_key) == 32
    assert not session.exists(session.session_key)


@pytest.mark.django_db
def test_1x_idiom_exists_then_must_create_save_stores_the_session(engine):
    session = session_for_reply_channel("websocket.send!idiom")
    session["colour"] = "teal"
    if not session.exists(session.session_key):
        session.save(must_create=True)
    assert session.exists(session.session_key)
    assert session_for_reply_channel("websocket.send!idiom")["colour"] == "teal"


@pytest.mark.django_db
def test_plain_save_stores_a_new_channel_session(engine):
    session = session_for_reply_channel("websocket.send!plain")
    session["colour"] = "plum"
    session.save()
    again = session_for_reply_channel("websocket.send!plain")
    assert again.session_key == session.session_key
    assert again["colour"] == "plum"


@pytest.mark.django_db
def test_plain_save_after_a_creating_save_updates_the_stored_session(engine):
    session = session_for_reply_channel("websocket.send!update")
    session.save(must_create=True)
    session["n"] = 2
    session.save()
    assert session_for_reply_channel("websocket.send!update")["n"] == 2


@pytest.mark.django_db
def test_creating_save_of_a_session_stored_meanwhile_reports_the_race(engine):
    first = session_for_reply_channel("websocket.send!race")
    second = session_for_reply_channel("websocket.send!race")
    first.save(must_create=True)
    with pytest.raises(CreateError, match="^$"):
        second.save(must_create=True)
    # the loser of the race can still write with a plain save
    second["late"] = True
    second.save()
    assert session_for_reply_channel("websocket.send!race")["late"] is True


@pytest.mark.django_db
def test_creating_save_succeeds_when_an_expired_row_holds_the_key():
    stale = session_for_reply_channel("websocket.send!stale")
    stale["old"] = True
    stale.save()
    Session.objects.filter(pk=stale.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )
    session = session_for_reply_channel("websocket.send!stale")
    assert "old" not in session
    session.save(must_create=True)
    assert session_for_reply_channel("websocket.send!stale").keys() == set()


@pytest.mark.django_db
def test_channel_session_consumer_reads_what_the_1x_idiom_stored(engine):
    session = session_for_reply_channel("websocket.send!shared")
    session["name"] = "ada"
    if not session.exists(session.session_key):
        session.save(must_create=True)
    seen = []

    @channel_session
    def consumer(message):
        seen.append(message.channel_session["name"])

    consumer(Message({"reply_channel": "websocket.send!shared"}, "websocket.receive", None))
    assert seen == ["ada"]


@override_settings(
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    CHANNEL_SESSION_ENGINE=None,
)
def test_session_for_reply_channel_refuses_signed_cookie_sessions():
    with pytest.raises(ValueError, match="signed_cookies"):
        session_for_reply_channel("websocket.send!cookies")


class WSClientSessionTests(ChannelTestCase):
    def test_client_session_saved_by_the_test_is_the_consumers_http_session(self):
        client = WSClient()
        client.session["flavour"] = "oat"
        client.session.save()

        @http_session
        def connect(message):
            message.reply_channel.send({"text": message.http_session["flavour"]})

        with apply_routes([route("websocket.connect", connect)]):
            client.send_and_consume("websocket.connect", check_accept=False)
        self.assertEqual(client.receive(json=False), "oat")


# -- the decorators' error for a missing message --------------------------------------

# Each decorator names the outermost session decorator it applies, as 1.x's
# channel_session did ("channel_session called without Message instance").
MISSING_MESSAGE = [
    (channel_session, "channel_session"),
    (enforce_ordering, "channel_session"),
    (channel_session_user, "channel_session"),
    (http_session, "http_session"),
    (channel_and_http_session, "http_session"),
    (http_session_user, "http_session"),
    (channel_session_user_from_http, "http_session"),
    (channel_and_http_session_user_from_http, "http_session"),
    (AllowedHostsOnlyOriginValidator, "AllowedHostsOnlyOriginValidator"),
]


@pytest.mark.parametrize(("decorator", "name"), MISSING_MESSAGE)
def test_decorator_called_without_a_message_keeps_the_1x_error_text(decorator, name):
    consumer = decorator(lambda *args, **kwargs: None)
    message = Message({"reply_channel": "test-reply"}, None, None)
    with pytest.raises(ValueError, match=f"^{name} called without Message instance"):
        consumer(None, None, message)


def test_missing_message_error_says_what_came_instead():
    consumer = channel_session(lambda message: None)
    with pytest.raises(ValueError, match=r"got \['str'\]"):
        consumer("not a message")


class DecoratorThirdArgumentTests(ChannelTestCase):
    def test_channel_session_with_the_message_third_fails_with_the_1x_message(self):
        @channel_session
        def inner(a, b, message):
            pass

        message = Message({"reply_channel": "test-reply"}, None, None)
        with self.assertRaisesMessage(
            ValueError, "channel_session called without Message instance"
        ):
            inner(None, None, message)


# -- WSClient / HttpClient and order ---------------------------------------------------


class WSClientOrderTests(ChannelTestCase):
    def _sent(self, client, channel, content):
        client.send(channel, content, text="x")
        return self.get_next_message(channel, require=True).content

    def test_hand_made_integer_order_is_sent_as_given(self):
        client = WSClient()
        self.assertEqual(self._sent(client, "websocket.receive", {"order": 5})["order"], 5)

    def test_hand_made_order_of_any_type_is_sent_untouched(self):
        client = WSClient()
        for order in ("3", None, 2.5):
            content = self._sent(client, "websocket.receive", {"order": order})
            self.assertIs(content["order"], order)

    def test_numbered_messages_after_a_hand_made_order_follow_it(self):
        client = WSClient()
        self._sent(client, "websocket.receive", {"order": 7})
        self.assertEqual(self._sent(client, "websocket.receive", {})["order"], 8)

    def test_hand_made_order_lower_than_the_counter_does_not_move_it_back(self):
        client = WSClient()
        for _ in range(3):
            self._sent(client, "websocket.receive", {})
        self._sent(client, "websocket.receive", {"order": 0})
        self.assertEqual(self._sent(client, "websocket.receive", {})["order"], 3)

    def test_unordered_client_numbers_websocket_messages_as_daphne_does(self):
        client = WSClient()
        client.send("websocket.connect")
        client.send("websocket.receive", text="a")
        orders = [
            client.get_next_message("websocket.connect")["order"],
            client.get_next_message("websocket.receive")["order"],
        ]
        self.assertEqual(orders, [0, 1])

    def test_unordered_client_adds_no_order_to_other_channels(self):
        client = WSClient()
        client.send("chat.message", {"text": "hi"})
        self.assertNotIn("order", client.get_next_message("chat.message").content)

    def test_ordered_client_numbers_every_channel(self):
        client = WSClient(ordered=True)
        client.send("chat.message", {"text": "hi"})
        client.send("websocket.receive", text="x")
        self.assertEqual(client.get_next_message("chat.message")["order"], 0)
        self.assertEqual(client.get_next_message("websocket.receive")["order"], 1)

    def test_ordered_client_refuses_a_hand_made_order(self):
        client = WSClient(ordered=True)
        with pytest.raises(ValueError, match="Do not set 'order' by hand.*got order=5"):
            client.send("websocket.receive", {"order": 5}, text="x")

    def test_http_client_leaves_a_hand_made_order_untouched_too(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            client = HttpClient()
        self.assertEqual(self._sent(client, "websocket.receive", {"order": "9"})["order"], "9")

    def test_enforce_ordering_runs_hand_numbered_messages_in_their_order(self):
        client = WSClient()

        @enforce_ordering
        def consumer(message):
            message.reply_channel.send({"text": message["text"]})

        with apply_routes([route("websocket.receive", consumer)]):
            client.send("websocket.receive", {"order": 1}, text="second")
            client.send("websocket.receive", {"order": 0}, text="first")
            client.consume("websocket.receive")
            client.consume("websocket.receive")
            client.consume("websocket.receive")  # the parked one, released
        self.assertEqual(
            [client.receive(json=False), client.receive(json=False)], ["first", "second"]
        )


class WSClientGetContentTests(ChannelTestCase):
    def test_get_content_encodes_text_and_keeps_the_path(self):
        content = WSClient()._get_content(text={"key": "value"}, path="/my/path")
        self.assertEqual(content["text"], '{"key": "value"}')
        self.assertEqual(content["path"], "/my/path")
        self.assertIn("reply_channel", content)
        self.assertIn("headers", content)

    def test_get_content_path_in_the_content_wins_over_the_argument(self):
        content = WSClient()._get_content(
            content={"path": "/my_path"}, text={"path": "hi"}, path="/my/path"
        )
        self.assertEqual(content["path"], "/my_path")
        self.assertEqual(content["text"], '{"path": "hi"}')

    def test_get_content_sends_the_session_cookie_in_byte_pair_headers(self):
        content = WSClient()._get_content()
        cookies = [value for name, value in content["headers"] if name == b"cookie"]
        self.assertEqual(len(cookies), 1)
        self.assertIn(settings.SESSION_COOKIE_NAME.encode(), cookies[0])

    def test_get_content_numbers_only_for_an_ordered_client(self):
        self.assertNotIn("order", WSClient()._get_content())
        client = WSClient(ordered=True)
        self.assertEqual(client._get_content()["order"], 0)
        client.order = 2
        self.assertEqual(client._get_content()["order"], 2)
        self.assertEqual(client.order, 3)

    def test_get_content_splits_the_query_string_off_the_path(self):
        content = WSClient()._get_content(path="/my/path?test=1&token=2")
        self.assertEqual(content["path"], "/my/path")
        self.assertEqual(content["query_string"], "test=1&token=2")

    def test_get_content_without_a_query_has_no_query_string(self):
        self.assertNotIn("query_string", WSClient()._get_content(path="/plain"))


# -- origin validator and malformed headers ---------------------------------------------


def _connect_with(headers):
    return Message({"reply_channel": "test-reply", "headers": headers}, "websocket.connect", None)


@allowed_hosts_only
def _origin_checked(message):
    return "accepted"


MALFORMED_ORIGINS = {
    "name only": [[b"origin"]],
    "value not text": [[b"origin", 42]],
    "value None": [[b"origin", None]],
    "value a list": [[b"origin", [b"http://a.example"]]],
    "value not ascii": [[b"origin", "http://\u00e9.example"]],
    "value bytes not ascii": [[b"origin", b"http://\xff.example"]],
    "empty value": [[b"origin", b""]],
}


@pytest.mark.django_db
@pytest.mark.parametrize("headers", MALFORMED_ORIGINS.values(), ids=list(MALFORMED_ORIGINS))
@override_settings(ALLOWED_HOSTS=["*"])
def test_malformed_origin_entry_is_denied_as_a_missing_origin(headers):
    with pytest.raises(DenyConnection, match="Origin"):
        _origin_checked(_connect_with(headers))


MALFORMED_HEADERS = {
    "entry not a sequence": [b"origin: http://a.example", 7, None],
    "empty entry": [[]],
    "name not latin-1": [["\u2603", b"http://a.example"]],
    "name not text": [[7, b"http://a.example"]],
    "headers a string": "origin: http://a.example",
    "headers None": None,
    "headers a number": 3,
}


@pytest.mark.django_db
@pytest.mark.parametrize("headers", MALFORMED_HEADERS.values(), ids=list(MALFORMED_HEADERS))
@override_settings(ALLOWED_HOSTS=["*"])
def test_malformed_header_list_is_denied_as_a_missing_origin(headers):
    with pytest.raises(DenyConnection, match="no Origin header"):
        _origin_checked(_connect_with(headers))


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["a.example"])
def test_malformed_entries_before_a_good_origin_are_skipped():
    headers = [7, [], [b"\xff\xfe", b"x"], [b"Origin", b"http://a.example"]]
    assert _origin_checked(_connect_with(headers)) == "accepted"


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["a.example"])
def test_legacy_dict_headers_are_read_for_the_origin():
    assert _origin_checked(_connect_with({b"origin": b"http://a.example"})) == "accepted"
    with pytest.raises(DenyConnection, match="not allowed"):
        _origin_checked(_connect_with({"Origin": b"http://b.example"}))


def test_get_header_returns_the_values_after_the_name_as_in_1x():
    validator = AllowedHostsOnlyOriginValidator(lambda message: None)
    message = _connect_with([[b"origin", b"http://a.example"], [b"origin"]])
    assert validator.get_header(message, b"origin")[0] == b"http://a.example"
    with pytest.raises(KeyError, match="referer"):
        validator.get_header(message, b"referer")


class OriginThroughTheClientTests(ChannelTestCase):
    def test_malformed_origin_sent_by_a_client_gets_a_close_reply(self):
        client = Client()
        with apply_routes([route("websocket.connect", _origin_checked)]):
            client.send_and_consume("websocket.connect", {"path": "/", "headers": [[b"origin"]]})
        self.assertEqual(client.receive(), {"close": True})


# -- Worker.apply_channel_filters ------------------------------------------------------


def test_only_channels_filter_keeps_the_input_order():
    worker = Worker(None, only_channels=["yes.*", "maybe.*"])
    assert worker.apply_channel_filters(["yes.1", "no.1"]) == ["yes.1"]
    assert worker.apply_channel_filters(["yes.1", "no.1", "maybe.2", "yes"]) == [
        "yes.1",
        "maybe.2",
    ]


def test_exclude_channels_filter_keeps_the_input_order():
    worker = Worker(None, exclude_channels=["no.*", "maybe.*"])
    assert worker.apply_channel_filters(["yes.1", "no.1", "maybe.2", "yes"]) == ["yes.1", "yes"]


def test_both_filters_keep_the_input_order():
    worker = Worker(None, exclude_channels=["no.*"], only_channels=["yes.*", "maybe.*"])
    assert worker.apply_channel_filters(["yes.2", "maybe.1", "no.1", "yes.1"]) == [
        "yes.2",
        "maybe.1",
        "yes.1",
    ]


def test_no_filters_return_the_channels_in_the_input_order():
    assert Worker(None).apply_channel_filters(["z", "a", "m"]) == ["z", "a", "m"]
