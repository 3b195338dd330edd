"""Fixtures of the channels core tests."""

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from asgi.inmemory import ChannelLayer
from channels.asgi import ChannelLayerWrapper, channel_layers
from channels.signals import consumer_finished, consumer_started
from channels.worker import Worker
from tests.support.worker_thread import Running

UID = "channels.close_old_connections"


@pytest.fixture
def real_connection_signals():
    """Ask ``keep_db_connection`` to leave the signals as they are."""


@pytest.fixture(autouse=True)
def keep_db_connection(request):
    """Stop closing the database connection around requests and consumers.

    Tests run inside a transaction; like ``django.test.Client``, in-process
    requests and consumers must not close the connection that holds it.
    """
    if "real_connection_signals" in request.fixturenames:
        yield
        return
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    consumer_started.disconnect(dispatch_uid=UID)
    consumer_finished.disconnect(dispatch_uid=UID)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    consumer_started.connect(close_old_connections, dispatch_uid=UID)
    consumer_finished.connect(close_old_connections, dispatch_uid=UID)


@pytest.fixture
def run_worker():
    """Start workers in threads (``start(layer, cls=Worker, **kwargs)``); stopped at teardown."""
    running = []

    def start(layer, cls=Worker, **kwargs):
        kwargs.setdefault("signal_handlers", False)
        worker = cls(layer, **kwargs)
        worker.ready()
        running.append(Running(worker))
        return worker

    yield start
    for item in running:
        item.stop()


@pytest.fixture
def make_layer():
    """``make(routing, **config)``: an in-memory layer with ``routing`` as the
    default alias (restored at teardown); the Redis worker tests override it."""
    old = channel_layers.backends.get("default")

    def make(routing, **config):
        wrapper = ChannelLayerWrapper(ChannelLayer(**config), "default", routing)
        channel_layers.set("default", wrapper)
        return wrapper

    yield make
    channel_layers.set("default", old)
