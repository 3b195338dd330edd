"""Posting ``slack.send`` messages with the Web API's ``chat.postMessage``.

:class:`SlackPoster` holds a bounded queue of posts and makes one
``chat.postMessage`` call at a time with Twisted's ``Agent`` (no thread, no
new dependency: the reactor is already there and ``twisted[tls]`` verifies
slack.com's certificate). Its rules:

- a post that does not fit in the queue (``queue_size``) is dropped, with a
  warning and the ``dropped`` count;
- ``429 Too Many Requests`` pauses the whole queue for ``Retry-After``
  seconds (Slack's limits are per method and workspace), then the same post
  is tried again, first;
- a post whose request got no answer at all because the connection closed
  under it (``ResponseNeverReceived``: a kept-alive connection the server
  had just closed) is tried once more on a new connection;
- ``ok: false`` answers, other HTTP statuses and network errors are logged
  (Slack's ``error`` code, the status, or the reason) and counted in
  ``failed``; the post is not retried;
- the bot token goes only into the ``Authorization`` header: it is never
  logged, and never part of a URL or a message.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import Any

from twisted.internet import defer, protocol
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone, ResponseNeverReceived
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from asgi.slack import SlackPost

from .. import _drops

__all__ = ["DEFAULT_API_BASE", "SlackPoster", "parse_retry_after"]

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://slack.com/api/"

#: Longest pause a ``Retry-After`` may impose, in seconds.
MAX_RETRY_AFTER = 300.0


def parse_retry_after(value: bytes | str | None, default: float = 1.0) -> float:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds form).

    A missing or unreadable value waits ``default``; a huge one waits at
    most :data:`MAX_RETRY_AFTER`.
    """
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        seconds = default
    if seconds != seconds or seconds < 0:  # NaN or negative
        seconds = default
    return min(seconds, MAX_RETRY_AFTER)


#: Slack's answers are small; a longer one is cut here (only ``ok``/``error`` matter).
MAX_ANSWER = 1_000_000


class _Collect(protocol.Protocol):
    """Gathers a response body (at most ``MAX_ANSWER`` bytes) into ``done``."""

    def __init__(self) -> None:
        self.done: defer.Deferred = defer.Deferred()
        self._parts: list[bytes] = []
        self._size = 0

    def dataReceived(self, data: bytes) -> None:
        if self._size < MAX_ANSWER:
            self._parts.append(data[: MAX_ANSWER - self._size])
            self._size += len(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if reason.check(ResponseDone) or self._size >= MAX_ANSWER:
            self.done.callback(b"".join(self._parts))
        else:
            self.done.errback(reason)


def _read_body(response: Any) -> defer.Deferred:
    collect = _Collect()
    response.deliverBody(collect)
    return collect.done


@implementer(IBodyProducer)
class _Bytes:
    """A request body already in memory, written at once (no cooperator)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.length = len(body) if body else UNKNOWN_LENGTH

    def startProducing(self, consumer: Any) -> defer.Deferred:
        consumer.write(self.body)
        return defer.succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class SlackPoster:
    """A bounded queue of posts, sent one at a time (see the module docstring)."""

    def __init__(
        self,
        reactor: Any,
        token: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        queue_size: int = 100,
        timeout: float = 10.0,
    ) -> None:
        if not token:
            raise ValueError("a Slack bot token is needed to post (SLACK_BOT_TOKEN)")
        if not api_base.startswith(("http://", "https://")):
            raise ValueError(f"api_base must be an http:// or https:// URL, got {api_base!r}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.reactor = reactor
        self.url = (api_base.rstrip("/") + "/chat.postMessage").encode("ascii")
        self.queue_size = queue_size
        self.timeout = timeout
        self._authorization = b"Bearer " + token.encode("utf-8")
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._agent = Agent(reactor, pool=self._pool, connectTimeout=timeout)
        self._queue: deque[SlackPost] = deque()
        self._in_flight: defer.Deferred | None = None
        self._resume_call: Any = None
        self._stopped = False
        self._retry_next = False
        #: Counters: posts Slack accepted, posts lost to a full queue, posts that
        #: failed (``ok: false``, HTTP error, network error), 429 answers.
        self.posted = 0
        self.dropped = 0
        self.failed = 0
        self.rate_limited = 0

    def __repr__(self) -> str:  # never the token
        return f"<SlackPoster {self.url.decode()} queued={len(self._queue)}>"

    @property
    def queued(self) -> int:
        return len(self._queue)

    def post(self, post: SlackPost) -> bool:
        """Queue ``post``; False (and a warning) if the queue is full or stopped."""
        if self._stopped:
            self.dropped += 1
            _drops.report_drop(_drops.SHUTDOWN, "slack.send")
            logger.warning("Dropped a post to %s: shutting down", post.channel)
            return False
        if len(self._queue) >= self.queue_size:
            self.dropped += 1
            # the queue fills while Slack's 429s hold it back
            _drops.report_drop(_drops.RATE_LIMIT, "slack.send")
            logger.warning(
                "Dropped a post to %s: the queue of %d posts is full (%d dropped so far)",
                post.channel,
                self.queue_size,
                self.dropped,
            )
            return False
        self._queue.append(post)
        self._next()
        return True

    def _next(self) -> None:
        if self._in_flight is not None or self._resume_call is not None or self._stopped:
            return
        if not self._queue:
            return
        self._send(self._queue.popleft(), retried=False)

    def _send(self, post: SlackPost, retried: bool) -> None:
        body = json.dumps(post.api_arguments()).encode("utf-8")
        headers = Headers(
            {
                b"Content-Type": [b"application/json; charset=utf-8"],
                b"Authorization": [self._authorization],
            }
        )
        call = self._agent.request(b"POST", self.url, headers, _Bytes(body))
        call.addTimeout(self.timeout, self.reactor)
        call.addCallback(self._answered, post)
        call.addErrback(self._network_error, post, retried)
        call.addErrback(self._bug, post)
        self._in_flight = call
        call.addBoth(self._done, call)

    def _answered(self, response: Any, post: SlackPost) -> defer.Deferred:
        reading = _read_body(response)
        reading.addTimeout(self.timeout, self.reactor)
        return reading.addCallback(self._read, response, post)

    def _read(self, body: bytes, response: Any, post: SlackPost) -> None:
        if response.code == 429:
            self.rate_limited += 1
            wait = parse_retry_after((response.headers.getRawHeaders(b"retry-after") or [None])[0])
            logger.warning(
                "Slack rate-limited chat.postMessage; posting to %s again in %.1f s",
                post.channel,
                wait,
            )
            self._queue.appendleft(post)
            self._resume_call = self.reactor.callLater(wait, self._resume)
            return
        if response.code != 200:
            self.failed += 1
            logger.warning("chat.postMessage to %s failed: HTTP %d", post.channel, response.code)
            return
        try:
            answer = json.loads(body)
            ok, error = answer["ok"], answer.get("error")
        except (ValueError, TypeError, KeyError):
            self.failed += 1
            logger.warning(
                "chat.postMessage to %s: Slack's answer is not JSON with 'ok'", post.channel
            )
            return
        if ok is True:
            self.posted += 1
            logger.debug("Posted to %s", post.channel)
        else:
            self.failed += 1
            logger.warning("chat.postMessage to %s failed: %s", post.channel, error)

    def _network_error(self, failure: Failure, post: SlackPost, retried: bool) -> None:
        failure.trap(Exception)
        if failure.check(defer.CancelledError) and self._stopped:
            return
        if failure.check(ResponseNeverReceived) and not retried and not self._stopped:
            logger.debug("The connection closed before Slack answered; posting again")
            self._queue.appendleft(post)
            self._retry_next = True
            return
        self.failed += 1
        reason = (
            "no answer in time"
            if failure.check(defer.TimeoutError, defer.CancelledError)
            else f"{type(failure.value).__name__}: {failure.getErrorMessage()}"
        )
        logger.warning("chat.postMessage to %s failed: %s", post.channel, reason)

    def _bug(self, failure: Failure, post: SlackPost) -> None:
        logger.error("Posting to %s failed unexpectedly: %s", post.channel, failure.value)

    def _done(self, _: Any, call: defer.Deferred) -> None:
        if self._in_flight is call:
            self._in_flight = None
        if self._retry_next and self._queue and not self._stopped:
            self._retry_next = False
            self._send(self._queue.popleft(), retried=True)
            return
        self._next()

    def _resume(self) -> None:
        self._resume_call = None
        self._next()

    def stop(self) -> defer.Deferred:
        """Stop posting: the call in flight may finish; queued posts are dropped (logged)."""
        self._stopped = True
        if self._resume_call is not None and self._resume_call.active():
            self._resume_call.cancel()
        self._resume_call = None
        if self._queue:
            self.dropped += len(self._queue)
            logger.warning("Dropped %d queued posts at shutdown", len(self._queue))
            self._queue.clear()
        waiting: list[defer.Deferred] = []
        if self._in_flight is not None:
            finished: defer.Deferred = defer.Deferred()
            self._in_flight.addBoth(lambda _: finished.callback(None))
            waiting.append(finished)
        closing = defer.gatherResults(waiting).addBoth(
            lambda _: self._pool.closeCachedConnections()
        )
        return closing
