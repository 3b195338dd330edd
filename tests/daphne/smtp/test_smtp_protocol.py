"""daphne.smtp's protocol over a fake transport and clock (the protocol tier)."""

from __future__ import annotations

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from asgi.inmemory import ChannelLayer
from daphne.smtp.server import SMTPFactory

pytestmark = pytest.mark.protocol


def session(layer=None, **options):
    clock = Clock()
    factory = SMTPFactory(layer or ChannelLayer(), reactor=clock, hostname="mx.test", **options)
    protocol = factory.buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
    protocol.makeConnection(transport)
    return protocol, transport, clock


def replies(transport) -> list[bytes]:
    lines = transport.value().split(b"\r\n")
    transport.clear()
    return [line for line in lines if line]


def test_the_greeting_names_the_host_and_esmtp():
    _, transport, _ = session()
    assert replies(transport) == [b"220 mx.test NO UCE NO UBE NO RELAY PROBES ESMTP"]


def test_an_idle_session_is_closed_with_421_after_the_timeout():
    protocol, transport, clock = session(timeout=30)
    replies(transport)
    clock.advance(29)
    protocol.dataReceived(b"NOOP\r\n")  # activity resets the timer
    clock.advance(29)
    assert not transport.disconnecting
    clock.advance(2)
    assert replies(transport)[-1].startswith(b"421 ")
    assert transport.disconnecting


def test_ehlo_advertises_size_and_8bitmime():
    protocol, transport, _ = session(max_size=5000)
    replies(transport)
    protocol.dataReceived(b"EHLO client.test\r\n")
    lines = replies(transport)
    assert b"250-SIZE 5000" in lines
    assert lines[-1] == b"250 8BITMIME"


def test_a_whole_transaction_sends_one_message_and_answers_250():
    layer = ChannelLayer()
    protocol, transport, _ = session(layer)
    replies(transport)
    protocol.dataReceived(
        b"HELO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
        b"Subject: fake transport\r\n\r\n..stuffed\r\n.\r\n"
    )
    assert [line[:3] for line in replies(transport)] == [b"250", b"250", b"250", b"354", b"250"]
    channel, message = layer.receive(["email.receive"])
    assert message["content"]["body"] == b".stuffed\r\n"
    assert protocol.factory.delivered == 1


def test_a_recipient_before_a_sender_is_a_503():
    protocol, transport, _ = session()
    replies(transport)
    protocol.dataReceived(b"HELO c\r\nRCPT TO:<b@example.com>\r\n")
    assert replies(transport)[-1].startswith(b"503 ")


def test_a_size_declared_over_the_limit_is_refused_but_a_smaller_one_accepted():
    protocol, transport, _ = session(max_size=100)
    replies(transport)
    protocol.dataReceived(b"EHLO c\r\nMAIL FROM:<a@x.org> SIZE=101\r\n")
    assert replies(transport)[-1].startswith(b"552 5.3.4")
    protocol.dataReceived(b"MAIL FROM:<a@x.org> SIZE=100\r\n")
    assert replies(transport)[-1].startswith(b"250 ")


def test_a_non_positive_size_limit_is_a_configuration_error():
    with pytest.raises(ValueError, match="max_size must be a positive"):
        SMTPFactory(ChannelLayer(), reactor=Clock(), max_size=0)


def test_recipients_past_the_limit_get_452_and_the_first_ones_still_receive():
    layer = ChannelLayer()
    protocol, transport, _ = session(layer, max_recipients=2)
    replies(transport)
    protocol.dataReceived(
        b"HELO c\r\nMAIL FROM:<a@x.org>\r\n"
        b"RCPT TO:<one@x.org>\r\nRCPT TO:<two@x.org>\r\nRCPT TO:<three@x.org>\r\n"
        b"DATA\r\n\r\nbody\r\n.\r\n"
    )
    codes = [line[:3] for line in replies(transport)]
    assert codes == [b"250", b"250", b"250", b"250", b"452", b"354", b"250"]
    assert layer.receive(["email.receive"])[1]["to"] == ["one@x.org", "two@x.org"]
