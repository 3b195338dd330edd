"""The browser test's live server shares the session's Redis with the test."""

import os

import pytest

REDIS_URL_KEY = "ADMIN_PAGE_REDIS_URL"


@pytest.fixture(scope="session")
def _admin_page_redis(redis_url):
    # Read by the test class's CHANNEL_LAYERS (a class attribute cannot take
    # a fixture, and the server processes read settings, not fixtures).
    os.environ[REDIS_URL_KEY] = redis_url
    yield
    os.environ.pop(REDIS_URL_KEY, None)
