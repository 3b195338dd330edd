"""daphne behaves as 1.x daphne did, for code and tests written against 1.x.

Written the way 1.x daphne's own tests and 1.x projects drive it: an
``HTTPFactory`` over the in-memory layer and a Twisted ``StringTransport``,
raw request bytes in, hand-built reply dicts through ``dispatch_reply``, and
the ``daphne`` command with ``Server.run`` patched out. Covers the header
tuples of ``http.request`` / ``websocket.connect``, ``http.disconnect`` after
every request, a ``Server`` / command line that take any layer object until
they run, the public proxy-header attributes, ``ValueError`` for a reply
without ``status`` and the forwarded client in the access log.
"""

import base64
import io
import logging
import os
import sys
from unittest import mock

import pytest
from twisted.internet import defer, task
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from asgi.inmemory import ChannelLayer
from daphne._inbox import InboxReader
from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory
from daphne.server import Server

pytestmark = pytest.mark.protocol


class RecordingLayer(ChannelLayer):
    """The in-memory layer, noting each message exactly as daphne built it."""

    def __init__(self, **options):
        super().__init__(**options)
        self.sent = []

    def send(self, channel, message):
        self.sent.append((channel, message))
        super().send(channel, message)

    def built(self, channel):
        return [message for name, message in self.sent if name == channel]


class RefusingLayer(RecordingLayer):
    """Refuses every send to the channels in ``refused`` as full (counting tries)."""

    def __init__(self, refused, error=None, **options):
        super().__init__(**options)
        self.refused = refused
        self.error = error
        self.tries = []

    def send(self, channel, message):
        if channel in self.refused:
            self.tries.append(channel)
            raise self.error or self.ChannelFull(channel)
        super().send(channel, message)


def make_factory(layer=None, **options):
    """An ``HTTPFactory`` as 1.x tests built it (``send_channel="test!"``)."""
    layer = layer if layer is not None else RecordingLayer()
    options.setdefault("reactor", task.Clock())
    return HTTPFactory(layer, send_channel="test!", **options)


def connect(factory):
    protocol = factory.buildProtocol(("127.0.0.1", 0))
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def get(path=b"/", headers=()):
    head = b"GET " + path + b" HTTP/1.1\r\nHost: somewhere.com\r\n"
    return head + b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n"


def upgrade(path=b"/ws/", headers=()):
    key = base64.b64encode(os.urandom(16))
    extra = [
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", key),
        (b"Sec-WebSocket-Version", b"13"),
    ]
    return get(path, [*extra, *headers])


def receive(layer, channel):
    name, message = layer.receive([channel])
    assert name == channel, f"nothing on {channel}"
    return message


def nothing_on(layer, channel):
    return layer.receive([channel]) == (None, None)


def lose(protocol):
    protocol.connectionLost(Failure(ConnectionDone()))


# -- item 3: header pairs are tuples ------------------------------------------------


def test_http_request_headers_are_tuples_as_daphne_builds_them_with_repeats_kept():
    layer = RecordingLayer()
    protocol, _ = connect(make_factory(layer))
    protocol.dataReceived(
        get(headers=[(b"Cookie", b"a=1"), (b"X-Thing", b"x"), (b"Cookie", b"b=2")])
    )
    (message,) = layer.built("http.request")
    assert all(type(pair) is tuple for pair in message["headers"])
    assert message["headers"] == [
        (b"host", b"somewhere.com"),
        (b"cookie", b"a=1"),
        (b"x-thing", b"x"),
        (b"cookie", b"b=2"),
    ]


def test_websocket_connect_has_one_tuple_per_header_name_with_repeats_joined_by_comma():
    layer = RecordingLayer()
    protocol, _ = connect(make_factory(layer))
    protocol.dataReceived(
        upgrade(headers=[(b"Cookie", b"a=1"), (b"X-Thing", b"x"), (b"Cookie", b"b=2")])
    )
    (message,) = layer.built("websocket.connect")
    headers = message["headers"]
    assert all(type(pair) is tuple for pair in headers)
    names = [name for name, _ in headers]
    assert len(names) == len(set(names)), "one entry per header name"
    assert dict(headers)[b"cookie"] == b"a=1,b=2"
    assert names.index(b"cookie") < names.index(b"x-thing"), "first appearance decides the order"


def test_websocket_join_repeated_headers_false_keeps_each_occurrence_in_order():
    layer = RecordingLayer()
    protocol, _ = connect(make_factory(layer, websocket_join_repeated_headers=False))
    protocol.dataReceived(upgrade(headers=[(b"Cookie", b"a=1"), (b"Cookie", b"b=2")]))
    (message,) = layer.built("websocket.connect")
    assert [pair for pair in message["headers"] if pair[0] == b"cookie"] == [
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
    ]


def test_websocket_connect_builder_joins_repeats_and_lowercases_names():
    from asgi import www

    message = www.websocket_connect(
        reply_channel="test!abc",
        path="/",
        headers=[(b"Accept", b"a"), [b"ACCEPT", b"b"], (b"Host", b"h")],
    )
    assert message["headers"] == [(b"accept", b"a,b"), (b"host", b"h")]


# -- item 6: http.disconnect once whenever a request finishes ------------------------


def start_request(factory, path=b"/"):
    protocol, transport = connect(factory)
    protocol.dataReceived(get(path))
    message = receive(factory.channel_layer, "http.request")
    return protocol, transport, message


def test_a_completed_response_is_followed_by_one_http_disconnect_as_in_1x():
    factory = make_factory()
    protocol, transport, message = start_request(factory, b"/poll/")
    factory.dispatch_reply(message["reply_channel"], {"status": 200, "content": b"OK"})
    assert transport.value().startswith(b"HTTP/1.1 200 OK")
    disconnect = receive(factory.channel_layer, "http.disconnect")
    assert disconnect == {"reply_channel": message["reply_channel"], "path": "/poll/"}
    lose(protocol)  # the client closing afterwards does not send a second one
    assert nothing_on(factory.channel_layer, "http.disconnect")


def test_a_client_leaving_before_the_response_sends_one_http_disconnect():
    factory = make_factory()
    protocol, _, message = start_request(factory, b"/poll/")
    lose(protocol)
    assert (
        receive(factory.channel_layer, "http.disconnect")["reply_channel"]
        == (message["reply_channel"])
    )
    assert nothing_on(factory.channel_layer, "http.disconnect")


def test_a_response_that_timed_out_with_503_is_followed_by_http_disconnect():
    clock = task.Clock()
    factory = make_factory(reactor=clock, timeout=5)
    _, transport, message = start_request(factory)
    clock.advance(6)
    assert transport.value().startswith(b"HTTP/1.1 503 ")
    assert (
        receive(factory.channel_layer, "http.disconnect")["reply_channel"]
        == (message["reply_channel"])
    )


def test_a_request_the_layer_refused_gets_503_and_no_http_disconnect():
    layer = RefusingLayer({"http.request"})
    protocol, transport = connect(make_factory(layer))
    protocol.dataReceived(get())
    assert transport.value().startswith(b"HTTP/1.1 503 ")
    lose(protocol)
    assert layer.built("http.disconnect") == [], "the application never saw this request"


def test_a_long_poll_consumer_leaves_no_group_members_after_completed_responses():
    """The 1.x long-poll pattern: join a group on http.request, leave it on
    http.disconnect; a completed response must clean up too."""
    layer = ChannelLayer(capacity=100)
    factory = make_factory(layer)
    for _ in range(3):
        protocol, _, request = start_request(factory, b"/updates/")
        layer.group_add("updates", request["reply_channel"])
        layer.send_group("updates", {"status": 200, "content": b"news"})
        channel, reply = layer.receive(["test!"])  # daphne's inbox reader
        factory.dispatch_reply(channel, reply)
        lose(protocol)
    while True:
        channel, message = layer.receive(["http.disconnect"])
        if channel is None:
            break
        layer.group_discard("updates", message["reply_channel"])
    assert layer.group_channels("updates") == []


def test_a_full_http_disconnect_channel_is_ignored_silently_and_paused(caplog):
    caplog.set_level(logging.DEBUG)
    clock = task.Clock()
    layer = RefusingLayer({"http.disconnect"})
    factory = make_factory(layer, reactor=clock)
    for _ in range(3):
        _, transport, message = start_request(factory)
        factory.dispatch_reply(message["reply_channel"], {"status": 200})
        assert transport.value().startswith(b"HTTP/1.1 200 ")
    assert layer.tries == ["http.disconnect"], "refused once, then not tried during the pause"
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]
    # no word about it but the drop log's one DEBUG line (counted for the metrics)
    drops = [r for r in caplog.records if r.name == "daphne.drops"]
    assert [(r.levelno, r.reason, r.channel) for r in drops] == [
        (logging.DEBUG, "channel_full", "http.disconnect")
    ]
    others = [r for r in caplog.records if r.name != "daphne.drops"]
    assert not [r for r in others if "http.disconnect" in r.getMessage()]
    clock.advance(factory.http_disconnect_pause)
    _, _, message = start_request(factory)
    factory.dispatch_reply(message["reply_channel"], {"status": 200})
    assert layer.tries == ["http.disconnect"] * 2, "tried again after the pause"


def test_an_unreachable_layer_for_http_disconnect_is_logged_once_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="daphne")
    layer = RefusingLayer({"http.disconnect"}, error=ConnectionError("redis down"))
    factory = make_factory(layer)
    for _ in range(3):
        _, _, message = start_request(factory)
        factory.dispatch_reply(message["reply_channel"], {"status": 200})
    drops = [r for r in caplog.records if r.name == "daphne.drops"]
    assert [(r.levelno, r.reason) for r in drops] == [(logging.DEBUG, "layer_down")]
    others = [r for r in caplog.records if r.name != "daphne.drops"]
    messages = [r for r in others if "http.disconnect" in r.getMessage()]
    assert [r.levelno for r in messages] == [logging.DEBUG]
    assert "redis down" in messages[0].getMessage()


def test_a_request_ending_after_the_sender_stopped_is_closed_without_an_error(caplog):
    caplog.set_level(logging.DEBUG, logger="daphne")
    layer = RecordingLayer()
    factory = make_factory(layer)
    factory.sender = factory.make_sender(threaded=True)
    protocol, transport = connect(factory)
    protocol.dataReceived(get(b"/late/"))
    factory.sender.stop(timeout=2)
    with pytest.raises(RuntimeError, match="stopped"):
        factory.sender.send("x", {})
    lose(protocol)  # must not raise from Twisted's connectionLost
    assert "http.disconnect for" in caplog.text and "not sent" in caplog.text
    assert layer.built("http.disconnect") == []


def test_http_disconnect_after_response_false_sends_it_only_when_the_request_ends_early():
    factory = make_factory(http_disconnect_after_response=False)
    protocol, _, message = start_request(factory, b"/done/")
    factory.dispatch_reply(message["reply_channel"], {"status": 200})
    lose(protocol)
    assert nothing_on(factory.channel_layer, "http.disconnect")
    protocol, _, message = start_request(factory, b"/early/")
    lose(protocol)
    assert receive(factory.channel_layer, "http.disconnect")["path"] == "/early/"


def test_http_disconnect_goes_through_the_reactor_batch_sender_not_a_blocking_send():
    class BatchLayer(RecordingLayer):
        extensions = ["groups", "flush", "twisted"]

        def __init__(self):
            super().__init__()
            self.batches = []

        def send_batch_twisted(self, messages):
            self.batches.append([channel for channel, _ in messages])
            for channel, message in messages:
                ChannelLayer.send(self, channel, message)
            return defer.succeed([None] * len(messages))

    layer = BatchLayer()
    factory = make_factory(layer)
    factory.sender = factory.make_sender(threaded=False, on_reactor=True)
    _, _, message = start_request(factory)
    factory.dispatch_reply(message["reply_channel"], {"status": 200})
    assert layer.sent == [], "no blocking send on the reactor thread"
    assert layer.batches == [["http.request"], ["http.disconnect"]]


def test_the_no_http_disconnect_after_response_flag_reaches_the_server(monkeypatch):
    monkeypatch.setattr(Server, "run", mock.Mock())
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    cli = CommandLineInterface()
    cli.run(["-v", "0", "tests.compat.test_daphne:placeholder_layer"])
    assert cli.server.factory_options["http_disconnect_after_response"] is True
    cli = CommandLineInterface()
    cli.run(
        [
            "-v",
            "0",
            "--no-http-disconnect-after-response",
            "tests.compat.test_daphne:placeholder_layer",
        ]
    )
    assert cli.server.factory_options["http_disconnect_after_response"] is False


# -- item 17: any layer object until the server runs ---------------------------------

#: What 1.x daphne's own CLI tests pointed the command at.
placeholder_layer = {}


class _Unreachable:
    """A layer whose server cannot be reached: every call fails."""

    def send(self, channel, message):
        raise ConnectionError("no route to redis.example:6379")

    def receive(self, channels, block=False):
        raise ConnectionError("no route to redis.example:6379")

    def new_channel(self, pattern):
        raise ConnectionError("no route to redis.example:6379")


unreachable_layer = _Unreachable()


@pytest.mark.parametrize(
    "args, endpoints",
    [
        ([], ["tcp:port=8000:interface=127.0.0.1"]),
        (["-b", "10.0.0.1"], ["tcp:port=8000:interface=10.0.0.1"]),
        (
            ["-p", "8080", "-u", "/tmp/d.sock"],
            ["tcp:port=8080:interface=127.0.0.1", "unix:/tmp/d.sock"],
        ),
    ],
)
def test_the_cli_builds_a_server_around_a_placeholder_layer_when_run_is_patched(
    monkeypatch, args, endpoints
):
    run = mock.Mock()
    monkeypatch.setattr(Server, "run", run)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    cli = CommandLineInterface()
    cli.run([*args, "tests.compat.test_daphne:placeholder_layer"])
    assert cli.server.channel_layer is placeholder_layer
    assert cli.server.endpoints == endpoints
    run.assert_called_once_with()


@pytest.mark.parametrize("layer", [object(), mock.Mock(spec=[]), {}])
def test_a_server_takes_any_object_and_refuses_it_only_when_it_runs(layer):
    server = Server(
        layer, endpoints=["tcp:port=0:interface=127.0.0.1"], reactor=MemoryReactorClock()
    )
    assert server.channel_layer is layer
    with pytest.raises(TypeError, match="is not a channel layer: it lacks send"):
        server.run()


def test_the_cli_exits_2_when_the_object_it_runs_is_not_a_layer(capsys):
    with pytest.raises(SystemExit) as exited:
        CommandLineInterface().run(["-v", "0", "tests.compat.test_daphne:placeholder_layer"])
    assert exited.value.code == 2
    assert "is not a channel layer" in capsys.readouterr().err


def test_the_cli_probes_the_layer_when_the_server_runs_and_exits_1_if_unreachable(capsys):
    with pytest.raises(SystemExit) as exited:
        CommandLineInterface().run(["-v", "0", "tests.compat.test_daphne:unreachable_layer"])
    assert exited.value.code == 1
    assert "Cannot reach the channel layer: no route to redis.example" in capsys.readouterr().err


def test_a_server_built_in_code_does_not_probe_unless_asked():
    server = Server(unreachable_layer, endpoints=["tcp:0"], reactor=MemoryReactorClock())
    assert server.probe_layer is False
    probing = Server(
        unreachable_layer, endpoints=["tcp:0"], reactor=MemoryReactorClock(), probe_layer=True
    )
    from daphne.exceptions import LayerUnreachable

    with pytest.raises(LayerUnreachable, match="Cannot reach the channel layer"):
        probing.run()


# -- item 18: proxy-header attributes, ValueError for a reply without status ---------


def test_proxy_header_attributes_are_public_and_default_to_none():
    factory = make_factory()
    assert factory.proxy_forwarded_address_header is None
    assert factory.proxy_forwarded_port_header is None
    assert factory.proxy_forwarded_proto_header is None
    factory = make_factory(
        proxy_forwarded_address_header="X-Forwarded-For",
        proxy_forwarded_port_header="X-Forwarded-Port",
        proxy_forwarded_proto_header="X-Forwarded-Proto",
    )
    assert factory.proxy_forwarded_address_header == "X-Forwarded-For"
    assert factory.proxy_forwarded_port_header == "X-Forwarded-Port"
    assert factory.proxy_forwarded_proto_header == "X-Forwarded-Proto"


FORWARDED = [
    (b"X-Forwarded-For", b"10.1.2.3, 10.0.0.1"),
    (b"X-Forwarded-Port", b"1234"),
    (b"X-Forwarded-Proto", b"https"),
]


def test_proxy_header_attributes_set_after_construction_apply_to_the_next_request():
    factory = make_factory()
    protocol, _ = connect(factory)
    protocol.dataReceived(get(headers=FORWARDED))
    before = receive(factory.channel_layer, "http.request")
    assert before["client"] != ["10.1.2.3", 1234] and before["scheme"] == "http"

    factory.proxy_forwarded_address_header = "X-Forwarded-For"
    factory.proxy_forwarded_port_header = "X-Forwarded-Port"
    factory.proxy_forwarded_proto_header = "X-Forwarded-Proto"
    protocol, _ = connect(factory)
    protocol.dataReceived(get(headers=FORWARDED))
    after = receive(factory.channel_layer, "http.request")
    assert after["client"] == ["10.1.2.3", 1234] and after["scheme"] == "https"

    protocol, _ = connect(factory)
    protocol.dataReceived(upgrade(headers=FORWARDED))
    assert receive(factory.channel_layer, "websocket.connect")["client"] == ["10.1.2.3", 1234]

    factory.proxy_forwarded_address_header = None
    protocol, _ = connect(factory)
    protocol.dataReceived(get(headers=FORWARDED))
    assert receive(factory.channel_layer, "http.request")["client"] == before["client"]


def test_dispatch_reply_raises_value_error_for_a_reply_without_status_and_answers_500():
    factory = make_factory()
    _, transport, message = start_request(factory)
    with pytest.raises(ValueError, match="status"):
        factory.dispatch_reply(message["reply_channel"], {"content": b"no status here"})
    assert transport.value().startswith(b"HTTP/1.1 500 ")


def test_dispatch_reply_raises_value_error_for_a_second_status():
    factory = make_factory()
    _, transport, message = start_request(factory)
    factory.dispatch_reply(message["reply_channel"], {"status": 200, "more_content": True})
    with pytest.raises(ValueError, match="second 'status'"):
        factory.dispatch_reply(message["reply_channel"], {"status": 200})
    assert transport.disconnecting, "a response already started is cut off"


def test_the_inbox_reader_logs_a_reply_without_status_and_keeps_reading(caplog):
    factory = make_factory()
    _, transport, message = start_request(factory)
    reader = InboxReader(factory.channel_layer, "test!", factory.dispatch_reply, factory.reactor)
    reader._deliver(message["reply_channel"], {"content": b"no status"})
    assert transport.value().startswith(b"HTTP/1.1 500 ")
    (record,) = [r for r in caplog.records if "Invalid reply" in r.getMessage()]
    assert record.levelno == logging.ERROR and "'status'" in record.getMessage()
    assert record.exc_info is None, "the application's mistake, not a daphne traceback"


# -- item 19: the access log shows the forwarded client --------------------------------


def access_log_line(factory, headers):
    stream = io.StringIO()
    factory.action_logger = AccessLogGenerator(stream)
    _, _, message = start_request_with(factory, headers)
    factory.dispatch_reply(message["reply_channel"], {"status": 204})
    return stream.getvalue()


def start_request_with(factory, headers):
    protocol, transport = connect(factory)
    protocol.dataReceived(get(b"/logged", headers))
    return protocol, transport, receive(factory.channel_layer, "http.request")


def test_the_access_log_shows_the_forwarded_client_with_proxy_headers_on():
    factory = make_factory(
        proxy_forwarded_address_header="X-Forwarded-For",
        proxy_forwarded_port_header="X-Forwarded-Port",
    )
    line = access_log_line(factory, FORWARDED)
    assert line.startswith("10.1.2.3:1234 - - [")
    assert '"GET /logged" 204' in line


def test_the_access_log_shows_the_peer_and_ignores_forwarded_headers_with_proxy_headers_off():
    factory = make_factory()
    line = access_log_line(factory, FORWARDED)
    peer = StringTransport().getPeer()
    assert line.startswith(f"{peer.host}:{peer.port} - - [")
    assert "10.1.2.3" not in line
