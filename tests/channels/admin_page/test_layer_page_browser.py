"""The layer page in headless Chromium, served by a real daphne and worker on Redis.

The test process and the live server share the session's redis-server (the
layer's ``TEST_CONFIG``): messages the test sends must appear on the page
within a few refreshes, and draw a sparkline.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from channels.test.liveserver import ChannelLiveServerTestCase
from tests.channels.admin_page.conftest import REDIS_URL_KEY
from tests.support.browser import start_chromium, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("_admin_page_redis")]

PAGE = "/admin/channels/layer/"
CHANNEL = "admin.browser.jobs"


def png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the pixel data."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    pixels, offset = b"", 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            pixels += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return width, height, len(set(zlib.decompress(pixels)))


class LayerPageInBrowserTests(ChannelLiveServerTestCase):
    @classmethod
    def setUpClass(cls):
        url = os.environ[REDIS_URL_KEY]
        cls._settings = override_settings(
            CHANNEL_LAYERS={
                "default": {
                    "BACKEND": "asgi_redis.RedisChannelLayer",
                    "CONFIG": {"hosts": [url]},
                    "TEST_CONFIG": {"hosts": [url], "prefix": "adminpage:"},
                    "ROUTING": "tests.channels.admin_page.routing.channel_routing",
                }
            },
            ROOT_URLCONF="tests.channels.admin_page.urls",
        )
        cls._settings.enable()
        try:
            super().setUpClass()
            cls.browser = start_chromium()
        except BaseException:
            super().tearDownClass()
            cls._settings.disable()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.browser.quit()
            super().tearDownClass()
        finally:
            cls._settings.disable()

    @pytest.fixture(autouse=True)
    def _tmp_path(self, tmp_path):
        self.tmp_path = tmp_path

    def log_in_and_open_the_page(self):
        get_user_model().objects.create_user("ops", password="ops-password", is_staff=True)
        page = self.browser
        page.set_window_size(1280, 1000)
        page.get(self.live_server_url + PAGE)
        assert "/admin/login/" in page.current_url  # staff only
        page.find_element("name", "username").send_keys("ops")
        page.find_element("name", "password").send_keys("ops-password")
        page.find_element("css selector", "input[type=submit]").click()
        wait_for(page, f"location.pathname === '{PAGE}'", 20)
        wait_for(page, "window.channelsLayerPage && channelsLayerPage.refreshes >= 1", 20)
        return page

    def depth(self, page):
        return page.execute_script(
            "var cell = document.querySelector("
            f"'#lp-channels tr[data-channel=\"{CHANNEL}\"] .depth');"
            "return cell && cell.textContent"
        )

    def test_the_page_renders_and_follows_the_messages_sent_to_the_layer(self):
        page = self.log_in_and_open_the_page()
        layer = type(self)._test_layer

        screenshot = self.tmp_path / "layer-page.png"
        assert page.save_screenshot(str(screenshot))
        width, height, colours = png_size_and_colours(screenshot)
        assert (width, height) == tuple(
            page.execute_script("return [window.innerWidth, window.innerHeight]")
        )
        assert 600 <= width <= 4000 and 400 <= height <= 4000
        assert colours > 16, "the screenshot is blank"

        headings = [h.text for h in page.find_elements("css selector", "#channels-layer-page h2")]
        assert headings == ["Channels", "Throughput", "Processes", "Groups", "Shards"]
        shard = page.find_element("css selector", "#lp-shards tbody tr")
        assert shard.get_attribute("data-shard").startswith("redis://127.0.0.1:")
        assert shard.find_element("css selector", ".reachable").text == "yes"
        assert self.depth(page) is None  # nothing waits yet

        for number in range(5):
            layer.send(CHANNEL, {"n": number})
        assert self._wait_depth(page, "5")
        row = page.find_element("css selector", f'#lp-channels tr[data-channel="{CHANNEL}"]')
        assert row.get_attribute("class") == "unconsumed"  # no process consumes it
        assert CHANNEL in page.find_element("id", "lp-unconsumed").text

        for number in range(3):
            layer.send(CHANNEL, {"n": 5 + number})
        assert self._wait_depth(page, "8")
        spark = f'#lp-channels tr[data-channel="{CHANNEL}"] svg.spark'
        points = wait_for(
            page,
            f"(function () {{ var s = document.querySelector('{spark}');"
            " return s && +s.getAttribute('data-points') >= 2 && +s.getAttribute('data-points');"
            " })()",
            10,
        )
        assert points >= 2
        line = page.find_element("css selector", spark + " polyline").get_attribute("points")
        assert len(line.split()) == points
        assert page.find_element("css selector", spark).get_attribute("data-max") == "8"

        layer.receive([CHANNEL])
        assert self._wait_depth(page, "7")

    def _wait_depth(self, page, expected, timeout=10.0):
        return wait_for(
            page,
            "(function () { var cell = document.querySelector("
            f"'#lp-channels tr[data-channel=\"{CHANNEL}\"] .depth');"
            f" return cell && cell.textContent === '{expected}'; }})()",
            timeout,
        )

    def test_a_failed_refresh_is_shown_and_retried_until_it_works_again(self):
        page = self.log_in_and_open_the_page()
        session = page.get_cookie("sessionid")
        page.delete_cookie("sessionid")  # the endpoint now answers with the login page
        error = wait_for(
            page,
            "!document.getElementById('lp-error').hidden &&"
            " document.getElementById('lp-error').textContent",
            10,
        )
        assert "without JSON (logged out?)" in error
        failures = wait_for(page, "channelsLayerPage.failures >= 2 && channelsLayerPage.failures")
        assert failures >= 2  # it keeps trying
        assert "retrying" in page.find_element("id", "lp-status").text
        page.add_cookie({"name": "sessionid", "value": session["value"], "path": "/"})
        refreshes = page.execute_script("return channelsLayerPage.refreshes")
        wait_for(page, f"channelsLayerPage.refreshes > {refreshes}", 10)
        assert wait_for(page, "document.getElementById('lp-error').hidden", 5)

    def test_processes_and_their_throughput_come_from_the_heartbeats(self):
        page = self.log_in_and_open_the_page()
        layer = type(self)._test_layer
        started = time.time()
        record = {
            "id": "worker:web9:777:00c0ffee",
            "kind": "worker",
            "host": "web9",
            "pid": 777,
            "version": "test",
            "channels": ["http.request"],
            "handled": 100,
            "last_activity": started,
            "started": started,
        }
        layer.heartbeat(record, ttl=60)
        try:
            row = f'#lp-processes tr[data-process="{record["id"]}"]'
            wait_for(page, f"document.querySelector('{row} .handled')", 10)
            # Three renewals, 1 s apart, each 20 messages further on: 20 per second.
            for renewal in range(1, 4):
                time.sleep(1)
                layer.heartbeat({**record, "handled": 100 + 20 * renewal}, ttl=60)
            wait_for(
                page,
                f"document.querySelector('{row} .handled').textContent === '160'",
                10,
            )
            rate = float(page.find_element("css selector", f"{row} .rate").text)
            assert 8 <= rate <= 30  # over the page's samples, 2 s apart: about 20
            kind = '#lp-throughput tr[data-kind="worker"]'
            # At least this record (the live server's own worker may send heartbeats too).
            assert int(page.find_element("css selector", f"{kind} .count").text) >= 1
            assert float(page.find_element("css selector", f"{kind} .rate").text) >= rate - 1
            points = page.find_element("css selector", f"{kind} svg.spark")
            assert int(points.get_attribute("data-points")) >= 2
        finally:
            layer.heartbeat_remove(record["id"])
        wait_for(page, f"!document.querySelector('{row}')", 10)  # gone once removed
