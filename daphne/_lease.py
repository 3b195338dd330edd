"""This daphne's socket lease, and reaping the leases of daphnes that died
(the ``leases`` layer extension; docs/topics/reliability.rst).

Every ``interval`` seconds a timer on the reactor takes a snapshot of the
open WebSockets (reply channel -> path and the ``order`` a disconnect would
carry now), and a thread writes what changed since the last renewal to the
layer, pushing the lease's deadline ``ttl`` seconds ahead, then claims any
lease that ran out and sends its disconnects. Nothing happens per
connection or per frame, and the reactor never waits on the layer.

:class:`LeaseBook` is the sans-IO part (what to write); :class:`LeaseKeeper`
the timer and the thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer, task, threads

from asgi import _leases
from asgi.types import ChannelLayer

__all__ = ["DEFAULT_LEASE_TTL", "LeaseBook", "LeaseKeeper", "Renewal", "snapshot"]

logger = logging.getLogger(__name__)

#: Seconds a lease lasts unless renewed; renewed every third of it, so the
#: disconnects of a daphne that died arrive within about ttl + ttl / 3.
DEFAULT_LEASE_TTL = 15.0


def snapshot(websockets: Iterable[Any]) -> dict[str, str]:
    """The lease entries of the sockets the workers know of: those whose
    ``websocket.connect`` went out (they have a reply channel) and that
    have not reported their own disconnect yet."""
    entries = {}
    for protocol in websockets:
        state = protocol.ws_state
        if protocol.reply_channel is None or state.disconnect_reported:
            continue
        entries[protocol.reply_channel] = _leases.encode_entry(protocol.path, state.received + 1)
    return entries


@dataclass(frozen=True)
class Renewal:
    """One write to the lease: entries to set, reply channels to drop, and
    whether ``changed`` is the whole lease."""

    entries: dict[str, str]
    changed: dict[str, str]
    removed: list[str] = field(default_factory=list)
    full: bool = False


class LeaseBook:
    """What the layer holds of this daphne's lease, and so what to write next.

    After a failed write, or when the layer says the lease was gone (it ran
    out and a survivor may have reaped it), the next write is the whole lease.
    """

    def __init__(self) -> None:
        self.written: dict[str, str] = {}
        self.full_due = True
        self.renewals = 0

    def renewal(self, entries: dict[str, str]) -> Renewal:
        """The write that brings the layer's lease to ``entries``."""
        if self.full_due:
            return Renewal(entries, dict(entries), full=True)
        written = self.written
        changed = {name: entry for name, entry in entries.items() if written.get(name) != entry}
        removed = [name for name in written if name not in entries]
        return Renewal(entries, changed, removed)

    def written_ok(self, renewal: Renewal, held: bool) -> bool:
        """The layer took ``renewal``; ``held`` says whether the lease was
        still there before it. Returns True when the lease had been lost
        (it ran out, and a survivor may have reaped it)."""
        lost = not held and self.renewals > 0
        if lost:
            logger.warning(
                "This server's lease ran out before it was renewed (layer unreachable "
                "or the reactor stalled); survivors may have sent disconnects for "
                "%d sockets that are still open",
                len(self.written),
            )
        self.renewals += 1
        self.written = renewal.entries
        # A partial write onto a lost lease leaves the rest missing.
        self.full_due = not held and not renewal.full
        return lost

    def write_failed(self) -> None:
        """The write may or may not have landed: write it all next time."""
        self.full_due = True


class LeaseKeeper:
    """Renews this daphne's lease and reaps dead ones on a reactor timer."""

    def __init__(
        self,
        channel_layer: ChannelLayer,
        owner: str,
        websockets: Callable[[], Iterable[Any]],
        reactor: Any,
        ttl: float = DEFAULT_LEASE_TTL,
        interval: float | None = None,
        in_thread: Callable[..., defer.Deferred] | None = None,
        on_reaped: Callable[[list[str]], None] | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"lease ttl must be positive, got {ttl!r}")
        self.layer = channel_layer
        self.owner = owner
        self.websockets = websockets
        self.reactor = reactor
        self.ttl = ttl
        self.interval = ttl / 3 if interval is None else interval
        if not 0 < self.interval < ttl:
            raise ValueError(f"lease interval must be in (0, ttl={ttl}), got {interval!r}")
        self.book = LeaseBook()
        #: Called on the reactor with the reply channels of open sockets a
        #: survivor reported gone while this server's lease was lost.
        self.on_reaped = on_reaped
        self._in_thread = in_thread or self._default_in_thread
        self._loop = task.LoopingCall(self.tick)
        self._loop.clock = reactor
        self._busy: defer.Deferred | None = None
        self._reaping: defer.Deferred | None = None

    def _default_in_thread(self, function: Callable, *args: Any) -> defer.Deferred:
        return threads.deferToThreadPool(
            self.reactor, self.reactor.getThreadPool(), function, *args
        )

    def start(self) -> None:
        self._loop.start(self.interval, now=True)

    def tick(self) -> defer.Deferred | None:
        """Renew, and reap, unless the previous round of each is still
        running (a slow layer must not pile up threads). They run apart, so
        a reap waiting for room on a full channel never delays the renewal."""
        if self._reaping is None:
            self._reaping = self._in_thread(self._reap)
            self._reaping.addBoth(self._reaped)
        if self._busy is not None:
            return None
        renewal = self.book.renewal(snapshot(self.websockets()))
        self._busy = self._in_thread(self._renew, renewal)
        self._busy.addCallbacks(self._renewed, self._failed, callbackArgs=(renewal,))
        return self._busy

    def _renew(self, renewal: Renewal) -> bool:
        """In a thread: one script call."""
        return self.layer.lease_renew(
            self.owner, self.ttl, renewal.changed, renewal.removed, full=renewal.full
        )

    def _reap(self) -> None:
        """In a thread: one script call per shard, then the disconnects."""
        try:
            _leases.reap(self.layer)
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            logger.warning("Reaping dead servers' leases failed: %s", exc)

    def _reaped(self, result: Any) -> Any:
        self._reaping = None
        return result

    def _renewed(self, held: bool, renewal: Renewal) -> None:
        self._busy = None
        if self.book.written_ok(renewal, held):
            self._find_reaped()

    def _find_reaped(self) -> None:
        """The lease was lost: ask the layer which sockets a survivor
        claimed (layers without ``lease_reaped`` cannot tell)."""
        lease_reaped = getattr(self.layer, "lease_reaped", None)
        if lease_reaped is None or self.on_reaped is None:
            return
        finding = self._in_thread(lease_reaped, self.owner)
        finding.addCallbacks(self._reaped_found, self._reaped_not_found)

    def _reaped_found(self, reply_channels: list[str]) -> None:
        if reply_channels and self.on_reaped is not None:
            self.on_reaped(reply_channels)

    def _reaped_not_found(self, failure: Any) -> None:
        logger.warning(
            "Could not learn which sockets survivors reported gone: %s",
            failure.getErrorMessage(),
        )

    def _failed(self, failure: Any) -> None:
        self._busy = None
        self.book.write_failed()
        logger.warning("Renewing this server's lease failed: %s", failure.getErrorMessage())

    async def stop(self) -> None:
        """Stop renewing and drop the lease (call once every socket's own
        disconnect went out, or survivors would send a second one)."""
        if self._loop.running:
            self._loop.stop()
        for running in (self._busy, self._reaping):
            if running is not None:
                await running
        try:
            await self._in_thread(self.layer.lease_release, self.owner)
        except Exception as exc:  # noqa: BLE001 - it runs out by itself
            logger.warning("Dropping this server's lease failed: %s", exc)
