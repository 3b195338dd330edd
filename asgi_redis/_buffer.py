"""Messages already taken from Redis but not yet returned by ``receive``.

Two things land here: the extra copies of a group message that one process
inbox carried for several of its channels (one copy per process, expanded
here), and a message a second shard handed over while a blocking receive
was watching several shards. Only the receiving layer instance reads them,
which the spec allows for process-specific channels.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque

__all__ = ["ReceiveBuffer"]


class ReceiveBuffer:
    """Thread-safe ``queue name -> deque of (local deadline, channel, payload)``."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[tuple[float, str, bytes]]] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._queues)

    def put(self, queue: str, deadline: float, channel: str, payload: bytes) -> None:
        with self._lock:
            self._queues.setdefault(queue, deque()).append((deadline, channel, payload))

    def take(self, queues: list[str]) -> tuple[str, bytes] | None:
        """Pop one unexpired ``(channel, payload)`` from any of ``queues``."""
        if not self._queues:
            return None
        now = time.time()
        with self._lock:
            order = [q for q in queues if q in self._queues]
            random.shuffle(order)
            for queue in order:
                entries = self._queues[queue]
                while entries:
                    deadline, channel, payload = entries.popleft()
                    if deadline > now:
                        if not entries:
                            del self._queues[queue]
                        return channel, payload
                del self._queues[queue]
        return None

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
