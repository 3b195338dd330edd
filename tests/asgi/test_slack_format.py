"""The slack.receive / slack.send message formats (asgi.slack)."""

from __future__ import annotations

import pytest

from asgi import slack
from asgi.exceptions import InvalidMessage

pytestmark = pytest.mark.unit

RECEIVED = {
    "type": "message",
    "team": "T0TEAM",
    "channel": "C0GENERAL",
    "user": "U0ERIC",
    "text": "!post general echo",
    "timestamp": "1700000000.000100",
    "event_id": "Ev0001",
}


def test_slack_receive_builds_every_key_with_thread_none_outside_a_thread():
    message = slack.slack_receive(**RECEIVED)
    assert message == {**RECEIVED, "thread": None}


def test_slack_receive_keeps_the_thread_ts():
    message = slack.slack_receive(**RECEIVED, thread="1699999999.000001")
    assert message["thread"] == "1699999999.000001"


@pytest.mark.parametrize("key", ["team", "channel", "user", "text", "timestamp", "event_id"])
def test_slack_receive_refuses_a_missing_or_non_string_key(key):
    with pytest.raises(InvalidMessage, match=repr(key)):
        slack.validate("slack.receive", {k: v for k, v in RECEIVED.items() if k != key})
    with pytest.raises(InvalidMessage, match=rf"{key!r} must be str"):
        slack.validate("slack.receive", {**RECEIVED, key: 12})


def test_slack_receive_type_is_message_or_app_mention():
    slack.validate("slack.receive", {**RECEIVED, "type": "app_mention"})
    with pytest.raises(InvalidMessage, match="must be one of message, app_mention"):
        slack.validate("slack.receive", {**RECEIVED, "type": "reaction_added"})


def test_normalize_fills_in_the_thread():
    assert slack.normalize("slack.send", {"channel": "C1", "text": "hi"}) == {
        "channel": "C1",
        "text": "hi",
        "thread": None,
    }


def test_slack_send_becomes_chat_post_message_arguments():
    post = slack.parse_slack_send(slack.slack_send(channel="#general", text="echo"))
    assert post.api_arguments() == {"channel": "#general", "text": "echo"}
    threaded = slack.parse_slack_send(
        slack.slack_send(channel="C1", text="in thread", thread="1699999999.000001")
    )
    assert threaded.api_arguments() == {
        "channel": "C1",
        "text": "in thread",
        "thread_ts": "1699999999.000001",
    }


@pytest.mark.parametrize(
    "message, complaint",
    [
        ({"text": "x"}, "lacks the required key 'channel'"),
        ({"channel": "C1"}, "lacks the required key 'text'"),
        ({"channel": " ", "text": "x"}, "'channel' must be a Slack channel ID"),
        ({"channel": "C1", "text": "  "}, "'text' must not be empty"),
        ({"channel": "C1", "text": "x" * 40_001}, "Slack takes at most 40000"),
        ({"channel": "C1", "text": "x", "thread": 5}, "'thread' must be str or None"),
        ({"channel": "C1", "text": "x", "thread_ts": "1.2"}, r"unknown keys \['thread_ts'\]"),
        ("not a dict", "must be a dict"),
    ],
)
def test_a_malformed_slack_send_is_refused_with_the_reason(message, complaint):
    with pytest.raises(InvalidMessage, match=complaint):
        slack.parse_slack_send(message)
