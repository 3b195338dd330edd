"""What the ``daphne-smtp``, ``daphne-irc``, ``daphne-udp`` and
``daphne-slack`` commands share.

Importing the channel layer from ``"path.to.module:attr.path"`` (after
``sys.path.insert(0, ".")``, as daphne does), logging configured like
daphne's ``-v`` levels, the common arguments, the process's heartbeat
record (``--heartbeat-ttl``/``--heartbeat-interval``, as daphne's; see
docs/operating.rst, "Heartbeats and health checks"), and running the
reactor until SIGTERM/SIGINT with an orderly stop of the server (and the
removal of its record) before the reactor exits.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from asgi._json_log import LOG_FORMATS, formatter_for
from asgi.heartbeat import DEFAULT_TTL as DEFAULT_HEARTBEAT_TTL
from asgi.types import ChannelLayer

from ._beat import start_heartbeat, stop_heartbeat

__all__ = [
    "ProtocolCommandLine",
    "LayerImportError",
    "add_common_arguments",
    "add_heartbeat_arguments",
    "check_heartbeat_arguments",
    "add_log_format_argument",
    "configure_logging",
    "import_channel_layer",
    "run_command",
]

LOG_FORMAT = "%(asctime)-15s %(levelname)-8s %(message)s"
_LEVELS = {0: logging.WARNING, 1: logging.INFO}

logger = logging.getLogger(__name__)
_twisted_logging_started = False


class LayerImportError(ImportError, ValueError):
    """The channel layer path given on the command line does not name a layer.

    An ``ImportError`` (as daphne raised) and a ``ValueError`` (as the other
    commands raised), so callers of either keep catching it.
    """


def import_channel_layer(path: str, methods: Sequence[str] = ("send", "receive")) -> Any:
    """Import ``"module.path:attr.path"`` and return the layer it names.

    The current directory is put first on ``sys.path`` so that a project's
    ``myproject.asgi:channel_layer`` works when run from the project root.
    The object must have every method in ``methods``.
    """
    module_path, sep, attr_path = path.partition(":")
    if not sep or not module_path or not attr_path:
        raise LayerImportError(
            "Expected a channel layer path like 'myproject.asgi:channel_layer' "
            f"(path.to.module:instance), got {path!r}"
        )
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, ".")
    try:
        target: Any = importlib.import_module(module_path)
    except Exception as exc:
        # A missing module, or one that ran and failed (a Django
        # ImproperlyConfigured, a bad CHANNEL_LAYERS entry): one line either way.
        raise LayerImportError(
            f"Could not import module {module_path!r} for channel layer {path!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    for name in attr_path.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise LayerImportError(
                f"Module {module_path!r} has no attribute path {attr_path!r} (missing {name!r})"
            ) from None
    missing = [name for name in methods if not callable(getattr(target, name, None))]
    if missing:
        raise LayerImportError(
            f"{path!r} is not a channel layer: {target!r} lacks {', '.join(missing)}()"
        )
    return target


def configure_logging(verbosity: int, *, stream: Any = None, log_format: str = "text") -> None:
    """Log to stderr in daphne's format: 0 = warnings, 1 = info, 2+ = debug.

    ``log_format="json"`` writes one JSON object per line instead
    (``asgi/_json_log.py``). Twisted's own log events are forwarded into the
    ``twisted`` logger.
    """
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    level = _LEVELS.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter_for(log_format, LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    global _twisted_logging_started
    if not _twisted_logging_started:
        _twisted_logging_started = True
        globalLogBeginner.beginLoggingTo(
            [STDLibLogObserver(name="twisted")], redirectStandardIO=False
        )


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The channel layer positional and ``-v``, as in daphne."""
    parser.add_argument(
        "channel_layer",
        help="The ASGI channel layer instance to use, as path.to.module:instance.path",
    )
    parser.add_argument(
        "-v",
        "--verbosity",
        type=int,
        default=1,
        help="How verbose to make the output (0 warnings, 1 info, 2 debug; default 1)",
    )
    add_log_format_argument(parser)
    add_heartbeat_arguments(parser)


def number_of_seconds(text: str) -> float:
    """``text`` as a float, or the argparse error that says seconds were expected."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None


def ttl_or_off(off: str) -> Callable[[str], float]:
    """An argparse type: 0 (``off``, e.g. "no heartbeat"), or a TTL of at
    least one second (a record renewed every third of it)."""

    def parse(text: str) -> float:
        value = number_of_seconds(text)
        if value != 0 and not value >= 1:
            raise argparse.ArgumentTypeError(
                f"expected 0 ({off}) or at least 1 second, got {text!r}"
            )
        return value

    return parse


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds above zero."""
    value = number_of_seconds(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def add_heartbeat_arguments(parser: argparse.ArgumentParser) -> None:
    """``--heartbeat-ttl`` and ``--heartbeat-interval``, as the ``daphne`` command has them."""
    parser.add_argument(
        "--heartbeat-ttl",
        type=ttl_or_off("no heartbeat"),
        default=DEFAULT_HEARTBEAT_TTL,
        dest="heartbeat_ttl",
        help="seconds this process's heartbeat record lives unless renewed; only with a "
        "layer offering the inspect extension; 0 turns it off (default: %(default)s)",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=positive_seconds,
        default=None,
        dest="heartbeat_interval",
        help="seconds between heartbeat renewals (default: a third of the ttl)",
    )


def check_heartbeat_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse an interval not below the TTL (a usage error, exit status 2)."""
    interval, ttl = args.heartbeat_interval, args.heartbeat_ttl
    if interval is not None and ttl and not interval < ttl:
        parser.error(f"--heartbeat-interval ({interval:g}) must be below --heartbeat-ttl ({ttl:g})")


def add_log_format_argument(parser: argparse.ArgumentParser) -> None:
    """``--log-format text|json`` (shared with the ``daphne`` command)."""
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=LOG_FORMATS[0],
        dest="log_format",
        help="text lines, or one JSON object per line (default: %(default)s)",
    )


def run_command(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    build: Callable[[argparse.Namespace, Any], Any],
    *,
    reactor: Any = None,
) -> int:
    """Parse ``argv``, import the layer, build and start the server, run the reactor.

    ``build(args, channel_layer)`` returns an object with ``start()`` and
    ``stop()``, ``consumed_channels()`` (the channel names or patterns it
    reads) and ``activity`` (an ``asgi.heartbeat.Activity`` counting the
    messages it sent to the layer), which go in the process's heartbeat
    record, kind ``parser.prog``. SIGTERM and SIGINT stop the reactor;
    ``stop()`` and the removal of the record run before it exits. Returns
    the process exit status.
    """
    args = parser.parse_args(argv)
    check_heartbeat_arguments(parser, args)
    configure_logging(args.verbosity, log_format=args.log_format)
    try:
        channel_layer = import_channel_layer(args.channel_layer)
    except LayerImportError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    if reactor is None:
        from twisted.internet import reactor
    try:
        server = build(args, channel_layer)
        server.start()
    except Exception as exc:
        logger.debug("Start-up failed", exc_info=True)
        parser.exit(1, f"{parser.prog}: error: could not start: {exc}\n")
    reactor.addSystemEventTrigger("before", "shutdown", server.stop)
    heartbeat = start_heartbeat(
        channel_layer,
        kind=parser.prog,
        channels=server.consumed_channels,
        activity=server.activity.snapshot,
        ttl=args.heartbeat_ttl,
        interval=args.heartbeat_interval,
    )
    if heartbeat is not None:
        reactor.addSystemEventTrigger("before", "shutdown", stop_heartbeat, heartbeat, reactor)
    reactor.run()
    logger.info("Stopped")
    return 0


class ProtocolCommandLine:
    """The skeleton of a ``daphne-<protocol>`` command.

    Subclasses set ``prog`` and ``description``, add their own options in
    ``add_arguments`` and build their server from the parsed options in
    ``build``; parsing, the layer import, logging, signals and exit codes are
    shared through :func:`run_command`.
    """

    prog = ""
    description = ""

    def __init__(self) -> None:
        self.parser = argparse.ArgumentParser(prog=self.prog, description=self.description)
        add_common_arguments(self.parser)
        self.add_arguments(self.parser)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's own options."""

    def build(self, args: argparse.Namespace, channel_layer: ChannelLayer) -> Any:
        """Return the server to start for ``args`` on ``channel_layer``."""
        raise NotImplementedError(f"{type(self).__name__} must implement build()")

    @classmethod
    def entrypoint(cls) -> None:
        raise SystemExit(cls().run())

    def run(self, argv: Sequence[str] | None = None, *, reactor: Any = None) -> int:
        return run_command(self.parser, argv, self.build, reactor=reactor)
