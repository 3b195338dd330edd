"""The conformance tests of the ``history`` extension (docs/asgi/layers.rst,
"Extensions"), part of :class:`asgi.conformance.ConformanceTestCase`.

They run for layers that list ``history`` and skip otherwise; they use the
test case's ``channel_layer``, ``receive`` and ``skip_if_no_extension``.
"""

from __future__ import annotations

import time
import unittest
from typing import TYPE_CHECKING, Any, ClassVar

from ._history import OFFSET_MARK

__all__ = ["HistoryConformance"]

if TYPE_CHECKING:
    _TestCase = unittest.TestCase
else:
    _TestCase = object


def numbered(text: str) -> dict[str, Any]:
    """A message whose text asks for its offset."""
    return {"text": f"{text}@{OFFSET_MARK}"}


def offset_of(message: dict[str, Any]) -> int:
    """The offset a layer wrote into a :func:`numbered` message."""
    written = message["text"].split("@", 1)[1]
    return int(written)


class HistoryConformance(_TestCase):
    """Offsets, delivery, bounds, expiry and gaps of ``send_group_history``;
    mixed into ``ConformanceTestCase`` (a ``unittest.TestCase``)."""

    if TYPE_CHECKING:
        channel_layer: ClassVar[Any]

        def receive(self, channels: list[str], layer: Any = None) -> tuple[str | None, Any]: ...

        def skip_if_no_extension(self, extension: str) -> None: ...

    def test_history_sends_reach_members_numbered_in_increasing_order(self) -> None:
        self.skip_if_no_extension("history")
        layer = self.channel_layer
        layer.group_add("hist_a", "hist_a_member!1")
        layer.group_add("hist_a", "hist_a_plain")
        offsets = [layer.send_group_history("hist_a", numbered(f"m{i}"), 10, 60) for i in range(3)]
        self.assertEqual(offsets, [offsets[0], offsets[0] + 1, offsets[0] + 2])
        for channel in ("hist_a_member!", "hist_a_plain"):
            got = [self.receive([channel])[1] for _ in range(3)]
            self.assertEqual([offset_of(m) for m in got], offsets)
            self.assertEqual([m["text"].split("@")[0] for m in got], ["m0", "m1", "m2"])
            # the offset is padded to the mark's width, so JSON stays valid
            self.assertEqual(len(got[0]["text"]), len(numbered("m0")["text"]))

    def test_group_history_returns_what_came_after_an_offset_in_order(self) -> None:
        self.skip_if_no_extension("history")
        layer = self.channel_layer
        offsets = [layer.send_group_history("hist_b", numbered(f"m{i}"), 10, 60) for i in range(4)]
        messages, gap, last = layer.group_history("hist_b", offsets[1])
        self.assertEqual([offset for offset, _ in messages], offsets[2:])
        self.assertEqual([offset_of(m) for _, m in messages], offsets[2:])
        self.assertFalse(gap)
        self.assertEqual(last, offsets[-1])
        self.assertEqual(layer.group_history("hist_b", offsets[-1]), ([], False, offsets[-1]))
        everything, gap, _ = layer.group_history("hist_b", 0)
        self.assertEqual([offset for offset, _ in everything], offsets)
        self.assertFalse(gap)

    def test_group_history_keeps_only_the_last_size_messages_and_reports_a_gap(self) -> None:
        self.skip_if_no_extension("history")
        layer = self.channel_layer
        offsets = [layer.send_group_history("hist_c", numbered(f"m{i}"), 3, 60) for i in range(6)]
        messages, gap, _ = layer.group_history("hist_c", offsets[0])
        self.assertEqual([offset for offset, _ in messages], offsets[3:])
        self.assertTrue(gap)
        # from the oldest one kept on, nothing is missing
        messages, gap, _ = layer.group_history("hist_c", offsets[2])
        self.assertEqual([offset for offset, _ in messages], offsets[3:])
        self.assertFalse(gap)

    def test_history_expires_and_later_offsets_still_increase(self) -> None:
        self.skip_if_no_extension("history")
        layer = self.channel_layer
        first = layer.send_group_history("hist_d", numbered("old"), 5, 0.5)
        time.sleep(0.8)
        self.assertEqual(layer.group_history("hist_d", first), ([], True, 0))
        self.assertEqual(layer.group_history("hist_d", 0), ([], False, 0))
        later = layer.send_group_history("hist_d", numbered("new"), 5, 0.5)
        self.assertGreater(later, first)

    def test_unknown_groups_have_no_history(self) -> None:
        self.skip_if_no_extension("history")
        self.assertEqual(self.channel_layer.group_history("hist_none", 0), ([], False, 0))

    def test_history_rejects_bad_options_and_offsets(self) -> None:
        self.skip_if_no_extension("history")
        layer = self.channel_layer
        for size, ttl in ((0, 10), (1.5, 10), (10, 0), (10, "60")):
            with self.assertRaises(ValueError):
                layer.send_group_history("hist_e", {"text": "x"}, size, ttl)
        with self.assertRaises(TypeError):
            layer.group_history("hist_e", "12")
        with self.assertRaises(ValueError):
            layer.group_history("hist_e", -1)
        with self.assertRaises(TypeError):
            layer.group_history("bad group", 0)
