"""Group history and resume after reconnect, through the real worker on the
in-memory layer.

See docs/topics/history.rst.
"""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from asgi._history import GroupHistory, fill_offset
from asgi.inmemory import ChannelLayer as InMemoryChannelLayer
from channels import Group
from channels._history import RESUME_BUDGET, numbered_frame, parse_resume, resume_frames
from channels.exceptions import HistoryResumeError
from channels.generic.history import ResumeHistoryMixin
from channels.generic.websockets import JsonWebsocketConsumer, WebsocketConsumer
from channels.history import resume_history
from channels.routing import route, route_class

from .conftest import Socket

pytestmark = pytest.mark.unit


class NewsConsumer(ResumeHistoryMixin, JsonWebsocketConsumer):
    groups = ["news"]


def news_group(**options):
    return Group("news", history=options.pop("history", 10), history_ttl=60, **options)


def live(text_of_frame):
    """The history head and the inner text of a numbered frame."""
    frame = json.loads(text_of_frame)
    return frame["history"], frame["text"]


@pytest.fixture
def news(harness):
    harness.route([route_class(NewsConsumer, path=r"^/news/$")])
    return harness


def connect(harness, query: bytes = b"") -> Socket:
    socket = Socket(harness, path="/news/")
    socket.connect(query)
    harness.run_all()
    return socket


def test_a_history_group_send_reaches_members_numbered(news):
    socket = connect(news)
    assert socket.replies() == [{"accept": True}]
    for word in ("one", "two"):
        news_group().send({"text": json.dumps({"word": word})})
    frames = [live(reply["text"]) for reply in socket.replies()]
    offsets = [head["offset"] for head, _ in frames]
    assert offsets[1] == offsets[0] + 1
    assert [head["group"] for head, _ in frames] == ["news", "news"]
    assert [json.loads(text) for _, text in frames] == [{"word": "one"}, {"word": "two"}]


def test_a_reconnecting_socket_gets_what_it_missed_after_its_accept_in_order(news):
    first = connect(news)
    first.replies()
    news_group().send({"text": "seen"})
    (seen,) = [live(r["text"])[0]["offset"] for r in first.replies()]
    for word in ("missed-1", "missed-2", "missed-3"):
        news_group().send({"text": word})

    again = connect(news, f"channels_history=news:{seen}".encode())
    replies = again.replies()
    assert replies[0] == {"accept": True}
    (resume,) = [json.loads(r["text"]) for r in replies[1:]]
    assert resume["history"] == {
        "group": "news",
        "after": seen,
        "last": seen + 3,
        "gap": False,
        "more": False,
    }
    assert resume["missed"] == [
        [seen + 1, "missed-1"],
        [seen + 2, "missed-2"],
        [seen + 3, "missed-3"],
    ]


def test_a_history_too_short_for_the_offset_is_reported_as_a_gap(news):
    first = connect(news)
    first.replies()
    news_group(history=2).send({"text": "seen"})
    (seen,) = [live(r["text"])[0]["offset"] for r in first.replies()]
    for n in range(4):
        news_group(history=2).send({"text": f"m{n}"})
    again = connect(news, f"channels_history=news:{seen}".encode())
    resume = json.loads(again.replies()[1]["text"])
    assert resume["history"]["gap"] is True
    assert resume["missed"] == [[seen + 3, "m2"], [seen + 4, "m3"]]


def test_a_malformed_resume_parameter_closes_the_socket_with_4400(news):
    socket = connect(news, b"channels_history=news:abc")
    assert socket.replies() == [{"close": 4400}]


def test_only_the_consumers_groups_are_resumed_whatever_the_client_asks(harness):
    Group("secret", history=5, history_ttl=60).send({"text": "classified"})

    def connect_news(message):
        Group("news").add(message.reply_channel)
        message.reply_channel.send({"accept": True})
        resume_history(message, ["news"])

    harness.route([route("websocket.connect", connect_news)])
    socket = Socket(harness)
    socket.connect(b"channels_history=secret:0,news:5")
    harness.run_all()
    replies = socket.replies()
    assert replies[0] == {"accept": True}
    assert [json.loads(r["text"])["history"]["group"] for r in replies[1:]] == ["news"]


def test_without_history_a_group_send_stays_a_plain_1x_frame(news):
    socket = connect(news)
    socket.replies()
    Group("news").send({"text": "plain"})
    assert socket.replies() == [{"text": "plain"}]


def test_a_close_or_binary_frame_to_a_history_group_goes_out_unnumbered(news):
    socket = connect(news)
    socket.replies()
    news_group().send({"bytes": b"\x00"})
    news_group().send({"close": True})
    assert socket.replies() == [{"bytes": b"\x00"}, {"close": True}]
    assert news.raw.group_history("news", 0) == ([], False, 0)


def test_a_send_held_inside_a_consumer_is_numbered_when_it_goes_out(harness):
    class Shout(WebsocketConsumer):
        groups = ["news"]

        def receive(self, text=None, bytes=None, **kwargs):
            news_group().send({"text": text.upper()})

    harness.route([route_class(Shout)])
    socket = Socket(harness)
    socket.connect()
    harness.run_all()  # joined before the frame comes (the worker takes channels in any order)
    socket.receive("hi")
    harness.run_all()
    replies = socket.replies()
    assert replies[0] == {"accept": True}, replies
    assert len(replies) == 2, replies
    head, text = live(replies[1]["text"])
    assert text == "HI"
    assert harness.raw.group_history("news", head["offset"] - 1).last == head["offset"]


@override_settings(CHANNEL_GROUP_HISTORY={"chat.*": {"size": 3, "ttl": 30}, "*": {"size": 0}})
def test_the_setting_turns_history_on_by_pattern_and_arguments_win(harness):
    assert (Group("chat.lobby").history, Group("chat.lobby").history_ttl) == (3, 30)
    assert Group("news").history == 0
    assert Group("chat.lobby", history=0).history == 0
    assert (Group("chat.lobby", history_ttl=5).history_ttl, Group("x", history=2).history_ttl) == (
        5,
        300,
    )


@pytest.mark.parametrize(
    "setting",
    [
        ["news"],
        {"news": 10},
        {"news": {"size": "10"}},
        {"news": {"size": 10, "ttl": 0}},
        {"news": {"size": 10, "keep": 1}},
    ],
)
def test_a_malformed_setting_is_improperly_configured(harness, setting):
    with override_settings(CHANNEL_GROUP_HISTORY=setting):
        with pytest.raises(ImproperlyConfigured, match="CHANNEL_GROUP_HISTORY"):
            Group("news")


@pytest.mark.parametrize("options", [{"history": -1}, {"history": 2, "history_ttl": -5}])
def test_bad_history_arguments_raise_value_error(harness, options):
    with pytest.raises(ValueError, match="history"):
        Group("news", **options)


def test_history_on_a_layer_without_the_extension_says_why(harness):
    class OldLayer(InMemoryChannelLayer):
        extensions = ["groups", "flush"]

    with pytest.raises(ValueError, match="needs the channel layer's 'history' extension"):
        Group("news", channel_layer=OldLayer(), history=5)
    with pytest.raises(ValueError, match="needs the channel layer's 'history' extension"):
        Group("news", channel_layer=OldLayer()).resume("websocket.send.x", 1)


def test_the_resume_parameter_parses_pairs_and_rejects_anything_else():
    assert parse_resume(b"a=1&channels_history=news:17,chat.room-1:4") == {
        "news": 17,
        "chat.room-1": 4,
    }
    assert parse_resume("") == {}
    for bad in ("news", "news:-1", "ne ws:1", "news:1,,chat:2", ""):
        with pytest.raises(HistoryResumeError, match="group:offset"):
            parse_resume("channels_history=" + bad)


def test_a_long_history_is_resumed_in_several_frames_only_the_last_without_more():
    big = "x" * (RESUME_BUDGET // 2 + 1)
    messages = [(n, fill_offset(numbered_frame("news", {"text": big}), n)) for n in (5, 6, 7)]
    frames = [
        json.loads(f["text"]) for f in resume_frames("news", 4, GroupHistory(messages, False, 7))
    ]
    assert [[o for o, _ in f["missed"]] for f in frames] == [[5], [6], [7]]
    assert [f["history"]["more"] for f in frames] == [True, True, False]


def test_a_numbered_frame_is_json_once_the_layer_wrote_the_offset():
    layer = InMemoryChannelLayer()
    layer.group_add("news", "member")
    frame = numbered_frame("news", {"text": 'quote " and \\ backslash'})
    offset = layer.send_group_history("news", frame, 5, 60)
    _, delivered = layer.receive(["member"])
    assert json.loads(delivered["text"]) == {
        "history": {"group": "news", "offset": offset},
        "text": 'quote " and \\ backslash',
    }
