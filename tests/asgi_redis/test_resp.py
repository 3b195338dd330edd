"""The sans-IO RESP rules both I/O paths of the Redis layer share
(``asgi_redis._resp``): packing commands, matching replies to commands,
error replies, deadlines."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi_redis import RedisCommandError, RedisUnavailable, RedisWritesRefused, _resp
from asgi_redis._resp import OutOfStep, ReplyQueue, pack, reply_error

pytestmark = pytest.mark.unit


class Delivered(list):
    """Records ``(token, answer, failed)`` as ``ReplyQueue.feed`` delivers them."""

    def __call__(self, token, answer, failed):
        self.append((token, answer, failed))


def test_pack_encodes_bytes_str_int_and_float_arguments():
    assert pack(("SET", b"k", 7, 1.5)) == (
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n7\r\n$3\r\n1.5\r\n"
    )


def test_pack_refuses_other_argument_types():
    with pytest.raises(TypeError, match="bytes, str or numbers"):
        pack(("SET", None))


@given(st.lists(st.binary(), min_size=1, max_size=6))
def test_a_packed_command_reads_back_as_its_arguments(args):
    import hiredis

    reader = hiredis.Reader()
    reader.feed(pack(tuple(args)))
    assert reader.gets() == args


def test_replies_go_to_their_commands_in_order_even_split_across_reads():
    queue, delivered = ReplyQueue("r:1"), Delivered()
    queue.expect("first", None, 10)
    queue.expect("second", None, 10)
    assert queue.feed(b"+OK\r\n:4", delivered) is None
    assert delivered == [("first", b"OK", False)] and queue
    assert queue.feed(b"2\r\n", delivered) is None
    assert delivered[1] == ("second", 42, False) and not queue


def test_a_pipeline_gets_one_list_with_each_error_in_its_place():
    queue, delivered = ReplyQueue("r:1"), Delivered()
    queue.expect("batch", 3, 10)
    assert queue.feed(b":1\r\n-ERR wrong type\r\n:2\r\n", delivered) is None
    ((token, answer, failed),) = delivered
    assert token == "batch" and not failed
    assert answer[0] == 1 and answer[2] == 2
    assert isinstance(answer[1], RedisCommandError) and "wrong type" in str(answer[1])


def test_a_single_commands_error_reply_is_delivered_as_failed():
    queue, delivered = ReplyQueue("r:1"), Delivered()
    queue.expect("set", None, 10)
    queue.feed(b"-OOM command not allowed\r\n", delivered)
    ((_token, answer, failed),) = delivered
    assert failed and isinstance(answer, RedisWritesRefused)


def test_a_reply_that_means_reconnect_ends_the_stream_and_keeps_what_waits():
    queue, delivered = ReplyQueue("r:1"), Delivered()
    queue.expect("pop", None, 10)
    queue.expect("later", None, 10)
    broken = queue.feed(b"-READONLY You can't write against a read only replica.\r\n", delivered)
    assert isinstance(broken, RedisUnavailable) and "cannot serve writes" in str(broken)
    assert delivered == []
    assert [entry.token for entry in queue.take_all()] == ["pop", "later"] and not queue


def test_a_reply_nobody_asked_for_is_out_of_step():
    queue, delivered = ReplyQueue("r:1"), Delivered()
    broken = queue.feed(b"+OK\r\n", delivered)
    assert isinstance(broken, OutOfStep) and "r:1" in str(broken)


def test_a_command_written_while_delivering_queues_behind():
    queue = ReplyQueue("r:1")
    seen = []

    def deliver(token, answer, failed):
        seen.append(token)
        if token == "first":
            queue.expect("written in the callback", None, 10)

    queue.expect("first", None, 10)
    queue.feed(b"+A\r\n+B\r\n", deliver)
    assert seen == ["first", "written in the callback"]


def test_the_earliest_deadline_is_the_nearest_of_those_waiting():
    queue = ReplyQueue("r:1")
    assert queue.earliest() is None
    queue.expect("long", None, 10.0)
    queue.expect("short", None, 3.0)
    assert queue.earliest() == 3.0
    assert ReplyQueue.overdue(3.0, 3.0 - 1e-9) and not ReplyQueue.overdue(3.0, 2.9)


@pytest.mark.parametrize(
    ("text", "kind", "drop"),
    [
        ("LOADING Redis is loading", RedisUnavailable, True),
        ("UNBLOCKED force unblock", RedisUnavailable, True),
        ("NOAUTH Authentication required.", RedisUnavailable, True),
        ("MISCONF errors writing to disk", RedisWritesRefused, False),
        ("ERR unknown command 'LMPOP'", RedisCommandError, False),
    ],
)
def test_error_replies_map_to_the_layers_exceptions(text, kind, drop):
    error, reconnect = reply_error("r:1", Exception(text))
    assert type(error) is kind and reconnect is drop


def fresh(prefix: str) -> str:
    """An argument no earlier pack() has cached."""
    return f"{prefix}-{uuid.uuid4().hex}"


def test_pack_encodes_arguments_it_has_not_seen_before():
    name, number = fresh("é"), int(uuid.uuid4().int % 10**12) + 10**12
    encoded_name = name.encode()
    assert pack((name, -number, 0.25 + number)) == (
        b"*3\r\n"
        + b"$%d\r\n%s\r\n" % (len(encoded_name), encoded_name)
        + b"$%d\r\n-%d\r\n" % (len(str(number)) + 1, number)
        + b"$%d\r\n%s\r\n" % (len(repr(0.25 + number)), repr(0.25 + number).encode())
    )


def test_pack_gives_the_same_bytes_from_its_cache_and_keeps_the_cache_bounded():
    name = fresh("k")
    first = pack(("GET", name))
    assert pack(("GET", name)) == first
    for n in range(9000):
        pack((fresh(str(n)),))
    assert 0 < len(_resp._encoded) <= 8192
    assert pack(("GET", name)) == first


def test_a_pipeline_reply_is_delivered_as_not_failed_and_an_error_as_failed():
    queue, delivered = ReplyQueue("r:1"), Delivered()
    queue.expect("batch", 2, 10)
    queue.expect("get", None, 10)
    queue.expect("set", None, 10)
    queue.feed(b":1\r\n:2\r\n$1\r\nx\r\n-ERR no such key\r\n", delivered)
    assert [(token, failed) for token, _, failed in delivered] == [
        ("batch", False),
        ("get", False),
        ("set", True),
    ]
    assert all(type(failed) is bool for _, _, failed in delivered)
    assert delivered[0][1] == [1, 2] and delivered[1][1] == b"x"


def test_replies_after_a_commands_error_still_reach_their_commands():
    queue, delivered = ReplyQueue("r:1"), Delivered()
    for token in ("a", "b", "c"):
        queue.expect(token, None, 10)
    queue.feed(b"-ERR bad\r\n+OK\r\n:3\r\n", delivered)
    assert [token for token, _, _ in delivered] == ["a", "b", "c"]
    assert isinstance(delivered[0][1], RedisCommandError) and delivered[2][1] == 3
    assert not queue


def test_a_reconnect_reply_names_the_server():
    queue, delivered = ReplyQueue("redis://r:7/0"), Delivered()
    queue.expect("pop", None, 10)
    broken = queue.feed(b"-MASTERDOWN Link with MASTER is down\r\n", delivered)
    assert str(broken) == (
        "Redis at redis://r:7/0 cannot serve writes now: MASTERDOWN Link with MASTER is down"
    )


@pytest.mark.parametrize(
    ("text", "message", "drop"),
    [
        ("READONLY replica", "Redis at r:1 cannot serve writes now: READONLY replica", True),
        ("MASTERDOWN down", "Redis at r:1 cannot serve writes now: MASTERDOWN down", True),
        (
            "OOM command not allowed",
            "Redis at r:1 refuses writes now: OOM command not allowed",
            False,
        ),
        ("WRONGPASS bad", "Redis at r:1 refused the credentials: WRONGPASS bad", True),
        ("NOAUTH needed", "Redis at r:1 refused the credentials: NOAUTH needed", True),
        ("ERR other", "ERR other", False),
    ],
)
def test_error_replies_say_what_the_server_said_and_where(text, message, drop):
    error, reconnect = reply_error("r:1", Exception(text))
    assert str(error) == message and reconnect is drop


def test_overdue_is_within_a_microsecond_of_the_deadline_inclusive():
    assert ReplyQueue.overdue(_resp.EPSILON, 0.0)
    assert not ReplyQueue.overdue(2 * _resp.EPSILON, 0.0)
