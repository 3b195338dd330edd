"""Fixtures of the channels core tests."""

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from channels.signals import consumer_finished, consumer_started

SIGNALS = (request_started, request_finished, consumer_started, consumer_finished)


@pytest.fixture
def keep_db_connection():
    """Stop closing the database connection around requests and consumers.

    Tests run inside a transaction; like ``django.test.Client``, in-process
    requests must not close the connection that holds it.
    """
    for signal in SIGNALS:
        signal.disconnect(close_old_connections)
        signal.disconnect(close_old_connections, dispatch_uid="channels.close_old_connections")
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)
    for signal in (consumer_started, consumer_finished):
        signal.connect(close_old_connections, dispatch_uid="channels.close_old_connections")
