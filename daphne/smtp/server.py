"""The email interface server (spec section 1.8, "Email") on ``twisted.mail.smtp``.

:class:`SMTPServer` accepts mail over (E)SMTP and sends each accepted mail
to the channel layer as one ``email.receive`` message, built by
:func:`asgi.email.email_receive_from_bytes`. It is a final destination,
never a relay. Replies it gives beyond plain SMTP:

- 550 to ``RCPT TO`` for a domain outside the allow list, and 452 past
  ``max_recipients`` (default 100, the least RFC 5321 lets a server take);
- 552 for a mail larger than ``max_size`` (declared with ``SIZE=`` or
  found while reading ``DATA``), or too large for the layer;
- 451 (try again later) when the layer raises ``ChannelFull``, so the
  sending server queues the mail instead of losing it;
- 554 for a mail whose MIME structure cannot be turned into a message.

All envelope recipients of one transaction share one ``email.receive``
message (``to`` lists them all).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from twisted.internet import defer, protocol
from twisted.mail import smtp
from twisted.python.failure import Failure

from asgi import email as asgi_email
from asgi.exceptions import InvalidMessage
from asgi.heartbeat import Activity
from asgi.types import ChannelLayer

from .. import _drops
from .._offload import OffReactorSend
from ._mail import MailData, RecipientPolicy, declared_size

__all__ = ["SMTPFactory", "SMTPProtocol", "SMTPServer"]

logger = logging.getLogger(__name__)

#: Default largest mail accepted, in bytes as sent (the spec's 1 MB).
DEFAULT_MAX_SIZE = 1_000_000


class SMTPProtocol(smtp.ESMTP):
    """One SMTP session. ``DATA`` is handled here rather than through
    Twisted's per-recipient ``IMessage`` objects, so one mail is one message
    and a full layer can be answered with a 4xx code."""

    def __init__(self, factory: SMTPFactory) -> None:
        super().__init__()
        self.factory = factory
        self.host = factory.hostname
        self.timeout = factory.timeout
        self.callLater = factory.reactor.callLater
        self._data: MailData | None = None
        self._envelope: tuple[str | None, list[str]] = (None, [])
        #: Lines read while a mail's reply is awaited (None: not waiting).
        self._held: list[bytes] | None = None

    def extensions(self) -> dict:
        extensions = super().extensions()
        extensions[b"SIZE"] = [str(self.factory.max_size).encode("ascii")]
        extensions[b"8BITMIME"] = None
        return extensions

    def do_MAIL(self, rest: bytes) -> None:
        match = self.mail_re.match(rest)
        size = declared_size(match.group("opts")) if match else None
        if size is not None and size > self.factory.max_size:
            self.sendCode(
                552,
                b"5.3.4 Message size exceeds fixed maximum message size of "
                + str(self.factory.max_size).encode("ascii")
                + b" bytes",
            )
            return
        super().do_MAIL(rest)

    def validateFrom(self, helo: Any, origin: smtp.Address) -> smtp.Address:
        return origin

    def validateTo(self, user: smtp.User) -> smtp.User:
        address = str(user.dest)
        if len(self._to) >= self.factory.max_recipients:
            raise smtp.SMTPServerError(
                452, f"4.5.3 Too many recipients (at most {self.factory.max_recipients} per mail)"
            )
        if not self.factory.recipients.allows(address):
            logger.info("Refused mail for %s: domain not accepted", address)
            raise smtp.SMTPBadRcpt(
                user.dest, 550, f"5.7.1 <{address}>: this server accepts no mail for that domain"
            )
        return user

    def do_NOOP(self, rest: bytes) -> None:
        # RFC 5321 4.5.1 lists NOOP among the commands every server must take;
        # Twisted's ESMTP answers it 500
        self.sendCode(250, b"2.0.0 OK")

    def do_DATA(self, rest: bytes) -> None:
        if self._from is None or not self._to:
            self.sendCode(503, b"5.5.1 Must have valid receiver and originator")
            return
        sender = str(self._from) or None
        self._envelope = (sender, [str(user.dest) for user, _ in self._to])
        self._from, self._to = None, []
        self._data = MailData(self.factory.max_size)
        self.mode = smtp.DATA
        self.sendCode(354, b"Continue; end with <CRLF>.<CRLF>")

    def state_DATA(self, line: bytes) -> None:
        assert self._data is not None
        if self._data.feed(line):
            data, self._data = self._data, None
            self.mode = smtp.COMMAND
            self._finish_mail(data)

    def lineLengthExceeded(self, line: bytes) -> None:
        # Mid-DATA the rest of the mail would be read as commands: hang up instead.
        self.sendCode(500, b"5.5.2 Line too long")
        self.transport.loseConnection()

    def connectionLost(self, reason: Any) -> None:
        self._data = None
        self.mode = smtp.COMMAND
        super().connectionLost(reason)

    def _finish_mail(self, data: MailData) -> None:
        sender, recipients = self._envelope
        self._envelope = (None, [])
        # handle no further command (a pipelining client may have sent one in
        # the same read) until this mail's reply is out, so replies stay in
        # order; lines already read wait in _held
        self._held = []
        self.transport.pauseProducing()
        self.factory.deliver(sender, recipients, data).addCallback(self._reply_to_mail)

    def _reply_to_mail(self, reply: tuple[int, str]) -> None:
        code, text = reply
        self.sendCode(code, text.encode("utf-8"))
        held, self._held = self._held, None
        if self.transport is None or self.transport.disconnecting:
            return
        self.transport.resumeProducing()
        for number, line in enumerate(held or ()):
            self.lineReceived(line)
            if self._held is not None:  # that line finished another mail
                self._held.extend(held[number + 1 :])
                return

    def lineReceived(self, line: bytes) -> Any:
        if self._held is not None:
            self._held.append(line)
            return None
        return super().lineReceived(line)


class SMTPFactory(protocol.ServerFactory):
    """Builds :class:`SMTPProtocol` sessions and delivers their mail to the layer."""

    def __init__(
        self,
        channel_layer: ChannelLayer,
        *,
        reactor: Any,
        hostname: str | bytes = smtp.DNSNAME,
        max_size: int = DEFAULT_MAX_SIZE,
        domains: Iterable[str] | None = None,
        timeout: float = 600,
        max_recipients: int = 100,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be a positive number of bytes, got {max_size!r}")
        self.channel_layer = channel_layer
        self.reactor = reactor
        self.hostname = hostname
        self.max_size = max_size
        self.recipients = RecipientPolicy(domains)
        self.timeout = timeout
        self.max_recipients = max_recipients
        self.delivered = 0
        #: The mails the layer took, and when the last one was (the heartbeat's activity).
        self.activity = Activity()
        self.offload = OffReactorSend(channel_layer, reactor)

    def buildProtocol(self, addr: Any) -> SMTPProtocol:
        return SMTPProtocol(self)

    def deliver(self, sender: str | None, recipients: list[str], data: MailData) -> defer.Deferred:
        """Send one mail to ``email.receive``; a Deferred firing with the
        SMTP reply ``(code, text)`` for it once the layer took it (or not).

        The send is made off the reactor thread, so a slow layer holds up
        this mail's reply, not the other sessions.
        """
        if data.too_large:
            logger.info("Refused a %d-byte mail from %s: over the limit", data.size, sender)
            return defer.succeed(
                (
                    552,
                    f"5.3.4 Message size exceeds fixed maximum message size of {self.max_size} bytes",
                )
            )
        try:
            message = asgi_email.email_receive_from_bytes(sender, recipients, data.raw())
        except InvalidMessage as exc:
            logger.warning("Refused a mail from %s: %s", sender, exc)
            return defer.succeed((554, f"5.6.0 Message cannot be parsed: {exc}"))
        landing = self.offload.send(asgi_email.RECEIVE_CHANNEL, message)
        return landing.addCallbacks(
            self._accepted,
            self._refused,
            callbackArgs=(sender, recipients, data.size),
            errbackArgs=(sender,),
        )

    def _accepted(
        self, _: None, sender: str | None, recipients: list[str], size: int
    ) -> tuple[int, str]:
        self.delivered += 1
        self.activity.note()
        logger.info("Accepted mail from %s to %s (%d bytes)", sender, ", ".join(recipients), size)
        return 250, "2.0.0 Message accepted for delivery"

    def _refused(self, failure: Failure, sender: str | None) -> tuple[int, str]:
        layer = self.channel_layer
        if failure.check(layer.ChannelFull):
            _drops.report_drop(_drops.CHANNEL_FULL, asgi_email.RECEIVE_CHANNEL)
            logger.warning(
                "Deferred a mail from %s: %s is full", sender, asgi_email.RECEIVE_CHANNEL
            )
            return 451, "4.3.1 Mail system busy (channel layer full); try again later"
        if failure.check(layer.MessageTooLarge):
            _drops.report_drop(_drops.TOO_LARGE, asgi_email.RECEIVE_CHANNEL)
            logger.warning("Refused a mail from %s: too large for the channel layer", sender)
            return 552, "5.3.4 Message too large for this server's channel layer"
        _drops.report_drop(_drops.LAYER_DOWN, asgi_email.RECEIVE_CHANNEL)
        logger.warning(
            "Deferred a mail from %s: the channel layer failed: %s", sender, failure.value
        )
        return 451, "4.3.0 Channel layer unavailable; try again later"


class SMTPServer:
    """Listens for SMTP on ``host:port`` (``port=0`` picks a free one).

    After :meth:`start`, ``address`` holds the bound ``(host, port)``.
    It consumes no channel (email has no replies); ``activity`` counts the
    mails sent to ``email.receive``.
    """

    def __init__(
        self,
        channel_layer: ChannelLayer,
        host: str = "127.0.0.1",
        port: int = 8025,
        *,
        reactor: Any = None,
        **factory_options: Any,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.host = host
        self.port = port
        self.factory = SMTPFactory(channel_layer, reactor=reactor, **factory_options)
        self.activity = self.factory.activity
        self.address: tuple[str, int] | None = None
        self._listening: Any = None

    def consumed_channels(self) -> list[str]:
        """The channels read from the layer, for the heartbeat record: none."""
        return []

    def start(self) -> None:
        """Start listening. Call in the reactor thread."""
        self._listening = self.reactor.listenTCP(self.port, self.factory, interface=self.host)
        bound = self._listening.getHost()
        self.address = (bound.host, bound.port)
        logger.info("SMTP server listening on %s:%d", bound.host, bound.port)

    def stop(self) -> Any:
        """Stop accepting connections; may return a Deferred."""
        listening, self._listening = self._listening, None
        if listening is None:
            return None
        self.factory.offload.stop()
        logger.info("SMTP server on %s:%d stopping", *self.address)
        return listening.stopListening()
