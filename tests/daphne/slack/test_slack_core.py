"""The sans-IO parts of daphne-slack: signature, retry memory, callback reading."""

from __future__ import annotations

import json

import pytest

from daphne.slack._dedup import RecentEvents
from daphne.slack._events import BadCallback, Challenge, Event, Ignored, read_callback
from daphne.slack._poster import MAX_RETRY_AFTER, parse_retry_after
from daphne.slack._signature import SignatureError, verify_signature
from tests.support.slack_api import SIGNING_SECRET, message_event, signed_headers

pytestmark = pytest.mark.unit

SECRET = SIGNING_SECRET.encode()
NOW = 1_700_000_000.0


def check(body: bytes, headers: dict, now: float = NOW) -> None:
    verify_signature(
        SECRET,
        headers.get("X-Slack-Request-Timestamp"),
        headers.get("X-Slack-Signature"),
        body,
        now,
    )


def test_slacks_documented_example_signature_is_accepted():
    # The worked example of Slack's "Verifying requests from Slack" guide.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    verify_signature(
        SECRET,
        "1531420618",
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        body,
        1531420618 + 10,
    )


def test_a_body_signed_with_the_secret_is_accepted_within_five_minutes():
    body = message_event("hi")
    check(body, signed_headers(body, at=NOW))
    check(body, signed_headers(body, at=NOW - 299))
    check(body, signed_headers(body, at=NOW + 299))


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_a_timestamp_more_than_five_minutes_away_is_refused(offset):
    body = message_event("hi")
    with pytest.raises(SignatureError, match="replay"):
        check(body, signed_headers(body, at=NOW + offset))


def test_a_changed_body_or_another_secret_is_refused():
    body = message_event("hi")
    headers = signed_headers(body, at=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        check(message_event("ho"), headers)
    with pytest.raises(SignatureError, match="does not match"):
        check(body, signed_headers(body, secret="another-secret", at=NOW))


@pytest.mark.parametrize("header", ["X-Slack-Request-Timestamp", "X-Slack-Signature"])
def test_a_missing_header_is_named(header):
    body = message_event("hi")
    headers = signed_headers(body, at=NOW)
    del headers[header]
    with pytest.raises(SignatureError, match=f"{header} header is missing"):
        check(body, headers)


@pytest.mark.parametrize("timestamp", ["soon", "1.5e9", ""])
def test_a_timestamp_that_is_not_whole_seconds_is_refused(timestamp):
    with pytest.raises(SignatureError, match="whole seconds"):
        verify_signature(SECRET, timestamp, "v0=00", b"{}", NOW)


def test_a_non_ascii_signature_is_refused_not_crashed_on():
    with pytest.raises(SignatureError, match="ASCII"):
        verify_signature(SECRET, str(int(NOW)), "v0=é", b"{}", NOW)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_event_id_is_new_once_then_a_repeat_until_it_expires():
    clock = Clock()
    recent = RecentEvents(clock, ttl=60, max_size=10)
    assert recent.first_time("Ev1")
    clock.now = 59
    assert not recent.first_time("Ev1")
    clock.now = 60
    assert recent.first_time("Ev1")  # forgotten after ttl: a new event
    assert len(recent) == 1


def test_the_memory_is_bounded_forgetting_the_oldest_first():
    recent = RecentEvents(Clock(), ttl=60, max_size=3)
    for event_id in ["Ev1", "Ev2", "Ev3", "Ev4"]:
        assert recent.first_time(event_id)
    assert len(recent) == 3
    assert not recent.first_time("Ev4")
    assert recent.first_time("Ev1")  # pushed out by Ev4


@pytest.mark.parametrize("options", [{"ttl": 0}, {"max_size": 0}])
def test_recent_events_refuses_nonsense_bounds(options):
    with pytest.raises(ValueError):
        RecentEvents(Clock(), **options)


def test_url_verification_gives_the_challenge():
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aB", "token": "t"})
    assert read_callback(body.encode()) == Challenge("3eZbrw1aB")


def test_a_persons_message_becomes_slack_receive():
    body = message_event("!post general echo", thread_ts="1699999999.000001")
    event = read_callback(body)
    assert isinstance(event, Event)
    assert event.message == {
        "type": "message",
        "team": "T0TEAM",
        "channel": "C0GENERAL",
        "user": "U0ERIC",
        "text": "!post general echo",
        "timestamp": "1700000000.000100",
        "thread": "1699999999.000001",
        "event_id": "Ev0001",
    }


def test_an_app_mention_is_passed_on_with_its_type():
    body = message_event("<@U0BOT> hello", type="app_mention")
    event = read_callback(body)
    assert isinstance(event, Event) and event.message["type"] == "app_mention"


@pytest.mark.parametrize(
    "extra, reason",
    [
        ({"bot_id": "B0BOT"}, "a bot's message"),
        ({"subtype": "bot_message"}, "a bot's message"),
        ({"subtype": "message_changed"}, "subtype 'message_changed'"),
        ({"type": "reaction_added"}, "event type 'reaction_added'"),
    ],
)
def test_bots_edits_and_other_events_are_ignored_with_a_reason(extra, reason):
    result = read_callback(message_event("x", **extra))
    assert isinstance(result, Ignored)
    assert result.event_id == "Ev0001" and reason in result.reason


@pytest.mark.parametrize(
    "body, complaint",
    [
        (b"not json", "expected a JSON body"),
        (b"\xff\xfe", "expected a JSON body"),
        (b"[1, 2]", "JSON object with a 'type'"),
        (b'{"type": "url_verification"}', "string 'challenge'"),
        (b'{"type": "event_callback", "event": {}}', "string 'event_id'"),
        (
            b'{"type": "event_callback", "event_id": "E1", "event": {"type": "message"}}',
            "lacks what slack.receive needs",
        ),
    ],
)
def test_a_body_that_is_not_a_callback_is_refused_with_the_reason(body, complaint):
    with pytest.raises(BadCallback, match=complaint):
        read_callback(body)


@pytest.mark.parametrize(
    "value, seconds",
    [(b"3", 3.0), ("0.2", 0.2), (None, 1.0), (b"soon", 1.0), (b"-5", 1.0), (b"99999", None)],
)
def test_retry_after_is_read_with_a_default_and_a_ceiling(value, seconds):
    assert parse_retry_after(value) == (MAX_RETRY_AFTER if seconds is None else seconds)
