"""Pure helpers of the Redis layer: queue items, shard hashing, encryption.

No I/O here. Items are laid out as :mod:`asgi_redis._scripts` describes:
``DEADLINE(13 digits) TARGETS "\\n" PAYLOAD``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from typing import Any

__all__ = ["Encryptor", "consistent_hash", "glob_escape", "item_tail", "parse_item"]

DEADLINE_DIGITS = 13


def item_tail(targets: str, payload: bytes) -> bytes:
    """The part of an item after its deadline (the script prepends the deadline)."""
    return targets.encode("ascii") + b"\n" + payload


def parse_item(item: bytes) -> tuple[int, list[str], bytes]:
    """Split an item into ``(deadline_ms, target channel names, payload)``."""
    newline = item.index(b"\n", DEADLINE_DIGITS)
    deadline = int(item[:DEADLINE_DIGITS])
    targets = item[DEADLINE_DIGITS:newline]
    names = targets.decode("ascii").split(",") if targets else []
    return deadline, names, item[newline + 1 :]


def glob_escape(text: str) -> str:
    """``text`` with the glob characters of ``SCAN ... MATCH`` escaped."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def consistent_hash(value: str, ring_size: int) -> int:
    """The shard index of ``value``: the same in every process and every run.

    CRC32 of the UTF-8 name, cut to 12 bits and scaled to the ring (the
    1.x ring, so names land where 1.x put them).
    """
    if ring_size == 1:
        return 0
    bucket = binascii.crc32(value.encode("utf8")) & 0xFFF
    return int(bucket / (4096 / ring_size))


class Encryptor:
    """Symmetric encryption of payloads with Fernet (docs/topics/backends.rst, "Encryption").

    The first key encrypts; every key decrypts, so keys can be rotated by
    putting the new key first. Each key string becomes a Fernet key as the
    url-safe base64 of its SHA-256.
    """

    def __init__(self, keys: Sequence[str | bytes], ttl: int | None) -> None:
        if isinstance(keys, (str, bytes)):
            raise ValueError(
                "symmetric_encryption_keys must be a list of keys, not a single string"
            )
        if not keys:
            raise ValueError("symmetric_encryption_keys must hold at least one key")
        try:
            from cryptography.fernet import MultiFernet
        except ImportError as exc:
            raise ValueError(
                "symmetric_encryption_keys needs the 'cryptography' package: "
                "pip install channels-classic[encryption]"
            ) from exc
        self.fernet = MultiFernet([self.make_fernet(key) for key in keys])
        self.ttl = ttl

    @staticmethod
    def make_fernet(key: str | bytes) -> Any:
        from cryptography.fernet import Fernet

        if isinstance(key, str):
            key = key.encode("utf8")
        if not isinstance(key, bytes) or not key:
            raise ValueError(f"Each encryption key must be a non-empty string, got {key!r}")
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key).digest()))

    def encrypt(self, data: bytes) -> bytes:
        return self.fernet.encrypt(data)

    def decrypt(self, data: bytes) -> bytes:
        """Decrypt, raising ``cryptography.fernet.InvalidToken`` for a foreign key."""
        return self.fernet.decrypt(data, ttl=self.ttl)
