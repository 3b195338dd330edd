"""ChannelLiveServerTestCase: real daphne and worker processes on Redis and the test DB,
and the JavaScript bridge in headless Chromium against them."""

import json

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from websockets.sync.client import connect

from channels.test.liveserver import ChannelLiveServerTestCase
from tests.liveserver.redis_case import RedisLiveServerTestCase, redis_layers
from tests.support.browser import start_chromium, wait_for

pytestmark = pytest.mark.integration


class LiveServerTests(RedisLiveServerTestCase):
    def test_a_django_view_answers_over_http_and_sees_the_test_database(self):
        assert httpx.get(self.live_server_url + "/users/", timeout=10).text == "0"
        get_user_model().objects.create_user("grace")
        assert httpx.get(self.live_server_url + "/users/", timeout=10).text == "1"

    def test_a_websocket_echo_goes_through_daphne_redis_and_the_worker(self):
        with connect(self.live_server_ws_url + "/ws/echo/", open_timeout=10) as socket:
            socket.send("hello")
            assert socket.recv(timeout=10) == "hello"
            socket.send(b"\x00\x01")
            assert socket.recv(timeout=10) == b"\x00\x01"

    def test_static_files_are_served(self):
        response = httpx.get(
            self.live_server_url + "/static/channels/js/websocketbridge.js", timeout=10
        )
        assert response.status_code == 200
        assert "WebSocketBridge" in response.text


class BridgeInBrowserTests(RedisLiveServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.browser = start_chromium()
        except BaseException:
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        super().tearDownClass()

    def open_page(self):
        self.browser.get(self.live_server_url + "/bridge/")
        return self.browser

    def test_the_bridge_connects_and_echoes_through_the_stack(self):
        page = self.open_page()
        page.execute_script(
            """
            window.bridge = new channels.WebSocketBridge();
            bridge.connect("/ws/echo/");
            bridge.listen((msg, stream) => received.push(msg));
            bridge.socket.addEventListener("open", () => bridge.send({ping: 1}));
            """
        )
        assert wait_for(page, "received.length > 0 && received", 20) == [{"ping": 1}]

    def test_multiplexed_streams_reach_their_consumers_and_come_back_demultiplexed(self):
        page = self.open_page()
        page.execute_script(
            """
            window.bridge = new channels.WebSocketBridge();
            bridge.connect("/ws/mux/");
            bridge.listen();
            bridge.demultiplex("echo", (payload, stream) => received.push([stream, payload]));
            bridge.demultiplex("upper", (payload, stream) => received.push([stream, payload]));
            bridge.socket.addEventListener("open", () => {
                bridge.stream("echo").send({n: 7});
                bridge.stream("upper").send({word: "loud"});
            });
            """
        )
        received = wait_for(page, "received.length >= 2 && received", 20)
        assert sorted(map(json.dumps, received)) == sorted(
            map(json.dumps, [["echo", {"echo": {"n": 7}}], ["upper", {"upper": "LOUD"}]])
        )

    def test_the_bridge_reconnects_after_daphne_restarts(self):
        page = self.open_page()
        page.execute_script(
            """
            window.bridge = new channels.WebSocketBridge({minReconnectionDelay: 200});
            bridge.connect("/ws/echo/");
            bridge.listen((msg) => received.push(msg));
            bridge.socket.addEventListener("open", () => events.push("open"));
            bridge.socket.addEventListener("close", () => events.push("close"));
            """
        )
        wait_for(page, "events.includes('open')", 20)
        daphne = self._processes[-1]
        daphne.stop()
        wait_for(page, "events.includes('close')", 20)
        page.execute_script("bridge.send({sent_while_down: true})")
        daphne.start()
        wait_for(page, "events.filter((e) => e === 'open').length >= 2", 30)
        assert wait_for(page, "received.length > 0 && received", 20) == [{"sent_while_down": True}]


class MisconfigurationTests(ChannelLiveServerTestCase):
    """setUpClass refuses configurations the server processes cannot use."""

    @classmethod
    def setUpClass(cls):
        pass  # each test starts (and expects to fail) the servers itself

    @classmethod
    def tearDownClass(cls):
        pass

    def attempt(self, layers):
        with override_settings(CHANNEL_LAYERS=layers):
            try:
                type(self)._start_servers()
            finally:
                type(self)._stop_servers()

    def test_an_in_memory_test_layer_is_refused(self):
        layers = {
            "default": {
                "BACKEND": "asgi.inmemory.ChannelLayer",
                "TEST_CONFIG": {},
                "ROUTING": "tests.liveserver.routing.channel_routing",
            }
        }
        with pytest.raises(ImproperlyConfigured, match="cross-process layer"):
            self.attempt(layers)

    def test_a_missing_test_config_is_refused(self):
        layers = redis_layers()
        del layers["default"]["TEST_CONFIG"]
        with pytest.raises(ImproperlyConfigured, match="TEST_CONFIG"):
            self.attempt(layers)

    def test_more_than_one_alias_is_refused(self):
        layers = redis_layers()
        layers["other"] = dict(layers["default"])
        with pytest.raises(ImproperlyConfigured, match="exactly one"):
            self.attempt(layers)

    def test_routing_given_as_a_list_is_refused(self):
        layers = redis_layers()
        layers["default"]["ROUTING"] = []
        with pytest.raises(ImproperlyConfigured, match="dotted path"):
            self.attempt(layers)
