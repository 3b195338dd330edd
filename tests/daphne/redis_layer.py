"""The Redis layer daphne's cross-process tests point the ``daphne`` command at.

``daphne tests.daphne.redis_layer:channel_layer`` with ``DAPHNE_TEST_REDIS_URL``
(and an optional ``DAPHNE_TEST_PREFIX``) in the environment.
"""

import os

from asgi_redis import RedisChannelLayer

channel_layer = RedisChannelLayer(
    hosts=[os.environ["DAPHNE_TEST_REDIS_URL"]],
    prefix=os.environ.get("DAPHNE_TEST_PREFIX", "daphne-test:"),
    capacity=int(os.environ.get("DAPHNE_TEST_CAPACITY", "1000")),
)
