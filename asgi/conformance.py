"""The conformance suite every ASGI 1 channel layer must pass (spec section 2.4).

Subclass :class:`ConformanceTestCase`, set ``channel_layer`` and
``expiry_delay`` (and ``capacity_limit`` if the layer enforces capacity), and
run it with unittest or pytest. Optionally set ``make_layer`` to a callable
taking layer options (``capacity``, ``channel_capacity``, ``expiry``,
``group_expiry``) so the tests that need a specially configured layer run.

Tests of an extension run when the layer lists it in ``extensions``
(``groups``, ``flush``, ``inspect``, ``history``) and skip otherwise.
"""

from __future__ import annotations

import re
import threading
import time
import unittest
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

from ._conformance_history import HistoryConformance
from ._inspect_conformance import InspectConformance

__all__ = ["ConformanceTestCase"]


class ConformanceTestCase(InspectConformance, HistoryConformance, unittest.TestCase):
    """Tests of the behaviour the ASGI 1 spec requires of a channel layer."""

    #: The layer under test (an instance).
    channel_layer: ClassVar[Any] = None
    #: Seconds after which a message sent now must have expired.
    expiry_delay: ClassVar[float | None] = None
    #: The layer's default capacity, or None to skip the capacity tests.
    capacity_limit: ClassVar[int | None] = None
    #: How many receives a sharded layer may need before a message shows up.
    receive_tries: ClassVar[int] = 1
    #: Optional factory of freshly configured layers, ``make_layer(**options)``.
    make_layer: ClassVar[Callable[..., Any] | None] = None

    @classmethod
    def setUpClass(cls) -> None:
        if cls is ConformanceTestCase:
            raise unittest.SkipTest("the abstract conformance base has no layer")
        super().setUpClass()

    def setUp(self) -> None:
        if self.channel_layer is None:
            raise ValueError("Set channel_layer on the ConformanceTestCase subclass")
        if self.expiry_delay is None:
            raise ValueError("Set expiry_delay on the ConformanceTestCase subclass")
        if "flush" in self.channel_layer.extensions:
            self.channel_layer.flush()

    # -- helpers -------------------------------------------------------------------

    def receive(self, channels: list[str], layer: Any = None) -> tuple[str | None, Any]:
        """Receive without blocking, retrying ``receive_tries`` times."""
        layer = layer or self.channel_layer
        for _ in range(self.receive_tries):
            channel, message = layer.receive(channels, block=False)
            if channel is not None:
                return channel, message
        return None, None

    def skip_if_no_extension(self, extension: str) -> None:
        if extension not in self.channel_layer.extensions:
            raise unittest.SkipTest(f"the layer lacks the {extension!r} extension")

    def configured_layer(self, **options: Any) -> Any:
        factory = type(self).make_layer
        if factory is None:
            raise unittest.SkipTest("set make_layer to run tests that configure a layer")
        layer = factory(**options)
        if "flush" in layer.extensions:
            layer.flush()
        return layer

    # -- the 18 tests of the 1.x suite ---------------------------------------------

    def test_send_recv(self) -> None:
        layer = self.channel_layer
        for value in ("Foo", "Bar", "Baz"):
            layer.send("sr_test", {"value": value})
        layer.send("sr_test2", {"value": "Qux"})
        received = []
        for _ in range(3):
            channel, message = self.receive(["sr_test"])
            self.assertEqual(channel, "sr_test")
            received.append(message["value"])
        self.assertEqual(sorted(received), ["Bar", "Baz", "Foo"])
        channel, message = self.receive(["sr_test", "sr_test2"])
        self.assertEqual((channel, message), ("sr_test2", {"value": "Qux"}))

    def test_single_process_receive(self) -> None:
        layer = self.channel_layer
        layer.send("spr_test!a", {"value": "Blue"})
        channel, message = self.receive(["spr_test!"])
        self.assertEqual((channel, message), ("spr_test!a", {"value": "Blue"}))
        layer.send("spr_test!b", {"value": "Green"})
        layer.send("spr_test!a", {"value": "Red"})
        self.assertEqual(self.receive(["spr_test!"]), ("spr_test!b", {"value": "Green"}))
        self.assertEqual(self.receive(["spr_test!"]), ("spr_test!a", {"value": "Red"}))

    def test_single_process_receive_error(self) -> None:
        with self.assertRaises((TypeError, ValueError)):
            self.channel_layer.receive(["spr_test!c"])

    def test_message_expiry(self) -> None:
        self.channel_layer.send("me_test", {"value": "blue"})
        time.sleep(self.expiry_delay or 0)  # setUpClass refuses None
        self.assertEqual(self.receive(["me_test"]), (None, None))

    def test_new_channel_single_reader(self) -> None:
        layer = self.channel_layer
        name = layer.new_channel("test.foo?")
        self.assertIsInstance(name, str)
        self.assertEqual(name.count("?"), 1)
        self.assertFalse(name.endswith("?"))
        layer.send(name, {"value": "blue"})
        self.assertNotEqual(layer.new_channel("test.foo?"), name)
        self.assertEqual(self.receive([name]), (name, {"value": "blue"}))

    def test_new_channel_failures(self) -> None:
        with self.assertRaises((TypeError, ValueError)):
            self.channel_layer.new_channel("test!")
        with self.assertRaises((TypeError, ValueError)):
            self.channel_layer.new_channel("test.foo")

    def test_strings(self) -> None:
        message = {
            "utf-bytes": b"\xc2\xa3 \xf0\x9f\x98\x80",
            "unicode": "\u00a3 \U0001f600 \x00 \x1f",
            "nested": {"bytes": b"\x00\x01\xff", "list": [b"a", "b", 1, 2.5, None, True]},
        }
        self.channel_layer.send("str_test", message)
        _, received = self.receive(["str_test"])
        self.assertEqual(received, message)
        self.assertIsInstance(received["utf-bytes"], bytes)
        self.assertIsInstance(received["unicode"], str)
        self.assertIsInstance(received["nested"]["bytes"], bytes)
        self.assertIsInstance(received["nested"]["list"][1], str)

    def test_groups(self) -> None:
        self.skip_if_no_extension("groups")
        layer = self.channel_layer
        for channel in ("tg_test", "tg_test2", "tg_test3"):
            layer.group_add("tgroup", channel)
        layer.group_discard("tgroup", "tg_test3")
        layer.send_group("tgroup", {"value": "orange"})
        self.assertEqual(self.receive(["tg_test"]), ("tg_test", {"value": "orange"}))
        self.assertEqual(self.receive(["tg_test2"]), ("tg_test2", {"value": "orange"}))
        self.assertEqual(self.receive(["tg_test3"]), (None, None))

    def test_groups_process(self) -> None:
        self.skip_if_no_extension("groups")
        layer = self.channel_layer
        for channel in ("tgp!a", "tgp!b", "tgp!c"):
            layer.group_add("tgroup", channel)
        layer.group_discard("tgroup", "tgp!c")
        layer.send_group("tgroup", {"value": "orange"})
        got = {self.receive(["tgp!"])[0], self.receive(["tgp!"])[0]}
        self.assertEqual(got, {"tgp!a", "tgp!b"})
        self.assertEqual(self.receive(["tgp!"]), (None, None))

    def test_group_channels(self) -> None:
        self.skip_if_no_extension("groups")
        layer = self.channel_layer
        for channel in ("tgme_test", "tgme_test2", "tgme_test3"):
            layer.group_add("tgroup", channel)
        self.assertEqual(
            set(layer.group_channels("tgroup")), {"tgme_test", "tgme_test2", "tgme_test3"}
        )
        layer.group_discard("tgroup", "tgme_test3")
        self.assertEqual(set(layer.group_channels("tgroup")), {"tgme_test", "tgme_test2"})

    def test_flush(self) -> None:
        self.skip_if_no_extension("flush")
        self.channel_layer.send("fl_test", {})
        self.channel_layer.flush()
        self.assertEqual(self.receive(["fl_test"]), (None, None))

    def test_flush_groups(self) -> None:
        self.skip_if_no_extension("groups")
        self.skip_if_no_extension("flush")
        layer = self.channel_layer
        layer.group_add("tfg_group", "tfg_test")
        layer.flush()
        layer.send_group("tfg_group", {})
        self.assertEqual(self.receive(["tfg_test"]), (None, None))

    def test_group_expiry(self) -> None:
        self.skip_if_no_extension("groups")
        layer = self.channel_layer
        self.assertIsInstance(getattr(layer, "group_expiry", None), (int, float))
        if layer.group_expiry > 20:
            layer = self.configured_layer(group_expiry=2, expiry=self.expiry_delay)
        layer.group_add("tge_group", "tge_test")
        time.sleep(layer.group_expiry + 1)
        layer.send_group("tge_group", {})
        self.assertEqual(self.receive(["tge_test"], layer=layer), (None, None))
        self.assertEqual(list(layer.group_channels("tge_group")), [])

    def test_capacity(self) -> None:
        if self.capacity_limit is None:
            raise unittest.SkipTest("capacity_limit is not set")
        layer = self.channel_layer
        for _ in range(self.capacity_limit):
            layer.send("cap_test", {})
        with self.assertRaises(layer.ChannelFull):
            layer.send("cap_test", {})

    def test_capacity_process(self) -> None:
        if self.capacity_limit is None or self.capacity_limit < 2:
            raise unittest.SkipTest("capacity_limit is not set or below 2")
        layer = self.channel_layer
        for i in range(self.capacity_limit):
            layer.send(f"capp!{i}", {})
        with self.assertRaises(layer.ChannelFull):
            layer.send("capp!final", {})

    def test_capacity_group(self) -> None:
        self.skip_if_no_extension("groups")
        if self.capacity_limit is None:
            raise unittest.SkipTest("capacity_limit is not set")
        layer = self.channel_layer
        layer.group_add("tcg_group", "tcg_test")
        for _ in range(self.capacity_limit + 1):
            layer.send_group("tcg_group", {})
        # The member holds exactly its capacity; the extra send was dropped.
        received = 0
        while self.receive(["tcg_test"])[0] is not None:
            received += 1
        self.assertEqual(received, self.capacity_limit)

    def test_exceptions(self) -> None:
        self.assertTrue(issubclass(self.channel_layer.ChannelFull, Exception))
        self.assertTrue(issubclass(self.channel_layer.MessageTooLarge, Exception))

    def test_message_alteration_after_send(self) -> None:
        message: dict[str, Any] = {"value": [1, 2, 3]}
        self.channel_layer.send("mas_test", message)
        message["value"][0] = 10
        message["other"] = True
        self.assertEqual(self.receive(["mas_test"]), ("mas_test", {"value": [1, 2, 3]}))

    # -- behaviours the 1.x suite did not check --------------------------------------

    def test_concurrent_producers_and_consumers_lose_and_duplicate_nothing(self) -> None:
        layer = self.channel_layer
        producers, per_producer = 4, 25
        total = producers * per_producer
        received: list[str] = []
        lock = threading.Lock()
        done = threading.Event()

        def produce(index: int) -> None:
            for n in range(per_producer):
                while True:
                    try:
                        layer.send("conc_test", {"id": f"{index}-{n}"})
                        break
                    except layer.ChannelFull:
                        time.sleep(0.001)

        def consume() -> None:
            deadline = time.monotonic() + 30
            while not done.is_set() and time.monotonic() < deadline:
                channel, message = layer.receive(["conc_test"], block=True)
                if channel is not None:
                    with lock:
                        received.append(message["id"])
                        if len(received) >= total:
                            done.set()

        consumers = [threading.Thread(target=consume) for _ in range(3)]
        producers_threads = [threading.Thread(target=produce, args=(i,)) for i in range(producers)]
        for thread in consumers + producers_threads:
            thread.start()
        for thread in producers_threads:
            thread.join(30)
        done.wait(30)
        done.set()
        for thread in consumers:
            thread.join(30)
        counts = Counter(received)
        self.assertEqual(len(counts), total, "messages were lost")
        self.assertEqual(max(counts.values()), 1, "a message was delivered twice")

    def test_channel_capacity_patterns_first_match_wins(self) -> None:
        layer = self.configured_layer(
            capacity=5,
            channel_capacity={
                "pattern.small.*": 2,
                re.compile(r"^pattern\.re\w*$"): 3,
                "pattern.*": 4,
            },
        )
        self.assertEqual(layer.get_capacity("pattern.small.x"), 2)
        self.assertEqual(layer.get_capacity("pattern.regex"), 3)
        self.assertEqual(layer.get_capacity("pattern.other"), 4)
        self.assertEqual(layer.get_capacity("elsewhere"), 5)
        for channel, limit in (("pattern.small.x", 2), ("pattern.regex", 3), ("elsewhere", 5)):
            for _ in range(limit):
                layer.send(channel, {})
            with self.assertRaises(layer.ChannelFull):
                layer.send(channel, {})

    def test_invalid_names_raise_type_error(self) -> None:
        layer = self.channel_layer
        bad_channels = ["", "with space", "a" * 100, "two!!marks", "a?b!c", "ends?", b"bytes", 12]
        for name in bad_channels:
            with self.subTest(name=name), self.assertRaises(TypeError):
                layer.send(name, {})
        if "groups" in layer.extensions:
            for name in ["", "group!", "group?x", "a" * 100]:
                with self.subTest(group=name), self.assertRaises(TypeError):
                    layer.group_add(name, "valid")
        with self.assertRaises(TypeError):
            layer.receive(["bad name"])

    def test_non_dict_messages_raise(self) -> None:
        for message in (["list"], "text", b"bytes", None, 1):
            with self.subTest(message=message), self.assertRaises(TypeError):
                self.channel_layer.send("nondict_test", message)

    def test_unserializable_values_raise(self) -> None:
        with self.assertRaises(TypeError):
            self.channel_layer.send("unser_test", {"value": object()})
        self.assertEqual(self.receive(["unser_test"]), (None, None))

    def test_keys_that_are_not_str_raise_at_any_depth(self) -> None:
        layer = self.channel_layer
        bad_messages = [
            {1: "top level"},
            {"nested": {1: 2}},
            {"list": [{"ok": 1}, {b"bytes": 2}]},
            {"deep": [[{"a": {None: 3}}]]},
        ]
        if "groups" in layer.extensions:
            layer.group_add("badkeys_group", "badkeys_member")
        for message in bad_messages:
            with self.subTest(message=message), self.assertRaises((TypeError, ValueError)):
                layer.send("badkeys_test", message)
            if "groups" in layer.extensions:
                with self.subTest(group=message), self.assertRaises((TypeError, ValueError)):
                    layer.send_group("badkeys_group", message)
        self.assertEqual(self.receive(["badkeys_test", "badkeys_member"]), (None, None))
        layer.send("badkeys_test", {"nested": {"ok": [{"fine": 1}]}})
        self.assertEqual(
            self.receive(["badkeys_test"]), ("badkeys_test", {"nested": {"ok": [{"fine": 1}]}})
        )

    def test_one_megabyte_message_round_trips(self) -> None:
        message = {"payload": "x" * (1024 * 1024)}
        self.channel_layer.send("big_test", message)
        self.assertEqual(self.receive(["big_test"]), ("big_test", message))

    def test_message_too_large_raises(self) -> None:
        layer = self.channel_layer
        limit = getattr(layer, "max_message_size", None)
        if limit is None:
            raise unittest.SkipTest("the layer has no max_message_size")
        with self.assertRaises(layer.MessageTooLarge):
            layer.send("toolarge_test", {"payload": b"x" * (limit + 1)})
        self.assertEqual(self.receive(["toolarge_test"]), (None, None))
        if "groups" in layer.extensions:
            layer.group_add("toolarge_group", "toolarge_test")
            with self.assertRaises(layer.MessageTooLarge):
                layer.send_group("toolarge_group", {"payload": b"x" * (limit + 1)})

    def test_blocking_receive_wakes_promptly_when_a_message_arrives(self) -> None:
        layer = self.channel_layer
        self.assert_wakes_promptly(
            lambda: layer.receive(["block_test"], block=True),
            "block_test",
            ("block_test", {"value": 1}),
        )

    def assert_wakes_promptly(
        self, receive: Callable[[], Any], channel: str, expected: Any
    ) -> None:
        """``receive()`` (blocking, in a thread) returns ``expected`` within
        0.5 s of ``{"value": 1}`` being sent to ``channel``, and nothing before."""
        result: dict[str, Any] = {}

        def wait_for_message() -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                got = receive()
                if got and got[0] is not None:
                    result["at"] = time.monotonic()
                    result["got"] = got
                    return

        thread = threading.Thread(target=wait_for_message)
        thread.start()
        time.sleep(0.3)
        sent_at = time.monotonic()
        self.channel_layer.send(channel, {"value": 1})
        thread.join(15)
        self.assertEqual(result.get("got"), expected)
        self.assertLess(result["at"] - sent_at, 0.5)

    def test_process_specific_group_members_each_get_one_copy(self) -> None:
        self.skip_if_no_extension("groups")
        layer = self.channel_layer
        members = [f"pgm!{i}" for i in range(5)]
        for channel in members:
            layer.group_add("pgm_group", channel)
        layer.send_group("pgm_group", {"value": "x"})
        got = [self.receive(["pgm!"])[0] for _ in range(len(members))]
        self.assertEqual(sorted(got), sorted(members))
        self.assertEqual(self.receive(["pgm!"]), (None, None))

    # -- batches (send_batch / receive_batch, on every BaseChannelLayer) ------------

    def test_send_batch_reports_each_message_and_keeps_order(self) -> None:
        layer = self.channel_layer
        outcome = layer.send_batch(
            [
                ("batch_a!x", {"n": 1}),
                ("batch b", {"n": 2}),  # invalid name
                ("batch_a!x", {"n": 3}),
                ("batch_c", {"n": 4}),
                ("batch_a!x", {1: "not a str key"}),
                ("batch_a!x", {"n": 5}),
            ]
        )
        self.assertIsInstance(outcome[1], TypeError)
        self.assertIsInstance(outcome[4], TypeError)
        self.assertEqual([outcome[i] for i in (0, 2, 3, 5)], [None] * 4)
        got = [self.receive(["batch_a!"]) for _ in range(3)]
        self.assertEqual(got, [("batch_a!x", {"n": n}) for n in (1, 3, 5)])
        self.assertEqual(self.receive(["batch_a!"]), (None, None))
        self.assertEqual(self.receive(["batch_c"]), ("batch_c", {"n": 4}))

    def test_send_batch_past_capacity_refuses_the_rest_of_a_channel(self) -> None:
        if self.capacity_limit is None:
            raise unittest.SkipTest("capacity_limit is not set")
        layer = self.channel_layer
        extra = 3
        messages: list[tuple[str, dict[str, Any]]] = [
            ("batchcap!a", {"n": i}) for i in range(self.capacity_limit + extra)
        ]
        messages.insert(1, ("batchcap_other", {"n": "other"}))
        outcome = layer.send_batch(messages)
        self.assertIsNone(outcome[1])
        refused = [i for i, error in enumerate(outcome) if error is not None]
        self.assertEqual(len(refused), extra)
        for i in refused:
            self.assertIsInstance(outcome[i], layer.ChannelFull)
        # the refused ones are the last ones: nothing overtook a refused message
        self.assertEqual(refused, list(range(len(messages) - extra, len(messages))))
        got = []
        while True:
            channel, message = self.receive(["batchcap!"])
            if channel is None:
                break
            got.append(message["n"])
        self.assertEqual(got, list(range(self.capacity_limit)))

    def test_receive_batch_takes_at_most_limit_in_order(self) -> None:
        layer = self.channel_layer
        self.assertEqual(layer.receive_batch(["rb_test!"], limit=3), [])
        for i in range(4):
            layer.send("rb_test!a", {"n": i})
        got: list[Any] = []
        while len(got) < 4:
            batch = layer.receive_batch(["rb_test!"], limit=3)
            self.assertTrue(1 <= len(batch) <= 3, batch)
            got.extend(batch)
        self.assertEqual(got, [("rb_test!a", {"n": i}) for i in range(4)])
        self.assertEqual(layer.receive_batch(["rb_test!"], limit=3), [])

    def test_blocking_receive_batch_waits_for_a_message(self) -> None:
        layer = self.channel_layer
        self.assert_wakes_promptly(
            lambda: layer.receive_batch(["rbb_test"], block=True, limit=8),
            "rbb_test",
            [("rbb_test", {"value": 1})],
        )

    # -- the presence extension (not in ASGI 1; docs/asgi/layers.rst) ---------------

    def test_presence_lists_joined_members_with_their_meta_until_they_leave(self) -> None:
        self.skip_if_no_extension("presence")
        layer = self.channel_layer
        self.assertTrue(layer.presence_join("tp_room", "tp_test!a", {"user": "ann"}, 30))
        self.assertTrue(layer.presence_join("tp_room", "tp_test!b", {"user": "bob"}, 30))
        self.assertFalse(layer.presence_join("tp_room", "tp_test!a", {"user": "ann", "n": 2}, 30))
        self.assertEqual(
            layer.presence_members("tp_room"),
            {"tp_test!a": {"user": "ann", "n": 2}, "tp_test!b": {"user": "bob"}},
        )
        self.assertEqual(layer.presence_leave("tp_room", "tp_test!a"), {"user": "ann", "n": 2})
        self.assertIsNone(layer.presence_leave("tp_room", "tp_test!a"))
        self.assertEqual(layer.presence_members("tp_room"), {"tp_test!b": {"user": "bob"}})
        self.assertEqual(layer.presence_members("tp_other"), {})

    def test_presence_members_expire_unless_touched_and_are_reaped_once(self) -> None:
        self.skip_if_no_extension("presence")
        layer = self.channel_layer
        layer.presence_join("tpe_room", "tpe_test!kept", {"k": 1}, 0.6)
        layer.presence_join("tpe_room", "tpe_test!gone", {"k": 2}, 0.6)
        time.sleep(0.3)
        self.assertTrue(layer.presence_touch("tpe_room", "tpe_test!kept", 0.6))
        time.sleep(0.4)
        self.assertEqual(layer.presence_members("tpe_room"), {"tpe_test!kept": {"k": 1}})
        self.assertFalse(layer.presence_touch("tpe_room", "tpe_test!gone", 0.6))
        self.assertEqual(layer.presence_reap("tpe_room"), {"tpe_test!gone": {"k": 2}})
        self.assertEqual(layer.presence_reap("tpe_room"), {})
        self.assertFalse(layer.presence_touch("tpe_room", "tpe_test!nobody", 0.6))

    def test_presence_rejoin_after_expiry_counts_as_a_new_join(self) -> None:
        self.skip_if_no_extension("presence")
        layer = self.channel_layer
        layer.presence_join("tpr_room", "tpr_test!a", {}, 0.2)
        time.sleep(0.3)
        self.assertTrue(layer.presence_join("tpr_room", "tpr_test!a", {}, 30))

    def test_presence_refuses_bad_names_and_ttls(self) -> None:
        self.skip_if_no_extension("presence")
        layer = self.channel_layer
        with self.assertRaises((TypeError, ValueError)):
            layer.presence_join("bad name", "tpb_test", {}, 30)
        with self.assertRaises(ValueError):
            layer.presence_join("tpb_room", "tpb_test", {}, 0)
        with self.assertRaises((TypeError, ValueError)):
            layer.presence_join("tpb_room", "tpb_test", "not a dict", 30)
