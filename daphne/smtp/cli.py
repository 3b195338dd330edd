"""The ``daphne-smtp`` command: run an SMTP interface server against a channel layer."""

from __future__ import annotations

import argparse

from twisted.mail import smtp

from asgi.types import ChannelLayer

from .._protocol_cli import ProtocolCommandLine
from .server import DEFAULT_MAX_SIZE, SMTPServer

__all__ = ["CommandLineInterface", "main"]


class CommandLineInterface(ProtocolCommandLine):
    """Parses the ``daphne-smtp`` arguments and runs the server until SIGTERM/SIGINT."""

    prog = "daphne-smtp"
    description = "ASGI email interface server: mail received over SMTP to email.receive"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "-b", "--bind", dest="host", default="127.0.0.1", help="Address to bind to"
        )
        parser.add_argument(
            "-p", "--port", type=int, default=8025, help="TCP port to listen on (0 picks one)"
        )
        parser.add_argument(
            "--domain",
            dest="domains",
            action="append",
            default=None,
            help="Accept mail only for this recipient domain (repeatable; '.example.com' "
            "also accepts subdomains). Default: any domain",
        )
        parser.add_argument(
            "--max-size",
            type=int,
            default=DEFAULT_MAX_SIZE,
            help=f"Largest mail accepted, in bytes (default {DEFAULT_MAX_SIZE})",
        )
        parser.add_argument(
            "--hostname",
            default=smtp.DNSNAME.decode("ascii", "replace"),
            help="Name the server gives in its greeting (default: this host's name)",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=600,
            help="Seconds of client silence before the session is closed (default 600)",
        )

    def build(self, args: argparse.Namespace, channel_layer: ChannelLayer) -> SMTPServer:
        if args.max_size < 1:
            raise ValueError(f"--max-size must be a positive number of bytes, got {args.max_size}")
        return SMTPServer(
            channel_layer,
            args.host,
            args.port,
            hostname=args.hostname,
            max_size=args.max_size,
            domains=args.domains,
            timeout=args.timeout,
        )


def main() -> None:
    CommandLineInterface.entrypoint()
