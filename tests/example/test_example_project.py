"""example_project works as the README says: ``runserver`` with no Redis, and
daphne + Redis + two workers with two browsers chatting and editing values."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from selenium.webdriver.common.by import By
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.browser import start_chromium, wait_for

from .stack import ExampleStack, chat_line, cookie_header, log_in

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def runserver_stack():
    stack = ExampleStack()
    stack.start()
    stack.create_user("ada", "analytical-engine")
    yield stack
    stack.stop()


class TestRunserverWithTheInMemoryLayer:
    def test_pages_are_served_through_the_channel_layer(self, runserver_stack):
        for path in ("/", "/echo/", "/values/", "/accounts/login/"):
            assert httpx.get(runserver_stack.url + path, timeout=10).status_code == 200, path

    def test_the_chat_page_needs_a_login(self, runserver_stack):
        response = httpx.get(runserver_stack.url + "/chat/lobby/", timeout=10)
        assert response.status_code == 302
        assert response.headers["location"].startswith("/accounts/login/")

    def test_the_echo_socket_echoes_text_and_bytes(self, runserver_stack):
        with connect(runserver_stack.ws_url + "/ws/echo/", open_timeout=10) as socket:
            socket.send("hello")
            assert socket.recv(timeout=10) == "hello"
            socket.send(b"\x01\x02")
            assert socket.recv(timeout=10) == b"\x01\x02"

    def test_an_anonymous_chat_socket_is_rejected_with_403(self, runserver_stack):
        with pytest.raises(InvalidStatus) as raised:
            connect(runserver_stack.ws_url + "/chat/lobby/socket/", open_timeout=10)
        assert raised.value.response.status_code == 403

    def test_the_login_follows_the_user_into_the_chat_and_the_long_poll_gets_the_line(
        self, runserver_stack
    ):
        with httpx.Client(follow_redirects=False, timeout=10) as client:
            log_in(client, runserver_stack.url, "ada", "analytical-engine")
            cookies = cookie_header(client)
        waiting: dict = {}

        def long_poll():
            waiting["response"] = httpx.get(runserver_stack.url + "/chat/lobby/next/", timeout=20)

        poller = threading.Thread(target=long_poll)
        poller.start()
        url = runserver_stack.ws_url + "/chat/lobby/socket/"
        sent = []
        with connect(url, additional_headers={"Cookie": cookies}, open_timeout=10) as socket:
            # Post lines until the long-poll request (parked at some point
            # after it started) is answered by one of them.
            for number in range(15):
                text = f"hello room {number}"
                socket.send(json.dumps({"text": text}))
                sent.append({"user": "ada", "room": "lobby", "text": text})
                assert chat_line(socket, group="chat-lobby") == sent[-1]
                poller.join(1.0)
                if not poller.is_alive():
                    break
        assert waiting["response"].status_code == 200
        assert waiting["response"].json() in sent

    def test_a_streamed_response_arrives_event_by_event(self, runserver_stack):
        with httpx.stream("GET", runserver_stack.url + "/ticks/", timeout=10) as response:
            assert response.headers["content-type"] == "text/event-stream"
            events = [line for line in response.iter_lines() if line.startswith("data:")]
        assert events == [f"data: tick {n}" for n in range(1, 6)]


@pytest.fixture(scope="module")
def redis_stack(redis_url):
    stack = ExampleStack(redis_url=redis_url.rsplit("/", 1)[0] + "/2", workers=2)
    stack.start()
    stack.create_user("ada", "analytical-engine")
    stack.create_user("grace", "compiler-first")
    yield stack
    codes = stack.stop()
    assert all(code == 0 for code in codes.values()), (codes, stack.logs())


@pytest.fixture(scope="module")
def two_browsers():
    first = start_chromium()
    try:
        second = start_chromium()
    except BaseException:
        first.quit()
        raise
    yield first, second
    first.quit()
    second.quit()


def browser_log_in(driver, base_url: str, username: str, password: str) -> None:
    driver.get(base_url + "/accounts/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, "document.location.pathname === '/chat/lobby/'", 20)


class TestTwoBrowsersOnDaphneRedisAndTwoWorkers:
    def test_two_users_chat_in_a_room(self, redis_stack, two_browsers):
        ada, grace = two_browsers
        browser_log_in(ada, redis_stack.url, "ada", "analytical-engine")
        browser_log_in(grace, redis_stack.url, "grace", "compiler-first")
        for driver in (ada, grace):
            wait_for(driver, "document.getElementById('status').textContent === 'connected'", 20)
        ada.find_element(By.ID, "chat-input").send_keys("Hello, Grace")
        ada.find_element(By.CSS_SELECTOR, "#chat-form button").click()
        grace.find_element(By.ID, "chat-input").send_keys("Hello, Ada")
        grace.find_element(By.CSS_SELECTOR, "#chat-form button").click()
        script = "document.querySelectorAll('#log li').length >= 2 && Array.from(document.querySelectorAll('#log li')).map((li) => li.textContent)"
        for driver in (ada, grace):
            lines = wait_for(driver, script, 20)
            assert sorted(lines) == ["ada: Hello, Grace", "grace: Hello, Ada"]

    def test_an_edit_in_one_browser_appears_in_the_other_through_binding(
        self, redis_stack, two_browsers
    ):
        first, second = two_browsers
        for driver in (first, second):
            driver.get(redis_stack.url + "/values/")
            wait_for(driver, "bridge.socket.readyState === 1", 20)
        field = first.find_element(By.CSS_SELECTOR, "#values li .new-value")
        field.send_keys("56")
        first.find_element(By.CSS_SELECTOR, "#values li button.set").click()
        value = "document.querySelector('#values li .value').textContent"
        assert wait_for(second, f"{value} === '56' && {value}", 20) == "56"
        assert wait_for(first, f"{value} === '56' && {value}", 20) == "56"
        second.find_element(By.ID, "refresh-stats").click()
        stats = "document.getElementById('stats').textContent"
        assert wait_for(second, f"{stats}.includes('total') && {stats}", 20) == "1 values, total 56"


def online(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#online li')).map((li) => li.textContent)"
    )


class TestWhosOnlineAndAcksInTwoBrowsers:
    """The chat page's presence list and acknowledged sends (docs/topics/realtime.rst)."""

    def test_the_online_list_updates_when_a_user_joins_and_leaves(self, redis_stack, two_browsers):
        ada, grace = two_browsers
        room = redis_stack.url + "/chat/whos-online/"  # a room no earlier test left pages in
        listed = "document.querySelectorAll('#online li').length"
        browser_log_in(ada, redis_stack.url, "ada", "analytical-engine")
        ada.get(room)
        wait_for(ada, f"{listed} === 1", 20)
        assert online(ada) == ["ada"]
        browser_log_in(grace, redis_stack.url, "grace", "compiler-first")
        grace.get(room)
        for driver in (ada, grace):
            wait_for(driver, f"{listed} === 2", 20)
            assert online(driver) == ["ada", "grace"]
        grace.execute_script("bridge.socket.close()")  # grace leaves
        wait_for(ada, f"{listed} === 1", 20)
        assert online(ada) == ["ada"]

    def test_a_line_sent_with_ack_is_confirmed_and_the_welcome_is_acked(
        self, redis_stack, two_browsers
    ):
        ada, _ = two_browsers
        browser_log_in(ada, redis_stack.url, "ada", "analytical-engine")
        notice = "document.getElementById('notice').textContent"
        assert wait_for(ada, f"{notice} && {notice}", 20) == "Welcome to #lobby, ada"
        ada.find_element(By.ID, "chat-input").send_keys("acked line")
        ada.find_element(By.CSS_SELECTOR, "#chat-form button").click()
        sent = "document.getElementById('sent').textContent"
        assert wait_for(ada, f"{sent} && {sent}", 20) == "delivered: acked line"
        # the browser's automatic ack reached a worker as an "ok" outcome
        ack_id = None
        for name in ("worker0", "worker1"):
            log = (redis_stack.directory / f"{name}.log").read_text()
            ack_id = ack_id or next(
                (line.split()[-2] for line in log.splitlines() if line.endswith(": ok")), None
            )
        assert ack_id, redis_stack.logs()
