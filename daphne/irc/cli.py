"""The ``daphne-irc`` command: connect to an IRC server and bridge it to a channel layer."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from .._protocol_cli import add_common_arguments, run_command
from .client import IRCInterface

__all__ = ["CommandLineInterface", "main"]


class CommandLineInterface:
    """Parses the ``daphne-irc`` arguments and runs the client until SIGTERM/SIGINT."""

    description = "ASGI IRC-client interface server: an IRC user bridged to irc-client.* channels"

    def __init__(self) -> None:
        self.parser = argparse.ArgumentParser(prog="daphne-irc", description=self.description)
        add_common_arguments(self.parser)
        self.parser.add_argument("-s", "--server", required=True, help="IRC server host name")
        self.parser.add_argument(
            "-p", "--port", type=int, default=6667, help="IRC server port (default 6667)"
        )
        self.parser.add_argument("-n", "--nickname", required=True, help="Nickname to use")
        self.parser.add_argument(
            "-c",
            "--channel",
            dest="channels",
            action="append",
            default=[],
            help="IRC channel to join on connect (repeatable; '#' is added if missing)",
        )
        self.parser.add_argument("--password", default=None, help="Server password (PASS)")
        self.parser.add_argument("--realname", default=None, help="Real name to register with")
        self.parser.add_argument(
            "--initial-delay",
            type=float,
            default=1.0,
            help="Seconds before the first reconnection attempt (default 1)",
        )
        self.parser.add_argument(
            "--max-delay",
            type=float,
            default=60.0,
            help="Longest wait between reconnection attempts, in seconds (default 60)",
        )

        self.parser.add_argument(
            "--flood-burst",
            type=int,
            default=5,
            help="Lines sent at once before flood control spaces them (default 5)",
        )
        self.parser.add_argument(
            "--flood-interval",
            type=float,
            default=1.0,
            help="Seconds between lines after a burst; 0 turns flood control off (default 1)",
        )

    @classmethod
    def entrypoint(cls) -> None:
        raise SystemExit(cls().run())

    def run(self, argv: Sequence[str] | None = None, *, reactor: Any = None) -> int:
        return run_command(self.parser, argv, self._build, reactor=reactor)

    @staticmethod
    def _build(args: argparse.Namespace, channel_layer: Any) -> IRCInterface:
        return IRCInterface(
            channel_layer,
            args.server,
            args.port,
            nickname=args.nickname,
            channels=args.channels,
            password=args.password,
            realname=args.realname,
            initial_delay=args.initial_delay,
            max_delay=args.max_delay,
            flood_burst=args.flood_burst,
            flood_interval=args.flood_interval or None,
        )


def main() -> None:
    CommandLineInterface.entrypoint()
