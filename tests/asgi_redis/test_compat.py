"""The layer without redis-py's socket (``asgi_redis._compat``): links on
redis-py's own reads pass the conformance suite on one server and on three
shards, survive a server restart, and the reactor's receives and sends go
through the thread pool; with the socket there, the fast path is on."""

from __future__ import annotations

import logging
import time

import pytest
from redis import exceptions as redis_errors
from twisted.internet.epollreactor import EPollReactor

from asgi import conformance
from asgi_redis import RedisChannelLayer, RedisUnavailable, _compat, _link
from asgi_redis._link import Link
from tests.asgi_redis.test_reactor_io import on, settle
from tests.support.fast_paths import force_stock

pytestmark = pytest.mark.integration


@pytest.fixture
def stock(monkeypatch):
    force_stock(monkeypatch, _compat.REDIS_SOCKET)


def test_redis_py_keeps_the_socket_the_fast_path_reads():
    assert _compat.REDIS_SOCKET.check() == []


def test_a_layer_with_the_socket_there_uses_its_own_reader(layer):
    assert layer._shards[0].links.link_class is Link


def test_without_the_socket_one_info_line_says_so_and_links_use_redis_py(stock, make_layer, caplog):
    with caplog.at_level(logging.INFO, logger="asgi_redis.compat"):
        first, second = make_layer(), make_layer()
    lines = [r.getMessage() for r in caplog.records if r.name == "asgi_redis.compat"]
    assert lines == [
        "Fast path redis_socket is off (not found: forced off by the test); using "
        "redis-py's own reads and writes, and threads instead of the reactor"
    ]
    for layer in (first, second):
        assert layer._shards[0].links.link_class is _link.StockLink
    first.send("c.one", {"n": 1})
    assert first.receive(["c.one"]) == ("c.one", {"n": 1})


def test_stock_links_reload_scripts_the_server_forgot(stock, layer):
    layer.send("c.warm", {"n": 0})
    layer.connection(0).script_flush()  # the next EVALSHA is answered NOSCRIPT
    layer.send("c.after", {"n": 1})
    assert layer.receive(["c.after"]) == ("c.after", {"n": 1})


def test_stock_links_block_past_redis_py_socket_timeout(stock, make_layer, monkeypatch):
    monkeypatch.setattr(RedisChannelLayer, "blpop_timeout", 0.5)  # allows a 0.5 s socket timeout
    layer = make_layer(connection_kwargs={"socket_timeout": 0.5})
    layer.blpop_timeout = 1.5  # longer than the socket timeout now
    started = time.monotonic()
    assert layer.receive(["c.idle!"], block=True) == (None, None)
    assert time.monotonic() - started >= 1.4


def test_stock_links_recover_after_the_server_restarts(stock, make_redis_server):
    server = make_redis_server()
    layer = RedisChannelLayer(hosts=[server.url])
    try:
        layer.send("c.before", {"n": 1})
        server.kill()
        with pytest.raises(RedisUnavailable):
            layer.receive(["c.before"])
        server.start()
        time.sleep(0.3)  # idle links are checked after 0.25 s
        layer.send("c.after", {"n": 2})
        assert layer.receive(["c.after"]) == ("c.after", {"n": 2})
    finally:
        layer.close()


def test_without_the_socket_the_reactor_paths_use_the_thread_pool(stock, make_layer):
    reactor = EPollReactor()
    try:
        layer = on(make_layer(), reactor)
        assert settle(reactor, layer.send_batch_twisted([("c.proc!a", {"n": 1})])) == [None]
        assert settle(reactor, layer.receive_twisted(["c.proc!"])) == ("c.proc!a", {"n": 1})
        assert not layer._reactor_links
    finally:
        reactor.disconnectAll()


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (redis_errors.ReadOnlyError("You can't write against a read only replica."), "READONLY"),
        (redis_errors.BusyLoadingError("Redis is loading the dataset in memory"), "LOADING"),
        (
            redis_errors.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
            "OOM",
        ),
        (redis_errors.NoScriptError("No matching script."), "NOSCRIPT"),
        (redis_errors.ResponseError("MISCONF Errors writing to the AOF file"), "MISCONF"),
    ],
)
def test_an_error_reply_gets_back_the_code_redis_py_took_off(error, text):
    assert _link.error_reply_text(error).startswith(text + " ")


@pytest.fixture(scope="class")
def stock_layers(request, redis_url, shard_servers):
    """The class's layer on redis-py's own reads: one server, or three shards."""
    cls = request.cls
    hosts = [server.url for server in shard_servers] if cls.sharded else [redis_url]
    prefix = "cst3:" if cls.sharded else "cst1:"
    with pytest.MonkeyPatch.context() as patch:
        force_stock(patch, _compat.REDIS_SOCKET)

        def make_layer(**options):
            return RedisChannelLayer(hosts=hosts, prefix=prefix, **options)

        cls.make_layer = staticmethod(make_layer)
        cls.channel_layer = make_layer(expiry=1, group_expiry=2, capacity=5)
        cls.channel_layer.blpop_timeout = 1
        yield
        cls.channel_layer.flush()
        cls.channel_layer.close()


@pytest.mark.usefixtures("stock_layers")
class StockLinkConformanceTests(conformance.ConformanceTestCase):
    sharded = False
    expiry_delay = 1.1
    capacity_limit = 5


@pytest.mark.usefixtures("stock_layers")
class StockLinkShardedConformanceTests(conformance.ConformanceTestCase):
    sharded = True
    expiry_delay = 1.1
    capacity_limit = 5
