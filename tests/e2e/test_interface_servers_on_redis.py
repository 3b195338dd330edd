"""The interface servers through a real Redis (asgi_redis.RedisChannelLayer)."""

from __future__ import annotations

import smtplib
import socket
import uuid

import httpx
import pytest

from asgi import email as asgi_email
from asgi import irc as asgi_irc
from asgi import slack as asgi_slack
from asgi import udp
from asgi_redis import RedisChannelLayer
from daphne.irc import IRCInterface
from daphne.slack import SlackInterface
from daphne.smtp import SMTPServer
from daphne.udp import UDPServer
from tests.daphne.irc.irc_peer import MiniIRCServer
from tests.support.interface_servers import TIMEOUT, receive
from tests.support.slack_api import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlackAPI,
    message_event,
    signed_headers,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_layer(redis_url, reactor_thread):
    tag = uuid.uuid4().hex[:8]
    # private prefixes so that flush() touches only this test's keys
    layer = RedisChannelLayer(
        hosts=[redis_url], prefix=f"asgi-proto-{tag}:", stats_prefix=f"asgi-proto-meta-{tag}:"
    )
    # the servers send from the reactor (send_batch_twisted): the test's own
    # reactor, where a daphne process would use the global one
    layer.twisted_reactor = lambda: reactor_thread.reactor
    yield layer
    layer.flush()


def test_udp_datagrams_go_both_ways_through_redis(reactor_thread, redis_layer):
    server = UDPServer(redis_layer, "127.0.0.1", 0, reactor=reactor_thread.reactor)
    reactor_thread.call(server.start)
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(TIMEOUT)
        sock.sendto(b"over redis", server.address)
        _, message = receive(redis_layer, [udp.RECEIVE_CHANNEL])
        assert message["data"] == b"over redis"
        redis_layer.send(message["reply_channel"], udp.udp_send(b"and back"))
        assert sock.recvfrom(100) == (b"and back", server.address)
        sock.close()
    finally:
        reactor_thread.call(server.stop)


def test_a_mail_arrives_through_redis_with_its_bytes_intact(reactor_thread, redis_layer):
    server = SMTPServer(redis_layer, "127.0.0.1", 0, reactor=reactor_thread.reactor)
    reactor_thread.call(server.start)
    try:
        raw = (
            b"Subject: =?utf-8?q?r=C3=A9sum=C3=A9?=\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nAAH/\r\n"
        )
        with smtplib.SMTP(*server.address, timeout=TIMEOUT) as client:
            client.sendmail("a@example.org", ["bot@example.com"], raw)
        _, message = receive(redis_layer, [asgi_email.RECEIVE_CHANNEL])
        asgi_email.validate("email.receive", message)
        assert message["headers"]["subject"] == "résumé"
        assert message["content"]["body"] == b"\x00\x01\xff"
    finally:
        reactor_thread.call(server.stop)


def test_an_irc_bot_answers_through_redis(reactor_thread, redis_layer):
    irc_server = MiniIRCServer().start()
    client = IRCInterface(
        redis_layer,
        "127.0.0.1",
        irc_server.port,
        reactor=reactor_thread.reactor,
        nickname="redisbot",
        channels=["general"],
    )
    reactor_thread.call(client.start)
    try:
        receive(redis_layer, [asgi_irc.JOIN_CHANNEL])
        irc_server.say("alice", "#general", "ping")
        _, heard = receive(redis_layer, [asgi_irc.RECEIVE_CHANNEL])
        redis_layer.send(
            heard["reply_channel"],
            asgi_irc.irc_control(type="message", channel=heard["channel"], body="pong"),
        )
        irc_server.expect(r"^PRIVMSG #general :pong$")
    finally:
        reactor_thread.call(client.stop)
        irc_server.stop()


def test_a_slack_message_goes_both_ways_through_redis(reactor_thread, redis_layer):
    api = FakeSlackAPI().start()
    server = SlackInterface(
        redis_layer,
        "127.0.0.1",
        0,
        signing_secret=SIGNING_SECRET,
        bot_token=BOT_TOKEN,
        reactor=reactor_thread.reactor,
        api_base=api.base,
    )
    reactor_thread.call(server.start)
    try:
        body = message_event("over redis")
        url = f"http://127.0.0.1:{server.address[1]}/slack/events"
        response = httpx.post(url, content=body, headers=signed_headers(body), timeout=TIMEOUT)
        assert response.status_code == 200
        _, heard = receive(redis_layer, [asgi_slack.RECEIVE_CHANNEL])
        assert heard["text"] == "over redis"
        redis_layer.send(
            asgi_slack.SEND_CHANNEL, asgi_slack.slack_send(channel=heard["channel"], text="back")
        )
        (call,) = api.wait_for_calls(1)
        assert call.body == {"channel": "C0GENERAL", "text": "back"}
    finally:
        reactor_thread.call(server.stop)
        api.stop()
