"""channels.test: test cases, Client, WSClient and apply_routes."""

import unittest

import pytest
from django.test import override_settings

from asgi import www
from channels import DEFAULT_CHANNEL_LAYER, Channel
from channels.asgi import channel_layers
from channels.routing import route
from channels.test import ChannelTestCase, Client, HttpClient, WSClient, apply_routes

from . import consumers

pytestmark = pytest.mark.unit


class ChannelTestCaseTests(ChannelTestCase):
    def test_each_test_gets_a_fresh_in_memory_layer(self):
        layer = channel_layers[DEFAULT_CHANNEL_LAYER]
        assert type(layer.channel_layer).__module__ == "asgi.inmemory"
        Channel("fresh.test").send({"n": 1}, immediately=True)
        assert self.get_next_message("fresh.test", require=True)["n"] == 1
        assert self.get_next_message("fresh.test") is None

    def test_messages_do_not_leak_into_the_next_test(self):
        seen = []

        class Probe(ChannelTestCase):
            def test_1_sends_and_leaves_it(self):
                Channel("leak.test").send({"n": 1}, immediately=True)
                Channel("leak.test").send({"n": 2}, immediately=True)

            def test_2_looks(self):
                seen.append(self.get_next_message("leak.test"))

        result = unittest.TestResult()
        unittest.defaultTestLoader.loadTestsFromTestCase(Probe).run(result)
        assert result.wasSuccessful(), result.errors + result.failures
        assert seen == [None]  # the second test ran and found the channel empty

    def test_require_fails_the_test_when_nothing_came(self):
        with pytest.raises(AssertionError, match="Expected a message on channel 'nothing.here'"):
            self.get_next_message("nothing.here", require=True)


class ClientTests(ChannelTestCase):
    @apply_routes([route("http.request", consumers.echo_http)])
    def test_http_request_messages_carry_every_key_daphne_sends(self):
        client = Client()
        client.send("http.request", {"path": "/hello/"})
        message = client.get_next_message("http.request")
        www.validate("http.request", message.content)
        assert set(message.content) == www.FORMATS["http.request"].keys
        assert message["path"] == "/hello/"

    @apply_routes([route("http.request", consumers.echo_http)])
    def test_send_and_consume_runs_the_routed_consumer_and_receive_reads_the_reply(self):
        client = Client()
        client.send_and_consume("http.request", {"path": "/p/"})
        reply = client.receive()
        assert reply["status"] == 200 and reply["content"] == b"/p/"
        assert client.receive() is None

    @apply_routes([route("websocket.receive", consumers.reply_then_look)])
    def test_sends_inside_a_consumer_go_out_when_it_returns(self):
        consumers.SEEN_INSIDE.clear()
        client = WSClient()
        client.send_and_consume("websocket.receive", text="x")
        assert consumers.SEEN_INSIDE == [(None, None)]
        assert client.receive(json=False) == "reply"

    @apply_routes([route("websocket.receive", consumers.reply_then_fail)])
    def test_a_failing_consumer_raises_and_its_pending_sends_are_dropped(self):
        client = WSClient()
        with pytest.raises(RuntimeError, match="consumer bug"):
            client.send_and_consume("websocket.receive", text="x")
        assert client.receive() is None

    @apply_routes([route("websocket.receive", consumers.immediate_then_fail)])
    def test_immediate_sends_survive_a_failing_consumer(self):
        client = WSClient()
        with pytest.raises(RuntimeError):
            client.send_and_consume("websocket.receive", text="x")
        assert client.receive(json=False) == "sent at once"

    def test_consume_without_message_or_route_fails_unless_told_not_to(self):
        client = Client()
        with pytest.raises(AssertionError, match="No message on channel"):
            client.consume("empty.channel")
        assert client.consume("empty.channel", fail_on_none=False) is None
        client.send("unrouted.channel", {})
        with pytest.raises(AssertionError, match="No route matches"):
            client.consume("unrouted.channel")

    @apply_routes([route("websocket.connect", consumers.accept)])
    def test_consume_returns_what_the_consumer_returned(self):
        assert WSClient().send_and_consume("websocket.connect") == "accepted"

    @apply_routes([route("websocket.connect", consumers.accept)])
    def test_get_consumer_by_channel_finds_the_route(self):
        assert Client().get_consumer_by_channel("websocket.connect") is consumers.accept
        assert Client().get_consumer_by_channel("websocket.receive") is None

    @apply_routes([route("websocket.connect", consumers.deny)])
    def test_deny_connection_becomes_a_close_reply(self):
        client = WSClient()
        client.send_and_consume("websocket.connect", check_accept=False)
        assert client.receive() == {"close": True}

    @apply_routes([route("websocket.connect", consumers.reject_with_close)])
    def test_check_accept_raises_when_the_connection_is_rejected(self):
        with pytest.raises(AssertionError, match="Connection rejected"):
            WSClient().send_and_consume("websocket.connect")

    @apply_routes([route("websocket.receive", consumers.close_with_4001)])
    def test_channel_socket_exceptions_run_on_the_reply_channel(self):
        client = WSClient(reply_channel="websocket.send!")
        client.send_and_consume("websocket.receive", text="x")
        assert client.receive() == {"close": 4001}

    @apply_routes([route("websocket.receive", consumers.CountingLater())])
    def test_consume_later_puts_the_message_back_for_the_next_consume(self):
        consumers.CountingLater.calls = 0
        client = WSClient()
        client.send_and_consume("websocket.receive", text="x")
        assert client.receive() is None
        client.consume("websocket.receive")
        assert client.receive(json=False) == "second try"

    def test_join_group_makes_the_client_receive_group_sends(self):
        from channels import Group

        client = Client()
        client.join_group("room")
        Group("room").send({"text": "hi"}, immediately=True)
        assert client.receive() == {"text": "hi"}


class WSClientTests(ChannelTestCase):
    def test_connect_receive_and_disconnect_carry_every_key_daphne_sends(self):
        client = WSClient()
        for channel, extra in (
            ("websocket.connect", {}),
            ("websocket.receive", {"text": "hi"}),
            ("websocket.disconnect", {}),
        ):
            client.send(channel, extra, path="/ws/?a=1")
            content = client.get_next_message(channel).content
            www.validate(channel, content)
            assert set(www.FORMATS[channel].required) <= set(content)
        # The connect message has the optional keys daphne 1.x left out, too.
        client.send("websocket.connect", path="/ws/?a=1")
        connect = client.get_next_message("websocket.connect").content
        assert set(connect) == www.FORMATS["websocket.connect"].keys
        assert (connect["path"], connect["query_string"]) == ("/ws/", b"a=1")

    def test_messages_are_numbered_in_order_from_zero(self):
        client = WSClient()
        for channel in ("websocket.connect", "websocket.receive", "websocket.receive"):
            client.send(channel, text="t" if channel != "websocket.connect" else None)
        orders = [client.get_next_message(c)["order"] for c in ("websocket.connect",)] + [
            client.get_next_message("websocket.receive")["order"] for _ in range(2)
        ]
        assert orders == [0, 1, 2]

    def test_ordered_client_refuses_a_hand_made_order(self):
        with pytest.raises(ValueError, match="order"):
            WSClient(ordered=True).send("websocket.receive", {"order": 5}, text="x")
        client = WSClient()
        client.send("websocket.receive", {"order": 5}, text="x")
        assert client.get_next_message("websocket.receive")["order"] == 5

    def test_text_that_is_not_a_string_is_sent_as_json_and_received_decoded(self):
        client = WSClient()
        with apply_routes([route("websocket.receive", consumers.echo_text)]):
            client.send_and_consume("websocket.receive", text={"a": [1, 2]})
        assert client.receive() == {"a": [1, 2]}

    def test_headers_and_cookies_are_sent_as_lowercased_byte_pairs(self):
        client = WSClient()
        client.set_header("Origin", "http://example.com")
        client.set_cookie("flavour", "oat")
        client.send("websocket.connect")
        headers = dict(map(tuple, client.get_next_message("websocket.connect")["headers"]))
        assert headers[b"origin"] == b"http://example.com"
        assert b"flavour=oat" in headers[b"cookie"]

    def test_cookie_header_must_be_set_with_set_cookie(self):
        with pytest.raises(ValueError, match="set_cookie"):
            WSClient().set_header("Cookie", "a=b")

    def test_http_client_is_a_deprecated_alias(self):
        with pytest.warns(DeprecationWarning, match="WSClient"):
            client = HttpClient()
        assert isinstance(client, WSClient)


class ApplyRoutesTests(ChannelTestCase):
    def test_context_manager_swaps_routing_and_restores_it(self):
        before = channel_layers[DEFAULT_CHANNEL_LAYER].routing
        with apply_routes([route("websocket.connect", consumers.accept)]):
            assert Client().get_consumer_by_channel("websocket.connect") is consumers.accept
        assert channel_layers[DEFAULT_CHANNEL_LAYER].routing is before
        assert Client().get_consumer_by_channel("websocket.connect") is None

    def test_a_list_of_lists_is_included(self):
        routes = [
            [route("websocket.connect", consumers.accept)],
            [route("http.request", consumers.echo_http)],
        ]
        with apply_routes(routes):
            assert Client().get_consumer_by_channel("http.request") is consumers.echo_http
            assert Client().get_consumer_by_channel("websocket.connect") is consumers.accept


@override_settings(
    CHANNEL_LAYERS={
        "default": {"BACKEND": "asgi.inmemory.ChannelLayer", "ROUTING": []},
        "other": {"BACKEND": "asgi.inmemory.ChannelLayer", "ROUTING": []},
    }
)
class AliasTests(ChannelTestCase):
    test_channel_aliases = ["default", "other"]

    def test_apply_routes_honours_aliases(self):
        with apply_routes([route("websocket.connect", consumers.accept)], aliases=["other"]):
            assert Client("other").get_consumer_by_channel("websocket.connect") is consumers.accept
            assert Client("default").get_consumer_by_channel("websocket.connect") is None


@apply_routes([route("websocket.receive", consumers.echo_text)])
class ClassDecoratedTests(ChannelTestCase):
    def test_apply_routes_on_a_class_applies_to_each_test(self):
        client = WSClient()
        client.send_and_consume("websocket.receive", text="hello")
        assert client.receive(json=False) == "hello"
