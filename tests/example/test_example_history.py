"""The example chat resumes after a reconnection: lines posted while one
browser's socket was down appear there, in order, once it is back
(daphne + Redis + two workers, two Chromium browsers)."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.support.browser import wait_for

from .test_example_project import browser_log_in, redis_stack, two_browsers  # noqa: F401

pytestmark = pytest.mark.integration

LINES = (
    "document.querySelectorAll('#log li').length >= {n} && "
    "Array.from(document.querySelectorAll('#log li')).map((li) => li.textContent)"
)


def post(driver, text):
    driver.find_element(By.ID, "chat-input").send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#chat-form button").click()


def test_lines_posted_while_a_browser_was_away_appear_when_it_reconnects(
    redis_stack,  # noqa: F811 - the fixture imported above
    two_browsers,  # noqa: F811
):
    ada, grace = two_browsers
    browser_log_in(ada, redis_stack.url, "ada", "analytical-engine")
    browser_log_in(grace, redis_stack.url, "grace", "compiler-first")
    for driver in (ada, grace):
        wait_for(driver, "document.getElementById('status').textContent === 'connected'", 20)
    post(ada, "before")
    wait_for(grace, LINES.format(n=1), 20)
    # grace's network drops; her bridge holds off reconnecting until told
    grace.execute_script("bridge.socket.scheduleReconnect = () => {}; bridge.socket.refresh();")
    wait_for(grace, "document.getElementById('status').textContent === 'reconnecting…'", 20)
    for text in ("while away 1", "while away 2", "while away 3"):
        post(ada, text)
    wait_for(ada, LINES.format(n=4), 20)
    grace.execute_script("bridge.socket.open();")
    lines = wait_for(grace, LINES.format(n=4), 20)
    assert lines == ["ada: before", "ada: while away 1", "ada: while away 2", "ada: while away 3"]
