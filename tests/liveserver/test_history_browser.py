"""Group history in the browser: two Chromium windows on one group through
real daphne, worker and Redis processes; one window's socket drops, messages
go out, it reconnects and gets what it missed, in order, or a gap event.

See docs/topics/history.rst.
"""

import json

import pytest

from channels import Group
from tests.liveserver.redis_case import RedisLiveServerTestCase
from tests.support.browser import start_chromium, wait_for

pytestmark = pytest.mark.integration

OPEN_BRIDGE = """
window.gaps = [];
window.opened = 0;
window.bridge = new channels.WebSocketBridge({minReconnectionDelay: 100});
bridge.connect(arguments[0]);
bridge.listen((msg) => received.push(msg));
bridge.onHistoryGap((group, detail) => gaps.push([group, detail]));
bridge.socket.addEventListener("open", () => { opened += 1; });
"""

# Drop the socket as a lost network would, and hold the reconnection until
# the test says so (the bridge otherwise retries within a second).
DROP = """
bridge.socket.scheduleReconnect = () => {};
bridge.socket.refresh();
"""
RECONNECT = "bridge.socket.open();"


class HistoryInBrowserTests(RedisLiveServerTestCase):
    routing = "tests.liveserver.history_routing.channel_routing"
    prefix = "historyjs:"

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
        try:
            cls.browser.quit()
        finally:
            super().tearDownClass()

    def open_windows(self, path):
        """Two windows, each with a bridge on ``path``, both accepted."""
        page = self.browser
        handles = []
        for index in range(2):
            if index:
                page.switch_to.new_window("window")
            page.get(self.live_server_url + "/bridge/")
            page.execute_script(OPEN_BRIDGE, path)
            wait_for(page, "opened === 1", 20)
            handles.append(page.current_window_handle)
        return handles

    def in_window(self, handle, script):
        self.browser.switch_to.window(handle)
        return self.browser.execute_script(script)

    def send(self, group, size, text):
        Group(group, channel_layer=self._test_layer, history=size, history_ttl=60).send(
            {"text": json.dumps({"n": text})}
        )

    def received(self, handle, count):
        self.browser.switch_to.window(handle)
        return wait_for(self.browser, f"received.length >= {count} && received", 20)

    def close_extra_windows(self, handles):
        for handle in handles[1:]:
            self.browser.switch_to.window(handle)
            self.browser.close()
        self.browser.switch_to.window(handles[0])

    def test_a_window_that_reconnects_gets_the_missed_messages_in_order_once(self):
        first, second = handles = self.open_windows("/ws/news/")
        try:
            self.send("news", 10, "m1")
            assert self.received(first, 1) == [{"n": "m1"}]
            self.in_window(first, DROP)
            self.browser.switch_to.window(first)
            wait_for(self.browser, "bridge.socket.readyState === WebSocket.CLOSED", 20)
            for text in ("m2", "m3", "m4"):
                self.send("news", 10, text)
            assert self.received(second, 4) == [{"n": f"m{i}"} for i in range(1, 5)]
            self.in_window(first, RECONNECT)
            self.send("news", 10, "m5")
            expected = [{"n": f"m{i}"} for i in range(1, 6)]
            assert self.received(first, 5) == expected
            assert self.received(second, 5) == expected
            # nothing came twice, and the reconnection said where it stopped
            self.browser.execute_script("return new Promise((r) => setTimeout(r, 300))")
            assert self.in_window(first, "return received.length") == 5
            assert "channels_history=news:" in self.in_window(first, "return bridge.socket.url")
            assert self.in_window(first, "return gaps") == []
        finally:
            self.close_extra_windows(handles)

    def test_a_history_too_short_for_the_outage_raises_a_gap_event(self):
        first, second = handles = self.open_windows("/ws/short/")
        try:
            self.send("short", 2, "s1")
            assert self.received(first, 1) == [{"n": "s1"}]
            self.in_window(first, DROP)
            self.browser.switch_to.window(first)
            wait_for(self.browser, "bridge.socket.readyState === WebSocket.CLOSED", 20)
            for text in ("s2", "s3", "s4", "s5"):
                self.send("short", 2, text)
            self.in_window(first, RECONNECT)
            gaps = wait_for(self.browser, "gaps.length > 0 && gaps", 20)
            assert [group for group, _ in gaps] == ["short"]
            assert gaps[0][1]["timedOut"] is False
            assert self.received(first, 3) == [{"n": "s1"}, {"n": "s4"}, {"n": "s5"}]
            assert self.received(second, 5) == [{"n": f"s{i}"} for i in range(1, 6)]
        finally:
            self.close_extra_windows(handles)
