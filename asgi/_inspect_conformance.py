"""The conformance tests of the ``inspect`` extension (docs/asgi/layers.rst,
"Extensions"), part of :class:`asgi.conformance.ConformanceTestCase`.

They run for layers that list ``inspect`` and skip otherwise; they use the
test case's ``channel_layer``, ``receive`` and ``skip_if_no_extension``.
"""

from __future__ import annotations

import time
import unittest
from typing import TYPE_CHECKING, Any, ClassVar

__all__ = ["InspectConformance"]


if TYPE_CHECKING:
    _TestCase = unittest.TestCase
else:
    _TestCase = object


class InspectConformance(_TestCase):
    """Mixed into ``ConformanceTestCase`` (a ``unittest.TestCase``)."""

    if TYPE_CHECKING:
        channel_layer: ClassVar[Any]

        def receive(self, channels: list[str], layer: Any = None) -> tuple[str | None, Any]: ...

        def skip_if_no_extension(self, extension: str) -> None: ...

    # -- the inspect extension ----------------------------------------------------------

    def process_record(self, kind: str, host: str, pid: int, **fields: Any) -> dict[str, Any]:
        """A heartbeat record shaped as ``asgi/heartbeat.py`` builds them."""
        now = time.time()
        record: dict[str, Any] = {
            "id": f"{kind}:{host}:{pid}:{pid:08x}",
            "kind": kind,
            "host": host,
            "pid": pid,
            "version": "0.0-conformance",
            "channels": ["http.request"],
            "handled": 0,
            "last_activity": now,
            "started": now,
        }
        record.update(fields)
        return record

    def inspected(self, channels: Any = None) -> dict[str, dict[str, Any]]:
        """``inspect_channels(channels)`` by channel name."""
        return {entry["channel"]: entry for entry in self.channel_layer.inspect_channels(channels)}

    def test_heartbeats_are_listed_sorted_by_kind_host_and_pid(self) -> None:
        self.skip_if_no_extension("inspect")
        layer = self.channel_layer
        records = [
            self.process_record("worker", "b-host", 7),
            self.process_record("daphne", "a-host", 30, channels=["http.response!*"]),
            self.process_record("worker", "a-host", 12),
            self.process_record("worker", "a-host", 9),
        ]
        for record in records:
            layer.heartbeat(record, 30)
        got = layer.inspect_processes()
        self.assertEqual(
            [(r["kind"], r["host"], r["pid"]) for r in got],
            [
                ("daphne", "a-host", 30),
                ("worker", "a-host", 9),
                ("worker", "a-host", 12),
                ("worker", "b-host", 7),
            ],
        )
        self.assertEqual(got[0], records[1])

    def test_heartbeat_renewal_replaces_the_record(self) -> None:
        self.skip_if_no_extension("inspect")
        layer = self.channel_layer
        record = self.process_record("worker", "renew-host", 1)
        layer.heartbeat(record, 30)
        layer.heartbeat({**record, "handled": 42}, 30)
        got = [r for r in layer.inspect_processes() if r["id"] == record["id"]]
        self.assertEqual([r["handled"] for r in got], [42])

    def test_heartbeat_expires_after_its_ttl_and_remove_is_immediate(self) -> None:
        self.skip_if_no_extension("inspect")
        layer = self.channel_layer
        short = self.process_record("worker", "short-host", 2)
        kept = self.process_record("worker", "kept-host", 3)
        removed = self.process_record("worker", "removed-host", 4)
        layer.heartbeat(short, 0.5)
        layer.heartbeat(kept, 30)
        layer.heartbeat(removed, 30)
        layer.heartbeat_remove(removed["id"])
        layer.heartbeat_remove("never:registered:0:00000000")  # absent: no error
        self.assertEqual({r["id"] for r in layer.inspect_processes()}, {short["id"], kept["id"]})
        time.sleep(0.8)
        self.assertEqual([r["id"] for r in layer.inspect_processes()], [kept["id"]])

    def test_heartbeat_refuses_bad_records_and_ttls(self) -> None:
        self.skip_if_no_extension("inspect")
        layer = self.channel_layer
        good = self.process_record("worker", "bad-host", 5)
        bad_calls = [
            (["not", "a", "dict"], 10),
            ({"kind": "worker"}, 10),  # no id
            ({**good, "id": ""}, 10),
            ({**good, "extra": object()}, 10),
            (good, 0),
            (good, -1),
            (good, "15"),
            (good, float("nan")),
        ]
        for record, ttl in bad_calls:
            with self.subTest(record=record, ttl=ttl), self.assertRaises((TypeError, ValueError)):
                layer.heartbeat(record, ttl)
        with self.assertRaises(TypeError):
            layer.heartbeat_remove(None)
        self.assertEqual([r for r in layer.inspect_processes() if r.get("host") == "bad-host"], [])

    def test_inspect_channels_reports_depth_capacity_and_oldest_age(self) -> None:
        self.skip_if_no_extension("inspect")
        layer = self.channel_layer
        before = time.monotonic()
        for n in range(3):
            layer.send("insp_depth", {"n": n})
        time.sleep(0.3)
        entry = self.inspected()["insp_depth"]
        elapsed = time.monotonic() - before
        self.assertEqual(entry["depth"], 3)
        self.assertEqual(entry["capacity"], layer.get_capacity("insp_depth"))
        self.assertIsInstance(entry["oldest_age"], float)
        # clocks of a network layer may be a few ms apart from ours
        self.assertGreaterEqual(entry["oldest_age"], 0.25)
        self.assertLessEqual(entry["oldest_age"], elapsed + 0.05)
        self.receive(["insp_depth"])
        self.assertEqual(self.inspected()["insp_depth"]["depth"], 2)

    def test_inspect_channels_without_names_lists_only_waiting_channels(self) -> None:
        self.skip_if_no_extension("inspect")
        layer = self.channel_layer
        layer.send("insp_waiting", {})
        layer.send("insp_read", {})
        self.assertEqual(self.receive(["insp_read"])[0], "insp_read")
        found = self.inspected()
        self.assertIn("insp_waiting", found)
        self.assertNotIn("insp_read", found)
        self.assertTrue(all(entry["depth"] > 0 for entry in found.values()), found)

    def test_named_channels_are_reported_even_when_empty(self) -> None:
        self.skip_if_no_extension("inspect")
        layer = self.channel_layer
        layer.send("insp_named_full", {})
        found = layer.inspect_channels(["insp_named_empty", "insp_named_full"])
        self.assertEqual(
            [entry["channel"] for entry in found], ["insp_named_empty", "insp_named_full"]
        )
        empty, full = found
        self.assertEqual((empty["depth"], empty["oldest_age"]), (0, None))
        self.assertEqual(empty["capacity"], layer.get_capacity("insp_named_empty"))
        self.assertEqual(full["depth"], 1)

    def test_process_specific_channels_are_reported_by_full_name_or_prefix(self) -> None:
        self.skip_if_no_extension("inspect")
        layer = self.channel_layer
        layer.send("insp_proc!a", {})
        layer.send("insp_proc!b", {})
        layer.send("insp_proc!b", {})
        found = self.inspected()
        if "insp_proc!" in found:
            self.assertEqual(found["insp_proc!"]["depth"], 3)
        else:
            self.assertEqual(found["insp_proc!a"]["depth"], 1)
            self.assertEqual(found["insp_proc!b"]["depth"], 2)
        self.assertEqual(self.inspected(["insp_proc!"])["insp_proc!"]["depth"], 3)

    def test_inspect_channels_refuses_bad_names(self) -> None:
        self.skip_if_no_extension("inspect")
        for bad in (["bad name"], [b"bytes"], "insp_a_str_not_a_list", 12):
            with self.subTest(channels=bad), self.assertRaises(TypeError):
                self.channel_layer.inspect_channels(bad)

    def test_inspect_groups_reports_sizes_and_members_on_request(self) -> None:
        self.skip_if_no_extension("inspect")
        self.skip_if_no_extension("groups")
        layer = self.channel_layer
        for channel in ("insp_m3", "insp_m1!x", "insp_m2"):
            layer.group_add("insp_group", channel)
        layer.group_add("insp_single", "insp_m1!x")
        layer.group_add("insp_gone", "insp_m4")
        layer.group_discard("insp_gone", "insp_m4")
        sizes = {entry["group"]: entry for entry in layer.inspect_groups()}
        self.assertEqual(sizes["insp_group"], {"group": "insp_group", "size": 3})
        self.assertEqual(sizes["insp_single"], {"group": "insp_single", "size": 1})
        self.assertNotIn("insp_gone", sizes)
        detailed = {entry["group"]: entry for entry in layer.inspect_groups(members=True)}
        self.assertEqual(detailed["insp_group"]["members"], ["insp_m1!x", "insp_m2", "insp_m3"])
        self.assertEqual(detailed["insp_group"]["size"], 3)

    def test_inspect_shards_reports_each_server_reachable_with_a_latency(self) -> None:
        self.skip_if_no_extension("inspect")
        shards = self.channel_layer.inspect_shards()
        self.assertGreaterEqual(len(shards), 1)
        for shard in shards:
            self.assertEqual(set(shard), {"shard", "reachable", "latency"})
            self.assertIsInstance(shard["shard"], str)
            self.assertIs(shard["reachable"], True)
            self.assertIsInstance(shard["latency"], float)
            self.assertGreaterEqual(shard["latency"], 0.0)
            self.assertLess(shard["latency"], 1.0)
