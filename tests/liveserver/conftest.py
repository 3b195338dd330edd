"""The live-server tests need a Redis the server processes can share."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _live_server_redis(redis_url):
    # Read by the test classes' CHANNEL_LAYERS (a class attribute cannot
    # take a fixture, and the server processes read settings, not fixtures).
    os.environ["LIVESERVER_REDIS_URL"] = redis_url
    yield
    os.environ.pop("LIVESERVER_REDIS_URL", None)
