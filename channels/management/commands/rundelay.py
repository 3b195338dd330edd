"""``manage.py rundelay``: run the delay server.

See docs/topics/delay.rst.
"""

from __future__ import annotations

from typing import Any

from django.core.management import BaseCommand, CommandError

from channels._aliases import DEFAULT_CHANNEL_LAYER
from channels.asgi import channel_layers
from channels.delay.worker import Worker
from channels.log import setup_logger


class Command(BaseCommand):
    help = "Runs the delay server: stores asgi.delay messages and sends them when due."

    leave_locale_alone = True

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--layer",
            action="store",
            dest="layer",
            default=DEFAULT_CHANNEL_LAYER,
            help="Channel layer alias to use, if not the default.",
        )
        parser.add_argument(
            "--sleep",
            action="store",
            dest="sleep",
            default=1,
            type=float,
            help="Seconds between checks of the database for due messages (default 1).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sleep"] <= 0:
            raise CommandError(
                f"--sleep must be a positive number of seconds, got {options['sleep']}"
            )
        alias = options["layer"]
        if alias not in channel_layers:
            raise CommandError(f"No channel layer {alias!r} in CHANNEL_LAYERS")
        channel_layer = channel_layers[alias]
        if channel_layer.local_only():
            raise CommandError(
                "You cannot span multiple processes with the in-memory layer. Change your "
                "settings to use a cross-process channel layer (such as asgi_redis)."
            )
        setup_logger("channels.delay", options.get("verbosity", 1))
        self.stdout.write(f"Running delay against channel layer {channel_layer}")
        worker = Worker(channel_layer=channel_layer, database_sleep_duration=options["sleep"])
        worker.run()
