"""The ``daphne-slack`` command: Slack's Events API and Web API bridged to a channel layer.

The signing secret and the bot token are read from the environment
(``SLACK_SIGNING_SECRET``, ``SLACK_BOT_TOKEN``) and never from the command
line, where every user of the machine could read them in ``ps``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from asgi import slack as asgi_slack
from asgi.types import ChannelLayer

from .._protocol_cli import ProtocolCommandLine
from ._poster import DEFAULT_API_BASE
from .server import DEFAULT_PATH, DEFAULT_PORT, SlackInterface

__all__ = ["SECRET_VARIABLES", "CommandLineInterface", "main"]

#: The environment variables the command needs, and what each one is.
SECRET_VARIABLES = {
    "SLACK_SIGNING_SECRET": "the app's signing secret (Basic Information, App Credentials)",
    "SLACK_BOT_TOKEN": "the bot token, xoxb-... (OAuth & Permissions)",
}


class CommandLineInterface(ProtocolCommandLine):
    """Parses the ``daphne-slack`` arguments and runs the server until SIGTERM/SIGINT."""

    prog = "daphne-slack"
    description = (
        "ASGI Slack interface server: Events API messages to slack.receive, "
        "slack.send to chat.postMessage. Reads SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN "
        "from the environment"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "-b", "--bind", dest="host", default="127.0.0.1", help="Address to bind to"
        )
        parser.add_argument(
            "-p",
            "--port",
            type=int,
            default=DEFAULT_PORT,
            help=f"TCP port to listen on (default {DEFAULT_PORT}; 0 picks one)",
        )
        parser.add_argument(
            "--path",
            default=DEFAULT_PATH,
            help=f"Path Slack posts events to, the Request URL's path (default {DEFAULT_PATH})",
        )
        parser.add_argument(
            "--api-base",
            default=DEFAULT_API_BASE,
            help=f"Base URL of Slack's Web API (default {DEFAULT_API_BASE})",
        )
        parser.add_argument(
            "--receive-channel",
            default=asgi_slack.RECEIVE_CHANNEL,
            help=f"Channel Slack messages are sent to (default {asgi_slack.RECEIVE_CHANNEL})",
        )
        parser.add_argument(
            "--send-channel",
            default=asgi_slack.SEND_CHANNEL,
            help=f"Channel read for messages to post (default {asgi_slack.SEND_CHANNEL})",
        )
        parser.add_argument(
            "--queue-size",
            type=int,
            default=100,
            help="Posts held while Slack rate-limits; more are dropped (default 100)",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=10.0,
            help="Seconds to wait for Slack to answer a post (default 10)",
        )

    def build(self, args: argparse.Namespace, channel_layer: ChannelLayer) -> SlackInterface:
        return SlackInterface(
            channel_layer,
            args.host,
            args.port,
            signing_secret=os.environ["SLACK_SIGNING_SECRET"],
            bot_token=os.environ["SLACK_BOT_TOKEN"],
            path=args.path,
            api_base=args.api_base,
            receive_channel=args.receive_channel,
            send_channel=args.send_channel,
            queue_size=args.queue_size,
            timeout=args.timeout,
        )

    def run(self, argv: Sequence[str] | None = None, *, reactor: Any = None) -> int:
        missing = [name for name in SECRET_VARIABLES if not os.environ.get(name)]
        if missing:
            self.parser.parse_args(argv)  # --help and usage errors first
            needed = "; ".join(f"{name}: {SECRET_VARIABLES[name]}" for name in missing)
            self.parser.exit(
                2,
                f"{self.prog}: error: set {' and '.join(missing)} in the environment "
                f"({needed}); secrets are never taken from the command line\n",
            )
        return super().run(argv, reactor=reactor)


def main() -> None:
    CommandLineInterface.entrypoint()
