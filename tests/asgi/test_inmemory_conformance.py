"""The in-memory layer passes the conformance suite."""

import pytest

from asgi import conformance
from asgi.inmemory import ChannelLayer

pytestmark = pytest.mark.unit


def make_layer(**options):
    return ChannelLayer(**options)


class InMemoryConformanceTests(conformance.ConformanceTestCase):
    channel_layer = ChannelLayer(expiry=1, group_expiry=2, capacity=5)
    expiry_delay = 1.1
    capacity_limit = 5
    make_layer = staticmethod(make_layer)
