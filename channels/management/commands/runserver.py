"""``manage.py runserver``: daphne and worker threads in one process.

See docs/topics/workers.rst, "runserver".

It replaces Django's ``runserver`` (and, through ``channels.hacks``, the
staticfiles one): daphne serves HTTP and WebSocket on the ``default``
channel layer, normally the in-memory layer, while worker threads in the
same process run the consumers. ``--noasgi`` runs Django's plain WSGI
server instead.
"""

from __future__ import annotations

import datetime
import os
import sys
import threading
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.commands.runserver import Command as RunserverCommand
from django.core.servers.basehttp import WSGIServer
from django.db import connections
from django.utils import autoreload

from asgi.heartbeat import Activity
from asgi.types import ChannelLayer
from channels._aliases import DEFAULT_CHANNEL_LAYER
from channels._heartbeat import start_worker_heartbeat
from channels.asgi import channel_layers
from channels.handler import ViewConsumer
from channels.log import setup_logger
from channels.worker import Worker

__all__ = ["Command", "WorkerThread"]


class _DaphneServer:
    """``Command.server_cls`` defaults to ``daphne.server.Server``, imported
    on first use so that loading the command does not import Twisted."""

    def __get__(self, instance: Any, owner: type) -> type:
        from daphne.server import Server

        return Server


class Command(RunserverCommand):
    protocol = "http"
    server_cls = _DaphneServer()

    #: Worker threads started beside daphne (1 with --nothreading).
    default_worker_threads = 4

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--noworker",
            action="store_false",
            dest="run_worker",
            default=True,
            help="Do not run worker threads; run 'manage.py runworker' separately.",
        )
        parser.add_argument(
            "--noasgi",
            action="store_false",
            dest="use_asgi",
            default=True,
            help="Run Django's plain WSGI development server instead of daphne.",
        )
        parser.add_argument(
            "--http_timeout",
            action="store",
            dest="http_timeout",
            type=int,
            default=60,
            help="Seconds daphne waits for a worker's HTTP response (default: %(default)s).",
        )
        parser.add_argument(
            "--websocket_handshake_timeout",
            action="store",
            dest="websocket_handshake_timeout",
            type=int,
            default=5,
            help="Seconds a WebSocket handshake may take (default: %(default)s).",
        )
        parser.add_argument(
            "--threads",
            action="store",
            dest="worker_threads",
            type=int,
            default=None,
            help="Worker threads to run (default: 4, or 1 with --nothreading).",
        )
        if self._needs_static_options():
            parser.add_argument(
                "--nostatic",
                action="store_false",
                dest="use_static_handler",
                help="Do not serve static files automatically.",
            )
            parser.add_argument(
                "--insecure",
                action="store_true",
                dest="insecure_serving",
                help="Serve static files even when DEBUG is False.",
            )

    def _needs_static_options(self) -> bool:
        # The staticfiles runserver (rebased on this class by channels.hacks)
        # adds these itself; add them when this class is used directly.
        if not apps.is_installed("django.contrib.staticfiles"):
            return False
        from django.contrib.staticfiles.management.commands import runserver

        return not isinstance(self, runserver.Command)

    def handle(self, *args: Any, **options: Any) -> None:
        self.http_timeout = options.get("http_timeout", 60)
        self.websocket_handshake_timeout = options.get("websocket_handshake_timeout", 5)
        super().handle(*args, **options)

    def inner_run(self, *args: Any, **options: Any) -> None:
        if not options.get("use_asgi", True) or DEFAULT_CHANNEL_LAYER not in channel_layers:
            # Django's inner_run uses server_cls for its WSGI server.
            self.server_cls = WSGIServer
            return super().inner_run(*args, **options)
        autoreload.raise_last_exception()
        self.logger = setup_logger("django.channels", options.get("verbosity", 1))
        if not options.get("skip_checks"):
            self.stdout.write("Performing system checks...\n\n")
            self.check(display_num_errors=True)
        self.check_migrations()
        for connection in connections.all():
            connection.close()
        channel_layer = channel_layers[DEFAULT_CHANNEL_LAYER]
        channel_layer.router.check_default(http_consumer=self.get_consumer(*args, **options))
        self.print_banner(channel_layer)
        workers = self.start_workers(channel_layer, options)
        heartbeat = None
        if workers:
            # one record for the worker threads (daphne keeps its own)
            activity = Activity()
            for thread in workers:
                thread.worker.activity = activity
            heartbeat = start_worker_heartbeat(
                channel_layer, workers[0].worker.listen_channels(), activity
            )
        from daphne.exceptions import CannotListen

        try:
            self.run_server(channel_layer, options)
        except KeyboardInterrupt:
            pass
        except CannotListen as exc:
            self.stderr.write(f"Error: {exc}")
            # Like Django's runserver: sys.exit does not work in the
            # autoreloader's thread.
            os._exit(1)
        finally:
            for worker in workers:
                worker.stop()
            if heartbeat is not None:
                heartbeat.stop()
        shutdown_message = options.get("shutdown_message", "")
        if shutdown_message:
            self.stdout.write(shutdown_message)

    def print_banner(self, channel_layer: ChannelLayer) -> None:
        addr = (
            f"[{self.addr}]" if self._raw_ipv6 else ("0.0.0.0" if self.addr == "0" else self.addr)
        )
        quit_command = "CTRL-BREAK" if sys.platform == "win32" else "CONTROL-C"
        now = datetime.datetime.now().strftime("%B %d, %Y - %X")
        self.stdout.write(
            f"{now}\n"
            f"Django version {self.get_version()}, using settings {settings.SETTINGS_MODULE!r}\n"
            f"Starting Channels development server at {self.protocol}://{addr}:{self.port}/\n"
            f"Channel layer {channel_layer}\n"
            f"Quit the server with {quit_command}.\n"
        )
        self.stdout.flush()

    def start_workers(self, channel_layer: ChannelLayer, options: dict) -> list[WorkerThread]:
        if not options.get("run_worker", True):
            return []
        count = options.get("worker_threads")
        if count is None:
            count = self.default_worker_threads if options.get("use_threading", True) else 1
        workers = [WorkerThread(channel_layer, self.logger) for _ in range(max(count, 1))]
        for worker in workers:
            worker.start()
        return workers

    def run_server(self, channel_layer: ChannelLayer, options: dict) -> None:
        from daphne.server import build_endpoint_description_strings

        endpoints = build_endpoint_description_strings(host=self.addr, port=int(self.port))
        server = self.server_cls(
            channel_layer=channel_layer.channel_layer,
            endpoints=endpoints,
            signal_handlers=not options.get("use_reloader", True),
            action_logger=self.log_action,
            http_timeout=self.http_timeout,
            ws_protocols=getattr(settings, "CHANNELS_WS_PROTOCOLS", None),
            root_path=getattr(settings, "FORCE_SCRIPT_NAME", "") or "",
            websocket_handshake_timeout=self.websocket_handshake_timeout,
            # the timed-out 503 page says why when no worker consumes http.request
            explain_errors=settings.DEBUG or options.get("verbosity", 1) >= 2,
        )
        server.run()

    def get_consumer(self, *args: Any, **options: Any) -> Any:
        """StaticFilesConsumer when staticfiles should serve, else ViewConsumer (as in 1.x)."""
        use_static = options.get("use_static_handler", True)
        insecure = options.get("insecure_serving", False)
        if (
            apps.is_installed("django.contrib.staticfiles")
            and use_static
            and (settings.DEBUG or insecure)
        ):
            from channels.staticfiles import StaticFilesConsumer

            return StaticFilesConsumer()
        return ViewConsumer()

    def log_action(self, protocol: str, action: str, details: dict) -> None:
        """One coloured line on stderr per request or WebSocket event."""
        message = _describe(protocol, action, details)
        if message is None:
            return
        status = details.get("status", 0) if protocol == "http" else 0
        sys.stderr.write(self._style_for(status)(message) + "\n")
        sys.stderr.flush()

    def _style_for(self, status: int):
        if status >= 500:
            return self.style.HTTP_SERVER_ERROR
        if status == 404:
            return self.style.HTTP_NOT_FOUND
        if status >= 400:
            return self.style.HTTP_BAD_REQUEST
        if status == 304:
            return self.style.HTTP_NOT_MODIFIED
        if status >= 300:
            return self.style.HTTP_REDIRECT
        if status >= 200:
            return self.style.HTTP_SUCCESS
        return self.style.HTTP_INFO


def _describe(protocol: str, action: str, details: dict) -> str | None:
    now = datetime.datetime.now().strftime("%d/%b/%Y %H:%M:%S")
    client = details.get("client", "")
    path = details.get("path", "")
    if protocol == "http" and action == "complete":
        return (
            f"[{now}] HTTP {details.get('method', '')} {path} {details.get('status', '')} "
            f"[{details.get('time_taken', 0):.2f}, {client}]"
        )
    labels = {
        "connecting": "HANDSHAKING",
        "connected": "CONNECT",
        "rejected": "REJECT",
        "disconnected": "DISCONNECT",
    }
    if protocol == "websocket" and action in labels:
        return f"[{now}] WebSocket {labels[action]} {path} [{client}]"
    return None


class WorkerThread(threading.Thread):
    """A daemon thread running a ``Worker`` on the in-process layer."""

    def __init__(self, channel_layer: ChannelLayer, logger: Any) -> None:
        super().__init__(name="channels-runserver-worker", daemon=True)
        self.channel_layer = channel_layer
        self.logger = logger
        self.worker = Worker(channel_layer=channel_layer, signal_handlers=False)

    def run(self) -> None:
        self.logger.debug("Worker thread running")
        self.worker.run()
        self.logger.debug("Worker thread exited")

    def stop(self) -> None:
        self.worker.stop()
