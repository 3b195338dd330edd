"""``manage.py channels_inspect``: its table, ``--json``, ``--watch`` and
its errors, on the in-memory layer and on Redis servers (two shards, and
one that is not there)."""

import io
import json
import time
import uuid

import pytest
from django.core.management import CommandError, call_command

from asgi.inmemory import ChannelLayer
from channels.asgi import channel_layers
from channels.management.commands import channels_inspect
from tests.support.redis import free_port

pytestmark = pytest.mark.integration


class PlainLayer(ChannelLayer):
    """An in-memory layer that does not offer inspection."""

    extensions = ["groups", "flush"]


@pytest.fixture
def layer():
    layer = channel_layers["default"]
    layer.flush()
    yield layer
    layer.flush()


@pytest.fixture
def extra_layers(settings):
    """Add ``CHANNEL_LAYERS`` aliases for one test."""
    added = []

    def add(alias, backend, **config):
        settings.CHANNEL_LAYERS = {
            **settings.CHANNEL_LAYERS,
            alias: {"BACKEND": backend, "CONFIG": config, "ROUTING": []},
        }
        added.append(alias)

    yield add
    for alias in added:
        old = channel_layers.set(alias, None)
        if old is not None and hasattr(old.channel_layer, "close"):
            old.channel_layer.close()


def heartbeat(layer, kind, pid, channels, handled=0, idle=0.0):
    now = time.time()
    layer.heartbeat(
        {
            "id": f"{kind}:testhost:{pid}:{uuid.uuid4().hex[:8]}",
            "kind": kind,
            "host": "testhost",
            "pid": pid,
            "version": "test",
            "channels": channels,
            "handled": handled,
            "last_activity": now - idle,
            "started": now - 60,
        },
        30,
    )


def run(*args, **options):
    out = io.StringIO()
    call_command("channels_inspect", *args, stdout=out, **options)
    return out.getvalue()


def cells(text, name):
    """The cells of the table rows whose cells include ``name``."""
    return [line.split() for line in text.splitlines() if name in line.split()]


def test_the_table_shows_channels_groups_processes_and_flags_unconsumed_ones(layer):
    heartbeat(layer, "worker", 4242, ["http.request", "websocket.*"], handled=17, idle=3)
    for _ in range(3):
        layer.send("http.request", {})
    layer.send("chat.unread", {})
    layer.group_add("lobby", "websocket.send!a")
    layer.group_add("lobby", "websocket.send!b")
    text = run("--channel", "websocket.connect", "--members")
    capacity = str(layer.get_capacity("http.request"))
    (request,) = cells(text, "http.request")
    assert request[:4] == ["http.request", "3", capacity, f"{300 / int(capacity):g}%"]
    unread = cells(text, "chat.unread")[0]  # the table row (the note names it too)
    assert unread[:3] == ["!", "chat.unread", "1"]
    assert cells(text, "websocket.connect")[0][:2] == ["websocket.connect", "0"]
    assert cells(text, "lobby") == [["lobby", "2"]]
    assert cells(text, "websocket.send!a") == [["websocket.send!a"]]
    (process,) = cells(text, "4242")
    assert process[:5] == ["worker", "testhost", "4242", "http.request,websocket.*", "17"]
    assert 3.0 <= float(process[5].rstrip("s")) < 4.0
    assert "! 1 channel has waiting messages that no live process consumes: chat.unread" in text
    assert "\x1b[" not in text  # no colour: stdout is not a terminal


def test_unconsumed_rows_are_coloured_when_colour_is_on(layer):
    layer.send("chat.unread", {})
    layer.send("http.request", {})
    heartbeat(layer, "worker", 1, ["http.request"])
    text = run(force_color=True)
    unread, note = [line for line in text.splitlines() if "chat.unread" in line]
    assert "\x1b[" in unread and "! " in unread
    assert "\x1b[" in note and "no live process consumes" in note
    request = [line for line in text.splitlines() if "http.request" in line.split()][0]
    assert "\x1b[" not in request


def test_json_is_one_document_with_every_part(layer):
    heartbeat(layer, "daphne", 7, ["http.response!*"], handled=2)
    layer.send("http.response!abc", {})
    layer.send("http.request", {})
    layer.group_add("room", "http.response!abc")
    data = json.loads(run("--json", "--members", "--channel", "websocket.receive"))
    assert set(data) == {"time", "channels", "groups", "processes", "shards", "unconsumed"}
    assert abs(data["time"] - time.time()) < 5
    depths = {entry["channel"]: entry["depth"] for entry in data["channels"]}
    assert depths == {"http.request": 1, "http.response!abc": 1, "websocket.receive": 0}
    assert data["unconsumed"] == ["http.request"]  # the daphne reads its replies, no worker runs
    assert data["groups"] == [{"group": "room", "size": 1, "members": ["http.response!abc"]}]
    assert [(p["kind"], p["pid"], p["handled"]) for p in data["processes"]] == [("daphne", 7, 2)]
    assert data["shards"] == [{"shard": "memory", "reachable": True, "latency": 0.0}]


def test_watch_refreshes_until_its_count_with_one_json_document_per_line(layer, monkeypatch):
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        layer.send("watched", {})  # something changes between two refreshes

    monkeypatch.setattr(channels_inspect.Command, "sleep", staticmethod(sleep))
    lines = run("--watch", "0.05", "--json", "--count", "3").splitlines()
    assert len(lines) == 3
    documents = [json.loads(line) for line in lines]
    depths = [
        {e["channel"]: e["depth"] for e in doc["channels"]}.get("watched", 0) for doc in documents
    ]
    assert depths == [0, 1, 2]
    assert waits == [0.05, 0.05]


def test_watch_really_waits_its_interval(layer):
    started = time.monotonic()
    text = run("--watch", "0.2", "--count", "2")
    assert time.monotonic() - started >= 0.2
    assert text.count("Channel layer default") == 2


def test_watch_stops_quietly_on_ctrl_c(layer, monkeypatch):
    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(channels_inspect.Command, "sleep", staticmethod(interrupted))
    text = run("--watch")
    assert text.count("Channel layer default") == 1


@pytest.mark.parametrize(
    "args,message",
    [
        (["--watch", "0"], "--watch takes a positive number of seconds, got 0"),
        (["--watch", "-1"], "--watch takes a positive number of seconds"),
        (["--watch", "1", "--count", "0"], "--count takes a positive number"),
        (["--channel", "not a name"], "--channel 'not a name' is not a valid channel name"),
        (["--layer", "nowhere"], "No channel layer 'nowhere' in CHANNEL_LAYERS"),
    ],
)
def test_bad_options_are_command_errors(layer, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_a_layer_without_the_extension_is_a_command_error(extra_layers):
    extra_layers("plain", f"{__name__}.PlainLayer")
    with pytest.raises(CommandError, match="cannot be inspected: it does not list the 'inspect'"):
        run("--layer", "plain")


def test_an_unreachable_layer_is_a_command_error_with_the_layers_error(extra_layers):
    url = f"redis://127.0.0.1:{free_port()}/0"
    extra_layers("gone", "asgi_redis.RedisChannelLayer", hosts=[url])
    with pytest.raises(CommandError, match=r"Cannot inspect channel layer gone .*RedisUnavailable"):
        run("--layer", "gone")


def test_two_redis_shards_are_inspected_as_one_layer(extra_layers, make_redis_server):
    servers = [make_redis_server(), make_redis_server()]
    prefix = f"cmd{uuid.uuid4().hex[:6]}:"
    extra_layers(
        "sharded",
        "asgi_redis.RedisChannelLayer",
        hosts=[server.url for server in servers],
        prefix=prefix,
        capacity=50,
    )
    layer = channel_layers["sharded"]
    for _ in range(10):
        layer.send("spread.out", {})  # normal channels go round both shards
    layer.group_add("room", "reply!one")
    heartbeat(layer, "worker", 99, ["spread.*"])
    data = json.loads(run("--layer", "sharded", "--json"))
    depths = {entry["channel"]: entry["depth"] for entry in data["channels"]}
    assert depths["spread.out"] == 10
    assert data["unconsumed"] == []
    assert [shard["shard"] for shard in data["shards"]] == [server.url for server in servers]
    assert all(shard["reachable"] for shard in data["shards"])
    assert data["groups"] == [{"group": "room", "size": 1}]
    assert [p["pid"] for p in data["processes"]] == [99]


def test_watch_reports_an_outage_after_the_first_picture_and_keeps_watching(
    extra_layers, make_redis_server, monkeypatch
):
    server = make_redis_server()
    extra_layers("flaky", "asgi_redis.RedisChannelLayer", hosts=[server.url])
    restarts = []

    def sleep(seconds):
        if not restarts:
            server.stop()
        elif len(restarts) == 2:
            server.start()
        restarts.append(seconds)

    monkeypatch.setattr(channels_inspect.Command, "sleep", staticmethod(sleep))
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "channels_inspect",
        "--layer",
        "flaky",
        "--watch",
        "0.01",
        "--json",
        "--count",
        "4",
        stdout=out,
        stderr=err,
    )
    pictures = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(pictures) == 2  # before the outage and after the server came back
    errors = err.getvalue().splitlines()
    assert len(errors) == 2
    assert all("Cannot inspect channel layer flaky" in line for line in errors)
