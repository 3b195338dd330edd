"""``manage.py runworker``: run consumers from a cross-process layer.

See docs/topics/workers.rst, "runworker".
"""

from __future__ import annotations

import fnmatch
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management import BaseCommand, CommandError

from asgi import _leases
from asgi._json_log import LOG_FORMATS
from asgi._layer_metrics import has_inspect
from asgi.heartbeat import DEFAULT_TTL
from channels._aliases import DEFAULT_CHANNEL_LAYER
from channels._heartbeat import start_worker_heartbeat
from channels.asgi import InvalidChannelLayerError, channel_layers
from channels.handler import ViewConsumer
from channels.log import setup_logger
from channels.signals import worker_process_ready
from channels.worker import StopWorkerGroupLoop, Worker, WorkerGroup

__all__ = ["Command"]


class Command(BaseCommand):
    help = (
        "Runs a Channels worker: consumes messages from a channel layer and runs their consumers."
    )
    leave_locale_alone = True

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--layer",
            action="store",
            dest="layer",
            default=DEFAULT_CHANNEL_LAYER,
            help="Channel layer alias to use (default: %(default)s).",
        )
        parser.add_argument(
            "--only-channels",
            action="append",
            dest="only_channels",
            help="Listen only on channels matching this glob (repeatable).",
        )
        parser.add_argument(
            "--exclude-channels",
            action="append",
            dest="exclude_channels",
            help="Do not listen on channels matching this glob (repeatable).",
        )
        parser.add_argument(
            "--threads",
            action="store",
            dest="threads",
            default=1,
            type=int,
            help="Number of worker threads in this process (default: %(default)s).",
        )
        parser.add_argument(
            "--heartbeat-ttl",
            action="store",
            dest="heartbeat_ttl",
            default=DEFAULT_TTL,
            type=float,
            help="Seconds this worker's heartbeat record lives unless renewed, on a layer with "
            "the inspect extension; 0 turns it off (default: %(default)s).",
        )
        parser.add_argument(
            "--heartbeat-interval",
            action="store",
            dest="heartbeat_interval",
            default=None,
            type=float,
            help="Seconds between heartbeat renewals (default: a third of the ttl).",
        )
        parser.add_argument(
            "--log-format",
            choices=LOG_FORMATS,
            default=LOG_FORMATS[0],
            dest="log_format",
            help="Text lines, or one JSON object per line (default: %(default)s).",
        )
        parser.add_argument(
            "--metrics-port",
            action="store",
            dest="metrics_port",
            default=None,
            type=int,
            help="Serve Prometheus metrics at http://BIND:PORT/metrics (0 picks a free port, "
            "logged); with a layer offering the inspect extension the layer's metrics too. "
            "Needs the metrics extra (pip install channels-classic[metrics]).",
        )
        parser.add_argument(
            "--metrics-bind",
            action="store",
            dest="metrics_bind",
            default="127.0.0.1",
            help="Address of the metrics server (default: %(default)s).",
        )
        parser.add_argument(
            "--metrics-channel",
            action="append",
            dest="metrics_channels",
            default=[],
            help="With --metrics-port: a channel whose depth and oldest message age are "
            "reported besides http.request and the websocket.* channels (repeatable).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options.get("verbosity", 1)
        self.logger = setup_logger(
            "django.channels", self.verbosity, options.get("log_format") or "text"
        )
        threads = options["threads"]
        if threads < 1:
            raise CommandError(f"--threads must be at least 1, got {threads}")
        ttl, interval = options.get("heartbeat_ttl", DEFAULT_TTL), options.get("heartbeat_interval")
        if ttl < 0 or (interval is not None and not 0 < interval < (ttl or float("inf"))):
            raise CommandError(
                f"--heartbeat-ttl must be 0 (off) or positive and --heartbeat-interval above 0 "
                f"and below it, got ttl {ttl:g} and interval {interval}"
            )
        self.channel_layer = self._layer(options["layer"])
        self._probe(options["layer"])
        self.channel_layer.router.check_default(http_consumer=self.get_consumer())
        worker_kwargs = {
            "channel_layer": self.channel_layer,
            "callback": self.consumer_called if self.verbosity > 1 else None,
            "only_channels": options.get("only_channels"),
            "exclude_channels": options.get("exclude_channels"),
        }
        if threads > 1:
            worker = WorkerGroup(n_threads=threads, **worker_kwargs)
        else:
            worker = Worker(**worker_kwargs)
        channels = self.check_channels(worker, options.get("only_channels") or [])
        self.logger.info("Running worker against channel layer %s", self.channel_layer)
        self.logger.info(
            "Listening on channels %s%s",
            ", ".join(channels),
            f" with {threads} threads" if threads > 1 else "",
        )
        exporter = self._start_metrics(worker, options)
        worker_process_ready.send(sender=worker)
        worker.ready()
        reaper = self._start_reaper()
        heartbeat = start_worker_heartbeat(
            self.channel_layer, channels, worker.activity, ttl=ttl, interval=interval
        )
        try:
            worker.run()
        except StopWorkerGroupLoop:
            # A second signal while threads were finishing their messages.
            raise CommandError("Worker stopped before every thread finished its message") from None
        finally:
            if reaper is not None:
                reaper.stop(timeout=1)
            if heartbeat is not None:
                heartbeat.stop()
            if exporter is not None:
                exporter.stop()
        self.logger.info("Worker stopped")

    def _start_metrics(self, worker: Worker, options: dict[str, Any]) -> Any:
        """With ``--metrics-port``, count for every worker thread and serve the
        metrics (and the layer's, when it offers the ``inspect`` extension)."""
        port = options.get("metrics_port")
        if port is None:
            if options.get("metrics_channels"):
                raise CommandError("--metrics-channel needs --metrics-port")
            return None
        if not 0 <= port <= 65535:
            raise CommandError(f"--metrics-port must be a port number from 0 to 65535, got {port}")
        try:
            from asgi._metrics import import_prometheus
            from channels._metrics_exporter import start_exporter

            import_prometheus()
        except ImportError as exc:
            raise CommandError(str(exc)) from exc
        layer = self.channel_layer.channel_layer
        if not has_inspect(layer):
            self.logger.info(
                "The channel layer has no 'inspect' extension: no asgi_layer_* metrics"
            )
        workers = [worker, *getattr(worker, "workers", [])]
        try:
            return start_exporter(
                workers,
                options.get("metrics_bind") or "127.0.0.1",
                port,
                layer=layer,
                layer_channels=options.get("metrics_channels") or [],
            )
        except OSError as exc:
            raise CommandError(f"Cannot serve metrics on port {port}: {exc}") from exc

    def _start_reaper(self) -> Any:
        """On a layer with the ``leases`` extension, send the disconnects of
        interface servers that died (a thread; see the reliability topic)."""
        if not _leases.has_leases(self.channel_layer):
            return None
        reaper = _leases.Reaper(self.channel_layer.channel_layer)
        reaper.start()
        self.logger.debug("Reaping dead interface servers' leases every %g s", reaper.interval)
        return reaper

    def _probe(self, alias: str) -> None:
        """Fail at start, in one line, when the layer's server is unreachable or refuses us.

        A non-blocking receive on a channel nobody uses touches the server
        without taking a message. Once running, the worker rides out outages.
        """
        try:
            self.channel_layer.receive(["runworker.startup-probe"], block=False)
        except Exception as exc:
            raise CommandError(f"Cannot reach channel layer {alias!r}: {exc}") from exc

    def _layer(self, alias: str) -> Any:
        try:
            layer = channel_layers[alias]
        except InvalidChannelLayerError as exc:
            raise CommandError(str(exc)) from exc
        if layer.local_only():
            raise CommandError(
                f"Channel layer {layer} only works inside one process, so a separate worker "
                "cannot reach it. Use a cross-process layer such as asgi_redis.RedisChannelLayer "
                "in CHANNEL_LAYERS, or use 'manage.py runserver', which runs workers in-process."
            )
        return layer

    def get_consumer(self) -> Any:
        """StaticFilesConsumer under DEBUG with staticfiles, else ViewConsumer (Django views)."""
        if settings.DEBUG and apps.is_installed("django.contrib.staticfiles"):
            from channels.staticfiles import StaticFilesConsumer

            return StaticFilesConsumer()
        return ViewConsumer()

    def check_channels(self, worker: Worker, only_patterns: list[str]) -> list[str]:
        """The channels to listen on; warns about filters that route nothing."""
        routed = sorted(self.channel_layer.router.channels)
        for pattern in only_patterns:
            if not any(fnmatch.fnmatchcase(name, pattern) for name in routed):
                self.logger.warning(
                    "--only-channels %s matches no routed channel; routed channels: %s",
                    pattern,
                    ", ".join(routed),
                )
        channels = worker.listen_channels()
        if not channels:
            raise CommandError(
                "No channels to listen on: the routing and channel filters leave none "
                f"(routed channels: {', '.join(routed) or 'none'})"
            )
        return channels

    def consumer_called(self, channel: str, message: Any) -> None:
        self.logger.debug("%s", channel)
