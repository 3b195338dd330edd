"""Group history through ``channels.Group`` on a real redis-server: two layer
clients (as two processes would have) send to one group, a socket's reply
channel gets the numbered frames in order, and a resume sends the missed
ones in order, or says there is a gap.

See docs/topics/history.rst.
"""

import json
import uuid

import pytest

from asgi_redis import RedisChannelLayer
from channels import Channel, Group

pytestmark = pytest.mark.integration


@pytest.fixture
def layers(redis_url):
    prefix = f"hist{uuid.uuid4().hex[:6]}:"
    made = [RedisChannelLayer(hosts=[redis_url], prefix=prefix, stats_prefix="") for _ in range(2)]
    yield made
    made[0].flush()
    for layer in made:
        layer.close()


def frames(layer, channel):
    """The decoded frames waiting for ``channel`` (read from its process inbox)."""
    found = []
    while True:
        name, message = layer.receive([channel.split("!")[0] + "!"])
        if name is None:
            return found
        found.append(json.loads(message["text"]))


def test_two_clients_number_one_groups_frames_and_a_resume_returns_the_missed_in_order(layers):
    first, second = layers
    socket = "daphne.response.abc!sock1"
    Group("room", channel_layer=first).add(socket)
    for n in range(6):
        layer = (first, second)[n % 2]
        Group("room", channel_layer=layer, history=10, history_ttl=60).send({"text": f"line {n}"})
    live = frames(first, socket)
    offsets = [frame["history"]["offset"] for frame in live]
    assert offsets == list(range(offsets[0], offsets[0] + 6))
    assert [frame["text"] for frame in live] == [f"line {n}" for n in range(6)]

    history = Group("room", channel_layer=second).resume(
        Channel(socket, channel_layer=second), offsets[2]
    )
    assert ([o for o, _ in history.messages], history.gap) == (offsets[3:], False)
    (resume,) = frames(first, socket)
    assert resume["history"] == {
        "group": "room",
        "after": offsets[2],
        "last": offsets[-1],
        "gap": False,
        "more": False,
    }
    assert resume["missed"] == [[offsets[n], f"line {n}"] for n in (3, 4, 5)]


def test_a_resume_from_before_a_short_history_reports_a_gap_and_what_is_left(layers):
    layer = layers[0]
    socket = "daphne.response.abc!sock2"
    group = Group("short", channel_layer=layer, history=2, history_ttl=60)
    group.add(socket)
    for n in range(5):
        group.send({"text": f"line {n}"})
    offsets = [frame["history"]["offset"] for frame in frames(layer, socket)]
    group.resume(socket, offsets[0])
    (resume,) = frames(layer, socket)
    assert resume["history"]["gap"] is True
    assert resume["missed"] == [[offsets[3], "line 3"], [offsets[4], "line 4"]]
