"""The entry point of the processes a ``ChannelLiveServerTestCase`` starts.

``python -m channels.test._liveserver_child daphne|worker`` reads its
instructions from the ``CHANNELS_LIVESERVER`` environment variable (JSON:
settings module, layer alias and configuration, test database names,
address), points Django at the test database and the test layer, and runs
daphne or a worker until SIGTERM.
"""

from __future__ import annotations

import json
import os
import sys

ENVIRONMENT_KEY = "CHANNELS_LIVESERVER"


def configure() -> dict:
    """Set Django up as the parent test process described it."""
    spec = json.loads(os.environ[ENVIRONMENT_KEY])
    os.environ["DJANGO_SETTINGS_MODULE"] = spec["settings"]
    from django.conf import settings

    settings.CHANNEL_LAYERS = {spec["alias"]: spec["layer"]}
    for name, value in spec["overrides"].items():
        setattr(settings, name, value)
    for alias, name in spec["databases"].items():
        settings.DATABASES[alias]["NAME"] = name
        settings.DATABASES[alias].setdefault("TEST", {})["NAME"] = name
    import django

    django.setup()
    return spec


def run_daphne(spec: dict) -> None:
    from channels.asgi import channel_layers
    from daphne.server import Server

    layer = channel_layers[spec["alias"]].channel_layer
    server = Server(
        channel_layer=layer,
        endpoints=[f"tcp:port={spec['port']}:interface={spec['interface']}"],
        signal_handlers=True,
        verbosity=0,
    )
    server.run()


def run_worker(spec: dict) -> None:
    from django.apps import apps

    from channels.asgi import channel_layers
    from channels.worker import Worker, WorkerGroup

    layer = channel_layers[spec["alias"]]
    from channels.handler import ViewConsumer

    http_consumer: object = ViewConsumer()
    if spec["serve_static"] and apps.is_installed("django.contrib.staticfiles"):
        from channels.staticfiles import StaticFilesConsumer

        http_consumer = StaticFilesConsumer()
    layer.router.check_default(http_consumer=http_consumer)
    if spec["threads"] > 1:
        worker = WorkerGroup(channel_layer=layer, n_threads=spec["threads"])
    else:
        worker = Worker(channel_layer=layer)
    worker.ready()
    print("WORKER READY", flush=True)
    worker.run()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("daphne", "worker"):
        print("usage: python -m channels.test._liveserver_child daphne|worker", file=sys.stderr)
        return 2
    spec = configure()
    if argv[1] == "daphne":
        run_daphne(spec)
    else:
        run_worker(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
