"""A stand-alone worker process: ``EchoApp`` threads on the Redis layer until SIGTERM.

``python -m tests.daphne.worker_process [THREADS]`` with the environment of
``tests.daphne.redis_layer``.
"""

from __future__ import annotations

import signal
import sys
import threading

from tests.daphne.apps import EchoApp
from tests.daphne.redis_layer import channel_layer


def main(threads: int) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *args: stop.set())
    app = EchoApp(channel_layer)
    workers = [
        threading.Thread(target=app.serve, args=(stop,), daemon=True) for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    print("worker ready", flush=True)
    stop.wait()
    print("worker stopping", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
