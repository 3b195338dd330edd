"""The ``daphne-irc`` command: connect to an IRC server and bridge it to a channel layer."""

from __future__ import annotations

import argparse

from asgi.types import ChannelLayer

from .._protocol_cli import ProtocolCommandLine
from .client import IRCInterface

__all__ = ["CommandLineInterface", "main"]


class CommandLineInterface(ProtocolCommandLine):
    """Parses the ``daphne-irc`` arguments and runs the client until SIGTERM/SIGINT."""

    prog = "daphne-irc"
    description = "ASGI IRC-client interface server: an IRC user bridged to irc-client.* channels"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-s", "--server", required=True, help="IRC server host name")
        parser.add_argument(
            "-p", "--port", type=int, default=6667, help="IRC server port (default 6667)"
        )
        parser.add_argument("-n", "--nickname", required=True, help="Nickname to use")
        parser.add_argument(
            "-c",
            "--channel",
            dest="channels",
            action="append",
            default=[],
            help="IRC channel to join on connect (repeatable; '#' is added if missing)",
        )
        parser.add_argument("--password", default=None, help="Server password (PASS)")
        parser.add_argument("--realname", default=None, help="Real name to register with")
        parser.add_argument(
            "--initial-delay",
            type=float,
            default=1.0,
            help="Seconds before the first reconnection attempt (default 1)",
        )
        parser.add_argument(
            "--max-delay",
            type=float,
            default=60.0,
            help="Longest wait between reconnection attempts, in seconds (default 60)",
        )

        parser.add_argument(
            "--flood-burst",
            type=int,
            default=5,
            help="Lines sent at once before flood control spaces them (default 5)",
        )
        parser.add_argument(
            "--flood-interval",
            type=float,
            default=1.0,
            help="Seconds between lines after a burst; 0 turns flood control off (default 1)",
        )

    def build(self, args: argparse.Namespace, channel_layer: ChannelLayer) -> IRCInterface:
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
