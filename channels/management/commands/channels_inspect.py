"""``manage.py channels_inspect``: the live picture of a channel layer.

See docs/operating.rst, "Inspecting the layer".

Prints the layer's channels (depth, capacity use, oldest message age), its
groups, the live daphnes and workers from their heartbeats and its
servers, and flags channels whose messages no live process consumes.
``--watch`` refreshes it, ``--json`` prints it for scripts. The gathering
is :func:`channels._inspect_view.snapshot`, shared with the admin page.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from django.core.management import BaseCommand, CommandError

from channels._aliases import DEFAULT_CHANNEL_LAYER
from channels._inspect_view import NotInspectable, has_inspect, render, snapshot
from channels.asgi import channel_layers

#: Seconds between refreshes of ``--watch`` given without a number.
DEFAULT_WATCH_INTERVAL = 2.0

#: Clears a terminal and puts the cursor top left (``--watch`` on a tty).
CLEAR_SCREEN = "\x1b[2J\x1b[H"


class Command(BaseCommand):
    help = (
        "Shows a channel layer's channels, groups, live processes and servers, "
        "and channels with messages that no live process consumes."
    )

    leave_locale_alone = True
    requires_system_checks: list[str] = []

    #: How ``--watch`` waits between refreshes (tests may replace it).
    sleep = staticmethod(time.sleep)

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--layer",
            default=DEFAULT_CHANNEL_LAYER,
            help="Channel layer alias to inspect (default: %(default)s).",
        )
        parser.add_argument(
            "--channel",
            action="append",
            dest="channels",
            default=[],
            metavar="NAME",
            help="Also report this channel, even when it is empty (repeatable).",
        )
        parser.add_argument(
            "--members", action="store_true", help="List the members of each group."
        )
        parser.add_argument(
            "--watch",
            nargs="?",
            type=float,
            const=DEFAULT_WATCH_INTERVAL,
            default=None,
            metavar="SECONDS",
            help=f"Refresh every SECONDS (default {DEFAULT_WATCH_INTERVAL:g}) until Ctrl-C.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="Print one JSON document (with --watch, one per refresh, one per line).",
        )
        # For tests: stop --watch after this many refreshes.
        parser.add_argument("--count", type=int, default=None, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        interval, count = options["watch"], options["count"]
        if interval is not None and interval <= 0:
            raise CommandError(f"--watch takes a positive number of seconds, got {interval:g}")
        if count is not None and count < 1:
            raise CommandError(f"--count takes a positive number, got {count}")
        layer = self.get_layer(options["layer"])
        self.check_channel_names(layer, options["channels"])
        shown = 0
        try:
            while True:
                try:
                    self.show(layer, options, clear=interval is not None and shown > 0)
                except CommandError as exc:
                    if shown == 0:
                        raise
                    # Once watching, an outage is part of the picture: say so
                    # and look again at the next refresh.
                    self.stderr.write(f"{time.strftime('%H:%M:%S')} {exc}")
                shown += 1
                if interval is None or (count is not None and shown >= count):
                    return
                self.sleep(interval)
        except KeyboardInterrupt:
            return

    def get_layer(self, alias: str) -> Any:
        if alias not in channel_layers:
            raise CommandError(f"No channel layer {alias!r} in CHANNEL_LAYERS")
        try:
            layer = channel_layers[alias]
        except Exception as exc:  # a bad CONFIG is the user's to fix
            raise CommandError(f"Cannot set up channel layer {alias!r}: {exc}") from exc
        if not has_inspect(layer):
            raise CommandError(
                f"Channel layer {layer} cannot be inspected: it does not list the "
                f"'inspect' extension (it lists {list(layer.extensions)})"
            )
        return layer

    @staticmethod
    def check_channel_names(layer: Any, names: list[str]) -> None:
        check = getattr(layer, "valid_channel_name", None)
        if check is None:
            return
        for name in names:
            try:
                check(name)
            except (TypeError, ValueError) as exc:
                raise CommandError(
                    f"--channel {name!r} is not a valid channel name: {exc}"
                ) from None

    def show(self, layer: Any, options: dict[str, Any], clear: bool) -> None:
        try:
            data = snapshot(layer, channels=options["channels"], members=options["members"])
        except NotInspectable as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:  # the layer's own errors, whatever they are
            raise CommandError(
                f"Cannot inspect channel layer {layer}: {type(exc).__name__}: {exc}"
            ) from exc
        if options["as_json"]:
            indent = None if options["watch"] is not None else 2
            self.stdout.write(json.dumps(data, indent=indent, sort_keys=True))
            self.stdout.flush()
            return
        if clear:
            # a terminal shows one picture at a time; a log gets them in turn
            self.stdout.write(
                CLEAR_SCREEN if self.stdout.isatty() else "",
                ending="" if self.stdout.isatty() else "\n",
            )
        self.stdout.write(render(data, title=f"Channel layer {layer}", highlight=self.style.ERROR))
        self.stdout.flush()
