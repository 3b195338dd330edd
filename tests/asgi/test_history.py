"""The sans-IO parts of the ``history`` extension: the offset mark, option
checks, and the in-memory history store, on an injected clock.

See asgi/_history.py and docs/asgi/layers.rst, "Extensions".
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi._history import (
    OFFSET_MARK,
    OFFSET_WIDTH,
    MemoryHistory,
    check_history_options,
    fill_offset,
    offset_text,
)
from asgi.inmemory import ChannelLayer

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@given(st.integers(min_value=0, max_value=2**53), st.text(max_size=30))
def test_a_filled_mark_keeps_the_length_and_leaves_valid_json(offset, text):
    envelope = '{"offset":' + OFFSET_MARK + ',"text":' + json.dumps(text) + "}"
    filled = fill_offset({"text": envelope}, offset)["text"]
    assert len(filled) == len(envelope)
    assert json.loads(filled) == {"offset": offset, "text": text}


def test_fill_offset_reaches_nested_values_and_copies_only_what_changes():
    untouched = {"k": [1, "plain"]}
    message = {"a": [OFFSET_MARK, ("x", OFFSET_MARK)], "b": untouched, "c": b"bytes"}
    filled = fill_offset(message, 7)
    text = offset_text(7)
    assert filled == {"a": [text, ("x", text)], "b": untouched, "c": b"bytes"}
    assert filled["b"] is untouched
    assert message["a"][0] == OFFSET_MARK  # the original is not changed
    assert fill_offset(untouched, 7) is untouched


def test_an_offset_wider_than_the_mark_is_refused_rather_than_corrupting_a_message():
    assert len(offset_text(10**OFFSET_WIDTH - 1)) == OFFSET_WIDTH
    with pytest.raises(ValueError, match="offset"):
        offset_text(10**OFFSET_WIDTH)


@pytest.mark.parametrize(
    ("size", "ttl"), [(0, 1), (-1, 1), (True, 1), (2.0, 1), (1, 0), (1, -1), (1, None), (1, True)]
)
def test_bad_history_options_raise_value_error_saying_what_was_expected(size, ttl):
    with pytest.raises(ValueError, match="history (size|ttl)"):
        check_history_options(size, ttl)


def test_offsets_are_consecutive_while_the_history_lives_and_jump_ahead_after_it_expired():
    store, clock = MemoryHistory(), Clock()
    first = store.append("g", clock(), ttl=10)
    second = store.append("g", clock(), ttl=10)
    assert second == first + 1
    clock.now += 9.5  # each send renews the ttl
    third = store.append("g", clock(), ttl=10)
    assert third == second + 1
    clock.now += 10
    assert store.read("g", third, clock()) == ([], True, 0)
    again = store.append("g", clock(), ttl=10)
    assert again > third + 1


def test_offsets_never_go_back_even_when_the_clock_does():
    store, clock = MemoryHistory(), Clock()
    last = store.append("g", clock(), ttl=1)
    for _ in range(3):
        clock.now += 2  # the history expires...
        store.sweep(clock())
        clock.now -= 1.5  # ...and a clock steps back a little
        offset = store.append("g", clock(), ttl=1)
        assert offset > last
        last = offset


def test_the_in_memory_layer_expires_history_on_its_own_clock():
    clock = Clock()
    layer = ChannelLayer(clock=clock)
    offset = layer.send_group_history("g", {"text": OFFSET_MARK}, 3, 5)
    clock.now += 4.9
    messages, gap, last = layer.group_history("g", 0)
    assert ([o for o, _ in messages], gap, last) == ([offset], False, offset)
    clock.now += 0.2
    assert layer.group_history("g", offset - 1) == ([], True, 0)


def test_history_read_returns_copies_that_a_reader_may_change():
    layer = ChannelLayer()
    layer.send_group_history("g", {"text": OFFSET_MARK, "items": [1]}, 3, 60)
    ((_, message),) = layer.group_history("g", 0).messages
    message["items"].append(2)
    ((_, again),) = layer.group_history("g", 0).messages
    assert again["items"] == [1]


def test_flush_forgets_every_history():
    layer = ChannelLayer()
    layer.send_group_history("g", {"text": "x"}, 3, 60)
    layer.flush()
    assert layer.group_history("g", 0) == ([], False, 0)
