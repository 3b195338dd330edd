"""``channels._inspect_view``: which channels a process consumes, the
snapshot of a layer, and the table ``channels_inspect`` prints."""

import pytest

from asgi.inmemory import ChannelLayer
from channels._inspect_view import NotInspectable, consumes, render, snapshot

pytestmark = pytest.mark.unit


def worker(*channels, pid=10, **fields):
    return {
        "id": f"worker:h:{pid}:0000beef",
        "kind": "worker",
        "host": "h",
        "pid": pid,
        "channels": list(channels),
        "handled": 5,
        "last_activity": 990.0,
        "started": 900.0,
        **fields,
    }


@pytest.mark.parametrize(
    "patterns,channel,expected",
    [
        (["http.request"], "http.request", True),
        (["http.request"], "http.request.body?abc", False),
        (["websocket.*"], "websocket.receive", True),
        (["http.response!*"], "http.response!abc", True),
        (["http.response!*"], "http.response!", True),
        (["daphne.response.x!"], "daphne.response.x!c1", True),  # received on the prefix
        (["daphne.response.x!"], "daphne.response.y!c1", False),
        ([], "http.request", False),
        ("http.request", "http.request", True),  # a lone str from a third-party record
    ],
)
def test_consumes_matches_names_globs_and_process_prefixes(patterns, channel, expected):
    assert consumes({"channels": patterns}, channel) is expected


def test_a_record_without_channels_consumes_nothing():
    assert consumes({"id": "x"}, "http.request") is False


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def layer():
    return ChannelLayer(capacity=4)


def test_snapshot_marks_waiting_channels_no_live_process_consumes(layer):
    layer.heartbeat(worker("http.request", "websocket.*"), ttl=30)
    for channel in ("http.request", "websocket.connect", "chat.message", "chat.message"):
        layer.send(channel, {})
    data = snapshot(layer, channels=["idle.channel"], clock=Clock())
    by_name = {entry["channel"]: entry for entry in data["channels"]}
    assert sorted(by_name) == ["chat.message", "http.request", "idle.channel", "websocket.connect"]
    assert data["unconsumed"] == ["chat.message"]  # idle.channel is empty: nothing waits
    assert by_name["chat.message"]["usage"] == 50.0
    assert by_name["http.request"]["consumed"] is True
    assert by_name["idle.channel"] == {
        "channel": "idle.channel",
        "depth": 0,
        "capacity": 4,
        "oldest_age": None,
        "usage": 0.0,
        "consumed": False,
    }
    (process,) = data["processes"]
    assert process["idle"] == 10.0
    assert data["time"] == 1000.0
    assert data["shards"] == [{"shard": "memory", "reachable": True, "latency": 0.0}]


def test_snapshot_lists_group_members_only_when_asked(layer):
    layer.group_add("room", "b")
    layer.group_add("room", "a")
    assert snapshot(layer)["groups"] == [{"group": "room", "size": 2}]
    assert snapshot(layer, members=True)["groups"] == [
        {"group": "room", "size": 2, "members": ["a", "b"]}
    ]


def test_snapshot_refuses_a_layer_without_the_extension():
    class Plain(ChannelLayer):
        extensions = ["groups", "flush"]

    with pytest.raises(NotInspectable, match="does not list the 'inspect' extension"):
        snapshot(Plain())


def sample():
    return {
        "time": 0.0,
        "channels": [
            {
                "channel": "chat.message",
                "depth": 3,
                "capacity": 100,
                "oldest_age": 12.25,
                "usage": 3.0,
                "consumed": False,
            },
            {
                "channel": "http.request",
                "depth": 7,
                "capacity": 10,
                "oldest_age": 0.5,
                "usage": 70.0,
                "consumed": True,
            },
        ],
        "groups": [{"group": "room", "size": 2, "members": ["a!x", "b!y"]}],
        "processes": [
            {**worker("http.request"), "idle": 1.5},
            {
                "id": "daphne:web:3:00000001",
                "kind": "daphne",
                "host": "web",
                "pid": 3,
                "channels": ["http.response!*"],
                "handled": 40,
                "idle": None,
            },
        ],
        "shards": [
            {"shard": "redis://***@10.0.0.1:6379/0", "reachable": True, "latency": 0.00042},
            {"shard": "redis://10.0.0.2:6379/0", "reachable": False, "latency": None},
        ],
        "unconsumed": ["chat.message"],
    }


def rows(text, first_cell):
    return [line.split() for line in text.splitlines() if first_cell in line.split()]


def test_render_shows_each_section_with_its_figures():
    text = render(sample(), title="Channel layer default")
    assert text.startswith("Channel layer default at 1970-01-01 00:00:00 UTC\n")
    assert rows(text, "http.request")[0] == ["http.request", "7", "10", "70%", "0.5s"]
    assert rows(text, "room")[0] == ["room", "2"]
    assert rows(text, "a!x") == [["a!x"]] and rows(text, "b!y") == [["b!y"]]
    assert rows(text, "worker")[0] == ["worker", "h", "10", "http.request", "5", "1.5s"]
    assert rows(text, "daphne")[0] == ["daphne", "web", "3", "http.response!*", "40", "-"]
    assert rows(text, "redis://***@10.0.0.1:6379/0")[0][1:] == ["up", "0.42", "ms"]
    assert rows(text, "redis://10.0.0.2:6379/0")[0][1:] == ["UNREACHABLE", "-"]


def test_render_marks_and_highlights_unconsumed_channels_only():
    text = render(sample(), highlight=lambda line: f"<<{line}>>")
    (chat,) = [line for line in text.splitlines() if "chat.message" in line and "12.2s" in line]
    assert chat.strip().startswith("<<! ") and chat.endswith(">>")
    (http,) = [line for line in text.splitlines() if "http.request" in line and "70%" in line]
    assert "!" not in http and "<<" not in http
    assert text.rstrip().endswith(
        "<<! 1 channel has waiting messages that no live process consumes: chat.message>>"
    )


def test_render_says_so_when_there_is_nothing_to_show():
    empty = {**sample(), "channels": [], "groups": [], "processes": [], "unconsumed": []}
    text = render(empty)
    assert "Channels: none with waiting messages" in text
    assert "Groups: none" in text
    assert "Processes: no live heartbeats" in text
    assert "no live process consumes" not in text
