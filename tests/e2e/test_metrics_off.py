"""Metrics cost nothing unless enabled: nothing imports ``prometheus_client``.

A fresh interpreter imports every module on daphne's and the worker's paths,
builds a daphne ``Server`` (without ``metrics_port``) and a ``runworker``
command's ``Worker``, and reports whether ``prometheus_client`` got imported.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import django
django.setup()
import asgi_redis, daphne.cli, daphne.server, daphne.http_protocol, daphne.ws_protocol
import channels.worker, channels.handler, channels.management.commands.runworker
from asgi.inmemory import ChannelLayer
from daphne.server import Server
from channels.worker import Worker
from channels.asgi import ChannelLayerWrapper
from twisted.internet.testing import MemoryReactorClock
server = Server(ChannelLayer(), endpoints=["tcp:port=0"], reactor=MemoryReactorClock())
worker = Worker(ChannelLayerWrapper(ChannelLayer(), "default", []), signal_handlers=False)
print(json.dumps({
    "imported": sorted(m for m in sys.modules if m.startswith("prometheus_client")),
    "server_metrics": server.metrics,
    "worker_metrics": worker.metrics,
}))
"""


def test_without_metrics_prometheus_client_is_never_imported_and_no_counter_exists():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"imported": [], "server_metrics": None, "worker_metrics": None}
