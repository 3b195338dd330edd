"""The daphne process: listeners, the inbox reader, graceful shutdown.

See docs/topics/daphne.rst, "Signals and shutdown".

``Server.run()`` blocks in the reactor like 1.x. For code that embeds daphne
(``runserver``, live-server tests) ``Server.start()`` / ``Server.stop()`` do
the same from inside an already running reactor, for example one running
in a background thread (see the daphne topic page).
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import warnings
from typing import Any

from twisted.internet import defer, endpoints, task
from twisted.web import http

from asgi import _leases
from asgi._layer_metrics import has_inspect
from asgi._metrics import import_prometheus
from asgi.heartbeat import DEFAULT_TTL as DEFAULT_HEARTBEAT_TTL
from asgi.types import ChannelLayer

from ._beat import ServerBeat, start_server_beat
from ._inbox import InboxReader
from ._lease import DEFAULT_LEASE_TTL, LeaseKeeper
from ._offload import OffReactorSend
from ._reactor import install_if_unset
from .exceptions import CannotListen, LayerUnreachable, NotAChannelLayer
from .http_protocol import HTTPFactory, make_process_channel

__all__ = ["Server", "build_endpoint_description_strings"]

logger = logging.getLogger(__name__)

#: Seconds that in-flight HTTP responses, closing WebSockets and the sends of
#: their disconnects get on shutdown.
DEFAULT_SHUTDOWN_TIMEOUT = 10.0
#: Seconds the disconnects always get, even when responses used the whole
#: shutdown timeout (what 1.x-era daphne gave them; never more than the timeout).
MIN_DRAIN = 2.0

#: What daphne calls on its channel layer.
LAYER_METHODS = ("send", "receive", "new_channel")
#: A channel nobody uses: a non-blocking receive on it touches the layer's
#: server without taking anyone's message.
PROBE_CHANNEL = "daphne.startup-probe"


def check_layer(channel_layer: Any) -> None:
    """Raise ``NotAChannelLayer`` unless ``channel_layer`` has the methods daphne calls."""
    missing = [name for name in LAYER_METHODS if not callable(getattr(channel_layer, name, None))]
    if missing:
        raise NotAChannelLayer(
            f"{channel_layer!r} is not a channel layer: it lacks "
            f"{', '.join(name + '()' for name in missing)} (an ASGI 1 layer has "
            f"{', '.join(name + '()' for name in LAYER_METHODS)})"
        )


def probe_layer(channel_layer: Any) -> None:
    """Raise ``LayerUnreachable`` naming the cause (host, refused password)
    when a non-blocking receive on the layer fails; once running, daphne
    instead rides out outages (503 / close 1013)."""
    try:
        channel_layer.receive([PROBE_CHANNEL], block=False)
    except Exception as exc:
        raise LayerUnreachable(f"Cannot reach the channel layer: {exc}") from exc


def check_metrics(channel_layer: Any, layer_metrics: bool) -> None:
    """Raise ``MetricsUnavailable`` (an ImportError naming the extra to
    install) without ``prometheus_client``, and ``ValueError`` for
    ``layer_metrics`` on a layer without the ``inspect`` extension."""
    import_prometheus()
    if layer_metrics and not has_inspect(channel_layer):
        raise ValueError(
            "layer metrics (--metrics-layer) need a channel layer with the 'inspect' "
            f"extension; {channel_layer!r} does not list it"
        )


_twisted_logs_routed = False


def route_twisted_logs(verbosity: int) -> None:
    """Send Twisted's own log to stdlib logging once per process (logger
    ``twisted``: warnings and up, everything at verbosity 2)."""
    global _twisted_logs_routed
    logging.getLogger("twisted").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    if _twisted_logs_routed:
        return
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    globalLogBeginner.beginLoggingTo([STDLibLogObserver(name="twisted")], redirectStandardIO=False)
    _twisted_logs_routed = True


def build_endpoint_description_strings(
    host: str | None = None,
    port: int | None = None,
    unix_socket: str | None = None,
    file_descriptor: int | None = None,
) -> list[str]:
    """Twisted endpoint strings for the classic binding options.

    ``host`` and ``port`` go together (``tcp:port=8000:interface=127.0.0.1``;
    IPv6 brackets stripped, colons escaped); either alone is a ValueError.
    """
    strings = []
    if host and port is not None:
        host = host.strip("[]").replace(":", r"\:")
        strings.append(f"tcp:port={int(port)}:interface={host}")
    elif host or port is not None:
        raise ValueError(f"TCP binding needs both host and port; got host={host!r}, port={port!r}")
    if unix_socket:
        strings.append(f"unix:{unix_socket}")
    if file_descriptor is not None:
        strings.append(f"fd:fileno={int(file_descriptor)}")
    return strings


def cut_off_message(timeout: float, paths: list[str], sockets: int) -> str:
    """The one WARNING of a shutdown that reached its timeout: how many HTTP
    responses are cut off (and the first few paths) and WebSockets aborted."""
    shown = ", ".join(paths[:5]) + (", ..." if len(paths) > 5 else "")
    return (
        f"Shutdown timeout ({timeout:g}s) reached: cutting off {len(paths)} unfinished "
        f"HTTP response(s){f' ({shown})' if paths else ''} and aborting {sockets} "
        "WebSocket(s) still closing"
    )


class Server:
    """An interface server bound to one channel layer."""

    def __init__(
        self,
        channel_layer: ChannelLayer,
        host: str | None = None,
        port: int | None = None,
        endpoints: list[str] | None = None,
        unix_socket: str | None = None,
        file_descriptor: int | None = None,
        signal_handlers: bool = True,
        action_logger: Any = None,
        http_timeout: float = 120,
        websocket_timeout: float | None = None,
        websocket_connect_timeout: float = 20,
        ping_interval: float = 20,
        ping_timeout: float = 30,
        ws_protocols: list[str] | None = None,
        root_path: str = "",
        proxy_forwarded_address_header: str | None = None,
        proxy_forwarded_port_header: str | None = None,
        proxy_forwarded_proto_header: str | None = None,
        force_sync: bool = False,
        verbosity: int = 1,
        websocket_handshake_timeout: float = 5,
        *,
        reactor: Any = None,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        probe_layer: bool = False,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        lease_interval: float | None = None,
        heartbeat_ttl: float = DEFAULT_HEARTBEAT_TTL,
        heartbeat_interval: float | None = None,
        heartbeat_kind: str = "daphne",
        metrics_port: int | None = None,
        metrics_bind: str = "127.0.0.1",
        metrics_layer: bool = False,
        metrics_channels: list[str] | None = None,
        **factory_options: Any,
    ) -> None:
        self.channel_layer = channel_layer
        self.endpoints = sorted(endpoints or [])
        if any(value is not None for value in (host, port, unix_socket, file_descriptor)):
            warnings.warn(
                "host, port, unix_socket and file_descriptor are deprecated; pass endpoints "
                "(see daphne.server.build_endpoint_description_strings)",
                DeprecationWarning,
                stacklevel=2,
            )
            self.endpoints = sorted(
                self.endpoints
                + build_endpoint_description_strings(host, port, unix_socket, file_descriptor)
            )
        if not self.endpoints:
            raise UserWarning("No endpoints. This server will not listen on anything.")
        # The layer is not checked here: as in 1.x any object is accepted
        # until the server starts (tests build servers around placeholders).
        self.signal_handlers = signal_handlers
        self.action_logger = action_logger
        self.http_timeout = http_timeout
        if websocket_timeout is None:
            websocket_timeout = getattr(channel_layer, "group_expiry", 86400)
        self.websocket_timeout = websocket_timeout
        self.websocket_connect_timeout = websocket_connect_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.ws_protocols = ws_protocols
        self.root_path = root_path
        self.proxy_forwarded_address_header = proxy_forwarded_address_header
        self.proxy_forwarded_port_header = proxy_forwarded_port_header
        self.proxy_forwarded_proto_header = proxy_forwarded_proto_header
        self.force_sync = force_sync
        self.verbosity = verbosity
        self.websocket_handshake_timeout = websocket_handshake_timeout
        self.shutdown_timeout = shutdown_timeout
        #: ``run()`` first makes one non-blocking receive, to fail fast on an
        #: unreachable layer (the ``daphne`` command turns this on).
        self.probe_layer = probe_layer
        #: Seconds this server's socket lease lasts unless renewed (0: keep
        #: no lease), and how often it is renewed (default a third of it);
        #: used only with a layer that lists the ``leases`` extension.
        self.lease_ttl = lease_ttl
        self.lease_interval = lease_interval
        self.lease: LeaseKeeper | None = None
        #: Seconds this server's heartbeat record lives unless renewed (0: no
        #: heartbeat), how often it is renewed (default a third of it) and the
        #: record's ``kind``; used only with a layer that lists ``inspect``.
        self.heartbeat_ttl = heartbeat_ttl
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_kind = heartbeat_kind
        self.beat: ServerBeat | None = None
        #: Prometheus metrics on their own listener (``bind:port``; port 0
        #: picks a free one), with the layer's ``asgi_layer_*`` when
        #: ``metrics_layer`` (a layer with the ``inspect`` extension) for the
        #: standard channels and ``metrics_channels``. None: no metrics, and
        #: ``prometheus_client`` is never imported.
        self.metrics_port = metrics_port
        self.metrics_bind = metrics_bind
        self.metrics_layer = metrics_layer
        self.metrics_channels = list(metrics_channels or [])
        self.metrics: Any = None
        #: ``(host, port)`` the metrics listener bound, once it listens.
        self.metrics_address: tuple[str, int] | None = None
        self.factory_options = factory_options
        if reactor is None:
            install_if_unset()
            from twisted.internet import reactor
        self.reactor = reactor
        self.factory: HTTPFactory | None = None
        self.send_channel: str | None = None
        self.listeners: list[Any] = []
        self.reader: InboxReader | None = None
        self._stopping: defer.Deferred | None = None
        self._start_error: str | None = None

    # -- running -----------------------------------------------------------------

    def run(self) -> None:
        """Listen, serve until SIGTERM/SIGINT (or ``stop()``), then return.

        Raises ``NotAChannelLayer`` for an object that is not a channel layer,
        ``LayerUnreachable`` if ``probe_layer`` is on and the layer's server
        cannot be reached, and ``CannotListen`` if an endpoint cannot listen.
        """
        check_layer(self.channel_layer)
        self.check_metrics()
        if self.probe_layer:
            probe_layer(self.channel_layer)
        if self.signal_handlers and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self._on_signal)
        route_twisted_logs(self.verbosity)
        self._start_error = None
        self.reactor.callWhenRunning(self._start_for_run)
        self.reactor.run(installSignalHandlers=False)
        if self._start_error is not None:
            raise CannotListen(self._start_error)

    def check_metrics(self) -> None:
        """With metrics on, raise what ``check_metrics`` (the function) raises."""
        if self.metrics_port is not None:
            check_metrics(self.channel_layer, self.metrics_layer)

    def _start_metrics(self) -> defer.Deferred | None:
        if self.metrics_port is None:
            return None
        from ._metrics_server import MetricsService

        self.metrics = MetricsService(
            self.factory,
            self.reactor,
            layer=self.channel_layer if self.metrics_layer else None,
            layer_channels=self.metrics_channels,
        )
        listening = defer.ensureDeferred(self.metrics.listen(self.metrics_bind, self.metrics_port))

        def bound(address: tuple[str, int]) -> tuple[str, int]:
            self.metrics_address = address
            return address

        return listening.addCallback(bound)

    def _start_for_run(self) -> None:
        d = self.start()

        def failed(failure: Any) -> None:
            self._start_error = f"Could not listen: {failure.getErrorMessage()}"
            logger.error(self._start_error)
            d2 = self.stop(timeout=0)
            d2.addBoth(lambda _: self.reactor.stop())

        d.addErrback(failed)

    def _on_signal(self, signum: int, frame: Any) -> None:
        logger.info("Received %s; shutting down gracefully", signal.Signals(signum).name)
        self.reactor.callFromThread(self._stop_and_exit)

    def _stop_and_exit(self) -> None:
        d = self.stop()
        d.addBoth(lambda _: self.reactor.stop() if self.reactor.running else None)

    def start(self) -> defer.Deferred:
        """Start serving inside the running reactor (call it in the reactor thread).

        Returns a Deferred firing with ``listening_ports`` once every
        endpoint listens; it fails if any endpoint cannot listen. Raises
        ``NotAChannelLayer`` at once for an object that is not a channel layer.
        """
        check_layer(self.channel_layer)
        self.send_channel = make_process_channel()
        self.factory = HTTPFactory(
            self.channel_layer,
            self.action_logger,
            self.send_channel,
            timeout=self.http_timeout,
            websocket_timeout=self.websocket_timeout,
            websocket_connect_timeout=self.websocket_connect_timeout,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            ws_protocols=self.ws_protocols,
            root_path=self.root_path,
            proxy_forwarded_address_header=self.proxy_forwarded_address_header,
            proxy_forwarded_port_header=self.proxy_forwarded_port_header,
            proxy_forwarded_proto_header=self.proxy_forwarded_proto_header,
            websocket_handshake_timeout=self.websocket_handshake_timeout,
            reactor=self.reactor,
            **self.factory_options,
        )
        if http.H2_ENABLED:
            logger.info("HTTP/2 support enabled (over TLS endpoints)")
        else:
            logger.info("HTTP/2 support not enabled (install the http2 and tls Twisted extras)")
        self.reader = InboxReader(
            self.channel_layer,
            self.send_channel,
            self.factory.dispatch_reply,
            self.reactor,
            force_sync=self.force_sync,
            outage=self.factory.layer_outage,
        )
        logger.debug("Reading the inbox %s in %s mode", self.send_channel, self.reader.mode)
        if self.reader.mode == "twisted":
            # A layer that talks to a broker: the reactor never waits on its
            # sends. With send_batch_twisted they are written by the reactor
            # itself; otherwise a thread makes them.
            on_reactor = callable(getattr(self.channel_layer, "send_batch_twisted", None))
            self.factory.sender = self.factory.make_sender(
                threaded=not on_reactor, on_reactor=on_reactor
            )
            self.factory.connect_sender = self.factory.make_sender(
                threaded=not on_reactor, on_reactor=on_reactor
            )
            logger.debug(
                "Sending to the layer %s", "from the reactor" if on_reactor else "from a thread"
            )
            self.factory.offload = OffReactorSend(self.channel_layer, self.reactor)
        self.reader.start()
        self._start_lease()
        self.beat = start_server_beat(
            self.factory,
            self.reactor,
            kind=self.heartbeat_kind,
            ttl=self.heartbeat_ttl,
            interval=self.heartbeat_interval,
        )
        listening = []
        for description in self.endpoints:
            logger.info("Starting server at %s", description)
            d = self._endpoint(description).listen(self.factory)
            d.addCallback(self._listening, description)
            d.addErrback(self.on_listener_error, description)
            listening.append(d)
        metrics = self._start_metrics()
        if metrics is not None:
            listening.append(metrics.addErrback(self.on_listener_error, "the metrics port"))
        done = defer.gatherResults(listening, consumeErrors=True)
        done.addCallback(lambda _: self.listening_ports)
        done.addErrback(lambda failure: failure.value.subFailure)
        return done

    def _start_lease(self) -> None:
        if not self.lease_ttl or not _leases.has_leases(self.channel_layer):
            return
        self.lease = LeaseKeeper(
            self.channel_layer,
            self.send_channel,
            self.factory.websockets,
            self.reactor,
            ttl=self.lease_ttl,
            interval=self.lease_interval,
            on_reaped=self._close_reaped,
        )
        self.lease.start()
        logger.info(
            "Leasing this server's sockets for %g s, renewed every %g s",
            self.lease.ttl,
            self.lease.interval,
        )

    def _close_reaped(self, reply_channels: list[str]) -> None:
        """Close (1013) the open sockets whose disconnect a survivor sent
        while this server was cut off: the application already let them go,
        and a client that reconnects gets a fresh start. No second
        disconnect is sent for them."""
        reaped = set(reply_channels)
        closing = [p for p in self.factory.websockets() if p.reply_channel in reaped]
        for protocol in closing:
            protocol.close_reaped()
        logger.warning(
            "Closed %d sockets with 1013 whose disconnects survivors sent while this "
            "server's lease was lost",
            len(closing),
        )

    def _endpoint(self, description: str) -> Any:
        if description.startswith("fd:"):
            fileno = int(description.split("fileno=", 1)[1].split(":")[0])
            return endpoints.AdoptedStreamServerEndpoint(self.reactor, fileno, socket.AF_INET)
        return endpoints.serverFromString(self.reactor, description)

    def _listening(self, port: Any, description: str) -> Any:
        self.listeners.append(port)
        host = port.getHost()
        if hasattr(host, "port"):
            logger.info("Listening on TCP address %s:%d", host.host, host.port)
        else:
            logger.info("Listening on %s", description)
        return port

    def on_listener_error(self, failure: Any, description: str = "") -> Any:
        logger.error("Listening on %s failed: %s", description, failure.getErrorMessage())
        return failure

    @property
    def listening_ports(self) -> list[tuple[str, int]]:
        """``(host, port)`` of each TCP listener (the real port for ``port=0``)."""
        ports = []
        for listener in self.listeners:
            host = listener.getHost()
            if hasattr(host, "port"):
                ports.append((host.host, host.port))
        return ports

    # -- stopping ----------------------------------------------------------------

    def stop(self, timeout: float | None = None) -> defer.Deferred:
        """Shut down gracefully (call it in the reactor thread).

        Answers every new request with 503 (listening goes on while
        something is in flight), closes every WebSocket with 1001 (a pending
        handshake gets 503), lets HTTP responses in flight finish for up to
        ``timeout`` seconds (default ``shutdown_timeout``), then stops
        listening and aborts what is left, counted in one WARNING (each
        WebSocket still reports its ``websocket.disconnect``)
        and stops reading the inbox. The disconnects not yet sent get what is
        left of ``timeout`` (at least 2 s); a WARNING counts those that are
        still not sent then. The Deferred fires when all is done.
        """
        if self._stopping is not None:
            return self._stopping
        self._stopping = defer.ensureDeferred(self._stop(timeout))
        return self._stopping

    async def _stop(self, timeout: float | None) -> None:
        timeout = self.shutdown_timeout if timeout is None else timeout
        factory = self.factory
        if factory is None:
            await self._stop_listening()
            await self._stop_metrics()
            return
        # From here every new request (on a new or a kept-alive connection)
        # is answered 503 with "Connection: close" while the drain runs.
        factory.shutting_down = True
        for protocol in factory.websockets():
            protocol.close_for_shutdown()
        deadline = self.reactor.seconds() + timeout
        # A short wait loop, only while shutting down: the idle server has none.
        while self.reactor.seconds() < deadline and (
            factory.websockets() or factory.http_requests_in_flight()
        ):
            await task.deferLater(self.reactor, 0.05, lambda: None)
        await self._stop_listening()
        self._cut_off(factory, timeout)
        if self.reader is not None:
            self.reader.stop(timeout=0)
        # the disconnects of the sockets closed above may still be queued (or
        # held for a full channel): wait for them until the deadline
        drain = max(deadline - self.reactor.seconds(), min(MIN_DRAIN, timeout))
        stopped = [factory.sender.stop(timeout=drain), factory.connect_sender.stop(timeout=drain)]
        for lane in stopped:
            if isinstance(lane, defer.Deferred):
                await lane
        # idle by now (body chunks stop with their requests); a send still
        # waiting on the layer holds this up to the layer's socket timeout
        factory.offload.stop()
        if self.lease is not None:
            # only now: survivors must not send the disconnects sent above again
            await self.lease.stop()
        if self.beat is not None:
            await self.beat.stop()
        factory.health.stop()
        await self._stop_metrics()
        logger.info("Server stopped")

    async def _stop_metrics(self) -> None:
        if self.metrics is not None:
            await self.metrics.stop()

    @staticmethod
    def _cut_off(factory: HTTPFactory, timeout: float) -> None:
        """Abort the WebSockets and HTTP requests the drain left, then close
        every connection, counting what was cut off in one WARNING."""
        sockets = factory.websockets()
        requests = factory.http_requests_in_flight()
        if sockets or requests:
            logger.warning(cut_off_message(timeout, [r.path_text for r in requests], len(sockets)))
        for protocol in sockets:
            protocol.dropConnection(abort=True)
        for request in requests:
            request.drop()
        for connection in list(factory.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.loseConnection()

    async def _stop_listening(self) -> None:
        await defer.gatherResults(
            [defer.maybeDeferred(listener.stopListening) for listener in self.listeners],
            consumeErrors=True,
        ).addErrback(lambda failure: None)
        self.listeners = []

    # -- 1.x helpers -----------------------------------------------------------

    def timeout_checker(self) -> None:
        """1.x hook, kept for callers; timeouts are per-connection timers now."""
        if self.factory is not None:
            self.factory.check_timeouts()

    def sleep(self, delay: float) -> defer.Deferred:
        return task.deferLater(self.reactor, delay, lambda: None)
