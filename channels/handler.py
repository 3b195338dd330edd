"""Django views over ASGI ``http.request`` messages.

See docs/reference/channels.rst, "channels.handler".

``AsgiRequest`` is an ``HttpRequest`` built from a request message (reading
the body channel when there is one); ``AsgiHandler`` runs it through
Django's own handler machinery (middleware, URL resolution, exception
views) and turns the response into ``http.response`` messages;
``ViewConsumer`` is the consumer that sends them.

Both ends follow 1.x rather than the letter of ``asgi.www``: a request
message is read as leniently as 1.x read it (absent keys take their
defaults, ``str`` stands in for ``bytes``; only undecodable input is a 400),
and responses are framed exactly as 1.x framed them (tuple header pairs,
status on the first content message, a bare ``{"more_content": False}``
ending a stream). Every message sent still passes ``asgi.www.validate``.
"""

from __future__ import annotations

import io
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from typing import IO, Any

from django import http
from django.conf import settings
from django.core import signals
from django.core.handlers import base
from django.http import FileResponse, HttpResponse, HttpResponseServerError
from django.urls import set_script_prefix
from django.utils.functional import cached_property

from asgi import www
from asgi.exceptions import InvalidMessage
from asgi.types import ChannelLayer

from . import _drops
from ._compat import response_finishes_for
from ._pending import pending_message_store
from ._retry import retry_while_full
from .exceptions import RequestAborted, RequestTimeout, ResponseLater

__all__ = ["AsgiHandler", "AsgiRequest", "HttpResponseLater", "ViewConsumer"]

logger = logging.getLogger("django.request")
channels_logger = logging.getLogger("channels.handler")

#: The block size ``FileResponse`` reads files in, as 1.x set it (whatever
#: ``chunk_size`` a subclass picks: blocks larger than it are still cut).
FILE_BLOCK_SIZE = 512 * 1024

#: Headers whose repeats are joined with "; " (a cookie list), not ",".
_SEMICOLON_JOINED = {"HTTP_COOKIE"}


class HttpResponseLater(HttpResponse):
    """A response that means "no response now": the view will reply later.

    Returned (or produced from ``ResponseLater``) it passes through
    middleware like any response, and the handler sends nothing.
    """

    status_code = 113


class AsgiRequest(http.HttpRequest):
    """An ``HttpRequest`` made from an ASGI ``http.request`` message.

    Like 1.x it also reads any message with a ``path`` (``websocket.connect``,
    ``websocket.receive``) so that code can get its ``GET`` and ``COOKIES``;
    such a request has ``method`` None.
    """

    ResponseLater = ResponseLater

    #: Seconds reading the body channel may take in all before the request is
    #: answered 408 (1.x's limit, counted from the first read as 1.x did).
    body_receive_timeout = 60
    #: Seconds to wait for any one body chunk before answering 408. daphne
    #: has the whole body before it sends ``http.request`` and, when it cannot
    #: deliver the next chunk within its ``--body-send-timeout`` (10 s), sends
    #: a ``closed`` chunk within that time again; so with daphne's default
    #: nothing is coming after 2 x 10 s (plus 5 s of slack). None: no limit
    #: but ``body_receive_timeout``.
    body_chunk_timeout: float | None = 25

    def __init__(self, message: Any) -> None:
        # Reads the message as 1.x did: only ``path`` is needed (``method`` too
        # for the handler); absent keys take their spec defaults, ``str`` and
        # ``bytes`` are accepted for each other. Each key is read once with a
        # fast check for the type daphne sends, so a full message costs no
        # more than before; only input that cannot be decoded raises.
        self.message = message
        self.reply_channel = message.reply_channel
        content = message.content
        self._content_length = 0
        self._post_parse_error = False
        self._read_started = False
        self.resolver_match = None
        self.script_name = _text("root_path", content.get("root_path"), "")
        self.path = _text("path", content.get("path"), _REQUIRED)
        if self.script_name and self.path.startswith(self.script_name):
            self.path_info = self.path[len(self.script_name) :] or "/"
        else:
            self.path_info = self.path
        method = _text("method", content.get("method"), None)
        # A websocket.connect/receive has no method; 1.x code still builds a
        # request from it to read GET and COOKIES. None is Django's "no method".
        self.method = method.upper() if method is not None else None
        self._scheme = _text("scheme", content.get("scheme"), "http")
        self.META = self._build_meta(content)
        self._set_content_type_params(self.META)
        self._stream = self._read_body(content)
        if self._content_length and "CONTENT_LENGTH" not in self.META:
            # A chunked upload has no Content-Length; Django's parsers need one.
            self.META["CONTENT_LENGTH"] = str(self._content_length)

    def _build_meta(self, content: dict) -> dict:
        meta = {
            "QUERY_STRING": _query_string(content.get("query_string")),
            "SCRIPT_NAME": self.script_name,
            "PATH_INFO": self.path_info,
            "SERVER_PROTOCOL": "HTTP/" + _text("http_version", content.get("http_version"), "1.1"),
            "wsgi.url_scheme": self._scheme,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
        }
        if self.method is not None:
            meta["REQUEST_METHOD"] = self.method
        client = content.get("client")
        if client:
            host, port = _address("client", client)
            meta["REMOTE_ADDR"] = host
            meta["REMOTE_HOST"] = host
            meta["REMOTE_PORT"] = port
        server = content.get("server")
        if server:
            host, port = _address("server", server)
            meta["SERVER_NAME"] = host
            meta["SERVER_PORT"] = str(port)
        else:
            meta["SERVER_NAME"] = "unknown"
            meta["SERVER_PORT"] = "0"
        _add_headers(meta, content.get("headers"))
        return meta

    def _read_body(self, content: dict) -> Any:
        """The whole body as a file, appending the body channel's chunks."""
        body = content.get("body")
        if type(body) is not bytes:
            body = _body_bytes(body)
        body_channel = content.get("body_channel")
        if body_channel is not None and not isinstance(body_channel, str):
            raise InvalidMessage(
                f"http.request key 'body_channel' must be a channel name, got {body_channel!r}"
            )
        if not body_channel:
            # BytesIO shares the bytes until written to; it is also seekable,
            # which Django 6.1 needs to re-read the body.
            stream = io.BytesIO(body)
            self._content_length = len(body)
            return stream
        stream = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)
        stream.write(body)
        try:
            self._read_body_channel(self.message.channel_layer, body_channel, stream)
        except BaseException:
            stream.close()
            raise
        self._content_length = stream.tell()
        stream.seek(0)
        return stream

    def _read_body_channel(self, layer: ChannelLayer, body_channel: str, stream: IO[bytes]) -> None:
        """Append the body channel's chunks to ``stream`` until the last one.

        Raises ``RequestAborted`` at once on a ``closed`` chunk (the body will
        not be completed), and ``RequestTimeout`` when no chunk came within
        ``body_chunk_timeout`` or the whole read passed ``body_receive_timeout``.
        """
        waited_since = time.monotonic()
        give_up = waited_since + self.body_receive_timeout
        limit = self.body_chunk_timeout
        while True:
            now = time.monotonic()
            if now > give_up:
                raise RequestTimeout(
                    f"Body of {body_channel} not read within {self.body_receive_timeout}s"
                )
            if limit is not None and now - waited_since > limit:
                raise RequestTimeout(f"No request body chunk on {body_channel} for {limit}s")
            _, chunk = layer.receive([body_channel], block=True)
            if chunk is None:
                continue
            chunk = www.normalize("http.request.body", chunk)
            if chunk["closed"]:
                raise RequestAborted("Client closed the request while its body was read")
            stream.write(chunk["content"])
            if not chunk["more_content"]:
                return
            waited_since = time.monotonic()

    def _get_scheme(self) -> str:
        return self._scheme

    @cached_property
    def GET(self) -> http.QueryDict:  # noqa: N802 - Django's HttpRequest attribute
        return http.QueryDict(self.META["QUERY_STRING"], encoding=self._encoding)

    def _get_post(self) -> http.QueryDict:
        if not hasattr(self, "_post"):
            self._load_post_and_files()
        return self._post

    def _set_post(self, post: http.QueryDict) -> None:
        self._post = post

    POST = property(_get_post, _set_post)

    @property
    def FILES(self):  # noqa: N802 - Django's HttpRequest attribute
        if not hasattr(self, "_files"):
            self._load_post_and_files()
        return self._files

    @cached_property
    def COOKIES(self) -> dict:  # noqa: N802 - Django's HttpRequest attribute
        return http.parse_cookie(self.META.get("HTTP_COOKIE", ""))

    def close(self) -> None:
        super().close()
        self._stream.close()


#: ``_text`` default meaning "the key must be there".
_REQUIRED: Any = object()


def _text(key: str, value: Any, default: Any) -> Any:
    """The message's ``key`` as ``str``: bytes are decoded as UTF-8.

    A missing or ``None`` value gives ``default`` (1.x read every optional
    key with ``.get``); with ``_REQUIRED`` it is an ``InvalidMessage``.
    Undecodable bytes raise ``UnicodeDecodeError`` (the handler answers 400).
    """
    if isinstance(value, str):
        return value
    if value is None:
        if default is _REQUIRED:
            raise InvalidMessage(f"http.request message lacks the required key {key!r}")
        return default
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise InvalidMessage(
        f"http.request key {key!r} must be str (or UTF-8 bytes), got {type(value).__name__}"
    )


def _query_string(value: Any) -> str:
    """The query string for ``META``: bytes (the spec) or str (1.x); absent is empty."""
    if type(value) is bytes:
        return value.decode("utf-8")
    return _text("query_string", value, "")


def _body_bytes(value: Any) -> bytes:
    """A request body that is not plain ``bytes``: absent is empty, str is refused."""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise InvalidMessage(f"http.request key 'body' must be bytes, got {type(value).__name__}")


def _address(key: str, value: Any) -> tuple[str, Any]:
    """``client``/``server`` as ``(host, port)``; anything but a pair is malformed."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return str(value[0]), value[1]
    raise InvalidMessage(f"http.request key {key!r} must be [host, port], got {value!r}")


def _header_text(item: Any, part: Any) -> str:
    """A header name or value given as ``str`` (legacy and hand-built messages)."""
    if isinstance(part, str):
        return part
    raise InvalidMessage(f"http.request headers must be [name, value] pairs of bytes, got {item!r}")


def _add_headers(meta: dict, headers: Any) -> None:
    """Put the message's headers into ``meta`` as CGI-style keys.

    Accepts the spec's list of ``[bytes, bytes]`` pairs, tuples, ``str``
    names or values, a legacy dict and no headers at all. Repeated headers
    are joined with "," (cookies with "; "); names containing "_" are dropped.
    """
    if not headers:
        return
    if isinstance(headers, dict):
        headers = headers.items()
    try:
        for item in headers:
            name, value = item
            name = name.decode("latin1") if type(name) is bytes else _header_text(item, name)
            value = value.decode("latin1") if type(value) is bytes else _header_text(item, value)
            if "_" in name:
                # Like Django's runserver and gunicorn: "x_forwarded" and
                # "x-forwarded" would both become HTTP_X_FORWARDED.
                continue
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_LENGTH", "CONTENT_TYPE"):
                key = "HTTP_" + key
            if key in meta:
                separator = "; " if key in _SEMICOLON_JOINED else ","
                value = meta[key] + separator + value
            meta[key] = value
    except (InvalidMessage, UnicodeDecodeError):
        raise
    except (TypeError, ValueError):
        # Not iterable, or an item that is not a pair.
        raise InvalidMessage(
            f"http.request headers must be a list of [name, value] pairs, got {headers!r}"
        ) from None


class AsgiHandler(base.BaseHandler):
    """Runs Django's request machinery for one message; yields reply messages."""

    request_class = AsgiRequest

    #: Responses go out in pieces of this size (the layer's message limit
    #: is at least 1 MB); ``FileResponse`` reads files in this block size.
    chunk_size = 512 * 1024

    def __init__(self) -> None:
        super().__init__()
        self.load_middleware()

    def __call__(self, message: Any) -> Iterator[dict]:
        root_path = message.get("root_path")
        set_script_prefix(root_path if isinstance(root_path, str) else "")
        signals.request_started.send(sender=self.__class__, message=message)
        try:
            request = self.request_class(message)
            if request.method is None:
                # AsgiRequest reads method-less websocket messages too; a view can't.
                request.close()
                raise InvalidMessage("http.request message lacks the required key 'method'")
        except (UnicodeDecodeError, InvalidMessage) as exc:
            channels_logger.warning("Bad request message on %s: %s", message.channel, exc)
            response = http.HttpResponseBadRequest()
        except RequestTimeout:
            response = HttpResponse(
                "408 Request Timeout (upload too slow)", status=408, content_type="text/plain"
            )
        except RequestAborted:
            signals.request_finished.send(sender=self.__class__)
            return
        else:
            response = self._response_for(request)
        response_finishes_for(response, self.__class__)
        try:
            if isinstance(response, HttpResponseLater):
                return
            if isinstance(response, FileResponse):
                response.block_size = FILE_BLOCK_SIZE
            yield from self.encode_response(response)
        finally:
            response.close()

    def _response_for(self, request: AsgiRequest) -> HttpResponse:
        try:
            response = self.get_response(request)
        except Exception:  # noqa: BLE001 - whatever a broken handler500 raises
            # Django's own 500 handling failed too (a broken handler500).
            response = self.handle_uncaught_exception(request, None, sys.exc_info())
        return _without_forbidden_body(request, response)

    def process_exception_by_middleware(self, exception: Exception, request: Any) -> Any:
        if isinstance(exception, ResponseLater):
            return HttpResponseLater()
        return super().process_exception_by_middleware(exception, request)

    def handle_uncaught_exception(self, request: Any, resolver: Any, exc_info: Any) -> HttpResponse:
        """Plain-text 500, with the traceback only under DEBUG."""
        logger.error(
            "Internal Server Error: %s",
            getattr(request, "path", "?"),
            exc_info=exc_info,
            extra={"status_code": 500, "request": request},
        )
        if settings.DEBUG:
            body = "".join(traceback.format_exception(*exc_info))
            return HttpResponseServerError(body, content_type="text/plain")
        return HttpResponseServerError("Internal Server Error", content_type="text/plain")

    @classmethod
    def encode_response(cls, response: HttpResponse) -> Iterator[dict]:
        """Yield the ``http.response`` message(s) for a Django response.

        Framed as 1.x framed them, which code reading the messages relies on:
        status and headers travel on the first message, which also carries the
        first piece of content; header pairs are ``(bytes, bytes)`` tuples with
        the case Django gave them (some clients want ``Content-Type`` as is),
        one ``Set-Cookie`` pair per cookie.
        """
        first = {"status": response.status_code, "headers": cls._encode_headers(response)}
        if response.streaming:
            yield from cls._encode_stream(first, response)
            return
        message = first
        for chunk, last in cls.chunk_bytes(response.content):
            message["content"] = chunk
            message["more_content"] = not last
            yield message
            message = {}

    @classmethod
    def _encode_headers(cls, response: HttpResponse) -> list[tuple[bytes, bytes]]:
        headers = [(_latin1(name), _latin1(value)) for name, value in response.items()]
        for cookie in response.cookies.values():
            headers.append((b"Set-Cookie", cookie.output(header="").strip().encode("latin1")))
        return headers

    @classmethod
    def _encode_stream(cls, first: dict, response: HttpResponse) -> Iterator[dict]:
        """A streaming response: one message per part, then ``{"more_content": False}``.

        Each part is one message (an empty part too; a part over
        ``chunk_size`` is cut), all with ``more_content`` True, the first of
        them carrying the status; a response with no parts is one message.
        """
        head = first
        for part in response:
            for chunk, _last in cls.chunk_bytes(part):
                yield {**head, "content": chunk, "more_content": True}
                head = {}
        yield {**head, "more_content": False}

    @classmethod
    def chunk_bytes(cls, data: bytes) -> Iterator[tuple[bytes, bool]]:
        """Yield ``(chunk, is_last)`` pieces of ``data``; empty data is one piece."""
        if not data:
            yield data, True
            return
        size = cls.chunk_size
        for start in range(0, len(data), size):
            yield data[start : start + size], start + size >= len(data)


def _latin1(text: Any) -> bytes:
    """A response header name or value as bytes (Django gives ``str``)."""
    return text if isinstance(text, bytes) else str(text).encode("latin1")


def _without_forbidden_body(request: Any, response: HttpResponse) -> HttpResponse:
    """Drop the body of HEAD, 1xx, 204 and 304 responses (RFC 9112 6.3).

    Like Django's test client and WSGI servers; it also spares the layer a
    large body that daphne would throw away. Headers (Content-Length) stay.
    """
    status = response.status_code
    if request.method == "HEAD" or 100 <= status < 200 or status in (204, 304):
        if isinstance(response, HttpResponseLater):
            return response
        if response.streaming:
            response.streaming_content = []
        else:
            response.content = b""
    return response


class ViewConsumer:
    """The default ``http.request`` consumer: Django views through ``AsgiHandler``."""

    handler_class = AsgiHandler

    #: Give up on a reply channel that stays full this long (the client is
    #: most likely gone); 1.x retried forever and pinned the worker.
    reply_timeout = 120.0
    retry_interval = 0.05

    def __init__(self) -> None:
        self._handler: AsgiHandler | None = None

    @property
    def handler(self) -> AsgiHandler:
        # Built on first use so that routing can be imported before settings
        # are ready, and per consumer so middleware loads once.
        if self._handler is None:
            self._handler = self.handler_class()
        return self._handler

    def __call__(self, message: Any, **kwargs: Any) -> None:
        replies = self.handler(message)
        try:
            for reply in replies:
                if not self._send(message, reply):
                    break
        finally:
            replies.close()

    def _send(self, message: Any, reply: dict) -> bool:
        if "status" in reply and not reply.get("more_content") and pending_message_store.holding:
            # A whole response in one message, in a worker handling a batch:
            # made now, written with the batch's other sends (one round trip).
            pending_message_store.send_held(message.reply_channel, reply)
            return True
        reply_channel = message.reply_channel
        if retry_while_full(
            lambda: reply_channel.send(reply, immediately=True),
            message.channel_layer.ChannelFull,
            timeout=self.reply_timeout,
            interval=self.retry_interval,
        ):
            return True
        _drops.report_drop(_drops.CHANNEL_FULL, reply_channel.name)
        channels_logger.warning(
            "Reply channel %s stayed full for %ss; abandoning the response",
            reply_channel,
            self.reply_timeout,
        )
        return False
