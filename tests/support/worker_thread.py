"""A worker running in a thread of the test process, for the worker tests."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["Running"]

#: Seconds a worker thread may take to stop.
STOP_TIMEOUT = 10


class Running:
    """A worker running in a thread; ``stop()`` waits for it to end."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.thread = threading.Thread(target=worker.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(STOP_TIMEOUT)
        assert not self.thread.is_alive()
