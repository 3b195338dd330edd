"""Presence: members with meta, join/leave diffs, the mixin and the
decorator, run by the real worker on the in-memory layer.

See docs/topics/realtime.rst, "Presence".
"""

from __future__ import annotations

import time

import pytest

from asgi.inmemory import ChannelLayer as InMemoryChannelLayer
from channels.exceptions import PresenceNotSupported
from channels.generic.websockets import JsonWebsocketConsumer
from channels.presence import Presence, PresenceMixin, channel_presence, socket_ref
from channels.routing import route, route_class

from .conftest import Socket

pytestmark = [pytest.mark.unit, pytest.mark.django_db]

RECEIVED = []


class RoomConsumer(PresenceMixin, JsonWebsocketConsumer):
    presence_groups = ["room-{room}"]
    channel_session = True

    def presence_meta(self, message):
        if message.channel.name == "websocket.connect":
            message.channel_session["user"] = message["query_string"].decode()
        return {"user": message.channel_session["user"]}

    def receive(self, content, **kwargs):
        RECEIVED.append(content)


@channel_presence("lobby", meta=lambda message: {"user": "ann"})
def lobby_consumer(message):
    if message.channel.name == "websocket.connect":
        message.reply_channel.send({"accept": True})
    elif message.channel.name == "websocket.receive":
        RECEIVED.append(message["text"])


def presence_frames(sock):
    return [t for t in sock.texts() if isinstance(t, dict) and "presence" in t]


@pytest.fixture
def rooms(harness):
    RECEIVED.clear()
    harness.route([route_class(RoomConsumer, path=r"^/room/(?P<room>\w+)/$")])
    return harness


def connect(harness, user, path="/room/a/"):
    sock = Socket(harness, path=path)
    harness.send("websocket.connect", sock.connect_message(query_string=user.encode()))
    sock.order = 1
    harness.run_all()
    return sock


def test_join_sends_the_member_list_to_the_new_socket_and_a_join_diff_to_the_room(rooms):
    ann = connect(rooms, "ann")
    assert ann.replies()[0] == {"accept": True}
    bob = connect(rooms, "bob")
    bob_frames = presence_frames(bob)
    assert bob_frames[0]["state"].keys() == {"ann", "bob"}
    assert bob_frames[0]["ttl"] == 60.0
    ann_frames = presence_frames(ann)
    assert ann_frames[-1] == {
        "presence": "room-a",
        "joins": {"bob": {"metas": [{"user": "bob", "ref": socket_ref(bob.reply_channel)}]}},
        "leaves": {},
    }


def test_two_sockets_of_one_user_fold_into_one_entry(rooms):
    first = connect(rooms, "ann")
    second = connect(rooms, "ann")
    listed = Presence("room-a", channel_layer=rooms.layer).list()
    assert list(listed) == ["ann"]
    refs = sorted(meta["ref"] for meta in listed["ann"]["metas"])
    assert refs == sorted([socket_ref(first.reply_channel), socket_ref(second.reply_channel)])


def test_disconnect_leaves_and_tells_the_others(rooms):
    ann = connect(rooms, "ann")
    bob = connect(rooms, "bob")
    ann.texts()
    bob.disconnect()
    rooms.run_all()
    assert presence_frames(ann) == [
        {
            "presence": "room-a",
            "joins": {},
            "leaves": {"bob": {"metas": [{"user": "bob", "ref": socket_ref(bob.reply_channel)}]}},
        }
    ]
    assert list(Presence("room-a", channel_layer=rooms.layer).list()) == ["ann"]
    assert rooms.layer.group_channels("presence.room-a") == [ann.reply_channel]


def test_rooms_are_apart(rooms):
    connect(rooms, "ann", path="/room/a/")
    connect(rooms, "bob", path="/room/b/")
    assert list(Presence("room-b", channel_layer=rooms.layer).list()) == ["bob"]


def test_heartbeat_renews_the_member_and_never_reaches_the_consumer(rooms):
    ann = connect(rooms, "ann")
    ann.receive({"presence": "room-a", "heartbeat": True})
    ann.receive({"hello": 1})
    rooms.run_all()
    assert RECEIVED == [{"hello": 1}]


def test_a_member_not_renewed_expires_and_its_leave_goes_out_on_the_next_heartbeat(harness):
    clock = [0.0]
    harness.raw = InMemoryChannelLayer(capacity=1000, expiry=3600, clock=lambda: clock[0])
    harness.route([route_class(RoomConsumer, path=r"^/room/(?P<room>\w+)/$")])
    RoomConsumer.presence_ttl = 10
    try:
        ann = connect(harness, "ann")
        bob = connect(harness, "bob")
        ann.texts()
        clock[0] = 8
        ann.receive({"presence": "room-a", "heartbeat": True})
        harness.run_all()
        clock[0] = 12  # bob's 10 s ran out; ann renewed at 8
        assert list(
            Presence("room-a", channel_layer=harness.layer)._fold(
                harness.raw.presence_members("room-a")
            )
        ) == ["ann"]
        ann.receive({"presence": "room-a", "heartbeat": True})
        harness.run_all()
        assert presence_frames(ann) == [
            {
                "presence": "room-a",
                "joins": {},
                "leaves": {
                    "bob": {"metas": [{"user": "bob", "ref": socket_ref(bob.reply_channel)}]}
                },
            }
        ]
    finally:
        RoomConsumer.presence_ttl = 60.0


def test_a_heartbeat_after_expiry_joins_again(harness):
    clock = [0.0]
    harness.raw = InMemoryChannelLayer(capacity=1000, expiry=3600, clock=lambda: clock[0])
    harness.route([route_class(RoomConsumer, path=r"^/room/(?P<room>\w+)/$")])
    ann = connect(harness, "ann")
    ann.texts()
    clock[0] = 100
    ann.receive({"presence": "room-a", "heartbeat": True})
    harness.run_all()
    frames = presence_frames(ann)
    assert frames[0]["state"].keys() == {"ann"}
    assert frames[-1]["joins"].keys() == {"ann"}


def test_decorator_joins_after_the_consumer_accepts_and_leaves_on_disconnect(harness):
    RECEIVED.clear()
    harness.route(
        [
            route("websocket.connect", lobby_consumer),
            route("websocket.receive", lobby_consumer),
            route("websocket.disconnect", lobby_consumer),
        ]
    )
    sock = Socket(harness)
    sock.connect()
    harness.run_all()
    replies = sock.replies()
    assert replies[0] == {"accept": True}
    assert '"state"' in replies[1]["text"]
    sock.receive({"presence": "lobby", "heartbeat": True})
    sock.receive({"presence": "elsewhere", "heartbeat": True})
    harness.run_all()
    assert RECEIVED == ['{"presence": "elsewhere", "heartbeat": true}']
    sock.disconnect()
    harness.run_all()
    assert Presence("lobby", channel_layer=harness.layer).list() == {}


def test_a_layer_without_the_extension_is_refused_with_a_clear_error():
    class Plain:
        extensions = ["groups"]

    with pytest.raises(PresenceNotSupported, match="'presence' extension"):
        Presence("room", channel_layer=Plain())


@pytest.mark.parametrize("ttl", [0, -1, True, "60"])
def test_a_bad_ttl_is_refused(harness, ttl):
    with pytest.raises(ValueError, match="ttl must be a positive number"):
        Presence("room", ttl=ttl, channel_layer=harness.layer)


def test_a_name_that_cannot_make_a_group_is_refused(harness):
    with pytest.raises((TypeError, ValueError)):
        Presence("room:1", channel_layer=harness.layer)
    with pytest.raises(TypeError):
        Presence(12, channel_layer=harness.layer)


def test_a_malformed_heartbeat_closes_nothing_but_raises_a_clear_error(rooms):
    from channels.presence import handle_heartbeat

    class Fake:
        reply_channel = None

        def get(self, key):
            return '{"presence": 3, "heartbeat": true}'

    with pytest.raises(ValueError, match="names its presence as a string"):
        handle_heartbeat([], Fake(), dict)


def test_ttl_is_real_seconds_on_the_default_clock(harness):
    presence = Presence("quick", ttl=0.2, channel_layer=harness.layer)
    presence.join("websocket.send.q1", {"user": "q"})
    assert list(presence.list()) == ["q"]
    time.sleep(0.3)
    assert presence.list() == {}


def test_touch_on_receive_renews_on_ordinary_frames_when_asked(harness):
    clock = [0.0]
    harness.raw = InMemoryChannelLayer(capacity=1000, expiry=3600, clock=lambda: clock[0])
    harness.route([route_class(RoomConsumer, path=r"^/room/(?P<room>\w+)/$")])
    RoomConsumer.presence_ttl = 10
    RoomConsumer.presence_touch_on_receive = True
    try:
        connect(harness, "ann")
        bob = connect(harness, "bob")
        clock[0] = 8
        bob.receive({"hello": 1})
        harness.run_all()
        clock[0] = 12  # both joined at 0 for 10 s; bob's frame at 8 renewed bob
        members = harness.raw.presence_members("room-a")
        assert [meta["user"] for meta in members.values()] == ["bob"]
    finally:
        RoomConsumer.presence_ttl = 60.0
        RoomConsumer.presence_touch_on_receive = False
