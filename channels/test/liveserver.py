"""``ChannelLiveServerTestCase``: a real daphne and real workers for a test class.

Like Django's ``LiveServerTestCase``, but the server is the whole Channels
stack: a daphne process and ``worker_processes`` worker processes, on the
layer's ``TEST_CONFIG`` (a cross-process layer such as Redis) and on the test
database, started once per test class. Use it with selenium or any HTTP and
WebSocket client.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test.testcases import TransactionTestCase

from .._aliases import DEFAULT_CHANNEL_LAYER
from ..asgi import InvalidChannelLayerError, channel_layers
from ._liveserver_child import ENVIRONMENT_KEY

__all__ = ["ChannelLiveServerTestCase", "DaphneProcess", "ProcessSetup", "WorkerProcess"]


class ProcessSetup:
    """One child process of the live server, with its log in a temporary file."""

    role = ""
    start_timeout = 30.0

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.log = tempfile.NamedTemporaryFile(prefix=f"liveserver-{self.role}-", suffix=".log")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        environment = dict(os.environ)
        environment[ENVIRONMENT_KEY] = json.dumps(self.spec)
        environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "channels.test._liveserver_child", self.role],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.wait_until_ready()

    def wait_until_ready(self) -> None:
        raise NotImplementedError

    def failed(self, why: str) -> RuntimeError:
        self.stop()
        self.log.seek(0)
        tail = self.log.read().decode(errors="replace")[-3000:]
        return RuntimeError(f"The live server's {self.role} process {why}. Its log:\n{tail}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout:
            self.process.stdout.close()
        self.process = None


class WorkerProcess(ProcessSetup):
    """A worker process; ready once it says it listens."""

    role = "worker"

    def wait_until_ready(self) -> None:
        ready = threading.Event()

        def watch(stream: Any) -> None:
            for line in stream:
                if "WORKER READY" in line:
                    ready.set()

        threading.Thread(target=watch, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + self.start_timeout
        while not ready.wait(0.05):
            if self.process.poll() is not None:
                raise self.failed(f"exited with code {self.process.returncode} at start")
            if time.monotonic() > deadline:
                raise self.failed(f"did not start within {self.start_timeout}s")


class DaphneProcess(ProcessSetup):
    """A daphne process; ready once its port accepts connections."""

    role = "daphne"

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        address = (self.spec["interface"], self.spec["port"])
        while True:
            if self.process.poll() is not None:
                raise self.failed(f"exited with code {self.process.returncode} at start")
            try:
                socket.create_connection(address, timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise self.failed(f"did not listen within {self.start_timeout}s") from None
                time.sleep(0.05)


def _free_port(interface: str) -> int:
    with socket.socket() as sock:
        sock.bind((interface, 0))
        return sock.getsockname()[1]


class ChannelLiveServerTestCase(TransactionTestCase):
    """Runs daphne and workers as real processes for the tests of a class.

    The processes use ``CHANNEL_LAYERS[alias]["TEST_CONFIG"]`` (which must
    name a cross-process layer), the ``ROUTING`` given as a dotted path, and
    the test database, which therefore cannot be SQLite in memory. The layer
    is flushed before each test. Settings changed with ``override_settings``
    inside the test process do not reach the servers, except
    ``CHANNEL_LAYERS`` and ``ROOT_URLCONF``; put others in ``server_settings``.
    """

    host = "localhost"
    ProtocolServerProcess = DaphneProcess
    WorkerProcess = WorkerProcess
    worker_threads = 1
    worker_processes = 1
    serve_static = True
    channel_layer_alias = DEFAULT_CHANNEL_LAYER
    #: Extra settings for the server processes (JSON-serializable values).
    server_settings: dict = {}

    @classmethod
    def _interface(cls) -> str:
        return "127.0.0.1" if cls.host == "localhost" else cls.host

    @property
    def live_server_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def live_server_ws_url(self) -> str:
        return f"ws://{self.host}:{self._port}"

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        try:
            cls._start_servers()
        except BaseException:
            cls._stop_servers()
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        cls._stop_servers()
        super().tearDownClass()

    def run(self, result: Any = None) -> Any:
        # Each test starts with an empty layer (``run`` rather than
        # ``_pre_setup``, which Django 5.1+ may run once per class).
        layer = getattr(type(self), "_test_layer", None)
        if layer is not None and "flush" in getattr(layer, "extensions", ()):
            layer.flush()
        return super().run(result)

    @classmethod
    def _spec(cls) -> dict:
        alias = cls.channel_layer_alias
        configs = channel_layers.configs
        if len(configs) > 1:
            raise ImproperlyConfigured(
                "ChannelLiveServerTestCase needs exactly one CHANNEL_LAYERS alias, "
                f"found {sorted(configs)}"
            )
        try:
            test_layer = channel_layers.make_test_backend(alias)
        except InvalidChannelLayerError as exc:
            raise ImproperlyConfigured(str(exc)) from exc
        if test_layer.local_only():
            raise ImproperlyConfigured(
                f"TEST_CONFIG of {alias!r} builds {test_layer}, which lives in one process; "
                "the live server's processes need a cross-process layer such as Redis"
            )
        entry = configs[alias]
        if not isinstance(entry["ROUTING"], str):
            raise ImproperlyConfigured(
                "ChannelLiveServerTestCase needs ROUTING as a dotted path, so the server "
                f"processes can import it; got {entry['ROUTING']!r}"
            )
        databases = {}
        for db_alias in connections:
            connection = connections[db_alias]
            if connection.vendor == "sqlite" and connection.is_in_memory_db():
                raise ImproperlyConfigured(
                    "ChannelLiveServerTestCase cannot use an in-memory SQLite database: "
                    f"set DATABASES[{db_alias!r}]['TEST']['NAME'] to a file name"
                )
            databases[db_alias] = connection.settings_dict["NAME"]
        cls._test_layer = test_layer
        cls._port = _free_port(cls._interface())
        layer_entry = {
            "BACKEND": entry["BACKEND"],
            "CONFIG": entry["TEST_CONFIG"],
            "TEST_CONFIG": entry["TEST_CONFIG"],
            "ROUTING": entry["ROUTING"],
        }
        try:
            json.dumps(layer_entry)
        except TypeError as exc:
            raise ImproperlyConfigured(
                f"TEST_CONFIG of {alias!r} must be JSON-serializable to reach the server "
                f"processes: {exc}"
            ) from exc
        return {
            "settings": os.environ.get("DJANGO_SETTINGS_MODULE", settings.SETTINGS_MODULE),
            "alias": alias,
            "layer": layer_entry,
            "databases": databases,
            "interface": cls._interface(),
            "port": cls._port,
            "threads": cls.worker_threads,
            "serve_static": cls.serve_static,
            "overrides": {"ROOT_URLCONF": settings.ROOT_URLCONF, **cls.server_settings},
        }

    @classmethod
    def _start_servers(cls) -> None:
        cls._processes: list[ProcessSetup] = []
        spec = cls._spec()
        # Connections opened in this process must not hold locks the
        # children need (SQLite) while they start.
        connections.close_all()
        for _ in range(cls.worker_processes):
            worker = cls.WorkerProcess(spec)
            cls._processes.append(worker)
            worker.start()
        daphne = cls.ProtocolServerProcess(spec)
        cls._processes.append(daphne)
        daphne.start()

    @classmethod
    def _stop_servers(cls) -> None:
        for process in reversed(getattr(cls, "_processes", [])):
            process.stop()
        cls._processes = []
