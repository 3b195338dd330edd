"""Delivering a streamed request body to its ``http.request.body?`` channel, sans-IO.

See docs/topics/daphne.rst, "Large request bodies".

daphne has read the whole body before it sends ``http.request``, so the only
thing a worker reading the body channel waits for is daphne getting the next
chunk into the layer. ``BodyUpload`` decides what that takes: send the chunks
one at a time; wait and retry (with backoff) while the channel is full, but
for no longer than ``send_timeout`` per chunk; and whenever the body cannot be
completed (the channel stayed full, the layer failed, the client left) send a
``closed: True`` chunk instead (docs/asgi/www.rst, "HTTP": "abandon processing"), retried the
same way, so the worker gives the request up at once rather than waiting out
its body timeout::

    SENDING --last chunk landed--------------------------------> DONE
       |  full for send_timeout / send failed / abandon()
       v
    CLOSING --closed chunk landed, or refused for send_timeout--> ENDED

Every step returns one of ``NEXT`` (send ``message()`` now), ``Retry`` (send
it again after ``delay``), ``ABORTED`` (the body will not be completed: answer
the client, then send ``message()``, the closed chunk), ``FINISHED`` (nothing
more to send) or ``GAVE_UP`` (the closed chunk never got in; the worker's own
body timeout ends the request).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from asgi import www

from ._http_state import RequestBody
from .exceptions import IllegalTransition

__all__ = ["BodyUpload", "Retry", "Step", "UploadPhase"]

#: First and longest pause between two tries of a refused body message.
MIN_RETRY_DELAY = 0.05
MAX_RETRY_DELAY = 1.0


class UploadPhase(enum.Enum):
    SENDING = "sending body chunks"
    CLOSING = "sending the closed chunk"
    DONE = "body delivered"
    ENDED = "upload abandoned"


class Step(enum.Enum):
    NEXT = "send the next message now"
    ABORTED = "body incomplete: answer the client, then send the closed chunk"
    FINISHED = "nothing more to send"
    GAVE_UP = "the closed chunk could not be delivered"


@dataclass(frozen=True)
class Retry:
    """Send the same message again after ``delay`` seconds."""

    delay: float


class BodyUpload:
    """The body-channel messages of one request and when to send them."""

    def __init__(self, body: RequestBody, send_timeout: float) -> None:
        self.body = body
        self.send_timeout = send_timeout
        self.phase = UploadPhase.SENDING
        #: Why the upload is being abandoned ("full", "failed", "abandoned").
        self.reason: str | None = None
        self._message: dict[str, Any] | None = None
        self._in_flight: dict[str, Any] | None = None
        self._refused_since: float | None = None
        self._delay = MIN_RETRY_DELAY

    @property
    def in_flight(self) -> bool:
        """A message was handed out and its outcome is not known yet."""
        return self._in_flight is not None

    def message(self) -> dict[str, Any] | None:
        """The message to send now (marked in flight), or None when there is none."""
        if self._in_flight is not None or self.phase in (UploadPhase.DONE, UploadPhase.ENDED):
            return None
        if self._message is None:
            if self.phase is UploadPhase.CLOSING:
                self._message = www.http_request_body_chunk(closed=True)
            else:
                self._message = self.body.next_chunk()
                if self._message is None:
                    self.phase = UploadPhase.DONE
                    return None
        self._in_flight = self._message
        return self._message

    def landed(self, now: float) -> Step:
        """The message in flight is in the layer."""
        sent = self._take_in_flight("landed")
        self._message, self._refused_since, self._delay = None, None, MIN_RETRY_DELAY
        if sent.get("closed"):
            self.phase = UploadPhase.ENDED
            return Step.FINISHED
        if self.phase is UploadPhase.CLOSING:
            return Step.NEXT  # abandoned while this chunk was on its way
        if not sent.get("more_content"):
            self.phase = UploadPhase.DONE
            return Step.FINISHED
        return Step.NEXT

    def refused(self, now: float, *, full: bool) -> Retry | Step:
        """The layer did not take the message in flight: ``full`` for
        ``ChannelFull``, else the send failed (refused, unreachable)."""
        self._take_in_flight("refused")
        if self.phase is UploadPhase.SENDING and not full:
            return self._abort("failed", now)
        message = self._message or {}
        if self.phase is UploadPhase.CLOSING and not message.get("closed"):
            # abandoned while a data chunk was on its way: the closed chunk next
            self._message, self._refused_since = None, now
            return Step.NEXT
        if self._refused_since is None:
            self._refused_since = now
        left = self._refused_since + self.send_timeout - now
        if left > 0:
            # the last try falls on the time limit, not up to a backoff after it
            delay, self._delay = min(self._delay, left), min(self._delay * 2, MAX_RETRY_DELAY)
            return Retry(delay)
        if self.phase is UploadPhase.SENDING:
            return self._abort("full", now)
        self.phase = UploadPhase.ENDED
        return Step.GAVE_UP

    def abandon(self, now: float) -> bool:
        """The client left (or the request ended): True if a closed chunk is now due."""
        if self.phase is not UploadPhase.SENDING:
            return False
        self._abort("abandoned", now)
        return True

    def _abort(self, reason: str, now: float) -> Step:
        self.phase, self.reason = UploadPhase.CLOSING, reason
        if self._in_flight is None:
            self._message = None
        # the closed chunk's own time limit starts now
        self._refused_since, self._delay = now, MIN_RETRY_DELAY
        return Step.ABORTED

    def _take_in_flight(self, event: str) -> dict[str, Any]:
        sent, self._in_flight = self._in_flight, None
        if sent is None:
            raise IllegalTransition("BodyUpload", self.phase, event)
        return sent
