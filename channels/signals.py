"""Signals the worker sends around consumers.

See docs/reference/channels.rst, "channels.signals".

``consumer_started`` and ``consumer_finished`` bracket every consumer call
(both close stale database connections, like Django's request signals);
``worker_ready`` fires when a worker starts listening and
``worker_process_ready`` once per ``runworker`` process.
"""

from django.db import close_old_connections
from django.dispatch import Signal

__all__ = ["consumer_finished", "consumer_started", "worker_process_ready", "worker_ready"]

#: Sent with ``environ={}`` just before a consumer runs.
consumer_started = Signal()
#: Sent after a consumer returned or raised.
consumer_finished = Signal()
#: Sent by ``Worker.ready()``.
worker_ready = Signal()
#: Sent by ``runworker`` once per process, with the worker as ``sender``.
worker_process_ready = Signal()

# A worker is long-lived: without these, a database connection that died or
# outlived CONN_MAX_AGE would be reused by the next consumer.
consumer_started.connect(close_old_connections, dispatch_uid="channels.close_old_connections")
consumer_finished.connect(close_old_connections, dispatch_uid="channels.close_old_connections")
