"""The ``daphne-smtp`` command: run an SMTP interface server against a channel layer."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from twisted.mail import smtp

from .._protocol_cli import add_common_arguments, run_command
from .server import DEFAULT_MAX_SIZE, SMTPServer

__all__ = ["CommandLineInterface", "main"]


class CommandLineInterface:
    """Parses the ``daphne-smtp`` arguments and runs the server until SIGTERM/SIGINT."""

    description = "ASGI email interface server: mail received over SMTP to email.receive"

    def __init__(self) -> None:
        self.parser = argparse.ArgumentParser(prog="daphne-smtp", description=self.description)
        add_common_arguments(self.parser)
        self.parser.add_argument(
            "-b", "--bind", dest="host", default="127.0.0.1", help="Address to bind to"
        )
        self.parser.add_argument(
            "-p", "--port", type=int, default=8025, help="TCP port to listen on (0 picks one)"
        )
        self.parser.add_argument(
            "--domain",
            dest="domains",
            action="append",
            default=None,
            help="Accept mail only for this recipient domain (repeatable; '.example.com' "
            "also accepts subdomains). Default: any domain",
        )
        self.parser.add_argument(
            "--max-size",
            type=int,
            default=DEFAULT_MAX_SIZE,
            help=f"Largest mail accepted, in bytes (default {DEFAULT_MAX_SIZE})",
        )
        self.parser.add_argument(
            "--hostname",
            default=smtp.DNSNAME.decode("ascii", "replace"),
            help="Name the server gives in its greeting (default: this host's name)",
        )
        self.parser.add_argument(
            "--timeout",
            type=float,
            default=600,
            help="Seconds of client silence before the session is closed (default 600)",
        )

    @classmethod
    def entrypoint(cls) -> None:
        raise SystemExit(cls().run())

    def run(self, argv: Sequence[str] | None = None, *, reactor: Any = None) -> int:
        return run_command(self.parser, argv, self._build, reactor=reactor)

    @staticmethod
    def _build(args: argparse.Namespace, channel_layer: Any) -> SMTPServer:
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
