"""Socket leases: what a protocol server records of its open WebSockets, and
how a survivor turns a dead server's lease into ``websocket.disconnect``
messages (the ``leases`` layer extension, docs/asgi/layers.rst).

A server that dies without a goodbye (SIGKILL, OOM kill, machine loss)
sends no ``websocket.disconnect``. So each server keeps a lease in the
layer, renewed every few seconds, mapping each open socket's reply channel
to a lease entry (its path and the ``order`` its disconnect would carry).
When a lease runs out, one survivor claims it and sends the disconnects,
code 1006. This module is the part both sides share and the layer does not
interpret: the entry format and the messages; plain values in, plain
values out, plus :func:`reap`, which a survivor calls in a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from . import www
from .types import ChannelLayer, LeasingLayer

__all__ = [
    "ABNORMAL_CLOSURE",
    "LEASE_EXTENSION",
    "Reaper",
    "decode_entry",
    "disconnects",
    "encode_entry",
    "has_leases",
    "reap",
]

logger = logging.getLogger(__name__)

#: The name layers list in ``extensions`` when they keep leases.
LEASE_EXTENSION = "leases"
#: The close code of a reaped socket: it went away without a close frame.
ABNORMAL_CLOSURE = 1006
#: Most leases one :func:`reap` call claims at once.
REAP_BATCH = 16
#: Seconds between a :class:`Reaper`'s rounds.
REAP_INTERVAL = 5.0
#: Seconds a reaper keeps retrying disconnects refused with ChannelFull,
#: and its pause between tries.
FULL_RETRY_SECONDS = 10.0
FULL_RETRY_PAUSE = 0.1


def has_leases(layer: ChannelLayer) -> bool:
    """Whether ``layer`` lists the ``leases`` extension."""
    return LEASE_EXTENSION in getattr(layer, "extensions", ())


def encode_entry(path: str, order: int) -> str:
    """The lease entry of one socket: ``"<order> <path>"``.

    ``order`` is the ``order`` its disconnect would carry were it closed
    now (the last ``websocket.receive`` order plus one).
    """
    return f"{order} {path}"


def decode_entry(entry: str | bytes) -> tuple[str, int]:
    """``(path, order)`` from an entry; a malformed one raises ValueError."""
    if isinstance(entry, bytes):
        entry = entry.decode("utf-8", "surrogateescape")
    order, _, path = entry.partition(" ")
    return path, int(order)


def disconnects(
    entries: Mapping[str, str | bytes] | Mapping[bytes, str | bytes],
) -> list[tuple[str, dict[str, Any]]]:
    """The ``websocket.disconnect`` messages for a dead server's lease
    entries (reply channel -> entry), code 1006; malformed entries are
    logged and skipped."""
    messages = []
    for reply_channel, entry in entries.items():
        if isinstance(reply_channel, bytes):
            reply_channel = reply_channel.decode()
        try:
            path, order = decode_entry(entry)
        except ValueError:
            logger.warning("Skipped a malformed lease entry for %s: %r", reply_channel, entry)
            continue
        message = www.websocket_disconnect(
            reply_channel=reply_channel, path=path, code=ABNORMAL_CLOSURE, order=order
        )
        messages.append(("websocket.disconnect", message))
    return messages


def reap(layer: LeasingLayer, batch: int = REAP_BATCH) -> int:
    """Claim the leases that ran out and send their disconnects; blocking,
    so call it from a thread. Returns the number of disconnects sent.

    The layer hands each expired lease to exactly one caller, so many
    survivors may call this at once. A disconnect refused by the layer
    (full, unreachable) is logged and lost: the lease is already gone.
    """
    sent = 0
    while True:
        claimed = layer.lease_claim(batch)
        for owner, entries in claimed:
            sent += _send_all(layer, owner, disconnects(entries))
        if len(claimed) < batch:
            return sent


def _send_all(
    layer: LeasingLayer, owner: str, messages: Iterable[tuple[str, dict[str, Any]]]
) -> int:
    messages = list(messages)
    if not messages:
        return 0
    pending, failed = messages, []
    deadline = time.monotonic() + FULL_RETRY_SECONDS
    while pending:
        outcomes = layer.send_batch(pending)
        failed = [exc for exc in outcomes if exc is not None]
        full = [
            message
            for message, exc in zip(pending, outcomes, strict=True)
            if exc is not None and isinstance(exc, layer.ChannelFull)
        ]
        # A dead server may leave thousands of disconnects: wait for the
        # workers to make room rather than lose them (the caller is a thread).
        if not full or len(full) < len(failed) or time.monotonic() >= deadline:
            break
        pending = full
        time.sleep(FULL_RETRY_PAUSE)
    if failed:
        logger.warning(
            "Lost %d of %d disconnects of the dead server %s: %s",
            len(failed),
            len(messages),
            owner,
            failed[0],
        )
    logger.info(
        "Sent %d disconnects for the sockets of %s, whose lease ran out",
        len(messages) - len(failed),
        owner,
    )
    return len(messages) - len(failed)


class Reaper:
    """A daemon thread that calls :func:`reap` every ``interval`` seconds,
    for survivors with no timer of their own (``runworker``). A thread, so
    that retrying a full ``websocket.disconnect`` channel never holds up
    the consumers that empty it."""

    def __init__(self, layer: LeasingLayer, interval: float = REAP_INTERVAL) -> None:
        self.layer = layer
        self.interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stopped.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                reap(self.layer)
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                logger.warning("Reaping dead servers' leases failed: %s", exc)
