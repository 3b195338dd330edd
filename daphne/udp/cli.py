"""The ``daphne-udp`` command: run a UDP interface server against a channel layer."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from .._protocol_cli import add_common_arguments, run_command
from .server import UDPServer

__all__ = ["CommandLineInterface", "main"]


class CommandLineInterface:
    """Parses the ``daphne-udp`` arguments and runs the server until SIGTERM/SIGINT."""

    description = "ASGI UDP interface server: datagrams to udp.receive, udp.send replies back"

    def __init__(self) -> None:
        self.parser = argparse.ArgumentParser(prog="daphne-udp", description=self.description)
        add_common_arguments(self.parser)
        self.parser.add_argument(
            "-b", "--bind", dest="host", default="127.0.0.1", help="Address to bind to"
        )
        self.parser.add_argument(
            "-p", "--port", type=int, default=9000, help="UDP port to listen on (0 picks one)"
        )
        self.parser.add_argument(
            "--client-timeout",
            type=float,
            default=300.0,
            help="Seconds a silent client can still be answered (default 300)",
        )

    @classmethod
    def entrypoint(cls) -> None:
        raise SystemExit(cls().run())

    def run(self, argv: Sequence[str] | None = None, *, reactor: Any = None) -> int:
        return run_command(self.parser, argv, self._build, reactor=reactor)

    @staticmethod
    def _build(args: argparse.Namespace, channel_layer: Any) -> UDPServer:
        return UDPServer(channel_layer, args.host, args.port, client_timeout=args.client_timeout)


def main() -> None:
    CommandLineInterface.entrypoint()
