"""The ``daphne-udp`` command: run a UDP interface server against a channel layer."""

from __future__ import annotations

import argparse

from asgi.types import ChannelLayer

from .._protocol_cli import ProtocolCommandLine
from .server import UDPServer

__all__ = ["CommandLineInterface", "main"]


class CommandLineInterface(ProtocolCommandLine):
    """Parses the ``daphne-udp`` arguments and runs the server until SIGTERM/SIGINT."""

    prog = "daphne-udp"
    description = "ASGI UDP interface server: datagrams to udp.receive, udp.send replies back"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "-b", "--bind", dest="host", default="127.0.0.1", help="Address to bind to"
        )
        parser.add_argument(
            "-p", "--port", type=int, default=9000, help="UDP port to listen on (0 picks one)"
        )
        parser.add_argument(
            "--client-timeout",
            type=float,
            default=300.0,
            help="Seconds a silent client can still be answered (default 300)",
        )

    def build(self, args: argparse.Namespace, channel_layer: ChannelLayer) -> UDPServer:
        return UDPServer(channel_layer, args.host, args.port, client_timeout=args.client_timeout)


def main() -> None:
    CommandLineInterface.entrypoint()
