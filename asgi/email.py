"""The email message format of ASGI 1 (spec section 1.8, "Email").

``email.receive`` carries one accepted mail: the SMTP envelope (``from``,
``to``), the message headers (names lowercased, RFC 2047 encoded words
decoded) and a *content object*. A content object has a ``content-type``;
a multipart one has ``parts`` (more content objects), any other has a
``body`` of transfer-decoded bytes (base64 and quoted-printable undone,
charset left to the reader, who finds it in ``content-type``).

Two extensions (the spec lets servers add keys):

- ``address``: the first envelope recipient (``to[0]``), a plain str so a
  route can filter on it: ``route("email.receive", consumer,
  address=r".*@example[.]com$")``;
- each content object inside ``parts`` has ``headers`` (its own MIME
  headers, in the same form), which is where an attachment's
  ``content-disposition`` and file name are found.

A header that occurs more than once has its values joined with ``", "``.

The spec's "send" half was never finished; applications send mail through
Django's email backends (see the email topic in the docs).

This module is also the one place that turns raw RFC 5322 bytes into an
``email.receive`` message (:func:`email_receive_from_bytes`), so servers
and test helpers build identical messages.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from collections.abc import Iterable
from email.header import Header, decode_header, make_header
from email.message import Message
from typing import Any, cast

from ._formats import MessageFormat, normalize_format, validate_format
from .exceptions import InvalidMessage

__all__ = [
    "FORMATS",
    "RECEIVE_CHANNEL",
    "content_from_message",
    "content_object",
    "decode_header_value",
    "email_receive",
    "email_receive_from_bytes",
    "headers_from_message",
    "normalize",
    "validate",
]

RECEIVE_CHANNEL = "email.receive"

FORMATS: dict[str, MessageFormat] = {
    f.name: f
    for f in [
        MessageFormat(
            "email.receive",
            RECEIVE_CHANNEL,
            required={
                "from": (str, type(None)),
                "to": (list, tuple),
                "headers": (dict,),
                "content": (dict,),
            },
            optional={"address": ((str, type(None)), None)},
        ),
        MessageFormat(
            "email.content",
            "",
            required={"content-type": (str,)},
            optional={
                "parts": ((list, tuple), None),
                "body": ((bytes,), None),
                "headers": ((dict,), None),
            },
        ),
    ]
}

#: Content objects nest; deeper than this is refused as hostile input.
MAX_DEPTH = 20

_FOLD = re.compile(r"\r?\n(?=[ \t])")


def validate(format_name: str, message: Any) -> dict[str, Any]:
    """Check an ``email.receive`` message or a content object; return it.

    Raises ``InvalidMessage`` naming what is missing or of the wrong type:
    ``to`` must hold at least one str, ``headers`` must map str to str, and
    every content object needs exactly one of ``parts`` and ``body``.
    """
    validate_format(FORMATS[format_name], message)
    if format_name == "email.receive":
        to = message["to"]
        if not to or not all(isinstance(address, str) for address in to):
            raise InvalidMessage(
                f"email.receive key 'to' must be a non-empty list of str, got {to!r}"
            )
        _check_headers("email.receive", message["headers"])
        _check_content(message["content"], 0)
    else:
        _check_content(message, 0)
    return cast("dict[str, Any]", message)  # validate_format checked it


def normalize(format_name: str, message: Any) -> dict[str, Any]:
    """Validate ``message`` and return a shallow copy with optional keys filled in."""
    validate(format_name, message)
    return normalize_format(FORMATS[format_name], message)


def content_object(
    content_type: str,
    *,
    body: bytes | None = None,
    parts: Iterable[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A content object: give ``body`` for a leaf, ``parts`` for a multipart."""
    content: dict[str, Any] = {"content-type": content_type}
    if parts is not None:
        content["parts"] = list(parts)
    if body is not None:
        content["body"] = body
    if headers is not None:
        content["headers"] = dict(headers)
    return validate("email.content", content)


def email_receive(
    *, sender: str | None, to: Iterable[str], headers: dict[str, str], content: dict[str, Any]
) -> dict[str, Any]:
    """An ``email.receive`` message (``sender`` is the envelope ``from``; None for ``<>``)."""
    to = list(to)
    message = {
        "from": sender,
        "to": to,
        "address": to[0] if to else None,
        "headers": dict(headers),
        "content": content,
    }
    return validate("email.receive", message)


def email_receive_from_bytes(sender: str | None, to: Iterable[str], raw: bytes) -> dict[str, Any]:
    """Parse the raw mail ``raw`` (as received after SMTP ``DATA``) into ``email.receive``."""
    parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    return email_receive(
        sender=sender or None,
        to=to,
        headers=headers_from_message(parsed),
        content=content_from_message(parsed),
    )


def headers_from_message(message: Message) -> dict[str, str]:
    """The headers of ``message``: lowercased names, decoded and unfolded values."""
    headers: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        text = decode_header_value(value)
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def content_from_message(message: Message, depth: int = 0, *, top: bool = True) -> dict[str, Any]:
    """The content object of a parsed message (or of one of its MIME parts)."""
    if depth > MAX_DEPTH:
        raise InvalidMessage(f"email content nests deeper than {MAX_DEPTH} levels")
    content_type = decode_header_value(message.get("content-type", "")) or (
        "message/rfc822" if message.get_default_type() == "message/rfc822" else "text/plain"
    )
    content: dict[str, Any] = {"content-type": content_type}
    if not top:
        content["headers"] = headers_from_message(message)
    if message.is_multipart():
        content["parts"] = [
            content_from_message(part, depth + 1, top=False)
            for part in cast("list[Message]", message.get_payload())  # multipart: the parts
        ]
    else:
        content["body"] = message.get_payload(decode=True) or b""
    return content


def decode_header_value(value: Any) -> str:
    """Unfold a raw header value and decode its RFC 2047 encoded words.

    Never raises: a malformed encoded word is left as it came, and raw
    8-bit bytes are read as UTF-8 (with replacement characters).
    """
    if isinstance(value, Header):
        # the parser's wrapping of raw 8-bit header bytes ("unknown-8bit")
        value = "".join(_decode_chunk(chunk, charset) for chunk, charset in decode_header(value))
    elif not isinstance(value, str):
        value = str(value)
    text = _FOLD.sub("", value)
    if any("\udc80" <= c <= "\udcff" for c in text):
        # raw 8-bit bytes in a header (the parser kept them as surrogates)
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").strip()
    try:
        text = str(make_header(decode_header(text)))
    except (ValueError, LookupError, UnicodeError, AssertionError):
        pass
    return text.strip()


def _decode_chunk(chunk: bytes | str, charset: str | None) -> str:
    if isinstance(chunk, str):
        return chunk
    try:
        return chunk.decode(charset or "utf-8")
    except (LookupError, UnicodeError):
        return chunk.decode("utf-8", "replace")


def _check_headers(format_name: str, headers: dict[str, Any]) -> None:
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str) or name != name.lower():
            raise InvalidMessage(
                f"{format_name} key 'headers' must map lowercase str names to str values, "
                f"got {name!r}: {value!r}"
            )


def _check_content(content: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidMessage(f"email content nests deeper than {MAX_DEPTH} levels")
    validate_format(FORMATS["email.content"], content)
    has_parts = content.get("parts") is not None
    has_body = content.get("body") is not None
    if has_parts == has_body:
        raise InvalidMessage(
            "an email content object needs exactly one of 'parts' (multipart) and 'body', "
            f"got keys {sorted(content)}"
        )
    if content.get("headers") is not None:
        _check_headers("email content", content["headers"])
    for part in content.get("parts") or ():
        _check_content(part, depth + 1)
