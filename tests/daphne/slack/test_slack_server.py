"""daphne.slack in-process on a private reactor: real HTTP in (httpx, signed like
Slack) and out (to a local stand-in for Slack's Web API), the in-memory layer."""

from __future__ import annotations

import json
import logging
import socket

import httpx
import pytest

from asgi import slack as asgi_slack
from daphne.slack import SlackInterface
from tests.support.interface_servers import TIMEOUT, receive, wait_until
from tests.support.slack_api import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlackAPI,
    message_event,
    signed_headers,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def slack_api():
    api = FakeSlackAPI().start()
    yield api
    api.stop()


@pytest.fixture
def make_server(reactor_thread, layer, slack_api):
    started = []

    def make(**options):
        options.setdefault("api_base", slack_api.base)
        options.setdefault("timeout", 5.0)
        server = SlackInterface(
            layer,
            "127.0.0.1",
            0,
            signing_secret=SIGNING_SECRET,
            bot_token=BOT_TOKEN,
            reactor=reactor_thread.reactor,
            **options,
        )
        reactor_thread.call(server.start)
        started.append(server)
        server.url = f"http://127.0.0.1:{server.address[1]}/slack/events"
        return server

    yield make
    for server in started:
        reactor_thread.call(server.stop)


@pytest.fixture
def server(make_server):
    return make_server()


def post(url: str, body: bytes, headers: dict | None = None) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers or {}, timeout=TIMEOUT)


def nothing_on(layer, channel: str) -> bool:
    return layer.receive([channel], block=False) == (None, None)


def counter(reactor_thread, obj, name: str):
    return lambda: reactor_thread.call(getattr, obj, name)


# -- Slack to slack.receive --------------------------------------------------------------


def test_a_signed_message_event_is_acknowledged_then_put_on_slack_receive(server, layer):
    body = message_event("!post general echo")
    response = post(server.url, body, signed_headers(body))
    assert response.status_code == 200 and response.content == b""
    _, message = receive(layer, [asgi_slack.RECEIVE_CHANNEL])
    asgi_slack.validate("slack.receive", message)
    assert message == {
        "type": "message",
        "team": "T0TEAM",
        "channel": "C0GENERAL",
        "user": "U0ERIC",
        "text": "!post general echo",
        "timestamp": "1700000000.000100",
        "thread": None,
        "event_id": "Ev0001",
    }


def test_an_event_the_layer_refuses_is_still_acknowledged_and_its_drop_reported(
    make_server, layer, reactor_thread, caplog
):
    layer.channel_capacity = layer.compile_capacities({asgi_slack.RECEIVE_CHANNEL: 1})
    layer.send(asgi_slack.RECEIVE_CHANNEL, {"filler": True})  # the channel is now full
    server = make_server()
    body = message_event("!post general echo")
    with caplog.at_level(logging.WARNING):
        response = post(server.url, body, signed_headers(body))
        assert response.status_code == 200  # Slack got its answer: it must not retry
        wait_until(counter(reactor_thread, server, "layer_failures"), what="the refusal")
    drops = [r for r in caplog.records if r.name == "daphne.drops"]
    assert [(r.reason, r.channel, r.count) for r in drops] == [
        ("channel_full", asgi_slack.RECEIVE_CHANNEL, 1)
    ]
    assert "Dropped a Slack message for slack.receive: ChannelFull" in caplog.text


def test_url_verification_is_answered_with_the_challenge(server, layer):
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9"})
    response = post(server.url, body.encode(), signed_headers(body.encode()))
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9"}
    assert nothing_on(layer, asgi_slack.RECEIVE_CHANNEL)


@pytest.mark.parametrize(
    "tamper, complaint",
    [
        (lambda body, h: {**h, "X-Slack-Signature": "v0=" + "0" * 64}, "does not match"),
        (lambda body, h: signed_headers(body, secret="not-the-secret"), "does not match"),
        (
            lambda body, h: signed_headers(body, at=float(h["X-Slack-Request-Timestamp"]) - 301),
            "replay",
        ),
        (
            lambda body, h: {k: v for k, v in h.items() if k != "X-Slack-Signature"},
            "X-Slack-Signature header is missing",
        ),
        (
            lambda body, h: {k: v for k, v in h.items() if k != "X-Slack-Request-Timestamp"},
            "X-Slack-Request-Timestamp header is missing",
        ),
    ],
    ids=["bad-signature", "other-secret", "stale", "no-signature", "no-timestamp"],
)
def test_a_request_not_signed_by_slack_is_refused_with_401(server, layer, tamper, complaint):
    body = message_event("!post general forged")
    response = post(server.url, body, tamper(body, signed_headers(body)))
    assert response.status_code == 401
    assert complaint in response.text
    # a signed one sent after it is the first thing on the channel
    good = message_event("genuine", event_id="Ev0002")
    assert post(server.url, good, signed_headers(good)).status_code == 200
    assert receive(layer, [asgi_slack.RECEIVE_CHANNEL])[1]["text"] == "genuine"
    assert server.resource.refused == 1


def test_an_unsigned_url_verification_is_refused(server):
    body = b'{"type": "url_verification", "challenge": "abc"}'
    response = post(server.url, body, {"Content-Type": "application/json"})
    assert response.status_code == 401
    assert "abc" not in response.text


def test_slacks_retries_of_an_event_are_acknowledged_and_dropped(server, layer):
    body = message_event("once only", event_id="Ev0RETRY")
    assert post(server.url, body, signed_headers(body)).status_code == 200
    for attempt in ("1", "2"):
        headers = {
            **signed_headers(body),
            "X-Slack-Retry-Num": attempt,
            "X-Slack-Retry-Reason": "http_timeout",
        }
        assert post(server.url, body, headers).status_code == 200
    other = message_event("next event", event_id="Ev0NEXT")
    assert post(server.url, other, signed_headers(other)).status_code == 200
    texts = [receive(layer, [asgi_slack.RECEIVE_CHANNEL])[1]["text"] for _ in range(2)]
    assert texts == ["once only", "next event"]
    assert nothing_on(layer, asgi_slack.RECEIVE_CHANNEL)
    assert server.resource.duplicates == 2


def test_bot_messages_and_edits_are_acknowledged_but_not_passed_on(server, layer):
    for index, extra in enumerate(
        [{"bot_id": "B0SELF"}, {"subtype": "bot_message"}, {"subtype": "message_deleted"}]
    ):
        body = message_event("!post general loop", event_id=f"Ev0BOT{index}", **extra)
        assert post(server.url, body, signed_headers(body)).status_code == 200
    person = message_event("from a person", event_id="Ev0PERSON")
    assert post(server.url, person, signed_headers(person)).status_code == 200
    assert receive(layer, [asgi_slack.RECEIVE_CHANNEL])[1]["text"] == "from a person"
    assert nothing_on(layer, asgi_slack.RECEIVE_CHANNEL)


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        ("POST", "/elsewhere", b"{}", 404),
        ("GET", "/slack/events", b"", 405),
        ("POST", "/slack/events", b"{not json", 400),
        ("POST", "/slack/events", b"x" * 1_000_001, 413),
    ],
)
def test_other_paths_methods_and_bodies_get_a_clear_answer(server, method, path, body, status):
    url = server.url.replace("/slack/events", path)
    response = httpx.request(method, url, content=body, headers=signed_headers(body), timeout=20)
    assert response.status_code == status


def test_the_receive_path_and_channel_are_options(make_server, layer):
    server = make_server(path="/hooks/slack", receive_channel="slack.in")
    url = server.url.replace("/slack/events", "/hooks/slack")
    body = message_event("elsewhere")
    assert post(url, body, signed_headers(body)).status_code == 200
    assert receive(layer, ["slack.in"])[1]["text"] == "elsewhere"


# -- slack.send to chat.postMessage ------------------------------------------------------


def test_slack_send_is_posted_with_the_bot_token_as_json(server, layer, slack_api):
    layer.send("slack.send", asgi_slack.slack_send(channel="#general", text="echo"))
    layer.send("slack.send", asgi_slack.slack_send(channel="C1", text="reply", thread="17.1"))
    first, second = slack_api.wait_for_calls(2)
    assert first.path == "/api/chat.postMessage"
    assert first.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert first.headers["Content-Type"].startswith("application/json")
    assert first.body == {"channel": "#general", "text": "echo"}
    assert second.body == {"channel": "C1", "text": "reply", "thread_ts": "17.1"}
    wait_until(lambda: server.poster.posted == 2, what="two posts counted")


def test_a_429_pauses_posting_for_retry_after_then_retries_the_same_post(
    server, layer, slack_api, reactor_thread
):
    slack_api.answer(429, {"ok": False, "error": "ratelimited"}, Retry_After="1")
    layer.send("slack.send", asgi_slack.slack_send(channel="C1", text="first"))
    slack_api.wait_for_calls(1)
    layer.send("slack.send", asgi_slack.slack_send(channel="C1", text="second"))
    calls = slack_api.wait_for_calls(3)
    assert [call.body["text"] for call in calls] == ["first", "first", "second"]
    assert calls[1].at - calls[0].at >= 0.95  # waited Retry-After
    wait_until(counter(reactor_thread, server.poster, "posted"), what="posts counted")
    assert server.poster.rate_limited == 1 and server.poster.failed == 0


def test_posts_past_the_queue_size_are_dropped_and_counted(
    make_server, layer, slack_api, reactor_thread, caplog
):
    server = make_server(queue_size=2)
    slack_api.answer(429, {"ok": False, "error": "ratelimited"}, Retry_After="1")
    layer.send("slack.send", asgi_slack.slack_send(channel="C1", text="m0"))
    wait_until(counter(reactor_thread, server.poster, "rate_limited"), what="the 429")
    with caplog.at_level(logging.WARNING):
        for index in range(1, 4):
            layer.send("slack.send", asgi_slack.slack_send(channel="C1", text=f"m{index}"))
        wait_until(lambda: server.poster.dropped == 2, what="two posts dropped")
    assert "the queue of 2 posts is full (2 dropped so far)" in caplog.text
    drops = [r for r in caplog.records if r.name == "daphne.drops"]
    assert [(r.reason, r.channel) for r in drops] == [("rate_limit", "slack.send")]
    assert sum(r.count + r.suppressed for r in drops) <= 2
    calls = slack_api.wait_for_calls(3)
    assert [call.body["text"] for call in calls] == ["m0", "m0", "m1"]


def test_an_ok_false_answer_is_logged_with_slacks_error(
    server, layer, slack_api, reactor_thread, caplog
):
    slack_api.answer(200, {"ok": False, "error": "channel_not_found"})
    with caplog.at_level(logging.WARNING, logger="daphne.slack"):
        layer.send("slack.send", asgi_slack.slack_send(channel="C0GONE", text="hello?"))
        wait_until(counter(reactor_thread, server.poster, "failed"), what="the failure")
    assert "chat.postMessage to C0GONE failed: channel_not_found" in caplog.text


def test_a_malformed_slack_send_is_logged_and_not_posted(server, layer, slack_api, caplog):
    with caplog.at_level(logging.WARNING, logger="daphne.slack"):
        layer.send("slack.send", {"channel": "C1", "txt": "typo"})
        layer.send("slack.send", asgi_slack.slack_send(channel="C1", text="fine"))
        (call,) = slack_api.wait_for_calls(1)
    assert call.body["text"] == "fine"
    assert "Ignored an invalid message on slack.send" in caplog.text
    assert "lacks the required key 'text'" in caplog.text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_secret_or_token_reaches_the_log(make_server, layer, slack_api, reactor_thread, caplog):
    caplog.set_level(logging.DEBUG)
    server = make_server()
    unreachable = make_server(
        api_base=f"http://127.0.0.1:{free_port()}/api/", send_channel="slack.other", timeout=2
    )
    slack_api.answer(429, {"ok": False, "error": "ratelimited"}, Retry_After="0")
    slack_api.answer(200, {"ok": False, "error": "invalid_auth"})
    layer.send("slack.send", asgi_slack.slack_send(channel="C1", text="a"))
    wait_until(counter(reactor_thread, server.poster, "failed"), what="invalid_auth")
    body = message_event("x")
    post(server.url, body, signed_headers(body, secret="wrong"))
    reactor_thread.call(
        unreachable.poster.post,
        asgi_slack.parse_slack_send(asgi_slack.slack_send(channel="C2", text="b")),
    )
    wait_until(counter(reactor_thread, unreachable.poster, "failed"), what="connection refused")
    logged = caplog.text + repr(server.poster) + repr(server.resource)
    assert "invalid_auth" in logged and "ConnectionRefused" in logged and "Refused" in logged
    for secret in (BOT_TOKEN, SIGNING_SECRET, BOT_TOKEN.split("-")[-1]):
        assert secret not in logged
