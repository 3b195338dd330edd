"""Fixtures of the browser tests of the JavaScript bridge: the echo server, one
Chromium per module, and the test page loaded in it."""

import pytest

from tests.support.browser import start_chromium
from tests.support.js_echo import EchoServer


@pytest.fixture(scope="module")
def echo_server():
    server = EchoServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium()
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, echo_server):
    browser.get(f"http://127.0.0.1:{echo_server.port}/")
    return browser
