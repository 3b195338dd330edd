"""The heartbeat of ``runworker`` and of ``runserver``'s worker threads.

On a layer that lists the ``inspect`` extension the process keeps one record
in the layer (``asgi/heartbeat.py``): the channels its workers listen to,
the messages they handled and the time of the last one, renewed from a
background thread and removed on a clean stop. On any other layer nothing
is sent (docs/operating.rst, "Heartbeats and health checks").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from asgi.heartbeat import DEFAULT_TTL, Activity, Heartbeat, has_inspect

__all__ = ["start_worker_heartbeat"]

logger = logging.getLogger("django.channels")


def start_worker_heartbeat(
    channel_layer: Any,
    channels: Iterable[str],
    activity: Activity,
    *,
    ttl: float = DEFAULT_TTL,
    interval: float | None = None,
    kind: str = "worker",
) -> Heartbeat | None:
    """Start announcing a worker process that listens to ``channels``; None
    when the layer has no ``inspect`` extension or ``ttl`` is 0."""
    if not ttl or not has_inspect(channel_layer):
        return None
    listened = sorted(set(channels))
    heartbeat = Heartbeat(
        channel_layer,
        kind,
        lambda: listened,
        activity.snapshot,
        ttl=ttl,
        interval=interval,
    )
    heartbeat.start()
    logger.debug(
        "Heartbeat %s every %g s (ttl %g s)", heartbeat.process_id, heartbeat.interval, ttl
    )
    return heartbeat
