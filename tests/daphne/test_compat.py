"""daphne's fast paths behind ``_compat``: each is on with the supported
Twisted and Autobahn, each falls back to the stock path, with one INFO line,
when what it relies on is missing. (The protocol tests run through both
paths as well: see the ``daphne_paths`` fixture.)"""

import logging

import pytest
from autobahn.twisted.websocket import WebSocketServerProtocol

from asgi import www
from daphne import _compat
from daphne._http_channel import DaphneHTTPChannel
from daphne.ws_protocol import WebSocketProtocol
from tests.daphne.test_reactor import reactor_of_a_new_server
from tests.daphne.wire import Harness, frame
from tests.support.fast_paths import force_stock

pytestmark = pytest.mark.protocol


@pytest.mark.parametrize("path", _compat.FAST_PATHS, ids=lambda path: path.name)
def test_every_fast_path_finds_what_it_relies_on_in_the_installed_versions(path):
    assert list(path.check()) == []


def test_a_fast_path_with_something_missing_is_off_with_one_info_line(caplog):
    path = _compat.FastPath("example", "the slow way", lambda: ["Thing._gone"], _compat.logger)
    with caplog.at_level(logging.INFO, logger="daphne.compat"):
        assert path.available() is False
        assert path.available() is False
    lines = [r.getMessage() for r in caplog.records if r.name == "daphne.compat"]
    assert lines == ["Fast path example is off (not found: Thing._gone); using the slow way"]
    assert caplog.records[0].levelno == logging.INFO


def test_a_fast_path_with_everything_there_logs_nothing(caplog):
    path = _compat.FastPath("example", "the slow way", lambda: [], _compat.logger)
    with caplog.at_level(logging.INFO, logger="daphne.compat"):
        assert path.available() is True
    assert not caplog.records


def test_without_the_epoll_internals_daphne_installs_twisteds_own_epoll_reactor():
    setup = "from daphne import _compat; _compat.REACTOR.check = lambda: ['forced']"
    assert reactor_of_a_new_server(setup) == "EPollReactor"


def test_without_the_negotiating_wrapper_connections_are_plain_http11_channels(monkeypatch):
    force_stock(monkeypatch, _compat.HTTP2_NEGOTIATION)
    harness = Harness()
    conn = harness.connect()
    assert type(conn.protocol) is DaphneHTTPChannel
    assert harness.factory.acceptableProtocols() == [b"http/1.1"]
    conn.send(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
    reply = harness.receive("http.request")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.http_response(200, content=b"ok"))
    assert conn.output().startswith(b"HTTP/1.1 200 ")


def test_with_the_negotiating_wrapper_connections_can_switch_to_http2():
    conn = Harness().connect()
    assert type(conn.protocol) is not DaphneHTTPChannel
    assert type(conn.channel) is DaphneHTTPChannel


def open_socket(harness):
    conn = harness.connect()
    conn.upgrade()
    connect = harness.receive("websocket.connect")
    harness.factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(accept=True))
    conn.output()
    return conn, connect["reply_channel"]


def test_without_autobahns_internals_every_frame_goes_through_autobahns_parser(monkeypatch):
    force_stock(monkeypatch, _compat.WEBSOCKET_FRAMES)

    def not_here(*args):
        raise AssertionError("the simple-frame reader ran")

    monkeypatch.setattr(_compat.SimpleFrameReader, "_deliver_simple_frames", not_here)
    monkeypatch.setattr(_compat.SimpleFrameReader, "_feed_autobahn", not_here)
    harness = Harness()
    conn, reply = open_socket(harness)
    protocol = harness.factory.websockets()[0]
    assert isinstance(protocol, WebSocketProtocol)
    assert protocol.sendData.__func__ is _compat._StockFrames.sendData
    conn.send(frame(b"hello") + frame(b"\x01\x02", opcode=2))
    assert harness.receive("websocket.receive")["text"] == "hello"
    assert harness.receive("websocket.receive")["bytes"] == b"\x01\x02"
    harness.factory.dispatch_reply(reply, www.websocket_reply(text="back"))
    assert conn.output() == b"\x81\x04back"


def test_with_autobahns_internals_simple_frames_skip_its_parser(monkeypatch):
    def not_here(*args):
        raise AssertionError("Autobahn's parser ran")

    harness = Harness()
    conn, _ = open_socket(harness)
    protocol = harness.factory.websockets()[0]
    assert protocol._simple_frame_limit > 0
    monkeypatch.setattr(WebSocketServerProtocol, "processData", not_here)
    conn.send(frame(b"hello"))
    assert harness.receive("websocket.receive")["text"] == "hello"


def test_a_connection_without_autobahns_parser_state_reads_every_frame_through_autobahn(caplog):
    class Moved(WebSocketProtocol):
        """As if Autobahn had renamed a piece of connection state."""

        def onOpen(self):  # noqa: N802 - Autobahn's hook
            del self.inside_message
            super().onOpen()
            self.inside_message = False

    harness = Harness()
    harness.factory.ws_factory.protocol = Moved
    with caplog.at_level(logging.INFO, logger="daphne.compat"):
        conn, _ = open_socket(harness)
        open_socket(harness)
    assert harness.factory.websockets()[0]._simple_frame_limit == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "daphne.compat"]
    assert len(lines) == 1 and "inside_message" in lines[0]
    conn.send(frame(b"hello"))
    assert harness.receive("websocket.receive")["text"] == "hello"
