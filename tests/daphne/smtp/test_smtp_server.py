"""daphne.smtp against a real SMTP client (smtplib) on 127.0.0.1 and the in-memory layer."""

from __future__ import annotations

import smtplib
import threading
from email.headerregistry import Address
from email.message import EmailMessage

import pytest

from asgi import email as asgi_email
from asgi.inmemory import ChannelLayer
from daphne.smtp import SMTPServer
from tests.support.interface_servers import TIMEOUT, receive

pytestmark = pytest.mark.integration


@pytest.fixture
def make_server(reactor_thread):
    started = []

    def make(layer, **options):
        server = SMTPServer(layer, "127.0.0.1", 0, reactor=reactor_thread.reactor, **options)
        reactor_thread.call(server.start)
        started.append(server)
        return server

    yield make
    for server in started:
        reactor_thread.call(server.stop)


def connect(server) -> smtplib.SMTP:
    return smtplib.SMTP(*server.address, timeout=TIMEOUT)


def multipart_mail() -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = "Grüße: résumé attached ✓"
    mail["From"] = Address("Zoë Müller", "zoe", "example.org")
    mail["To"] = "bot@example.com"
    mail.set_content("Hello in plain text, ça va?\n")
    mail.add_alternative("<p>Hello in <b>HTML</b>, ça va?</p>\n", subtype="html")
    mail.add_attachment(
        bytes(range(256)), maintype="application", subtype="octet-stream", filename="data.bin"
    )
    return mail


def test_a_multipart_mail_arrives_as_one_email_receive_with_decoded_parts(make_server, layer):
    server = make_server(layer)
    with connect(server) as client:
        client.send_message(multipart_mail(), "zoe@example.org", ["bot@example.com"])
    channel, message = receive(layer, [asgi_email.RECEIVE_CHANNEL])
    assert channel == "email.receive"
    asgi_email.validate("email.receive", message)
    assert message["from"] == "zoe@example.org"
    assert message["to"] == ["bot@example.com"]
    assert message["headers"]["subject"] == "Grüße: résumé attached ✓"
    assert message["headers"]["from"] == "Zoë Müller <zoe@example.org>"
    content = message["content"]
    assert content["content-type"].startswith("multipart/mixed")
    alternative, attachment = content["parts"]
    plain, html = alternative["parts"]
    assert plain["content-type"].startswith("text/plain")
    assert plain["body"].decode("utf-8").replace("\r\n", "\n") == "Hello in plain text, ça va?\n"
    assert html["content-type"].startswith("text/html")
    assert b"<b>HTML</b>" in html["body"]
    assert attachment["body"] == bytes(range(256))
    assert 'filename="data.bin"' in attachment["headers"]["content-disposition"]


def test_all_recipients_of_one_transaction_share_one_message(make_server, layer):
    server = make_server(layer)
    with connect(server) as client:
        client.sendmail(
            "a@example.org", ["one@example.com", "two@example.com"], b"Subject: x\r\n\r\nhi\r\n"
        )
    _, message = receive(layer, [asgi_email.RECEIVE_CHANNEL])
    assert message["to"] == ["one@example.com", "two@example.com"]
    assert layer.receive([asgi_email.RECEIVE_CHANNEL]) == (None, None)


def test_a_null_reverse_path_is_from_none(make_server, layer):
    server = make_server(layer)
    with connect(server) as client:
        client.sendmail("<>", ["bot@example.com"], b"Subject: bounce\r\n\r\nundeliverable\r\n")
    _, message = receive(layer, [asgi_email.RECEIVE_CHANNEL])
    assert message["from"] is None


def test_lines_starting_with_dots_arrive_unchanged_after_dot_stuffing(make_server, layer):
    server = make_server(layer)
    with connect(server) as client:
        client.sendmail(
            "a@example.org", ["b@example.com"], b"Subject: x\r\n\r\n.leading dot\r\n..\r\n"
        )
    _, message = receive(layer, [asgi_email.RECEIVE_CHANNEL])
    assert message["content"]["body"] == b".leading dot\r\n..\r\n"


def test_a_recipient_outside_the_allowed_domains_gets_550(make_server, layer):
    server = make_server(layer, domains=["example.com"])
    with connect(server) as client:
        client.ehlo()
        client.mail("a@example.org")
        code, text = client.rcpt("someone@elsewhere.net")
        assert code == 550
        assert b"elsewhere.net" in text
        assert client.rcpt("Bot@EXAMPLE.COM")[0] == 250
        assert client.data(b"Subject: x\r\n\r\nhi\r\n")[0] == 250
    _, message = receive(layer, [asgi_email.RECEIVE_CHANNEL])
    assert message["to"] == ["Bot@EXAMPLE.COM"]


def test_a_mail_declared_larger_than_the_limit_is_refused_at_mail_from(make_server, layer):
    server = make_server(layer, max_size=1000)
    with connect(server) as client:
        client.ehlo()
        assert client.has_extn("size") and client.esmtp_features["size"] == "1000"
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("a@example.org", ["b@example.com"], b"Subject: x\r\n\r\n" + b"y" * 2000)
        assert refused.value.smtp_code == 552


def test_an_undeclared_oversized_mail_is_refused_after_data_and_not_sent(make_server, layer):
    server = make_server(layer, max_size=1000)
    with connect(server) as client:
        client.ehlo()
        client.mail("a@example.org")  # no SIZE= parameter
        client.rcpt("b@example.com")
        code, text = client.data(b"Subject: x\r\n\r\n" + b"y" * 70 + (b"\r\n" + b"y" * 70) * 30)
        assert code == 552
        assert b"1000" in text
        # the session goes on: a small mail afterwards is accepted
        assert (
            client.sendmail("a@example.org", ["b@example.com"], b"Subject: ok\r\n\r\nok\r\n") == {}
        )
    _, message = receive(layer, [asgi_email.RECEIVE_CHANNEL])
    assert message["headers"]["subject"] == "ok"
    assert layer.receive([asgi_email.RECEIVE_CHANNEL]) == (None, None)


def test_a_full_layer_gets_a_temporary_451_and_the_mail_can_be_retried(make_server):
    layer = ChannelLayer(capacity=1)
    server = make_server(layer)
    mail = b"Subject: first\r\n\r\nbody\r\n"
    with connect(server) as client:
        client.sendmail("a@example.org", ["b@example.com"], mail)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@example.org", ["b@example.com"], b"Subject: second\r\n\r\nbody\r\n")
        assert refused.value.smtp_code == 451
        assert b"try again later" in refused.value.smtp_error
        assert receive(layer, [asgi_email.RECEIVE_CHANNEL])[1]["headers"]["subject"] == "first"
        client.sendmail("a@example.org", ["b@example.com"], b"Subject: second\r\n\r\nbody\r\n")
    assert receive(layer, [asgi_email.RECEIVE_CHANNEL])[1]["headers"]["subject"] == "second"


def test_data_before_a_recipient_is_a_503(make_server, layer):
    server = make_server(layer)
    with connect(server) as client:
        client.ehlo()
        client.mail("a@example.org")
        code, _ = client.docmd("DATA")
        assert code == 503


def test_a_line_longer_than_the_protocol_limit_ends_the_session(make_server, layer):
    server = make_server(layer)
    client = connect(server)
    client.ehlo()
    client.mail("a@example.org")
    client.rcpt("b@example.com")
    client.putcmd("DATA")
    assert client.getreply()[0] == 354
    client.send(b"x" * 20000 + b"\r\n")
    assert client.getreply()[0] == 500
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()
    assert layer.receive([asgi_email.RECEIVE_CHANNEL]) == (None, None)


def test_a_mail_too_large_for_the_layer_gets_552(make_server):
    layer = ChannelLayer(max_message_size=1024 * 1024)
    server = make_server(layer, max_size=3_000_000)
    body = (b"z" * 998 + b"\r\n") * 1200  # about 1.2 MB: under max_size, over the layer's limit
    with connect(server) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@example.org", ["b@example.com"], b"Subject: big\r\n\r\n" + body)
        assert refused.value.smtp_code == 552
        assert b"channel layer" in refused.value.smtp_error
    assert layer.receive([asgi_email.RECEIVE_CHANNEL]) == (None, None)


def test_a_mime_structure_nested_too_deep_gets_554(make_server, layer):
    server = make_server(layer)
    depth = asgi_email.MAX_DEPTH + 3
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(depth)
    )
    tail = b"".join(b"\r\n--b%d--\r\n" % n for n in reversed(range(depth)))
    mail = b"Subject: nested\r\n" + head + b"Content-Type: text/plain\r\n\r\ndeep" + tail
    with connect(server) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@example.org", ["b@example.com"], mail)
        assert refused.value.smtp_code == 554
    assert layer.receive([asgi_email.RECEIVE_CHANNEL]) == (None, None)


class SlowNetworkLayer(ChannelLayer):
    """A network layer (the ``twisted`` extension, no ``send_batch_twisted``)
    whose sends wait until the test lets them go, or fail when told to."""

    extensions = [*ChannelLayer.extensions, "twisted"]

    def __init__(self, **options):
        super().__init__(**options)
        self.go = threading.Event()
        self.waiting = threading.Event()
        self.error = None

    def send(self, channel, message):
        self.waiting.set()
        assert self.go.wait(TIMEOUT), "the test never let the send go"
        if self.error is not None:
            raise self.error
        super().send(channel, message)


def test_a_slow_layer_holds_up_only_the_mail_being_delivered(make_server, reactor_thread):
    layer = SlowNetworkLayer()
    server = make_server(layer)
    mail = b"Subject: slow\r\n\r\nbody\r\n"
    delivered = []

    def send_mail():
        with connect(server) as client:
            delivered.append(client.sendmail("a@example.org", ["b@example.com"], mail))

    sender = threading.Thread(target=send_mail)
    sender.start()
    try:
        assert layer.waiting.wait(TIMEOUT), "the mail never reached the layer"
        # the send waits on the layer, off the reactor: another session is served
        with connect(server) as other:
            assert other.noop()[0] == 250
            assert other.ehlo()[0] == 250
        assert delivered == []
    finally:
        layer.go.set()
        sender.join(TIMEOUT)
    assert delivered == [{}]
    assert receive(layer, [asgi_email.RECEIVE_CHANNEL])[1]["headers"]["subject"] == "slow"


def test_a_layer_failure_gets_a_temporary_451_so_the_mail_is_not_lost(make_server):
    layer = SlowNetworkLayer()
    layer.error = ConnectionError("Redis went away")
    layer.go.set()
    server = make_server(layer)
    with connect(server) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@example.org", ["b@example.com"], b"Subject: x\r\n\r\nbody\r\n")
        assert refused.value.smtp_code == 451
        assert refused.value.smtp_error == b"4.3.0 Channel layer unavailable; try again later"
        # the session goes on: the client can retry on it
        layer.error = None
        client.sendmail("a@example.org", ["b@example.com"], b"Subject: again\r\n\r\nbody\r\n")
    assert receive(layer, [asgi_email.RECEIVE_CHANNEL])[1]["headers"]["subject"] == "again"


def test_commands_pipelined_behind_a_mail_are_answered_after_its_reply(make_server):
    layer = SlowNetworkLayer()
    server = make_server(layer)
    client = connect(server)
    try:
        client.ehlo()
        client.mail("a@example.org")
        client.rcpt("b@example.com")
        client.putcmd("DATA")
        assert client.getreply()[0] == 354
        # the end of the mail and a NOOP in one write, before the layer answers
        client.send(b"Subject: p\r\n\r\nbody\r\n.\r\nNOOP\r\n")
        assert layer.waiting.wait(TIMEOUT)
        layer.go.set()
        assert client.getreply()[0] == 250  # the mail's reply comes first
        assert client.getreply() == (250, b"2.0.0 OK")  # then the NOOP's
    finally:
        client.close()
