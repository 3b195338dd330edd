"""A Twisted trial test case of ``receive_twisted``, written as a 1.x project
wrote them: a module-level layer, ``inlineCallbacks`` tests, the global
reactor, and trial's own clean-reactor checks after each test (pending
delayed calls) and after the class (open selectables).

Not collected by pytest: ``tests/compat/test_redis_layer.py`` runs it with
``python -m twisted.trial`` against the URL in ``COMPAT_REDIS_URL``.
"""

from __future__ import annotations

import os
import uuid

from twisted.internet import defer
from twisted.trial import unittest

from asgi_redis import RedisChannelLayer

channel_layer = RedisChannelLayer(
    hosts=[os.environ.get("COMPAT_REDIS_URL", "redis://127.0.0.1:6379/0")],
    prefix=f"trial{uuid.uuid4().hex[:8]}:",
)
channel_layer.blpop_timeout = 0.5


class ReceiveTwistedTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_a_sent_message_is_received(self):
        channel_layer.send("trial.proc!a", {"text": "one", "pair": [1, 2]})
        channel, message = yield channel_layer.receive_twisted(["trial.proc!"])
        self.assertEqual(channel, "trial.proc!a")
        self.assertEqual(message, {"text": "one", "pair": [1, 2]})

    @defer.inlineCallbacks
    def test_two_receives_in_a_row_get_both_messages(self):
        channel_layer.send("trial.chan", {"n": 1})
        channel_layer.send("trial.chan", {"n": 2})
        first = yield channel_layer.receive_twisted(["trial.chan"])
        second = yield channel_layer.receive_twisted(["trial.chan"])
        self.assertEqual([first[1]["n"], second[1]["n"]], [1, 2])

    @defer.inlineCallbacks
    def test_nothing_to_receive_gives_none_none_after_the_timeout(self):
        result = yield channel_layer.receive_twisted(["trial.empty!"])
        self.assertEqual(result, (None, None))
