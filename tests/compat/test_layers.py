"""1.x-style tests of the channel layers that need no server: the in-memory
layer's copy on send, ``valid_channel_names``' AssertionError, probing
``asgi_redis`` for ``RedisLocalChannelLayer``, and what
``RedisChannelLayer.connection(index)`` hands back.

Messages are hand-built dicts, as 1.x tests wrote them.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict

import pytest
import redis

import asgi_redis
from asgi.base_layer import BaseChannelLayer
from asgi.inmemory import ChannelLayer
from asgi_redis import RedisChannelLayer
from channels import Channel
from channels.test import ChannelTestCase

pytestmark = pytest.mark.unit


@pytest.fixture
def layer() -> ChannelLayer:
    return ChannelLayer()


# -- item 4: the in-memory layer hands back a deep copy of what was sent -------------


def test_tuples_in_a_message_come_back_as_tuples(layer):
    layer.send(
        "http.request",
        {
            "headers": [(b"host", b"example.com"), (b"accept", b"*/*")],
            "client": ("127.0.0.1", 5000),
            "nested": {"pair": (1, [2, (3, 4)])},
        },
    )
    channel, message = layer.receive(["http.request"])
    assert channel == "http.request"
    assert message["headers"] == [(b"host", b"example.com"), (b"accept", b"*/*")]
    assert all(type(header) is tuple for header in message["headers"])
    assert type(message["client"]) is tuple
    assert message["nested"]["pair"] == (1, [2, (3, 4)])
    assert type(message["nested"]["pair"][1]) is list
    assert type(message["nested"]["pair"][1][1]) is tuple


def test_changing_the_sent_message_afterwards_does_not_change_the_received_one(layer):
    sent = {"text": "hi", "path": ["a", "b"], "meta": {"tags": ["x"]}}
    layer.send("websocket.receive", sent)
    sent["text"] = "changed"
    sent["path"].append("c")
    sent["meta"]["tags"].append("y")
    _, message = layer.receive(["websocket.receive"])
    assert message == {"text": "hi", "path": ["a", "b"], "meta": {"tags": ["x"]}}


def test_the_receiver_gets_its_own_objects_not_the_senders(layer):
    sent = {"path": ["a"], "meta": {"k": [1]}}
    layer.send("chan", sent)
    _, message = layer.receive(["chan"])
    assert message is not sent
    assert message["path"] is not sent["path"]
    assert message["meta"]["k"] is not sent["meta"]["k"]


def test_process_specific_channels_hand_back_the_full_name_and_a_copy(layer):
    layer.send("daphne.response.abc!one", {"status": 200, "headers": [(b"a", b"b")]})
    channel, message = layer.receive(["daphne.response.abc!"])
    assert channel == "daphne.response.abc!one"
    assert message == {"status": 200, "headers": [(b"a", b"b")]}


def test_each_group_member_gets_its_own_copy(layer):
    layer.group_add("room", "member.one")
    layer.group_add("room", "member.two")
    sent = {"text": "hello", "items": [(1, 2)]}
    layer.send_group("room", sent)
    sent["items"].append((3, 4))
    _, first = layer.receive(["member.one"])
    first["items"].append("mutated by one consumer")
    _, second = layer.receive(["member.two"])
    assert second == {"text": "hello", "items": [(1, 2)]}
    assert type(second["items"][0]) is tuple


def test_a_dict_subclass_keeps_its_type_as_with_deepcopy(layer):
    layer.send("chan", {"ordered": OrderedDict([("b", 1), ("a", 2)])})
    _, message = layer.receive(["chan"])
    assert type(message["ordered"]) is OrderedDict
    assert list(message["ordered"]) == ["b", "a"]


def test_a_value_no_network_layer_could_carry_is_refused(layer):
    with pytest.raises(TypeError, match="Message values must be"):
        layer.send("chan", {"when": object()})
    with pytest.raises(TypeError, match="Message values must be"):
        layer.send_group("room", {"tags": {"a", "b"}})
    assert layer.receive(["chan"]) == (None, None)


def test_a_dict_key_that_is_not_a_str_is_refused(layer):
    with pytest.raises(TypeError, match="keys must be str"):
        layer.send("chan", {"map": {1: "one"}})


def test_a_message_that_is_not_a_dict_is_refused(layer):
    with pytest.raises(TypeError, match="must be a dict"):
        layer.send("chan", [("text", "hi")])


def test_a_message_over_the_size_limit_raises_message_too_large(layer):
    big = {"bytes": b"x" * (layer.max_message_size + 1)}
    with pytest.raises(layer.MessageTooLarge, match="max_message_size"):
        layer.send("chan", big)
    layer.group_add("room", "member.one")
    with pytest.raises(layer.MessageTooLarge, match="max_message_size"):
        layer.send_group("room", big)
    assert layer.receive(["chan", "member.one"]) == (None, None)


class TupleMessagesTests(ChannelTestCase):
    """As a 1.x project's test suite would check it, through Channel.send."""

    def test_a_tuple_sent_through_a_channel_is_a_tuple_in_the_next_message(self):
        Channel("compat.tuples").send({"pair": ("a", 1), "pairs": [("b", 2)]})
        message = self.get_next_message("compat.tuples", require=True)
        self.assertEqual(message["pair"], ("a", 1))
        self.assertIsInstance(message.content["pairs"][0], tuple)


# -- item 13: valid_channel_names asserts a non-empty list, as 1.x did ----------------


@pytest.mark.parametrize("names", [[], (), "chan", ("chan",), None, {"chan"}])
def test_no_list_or_an_empty_one_raises_an_assertion_error(layer, names):
    with pytest.raises(AssertionError, match="non-empty list of channel names"):
        layer.receive(names)
    with pytest.raises(AssertionError, match="non-empty list of channel names"):
        BaseChannelLayer().valid_channel_names(names)


def test_the_no_list_error_is_also_a_type_error_and_invalid_channel_name(layer):
    from asgi.exceptions import InvalidChannelName

    with pytest.raises(TypeError, match="non-empty list") as caught:
        layer.receive([])
    assert isinstance(caught.value, InvalidChannelName)


def test_a_bad_name_inside_the_list_is_a_type_error_and_no_assertion_error(layer):
    with pytest.raises(TypeError, match="Channel name") as caught:
        layer.receive(["good.name", "bad name"])
    assert not isinstance(caught.value, AssertionError)


def test_an_assertion_catching_1x_test_still_passes(layer):
    try:
        layer.receive([])
    except AssertionError:
        caught = True
    else:
        caught = False
    assert caught


def test_a_valid_list_passes(layer):
    assert BaseChannelLayer().valid_channel_names(["a", "b!"], receive=True) is True


# -- RedisLocalChannelLayer: probing finds nothing, importing explains -----------------


def test_probing_for_the_local_layer_with_getattr_gets_none():
    assert getattr(asgi_redis, "RedisLocalChannelLayer", None) is None
    assert not hasattr(asgi_redis, "RedisLocalChannelLayer")


def test_importing_the_local_layer_names_the_replacement():
    with pytest.raises(ImportError, match="Use asgi_redis.RedisChannelLayer"):
        from asgi_redis import RedisLocalChannelLayer  # noqa: F401
    with pytest.raises(ImportError, match="asgi_ipc"):
        importlib.import_module("asgi_redis.local")


def test_reading_the_local_layer_attribute_explains_why_it_is_missing():
    with pytest.raises(AttributeError, match="asgi_ipc"):
        asgi_redis.RedisLocalChannelLayer  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        asgi_redis.Nothing  # noqa: B018


# -- item 14: connection(index) is a redis-py client (no server needed to build it) ---


def test_connection_returns_a_redis_py_client_per_shard_kept_for_reuse():
    layer = RedisChannelLayer(hosts=["redis://:sekret@10.0.0.1:6379/2", ("10.0.0.2", 6380)])
    first = layer.connection(0)
    assert isinstance(first, redis.Redis)
    assert layer.connection(0) is first
    assert layer.connection(1) is not first
    settings = first.connection_pool.connection_kwargs
    assert (settings["host"], settings["port"], settings["db"]) == ("10.0.0.1", 6379, 2)
    assert settings["password"] == "sekret"
    other = layer.connection(1).connection_pool.connection_kwargs
    assert (other["host"], other["port"], other["db"]) == ("10.0.0.2", 6380, 0)


def test_connection_keeps_the_tls_and_timeout_settings_of_the_shard():
    layer = RedisChannelLayer(
        hosts=["rediss://10.0.0.3:6390/0"], connection_kwargs={"socket_timeout": 30}
    )
    client = layer.connection(0)
    assert issubclass(client.connection_pool.connection_class, redis.SSLConnection)
    assert client.connection_pool.connection_kwargs["socket_timeout"] == 30


def test_connection_with_none_picks_one_of_the_shards():
    layer = RedisChannelLayer(hosts=[("10.0.0.1", 1), ("10.0.0.2", 2)])
    clients = {layer.connection(0), layer.connection(1)}
    assert all(layer.connection(None) in clients for _ in range(20))


def test_connection_with_an_index_out_of_range_raises_value_error():
    layer = RedisChannelLayer(hosts=[("10.0.0.1", 1)])
    with pytest.raises(ValueError, match="only 1 shards; index 1 is out of range"):
        layer.connection(1)
    with pytest.raises(ValueError, match="out of range"):
        layer.connection("0")
