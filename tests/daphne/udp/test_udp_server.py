"""daphne.udp against real UDP sockets on 127.0.0.1 and the in-memory layer."""

from __future__ import annotations

import socket
import threading

import pytest

from asgi import udp
from asgi.inmemory import ChannelLayer
from daphne.udp import UDPServer
from tests.support.interface_servers import TIMEOUT, receive, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def server(reactor_thread, layer):
    server = UDPServer(layer, "127.0.0.1", 0, reactor=reactor_thread.reactor)
    reactor_thread.call(server.start)
    yield server
    reactor_thread.call(server.stop)


def client_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(TIMEOUT)
    return sock


def test_a_datagram_becomes_one_udp_receive_message_with_client_and_server(server, layer):
    sock = client_socket()
    sock.sendto(b"\x00ping\xff", server.address)
    channel, message = receive(layer, [udp.RECEIVE_CHANNEL])
    assert channel == "udp.receive"
    udp.validate("udp.receive", message)
    assert message["data"] == b"\x00ping\xff"
    assert message["client"] == ["127.0.0.1", sock.getsockname()[1]]
    assert message["server"] == ["127.0.0.1", server.address[1]]
    assert message["reply_channel"].startswith(server.reply_prefix)
    sock.close()


def test_a_udp_send_reply_goes_back_to_the_client_that_sent(server, layer):
    sock = client_socket()
    sock.sendto(b"question", server.address)
    _, message = receive(layer, [udp.RECEIVE_CHANNEL])
    layer.send(message["reply_channel"], udp.udp_send(b"answer"))
    data, source = sock.recvfrom(1024)
    assert (data, source) == (b"answer", server.address)
    sock.close()


def test_two_clients_get_their_own_reply_channels_and_replies(server, layer):
    first, second = client_socket(), client_socket()
    first.sendto(b"one", server.address)
    _, from_first = receive(layer, [udp.RECEIVE_CHANNEL])
    second.sendto(b"two", server.address)
    _, from_second = receive(layer, [udp.RECEIVE_CHANNEL])
    assert from_first["reply_channel"] != from_second["reply_channel"]
    layer.send(from_second["reply_channel"], udp.udp_send(b"for two"))
    layer.send(from_first["reply_channel"], udp.udp_send(b"for one"))
    assert second.recvfrom(100)[0] == b"for two"
    assert first.recvfrom(100)[0] == b"for one"
    first.close()
    second.close()


def test_a_client_keeps_its_reply_channel_while_it_keeps_sending(server, layer):
    sock = client_socket()
    sock.sendto(b"a", server.address)
    _, first = receive(layer, [udp.RECEIVE_CHANNEL])
    sock.sendto(b"b", server.address)
    _, second = receive(layer, [udp.RECEIVE_CHANNEL])
    assert first["reply_channel"] == second["reply_channel"]
    sock.close()


def test_an_invalid_reply_is_dropped_and_later_replies_still_work(server, layer):
    sock = client_socket()
    sock.sendto(b"hi", server.address)
    _, message = receive(layer, [udp.RECEIVE_CHANNEL])
    layer.send(message["reply_channel"], {"text": "not bytes"})
    layer.send(message["reply_channel"], udp.udp_send(b"valid"))
    assert sock.recvfrom(100)[0] == b"valid"
    sock.close()


def test_datagrams_are_dropped_and_counted_when_the_layer_is_full(reactor_thread):
    layer = ChannelLayer(capacity=1)
    server = UDPServer(layer, "127.0.0.1", 0, reactor=reactor_thread.reactor)
    reactor_thread.call(server.start)
    try:
        sock = client_socket()
        sock.sendto(b"kept", server.address)
        sock.sendto(b"dropped", server.address)
        wait_until(lambda: server.dropped == 1, what="the second datagram to be dropped")
        _, message = receive(layer, [udp.RECEIVE_CHANNEL])
        assert message["data"] == b"kept"
        assert layer.receive([udp.RECEIVE_CHANNEL]) == (None, None)
        sock.close()
    finally:
        reactor_thread.call(server.stop)


def test_stop_closes_the_port_and_ends_the_reply_reader(reactor_thread, layer):
    server = UDPServer(layer, "127.0.0.1", 0, reactor=reactor_thread.reactor)
    reactor_thread.call(server.start)
    port = server.address[1]
    reactor_thread.call(server.stop)
    assert not server._reader.running
    rebound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rebound.bind(("127.0.0.1", port))  # free again
    rebound.close()


def test_a_datagram_too_large_for_the_layer_is_dropped_and_counted(reactor_thread):
    class SmallLayer(ChannelLayer):
        def check_message_size(self, size, channel):
            if size > 200:
                raise self.MessageTooLarge(f"{size} bytes for {channel}")

    layer = SmallLayer()
    server = UDPServer(layer, "127.0.0.1", 0, reactor=reactor_thread.reactor)
    reactor_thread.call(server.start)
    try:
        sock = client_socket()
        sock.sendto(b"x" * 500, server.address)
        sock.sendto(b"small", server.address)
        _, message = receive(layer, [udp.RECEIVE_CHANNEL])
        assert message["data"] == b"small"
        assert server.dropped == 1
        sock.close()
    finally:
        reactor_thread.call(server.stop)


def test_ipv6_clients_are_received_and_answered(reactor_thread, layer):
    server = UDPServer(layer, "::1", 0, reactor=reactor_thread.reactor)
    reactor_thread.call(server.start)
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.bind(("::1", 0))
        sock.settimeout(TIMEOUT)
        sock.sendto(b"v6", server.address)
        _, message = receive(layer, [udp.RECEIVE_CHANNEL])
        assert message["client"] == ["::1", sock.getsockname()[1]]
        layer.send(message["reply_channel"], udp.udp_send(b"six"))
        assert sock.recvfrom(100)[0] == b"six"
        sock.close()
    finally:
        reactor_thread.call(server.stop)


def test_a_slow_network_layer_holds_up_neither_replies_nor_later_datagrams(reactor_thread):
    class SlowNetworkLayer(ChannelLayer):
        # the twisted extension without send_batch_twisted: sends go to a thread
        extensions = [*ChannelLayer.extensions, "twisted"]
        go = threading.Event()

        def send(self, channel, message):
            if channel == udp.RECEIVE_CHANNEL:
                assert self.go.wait(TIMEOUT)
            super().send(channel, message)

    layer = SlowNetworkLayer()
    server = UDPServer(layer, "127.0.0.1", 0, reactor=reactor_thread.reactor)
    reactor_thread.call(server.start)
    try:
        sock = client_socket()
        sock.sendto(b"first", server.address)
        # the reactor is free while that send waits: a reply to a known
        # client still goes out
        wait_until(lambda: len(server.clients) == 1, what="the client to be known")
        reply_channel = server.reply_prefix + server.clients.token_for(sock.getsockname())
        layer.send(reply_channel, udp.udp_send(b"reply"))
        assert sock.recvfrom(100) == (b"reply", server.address)
        sock.sendto(b"second", server.address)
        layer.go.set()
        got = [receive(layer, [udp.RECEIVE_CHANNEL])[1]["data"] for _ in range(2)]
        assert got == [b"first", b"second"]  # in order
        sock.close()
    finally:
        layer.go.set()
        reactor_thread.call(server.stop)


def test_a_failing_layer_drops_the_datagram_counts_it_and_says_why(reactor_thread, caplog):
    class DownLayer(ChannelLayer):
        def send(self, channel, message):
            if channel == udp.RECEIVE_CHANNEL:
                raise ConnectionError("layer at 10.9.9.9 unreachable")
            super().send(channel, message)

    server = UDPServer(DownLayer(), "127.0.0.1", 0, reactor=reactor_thread.reactor)
    reactor_thread.call(server.start)
    try:
        sock = client_socket()
        sock.sendto(b"lost", server.address)
        wait_until(lambda: server.dropped == 1, what="the datagram to be dropped")
        assert "the layer failed: layer at 10.9.9.9 unreachable" in caplog.text
        sock.close()
    finally:
        reactor_thread.call(server.stop)
