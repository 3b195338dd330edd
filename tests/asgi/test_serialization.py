"""The wire encoding: what round-trips, and keys that are not str refused at any depth."""

from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi import serialization
from asgi.exceptions import InvalidMessage

pytestmark = pytest.mark.unit

leaves = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text() | st.binary()
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
messages = st.dictionaries(st.text(), values, max_size=6)
bad_keys = (
    st.integers(-(2**63), 2**63 - 1)
    | st.binary()
    | st.none()
    | st.booleans()
    | st.floats(allow_nan=False)
)


@given(messages)
def test_messages_with_str_keys_round_trip(message):
    assert serialization.loads(serialization.dumps(message)) == message


@given(messages, st.lists(st.sampled_from(["dict", "list"]), max_size=4), bad_keys)
def test_a_key_that_is_not_str_is_refused_at_any_depth_with_its_path(message, nesting, key):
    bad = {key: "value"}
    for kind in nesting:  # wrapped from the inside out
        bad = {"inner": bad} if kind == "dict" else [1, bad]
    path = "message['x']" + "".join(
        "['inner']" if kind == "dict" else "[1]" for kind in reversed(nesting)
    )
    message = {**message, "x": bad}
    with pytest.raises(InvalidMessage) as refused:
        serialization.dumps(message)
    assert isinstance(refused.value, TypeError)
    text = str(refused.value)
    assert "keys must be str" in text and f"{type(key).__name__} key {key!r} in " in text
    assert text.endswith(f" in {path}")


@pytest.mark.parametrize(
    ("message", "where"),
    [
        ({1: "top"}, "int key 1 in message"),
        ({"a": {1: 2}}, "int key 1 in message['a']"),
        ({"a": [{"b": {b"k": 1}}]}, "bytes key b'k' in message['a'][0]['b']"),
        ({"a": ({"ok": 1}, [{None: 2}])}, "NoneType key None in message['a'][1][0]"),
        ({"a": OrderedDict([(1, 2)])}, "int key 1 in message['a']"),
    ],
)
def test_the_error_names_the_key_and_where_it_is(message, where):
    with pytest.raises(InvalidMessage, match=r"^Message keys must be str: ") as refused:
        serialization.dumps(message)
    assert str(refused.value).endswith(where)


def test_str_subclass_keys_are_str():
    class Name(str):
        pass

    assert serialization.loads(serialization.dumps({Name("k"): {Name("j"): 1}})) == {"k": {"j": 1}}


def test_a_deeply_nested_message_is_checked_without_exhausting_the_stack():
    bad: object = {1: "deep"}
    for _ in range(800):
        bad = {"a": bad}
    with pytest.raises(InvalidMessage) as refused:
        serialization.dumps({"x": bad})
    assert str(refused.value).endswith("int key 1 in message['x']" + "['a']" * 800)
