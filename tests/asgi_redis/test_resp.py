"""The sans-IO RESP rules both I/O paths of the Redis layer share
(``asgi_redis._resp``): packing commands, matching replies to commands,
error replies, deadlines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi_redis import RedisCommandError, RedisUnavailable, RedisWritesRefused
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
