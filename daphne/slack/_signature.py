"""Slack's request signature check (sans-IO, clock passed in).

Slack signs every Events API request with the app's signing secret:
``X-Slack-Signature: v0=<hex>``, the HMAC-SHA256 of
``v0:<X-Slack-Request-Timestamp>:<raw body>``. A request is accepted only
when both headers are present, the timestamp is within ``tolerance``
seconds of now (either way, so a captured request cannot be replayed
later), and the signature matches (compared in constant time).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["DEFAULT_TOLERANCE", "SignatureError", "signature", "verify_signature"]

#: Slack's documented replay window: five minutes.
DEFAULT_TOLERANCE = 300.0

_VERSION = "v0"


class SignatureError(Exception):
    """The request is not provably from Slack; the message says why (answered 401)."""


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` value for ``body`` sent at ``timestamp``."""
    base = f"{_VERSION}:{timestamp}:".encode("ascii") + body
    return f"{_VERSION}=" + hmac.new(secret, base, hashlib.sha256).hexdigest()


def verify_signature(
    secret: bytes,
    timestamp: str | None,
    sent_signature: str | None,
    body: bytes,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    """Return if the request is signed with ``secret`` and fresh; else raise ``SignatureError``."""
    if timestamp is None or sent_signature is None:
        missing = "X-Slack-Request-Timestamp" if timestamp is None else "X-Slack-Signature"
        raise SignatureError(f"the {missing} header is missing")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError(
            "X-Slack-Request-Timestamp must be whole seconds since the epoch"
        ) from None
    if abs(now - sent_at) > tolerance:
        raise SignatureError(
            f"X-Slack-Request-Timestamp is {now - sent_at:+.0f} s from now "
            f"(more than {tolerance:.0f} s: a replay, or a wrong clock)"
        )
    if not timestamp.isascii() or not sent_signature.isascii():
        raise SignatureError("the signature headers must be ASCII")
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), sent_signature.encode("ascii")):
        raise SignatureError("X-Slack-Signature does not match the body")
