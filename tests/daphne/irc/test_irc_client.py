"""daphne.irc against a minimal IRC server on 127.0.0.1 and the in-memory layer."""

from __future__ import annotations

import pytest

from asgi import irc as asgi_irc
from daphne.irc import IRCInterface
from tests.daphne.irc.irc_peer import MiniIRCServer
from tests.support.interface_servers import receive, wait_until

pytestmark = pytest.mark.integration

ALL = [asgi_irc.CONNECT_CHANNEL, asgi_irc.JOIN_CHANNEL, asgi_irc.RECEIVE_CHANNEL]


@pytest.fixture
def irc_server():
    server = MiniIRCServer().start()
    yield server
    server.stop()


@pytest.fixture
def make_client(reactor_thread, layer):
    started = []

    def make(port, **options):
        options.setdefault("nickname", "bot")
        options.setdefault("initial_delay", 0.1)
        options.setdefault("max_delay", 0.5)
        options.setdefault("flood_interval", 0.05)
        client = IRCInterface(layer, "127.0.0.1", port, reactor=reactor_thread.reactor, **options)
        reactor_thread.call(client.start)
        started.append(client)
        return client

    yield make
    for client in started:
        reactor_thread.call(client.stop)


@pytest.fixture
def joined(irc_server, make_client, layer):
    """A client signed on and in #general, with its connect and join messages read."""
    client = make_client(irc_server.port, channels=["general"])
    receive(layer, [asgi_irc.CONNECT_CHANNEL])
    receive(layer, [asgi_irc.JOIN_CHANNEL])
    return client


def test_signing_on_sends_connect_then_join_for_each_configured_channel(
    irc_server, make_client, layer
):
    client = make_client(irc_server.port, channels=["general", "#random"])
    irc_server.expect(r"^NICK bot$")
    irc_server.expect(r"^USER bot ")
    channel, connect = receive(layer, [asgi_irc.CONNECT_CHANNEL])
    asgi_irc.validate("irc-client.connect", connect)
    assert connect == {
        "reply_channel": client.reply_channel,
        "server": ["127.0.0.1", irc_server.port],
    }
    joins = {receive(layer, [asgi_irc.JOIN_CHANNEL])[1]["channel"] for _ in range(2)}
    assert joins == {"#general", "#random"}


def test_channel_messages_actions_and_notices_become_irc_client_receive(joined, irc_server, layer):
    irc_server.say("alice", "#general", "!post general echo")
    irc_server.send(":alice!alice@users.example PRIVMSG #general :\x01ACTION waves\x01")
    irc_server.say("alice", "#general", "heads up", command="NOTICE")
    received = [receive(layer, [asgi_irc.RECEIVE_CHANNEL])[1] for _ in range(3)]
    for message in received:
        asgi_irc.validate("irc-client.receive", message)
        assert message["reply_channel"] == joined.reply_channel
        assert message["user"] == "alice!alice@users.example"
        assert message["channel"] == "#general"
    assert [(m["type"], m["body"]) for m in received] == [
        ("message", "!post general echo"),
        ("action", "waves"),
        ("notice", "heads up"),
    ]


def test_a_private_message_names_the_sender_as_the_channel_to_answer(joined, irc_server, layer):
    irc_server.say("carol", "bot", "psst")
    _, message = receive(layer, [asgi_irc.RECEIVE_CHANNEL])
    assert message["channel"] == "carol"
    assert message["body"] == "psst"


def test_a_line_that_is_not_utf8_does_not_drop_the_connection(joined, irc_server, layer):
    irc_server.client.sock.sendall(b":dave!d@h PRIVMSG #general :caf\xe9\r\n")
    _, message = receive(layer, [asgi_irc.RECEIVE_CHANNEL])
    assert message["body"] == "caf\ufffd"
    assert irc_server.connected_count() == 1


def test_control_messages_make_the_client_speak_act_join_and_part(joined, irc_server, layer):
    reply = joined.reply_channel
    layer.send(reply, asgi_irc.irc_control(type="message", channel="#general", body="echo"))
    irc_server.expect(r"^PRIVMSG #general :echo$")
    layer.send(reply, asgi_irc.irc_control(type="action", channel="#general", body="bows"))
    irc_server.expect(r"^PRIVMSG #general :\x01ACTION bows\x01$")
    layer.send(reply, asgi_irc.irc_control(type="join", channel="#new"))
    irc_server.expect(r"^JOIN #new")
    _, message = receive(layer, [asgi_irc.JOIN_CHANNEL])
    assert message["channel"] == "#new"
    layer.send(reply, asgi_irc.irc_control(type="part", channel="#general"))
    irc_server.expect(r"^PART #general")


def test_an_invalid_control_message_is_ignored_and_the_next_one_obeyed(joined, irc_server, layer):
    layer.send(joined.reply_channel, {"type": "message", "channel": "#general"})  # no body
    layer.send(joined.reply_channel, {"type": "shout", "channel": "#general", "body": "x"})
    layer.send(
        joined.reply_channel, asgi_irc.irc_control(type="message", channel="#general", body="ok")
    )
    match = irc_server.expect(r"^PRIVMSG ")
    assert match.string == "PRIVMSG #general :ok"


def test_after_a_dropped_connection_it_reconnects_with_the_same_reply_channel_and_channels(
    joined, irc_server, layer
):
    layer.send(joined.reply_channel, asgi_irc.irc_control(type="join", channel="#extra"))
    receive(layer, [asgi_irc.JOIN_CHANNEL])
    layer.send(joined.reply_channel, asgi_irc.irc_control(type="part", channel="#general"))
    irc_server.expect(r"^PART #general")
    irc_server.drop()
    _, connect = receive(layer, [asgi_irc.CONNECT_CHANNEL])
    assert connect["reply_channel"] == joined.reply_channel
    assert irc_server.accepted == 2
    _, rejoined = receive(layer, [asgi_irc.JOIN_CHANNEL])
    assert rejoined["channel"] == "#extra"  # #general was parted, so not rejoined
    layer.send(
        joined.reply_channel, asgi_irc.irc_control(type="message", channel="#extra", body="back")
    )
    irc_server.expect(r"^PRIVMSG #extra :back$")


def test_an_unreachable_server_is_retried_until_it_appears(make_client, layer):
    closed = MiniIRCServer()
    port = closed.port
    closed.stop()  # nothing listens on the port now: connections are refused
    client = make_client(port)
    wait_until(lambda: client.factory.retries >= 2, what="two failed connection attempts")
    server = MiniIRCServer(port).start()
    try:
        _, connect = receive(layer, [asgi_irc.CONNECT_CHANNEL])
        assert connect["server"] == ["127.0.0.1", port]
        assert client.factory.delay == client.factory.initialDelay  # reset once signed on
    finally:
        server.stop()


def test_the_retry_delay_grows_exponentially_up_to_the_maximum():
    from twisted.internet.task import Clock

    from asgi.inmemory import ChannelLayer
    from daphne.irc.client import IRCClientFactory

    factory = IRCClientFactory(
        ChannelLayer(),
        ("127.0.0.1", 1),
        reactor=Clock(),
        nickname="bot",
        initial_delay=1,
        max_delay=8,
    )
    factory.jitter = 0

    class Connector:
        def connect(self):
            pass

    delays = []
    for _ in range(6):
        delays.append(factory.delay)
        factory.clientConnectionFailed(Connector(), _failure())
    assert delays == [1, 2, 4, 8, 8, 8]


def test_stop_says_quit_and_does_not_reconnect(irc_server, make_client, reactor_thread, layer):
    client = make_client(irc_server.port)
    receive(layer, [asgi_irc.CONNECT_CHANNEL])
    reactor_thread.call(client.stop)
    irc_server.expect(r"^QUIT :Shutting down$")
    wait_until(lambda: irc_server.connected_count() == 0, what="the client to disconnect")
    assert layer.receive([asgi_irc.CONNECT_CHANNEL]) == (None, None)
    assert irc_server.accepted == 1


def _failure():
    from twisted.internet.error import ConnectionRefusedError
    from twisted.python.failure import Failure

    return Failure(ConnectionRefusedError())


def test_while_disconnected_messages_are_dropped_but_joins_are_kept_for_the_reconnect(
    irc_server, make_client, layer
):
    client = make_client(irc_server.port, channels=["general"], initial_delay=1.5)
    receive(layer, [asgi_irc.JOIN_CHANNEL])
    irc_server.drop()
    wait_until(lambda: client.factory.client is None, what="the client to notice the drop")
    layer.send(
        client.reply_channel, asgi_irc.irc_control(type="message", channel="#general", body="lost")
    )
    layer.send(client.reply_channel, asgi_irc.irc_control(type="join", channel="#late"))
    _, connect = receive(layer, [asgi_irc.CONNECT_CHANNEL])
    joined = {receive(layer, [asgi_irc.JOIN_CHANNEL])[1]["channel"] for _ in range(2)}
    assert joined == {"#general", "#late"}
    layer.send(
        client.reply_channel, asgi_irc.irc_control(type="message", channel="#late", body="found")
    )
    match = irc_server.expect(r"^PRIVMSG ")
    assert match.string == "PRIVMSG #late :found"  # "lost" was never sent


def test_lines_heard_while_the_layer_is_full_are_dropped_and_the_client_stays(
    irc_server, reactor_thread
):
    from asgi.inmemory import ChannelLayer

    layer = ChannelLayer(capacity=1)
    client = IRCInterface(
        layer, "127.0.0.1", irc_server.port, reactor=reactor_thread.reactor, nickname="bot"
    )
    reactor_thread.call(client.start)
    try:
        receive(layer, [asgi_irc.CONNECT_CHANNEL])
        irc_server.say("alice", "bot", "one")
        irc_server.say("alice", "bot", "two")  # irc-client.receive is full: dropped
        wait_until(lambda: client.factory.dropped == 1, what="the second line to be dropped")
        assert receive(layer, [asgi_irc.RECEIVE_CHANNEL])[1]["body"] == "one"
        irc_server.say("alice", "bot", "three")
        assert receive(layer, [asgi_irc.RECEIVE_CHANNEL])[1]["body"] == "three"
        assert irc_server.connected_count() == 1
    finally:
        reactor_thread.call(client.stop)
