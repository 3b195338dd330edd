"""The ``daphne`` command: ``CommandLineInterface`` and its flags.

See docs/topics/daphne.rst, "Every flag".
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from asgi._json_log import formatter_for
from asgi._metrics import MetricsUnavailable

from ._fair_queue import DEFAULT_DELIVER_TIMEOUT
from ._lease import DEFAULT_LEASE_TTL
from ._protocol_cli import (
    LOG_FORMAT,
    LayerImportError,
    add_heartbeat_arguments,
    add_log_format_argument,
    check_heartbeat_arguments,
    import_channel_layer,
    number_of_seconds,
    positive_seconds,
    ttl_or_off,
)
from ._proxy import TrustedProxies
from ._sender import DEFAULT_FULL_TIMEOUT
from .access import AccessLogGenerator
from .exceptions import CannotListen, LayerUnreachable, NotAChannelLayer
from .http_protocol import DEFAULT_BODY_SEND_TIMEOUT
from .server import (
    DEFAULT_SHUTDOWN_TIMEOUT,
    Server,
    build_endpoint_description_strings,
    check_metrics,
)

__all__ = ["CommandLineInterface", "LayerImportError"]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def trusted_proxies(text: str) -> TrustedProxies:
    """An argparse type: comma-separated proxy addresses and networks, or ``*``."""
    try:
        return TrustedProxies.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def health_path(text: str) -> str:
    """An argparse type: a URL path starting with ``/``."""
    if not text.startswith("/") or "?" in text:
        raise argparse.ArgumentTypeError(
            f"expected a path starting with / and without a query, got {text!r}"
        )
    return text


def seconds(text: str) -> float:
    """An argparse type: a number of seconds, zero or more."""
    value = number_of_seconds(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {text!r}")
    return value


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return value


def import_layer(path: str) -> Any:
    """Import ``"path.to.module:instance.path"`` and return what it names.

    Any object is accepted here, as in 1.x: ``Server.run()`` checks that it
    is a channel layer (and, from the command line, that it can be reached).
    """
    return import_channel_layer(path, methods=())


class CommandLineInterface:
    """Parses the command line and runs a ``Server``."""

    description = "Django HTTP/WebSocket server"
    server_class = Server

    def __init__(self) -> None:
        self.parser = argparse.ArgumentParser(description=self.description)
        add = self.parser.add_argument
        add(
            "-p",
            "--port",
            type=int,
            help="TCP port (default 8000 when binding by host/port)",
            default=None,
        )
        add(
            "-b",
            "--bind",
            dest="host",
            help="address to listen on (default 127.0.0.1)",
            default=None,
        )
        add(
            "--websocket_timeout",
            type=int,
            default=None,
            help="close WebSockets open longer than this many seconds (-1: never; default: the layer's group_expiry)",
        )
        add(
            "--websocket_connect_timeout",
            type=int,
            default=5,
            help="seconds a WebSocket handshake waits for the application to accept (-1: forever)",
        )
        add(
            "-u",
            "--unix-socket",
            dest="unix_socket",
            default=None,
            help="listen on this UNIX socket path",
        )
        add(
            "--fd",
            type=int,
            dest="file_descriptor",
            default=None,
            help="adopt this already listening AF_INET socket descriptor",
        )
        add(
            "-e",
            "--endpoint",
            dest="socket_strings",
            action="append",
            default=[],
            help="a Twisted server endpoint string, e.g. ssl:443:privateKey=k.pem:certKey=c.pem (repeatable)",
        )
        add(
            "-v",
            "--verbosity",
            type=int,
            default=1,
            help="log level: 0 warnings, 1 info, 2 debug",
        )
        add_log_format_argument(self.parser)
        add(
            "-t",
            "--http-timeout",
            type=int,
            default=120,
            dest="http_timeout",
            help="seconds to wait for a response to start before answering 503",
        )
        add(
            "--access-log",
            default=None,
            help="access log file, or - for stdout (stdout by default when verbosity >= 1)",
        )
        add(
            "--ping-interval",
            type=int,
            default=20,
            dest="ping_interval",
            help="seconds of WebSocket silence before daphne sends a ping",
        )
        add(
            "--ping-timeout",
            type=int,
            default=30,
            dest="ping_timeout",
            help="seconds to wait for any sign of life after a ping before dropping the socket",
        )
        add(
            "--request-head-timeout",
            type=float,
            default=20.0,
            dest="request_head_timeout",
            help="seconds a client has to send a whole request head (408 after; 0: no limit)",
        )
        add(
            "--websocket-rate-limit",
            type=float,
            default=None,
            dest="websocket_rate_limit",
            help="messages per second one WebSocket may send, in bursts of twice that; "
            "past it the socket is closed with 1008 (default: no limit)",
        )
        add(
            "--websocket-queue-timeout",
            type=positive_seconds,
            default=DEFAULT_FULL_TIMEOUT,
            dest="websocket_queue_timeout",
            help="seconds a WebSocket frame may wait for room on a full websocket.receive "
            "channel before its socket is closed with 1013 (default: %(default)s)",
        )
        add(
            "--body-send-timeout",
            type=positive_seconds,
            default=DEFAULT_BODY_SEND_TIMEOUT,
            dest="body_send_timeout",
            help="seconds a request body chunk may wait for room on a full body channel "
            "before the upload is abandoned with 503 and the worker told closed "
            "(default: %(default)s)",
        )
        add(
            "--disconnect-retry-timeout",
            type=positive_seconds,
            default=DEFAULT_DELIVER_TIMEOUT,
            dest="disconnect_retry_timeout",
            help="seconds websocket.disconnect messages are held and retried while the "
            "channel layer is unreachable before they are dropped (default: %(default)s)",
        )
        add(
            "--shutdown-timeout",
            type=seconds,
            default=DEFAULT_SHUTDOWN_TIMEOUT,
            dest="shutdown_timeout",
            help="seconds that responses in flight and the disconnects of closing "
            "WebSockets get on SIGTERM/SIGINT; what is left then is cut off and "
            "counted in a WARNING (default: %(default)s)",
        )
        add(
            "--ws-protocol",
            nargs="*",
            dest="ws_protocols",
            default=None,
            help="WebSocket subprotocols daphne accepts (the first one the client lists wins)",
        )
        add(
            "--root-path",
            dest="root_path",
            default="",
            help="root_path (SCRIPT_NAME) for every message; a Daphne-Root-Path header overrides it",
        )
        add(
            "--proxy-headers",
            dest="proxy_headers",
            action="store_true",
            default=False,
            help="trust X-Forwarded-For/-Port/-Proto for the client address and scheme",
        )
        add(
            "--proxy-trusted-ips",
            dest="proxy_trusted_ips",
            type=trusted_proxies,
            default=None,
            help="with --proxy-headers: the proxies (comma-separated addresses and networks, "
            "e.g. 127.0.0.1,10.0.0.0/8) whose headers count; the client is then the "
            "rightmost X-Forwarded-For address not in the list (default: every peer, and "
            "the leftmost address, as 1.x did)",
        )
        add(
            "--no-http-disconnect-after-response",
            dest="no_http_disconnect_after_response",
            action="store_true",
            default=False,
            help="send http.disconnect only for requests that end without a complete "
            "response (client gone, response cut off), not after every response as 1.x did",
        )
        add(
            "--strict-http",
            dest="strict_http",
            action="store_true",
            default=False,
            help="refuse HTTP/1.1 requests without exactly one Host header with 400, as "
            "RFC 9112 asks (1.x accepted them, so this is off by default)",
        )
        add(
            "--lease-ttl",
            type=ttl_or_off("no lease"),
            default=DEFAULT_LEASE_TTL,
            dest="lease_ttl",
            help="seconds this server's lease of its WebSockets lasts unless renewed "
            "(renewed every third of it); when it runs out, a surviving daphne sends "
            "their websocket.disconnect (code 1006). Only with a layer offering the "
            "leases extension; 0 turns it off (default: %(default)s)",
        )
        add(
            "--health-path",
            type=health_path,
            default=None,
            dest="health_path",
            help="answer GET/HEAD on this path (e.g. /healthz) with 200 when the channel "
            "layer is reachable and a live worker consumes http.request, else 503, with a "
            "JSON body; needs a layer with the inspect extension to ever say 200",
        )
        add_heartbeat_arguments(self.parser)
        add(
            "--force-sync",
            dest="force_sync",
            action="store_true",
            default=False,
            help="read replies from a thread even if the layer offers the twisted extension",
        )
        add(
            "--metrics-port",
            type=port_number,
            default=None,
            dest="metrics_port",
            help="serve Prometheus metrics at http://BIND:PORT/metrics, on a listener of "
            "their own (0 picks a free port, logged); needs the metrics extra "
            "(pip install channels-classic[metrics]). Default: no metrics",
        )
        add(
            "--metrics-bind",
            default="127.0.0.1",
            dest="metrics_bind",
            help="address of the metrics listener (default: %(default)s)",
        )
        add(
            "--metrics-layer",
            action="store_true",
            default=False,
            dest="metrics_layer",
            help="with --metrics-port: also the channel layer's asgi_layer_* metrics (queue "
            "depths, groups, shards), read at scrape time; needs a layer with the inspect "
            "extension",
        )
        add(
            "--metrics-channel",
            action="append",
            default=[],
            dest="metrics_channels",
            help="with --metrics-layer: a channel whose depth and oldest message age are "
            "reported besides http.request and the websocket.* channels (repeatable)",
        )
        add(
            "channel_layer",
            help="the channel layer to serve, as module.path:attribute.path",
        )
        self.server: Server | None = None

    @classmethod
    def entrypoint(cls) -> None:
        """Main entrypoint for the console script."""
        cls().run(sys.argv[1:])

    def run(self, args: list[str]) -> None:
        """Parse ``args`` and serve until a shutdown signal."""
        options = self.parser.parse_args(args)
        self.check_combinations(options)
        level = {0: logging.WARNING, 1: logging.INFO}.get(options.verbosity, logging.DEBUG)
        handler = logging.StreamHandler()
        handler.setFormatter(formatter_for(options.log_format, LOG_FORMAT))
        logging.basicConfig(level=level, handlers=[handler])
        access_log_stream = None
        if options.access_log:
            if options.access_log == "-":
                access_log_stream = sys.stdout
            else:
                access_log_stream = open(options.access_log, "a", 1)
        elif options.verbosity >= 1:
            access_log_stream = sys.stdout
        try:
            channel_layer = import_layer(options.channel_layer)
        except LayerImportError as exc:
            self.parser.exit(2, f"daphne: error: {exc}\n")
        if options.metrics_port is not None:
            try:
                check_metrics(channel_layer, options.metrics_layer)
            except (MetricsUnavailable, ValueError) as exc:
                self.parser.exit(2, f"daphne: error: {exc}\n")
        endpoints = self.endpoint_strings(options)
        logger.info(
            "Starting server at %s, channel layer %s.", ", ".join(endpoints), options.channel_layer
        )
        self.server = self.server_class(
            channel_layer=channel_layer,
            endpoints=endpoints,
            signal_handlers=True,
            action_logger=AccessLogGenerator(access_log_stream) if access_log_stream else None,
            http_timeout=options.http_timeout,
            websocket_timeout=options.websocket_timeout,
            websocket_connect_timeout=options.websocket_connect_timeout,
            ping_interval=options.ping_interval,
            ping_timeout=options.ping_timeout,
            ws_protocols=options.ws_protocols,
            root_path=options.root_path,
            proxy_forwarded_address_header="X-Forwarded-For" if options.proxy_headers else None,
            proxy_forwarded_port_header="X-Forwarded-Port" if options.proxy_headers else None,
            proxy_forwarded_proto_header="X-Forwarded-Proto" if options.proxy_headers else None,
            proxy_trusted_ips=options.proxy_trusted_ips,
            force_sync=options.force_sync,
            verbosity=options.verbosity,
            request_head_timeout=options.request_head_timeout or None,
            websocket_rate_limit=options.websocket_rate_limit,
            websocket_queue_timeout=options.websocket_queue_timeout,
            body_send_timeout=options.body_send_timeout,
            disconnect_retry_timeout=options.disconnect_retry_timeout,
            shutdown_timeout=options.shutdown_timeout,
            http_disconnect_after_response=not options.no_http_disconnect_after_response,
            strict_http=options.strict_http,
            probe_layer=True,
            lease_ttl=options.lease_ttl,
            heartbeat_ttl=options.heartbeat_ttl,
            heartbeat_interval=options.heartbeat_interval,
            health_path=options.health_path,
            explain_errors=options.verbosity >= 2,
            metrics_port=options.metrics_port,
            metrics_bind=options.metrics_bind,
            metrics_layer=options.metrics_layer,
            metrics_channels=options.metrics_channels,
        )
        try:
            self.server.run()
        except NotAChannelLayer as exc:
            self.parser.exit(2, f"daphne: error: {options.channel_layer!r}: {exc}\n")
        except (CannotListen, LayerUnreachable) as exc:
            self.parser.exit(1, f"daphne: error: {exc}\n")

    def check_combinations(self, options: argparse.Namespace) -> None:
        """Refuse options that make sense only together with another (usage error, exit 2)."""
        if options.proxy_trusted_ips is not None and not options.proxy_headers:
            self.parser.error("--proxy-trusted-ips needs --proxy-headers")
        check_heartbeat_arguments(self.parser, options)
        if options.metrics_port is None and (options.metrics_layer or options.metrics_channels):
            self.parser.error("--metrics-layer and --metrics-channel need --metrics-port")
        if options.metrics_channels and not options.metrics_layer:
            self.parser.error("--metrics-channel needs --metrics-layer")

    @staticmethod
    def endpoint_strings(options: argparse.Namespace) -> list[str]:
        """The endpoints for the binding flags, with the 1.x defaults."""
        host, port = options.host, options.port
        nothing = not any(
            [
                host,
                port is not None,
                options.unix_socket,
                options.file_descriptor is not None,
                options.socket_strings,
            ]
        )
        if nothing:
            host, port = DEFAULT_HOST, DEFAULT_PORT
        elif host and port is None:
            port = DEFAULT_PORT
        elif port is not None and not host:
            host = DEFAULT_HOST
        return sorted(
            build_endpoint_description_strings(
                host=host,
                port=port,
                unix_socket=options.unix_socket,
                file_descriptor=options.file_descriptor,
            )
            + options.socket_strings
        )
