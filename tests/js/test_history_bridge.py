"""The bridge's group history handling in real headless Chromium, against the
echo server of test_websocketbridge_browser: the page sends the frames a
server would send, and gets them back as if the server had sent them. This
pins the resume boundary (copies dropped, missed frames first and in order)
and the cases a real stack rarely shows (live frames arriving before the
resume, a server that never resumes).

See docs/topics/history.rst; the end-to-end test through daphne is
tests/liveserver/test_history_browser.py.
"""

from __future__ import annotations

import pytest

from tests.support.browser import wait_for

pytestmark = pytest.mark.integration

SETUP = """
window.gaps = [];
window.opened = 0;
window.live = (group, offset, data) =>
    JSON.stringify({history: {group: group, offset: offset}, text: JSON.stringify(data)});
window.resume = (group, after, last, gap, missed, more) => JSON.stringify({
    history: {group: group, after: after, last: last, gap: gap, more: more || false},
    missed: missed.map(([offset, data]) => [offset, JSON.stringify(data)]),
});
window.bridge = new channels.WebSocketBridge(
    {minReconnectionDelay: 50, historyResumeTimeout: arguments[0]});
bridge.connect("/ws/history/");
bridge.listen((msg) => received.push(msg));
bridge.onHistoryGap((group, detail) => gaps.push([group, detail]));
bridge.socket.addEventListener("open", () => { opened += 1; });
"""


def open_bridge(browser, echo_server, resume_timeout=5000):
    browser.get(f"http://127.0.0.1:{echo_server.port}/")
    browser.execute_script(SETUP, resume_timeout)
    wait_for(browser, "opened === 1")
    return browser


def reconnect(page, echo_server):
    echo_server.drop_all()
    wait_for(page, "opened === 2")


def test_live_frames_are_unwrapped_and_copies_of_seen_offsets_dropped(browser, echo_server):
    page = open_bridge(browser, echo_server)
    page.execute_script(
        """
        for (const offset of [10, 11, 11, 9, 12]) {
            bridge.socket.send(live("news", offset, {n: offset}));
        }
        bridge.socket.send(JSON.stringify({plain: true}));
        """
    )
    received = wait_for(page, "received.length >= 4 && received")
    assert received == [{"n": 10}, {"n": 11}, {"n": 12}, {"plain": True}]


def test_a_reconnection_names_the_last_offsets_and_delivers_missed_before_live(
    browser, echo_server
):
    page = open_bridge(browser, echo_server)
    page.execute_script("bridge.socket.send(live('news', 2, {n: 2}))")
    wait_for(page, "received.length === 1")
    reconnect(page, echo_server)
    url = page.execute_script("return bridge.socket.url")
    assert url == f"ws://127.0.0.1:{echo_server.port}/ws/history/?channels_history=news:2"
    page.execute_script(
        """
        // a live frame overtakes the resume, which also holds it, in two parts
        bridge.socket.send(live("news", 5, {n: 5}));
        bridge.socket.send(resume("news", 2, 5, false, [[3, {n: 3}]], true));
        bridge.socket.send(resume("news", 2, 5, false, [[4, {n: 4}], [5, {n: 5}]]));
        bridge.socket.send(live("news", 6, {n: 6}));
        """
    )
    received = wait_for(page, "received.length >= 5 && received")
    page.execute_script("return new Promise((r) => setTimeout(r, 200))")
    assert page.execute_script("return received") == [{"n": n} for n in range(2, 7)]
    assert received[:5] == [{"n": n} for n in range(2, 7)]
    assert page.execute_script("return gaps") == []


def test_a_resume_with_a_gap_calls_the_gap_callbacks_before_the_missed_frames(browser, echo_server):
    page = open_bridge(browser, echo_server)
    page.execute_script(
        """
        bridge.socket.send(live("short", 1, {n: 1}));
        bridge.onHistoryGap(() => received.push("gap"));
        """
    )
    wait_for(page, "received.length === 1")
    reconnect(page, echo_server)
    page.execute_script(
        "bridge.socket.send(resume('short', 1, 9, true, [[8, {n: 8}], [9, {n: 9}]]))"
    )
    assert wait_for(page, "received.length >= 4 && received") == [
        {"n": 1},
        "gap",
        {"n": 8},
        {"n": 9},
    ]
    assert page.execute_script("return gaps") == [
        ["short", {"after": 1, "last": 9, "timedOut": False}]
    ]


def test_a_server_that_never_resumes_releases_held_frames_with_a_timed_out_gap(
    browser, echo_server
):
    page = open_bridge(browser, echo_server, resume_timeout=300)
    page.execute_script("bridge.socket.send(live('news', 1, {n: 1}))")
    wait_for(page, "received.length === 1")
    reconnect(page, echo_server)
    page.execute_script("bridge.socket.send(live('news', 4, {n: 4}))")
    assert wait_for(page, "received.length >= 2 && received") == [{"n": 1}, {"n": 4}]
    assert page.execute_script("return gaps") == [
        ["news", {"after": 1, "last": None, "timedOut": True}]
    ]
