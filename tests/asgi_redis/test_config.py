"""Construction, validation and the pure helpers of asgi_redis (no server needed)."""

from __future__ import annotations

import binascii
import importlib
import sys
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import asgi_redis
from asgi_redis import RedisChannelLayer, RedisSentinelChannelLayer
from asgi_redis._codec import Encryptor, consistent_hash, item_tail, parse_item

pytestmark = pytest.mark.unit


def test_defaults_match_asgi_redis_1_4_3():
    layer = RedisChannelLayer()
    assert (layer.expiry, layer.group_expiry, layer.capacity) == (60, 86400, 100)
    assert (layer.prefix, layer.stats_prefix) == ("asgi:", "asgi-meta:")
    assert layer.hosts == ["redis://localhost:6379/0"]
    assert layer.blpop_timeout == 5
    assert layer.global_stats_key == "#global#"
    assert layer.crypter is None
    assert len(layer.client_prefix) == 8
    assert str(layer) == "RedisChannelLayer(hosts=['redis://localhost:6379/0'])"


def test_extensions_list_groups_flush_statistics_async_receive_leases_inspect_presence_history():
    assert set(RedisChannelLayer.extensions) == {
        "groups",
        "flush",
        "statistics",
        "twisted",
        "asyncio",
        "leases",
        "inspect",
        "presence",
        "history",
    }


def test_host_tuples_become_urls_and_urls_pass_through():
    layer = RedisChannelLayer(
        hosts=[
            ("10.0.0.1", 6380),
            "redis://:secret@10.0.0.2:6379/3",
            "rediss://10.0.0.3:6380/0",
            "unix:///run/redis.sock?db=1",
        ]
    )
    assert layer.hosts == [
        "redis://10.0.0.1:6380/0",
        "redis://:secret@10.0.0.2:6379/3",
        "rediss://10.0.0.3:6380/0",
        "unix:///run/redis.sock?db=1",
    ]
    assert layer.ring_size == 4


def test_error_messages_hide_the_password_in_host_urls():
    layer = RedisChannelLayer(hosts=["redis://:secret@10.0.0.2:6379/3"])
    assert "secret" not in layer.shard(0).where


@pytest.mark.parametrize(
    "hosts",
    [
        "redis://localhost:6379/0",
        [],
        [("localhost",)],
        [("localhost", "6379")],
        ["http://localhost:6379"],
        [42],
        42,
    ],
)
def test_bad_hosts_raise_value_error(hosts):
    with pytest.raises(ValueError):
        RedisChannelLayer(hosts=hosts)


def test_socket_timeout_below_the_blocking_timeout_is_refused():
    with pytest.raises(ValueError, match="socket_timeout"):
        RedisChannelLayer(connection_kwargs={"socket_timeout": 1})


def test_default_socket_timeout_exceeds_the_blocking_timeout():
    layer = RedisChannelLayer()
    assert layer.connection_kwargs["socket_timeout"] > layer.blpop_timeout
    custom = RedisChannelLayer(connection_kwargs={"socket_timeout": 30})
    assert custom.connection_kwargs["socket_timeout"] == 30


def test_connection_kwargs_must_be_a_dict():
    with pytest.raises(TypeError):
        RedisChannelLayer(connection_kwargs=[("socket_timeout", 10)])


@pytest.mark.parametrize(
    "options",
    [
        {"expiry": 0},
        {"expiry": "60"},
        {"group_expiry": -1},
        {"capacity": 0},
        {"capacity": 2.5},
        {"max_message_size": 1000},
    ],
)
def test_bad_numbers_raise_value_error(options):
    with pytest.raises(ValueError):
        RedisChannelLayer(**options)


@pytest.mark.parametrize("options", [{"prefix": b"asgi:"}, {"prefix": ""}, {"stats_prefix": None}])
def test_prefixes_must_be_strings(options):
    with pytest.raises(TypeError):
        RedisChannelLayer(**options)


def test_a_single_encryption_key_string_is_refused():
    with pytest.raises(ValueError, match="list"):
        RedisChannelLayer(symmetric_encryption_keys="one-key")


def test_encryption_without_cryptography_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cryptography.fernet", None)
    with pytest.raises(ValueError, match="cryptography"):
        RedisChannelLayer(symmetric_encryption_keys=["key"])


def test_first_key_encrypts_and_every_key_decrypts_so_keys_rotate():
    old = Encryptor(["old"], ttl=None)
    rotated = Encryptor(["new", "old"], ttl=None)
    token = old.encrypt(b"payload")
    assert rotated.decrypt(token) == b"payload"
    assert Encryptor(["new"], ttl=None).decrypt(rotated.encrypt(b"x")) == b"x"
    from cryptography.fernet import InvalidToken

    with pytest.raises(InvalidToken):
        old.decrypt(rotated.encrypt(b"x"))


def test_empty_encryption_key_is_refused():
    with pytest.raises(ValueError):
        Encryptor([""], ttl=None)


def test_redis_local_channel_layer_is_gone_and_names_the_alternative():
    with pytest.raises(ImportError, match="RedisChannelLayer"):
        from asgi_redis import RedisLocalChannelLayer  # noqa: F401
    with pytest.raises(ImportError, match="asgi_ipc"):
        importlib.import_module("asgi_redis.local")
    with pytest.raises(AttributeError, match="asgi_ipc"):
        asgi_redis.RedisLocalChannelLayer  # noqa: B018
    with pytest.raises(AttributeError):
        asgi_redis.NoSuchThing  # noqa: B018


def test_consistent_hash_is_crc32_based_and_stable():
    name = "http.response.abc!"
    expected = int((binascii.crc32(name.encode()) & 0xFFF) / (4096 / 3))
    assert consistent_hash(name, 3) == expected
    assert consistent_hash(name, 1) == 0
    spread = {consistent_hash(f"chan{i}", 3) for i in range(100)}
    assert spread == {0, 1, 2}


def test_items_round_trip_deadline_targets_and_payload():
    tail = item_tail("proc!a,proc!b", b"\x00payload\n")
    item = b"%013d" % 1700000000123 + tail
    assert parse_item(item) == (1700000000123, ["proc!a", "proc!b"], b"\x00payload\n")
    assert parse_item(b"%013d" % 5 + item_tail("", b"x")) == (5, [], b"x")


def test_shard_and_connection_index_out_of_range_raise_value_error():
    layer = RedisChannelLayer(hosts=[("localhost", 1), ("localhost", 2)])
    assert layer.shard(1) is layer._shards[1]
    assert layer.shard(None) in layer._shards
    with pytest.raises(ValueError, match="only 2 shards"):
        layer.shard(2)
    with pytest.raises(ValueError, match="only 2 shards"):
        layer.connection(-1)


def test_new_channel_needs_a_question_mark_pattern():
    layer = RedisChannelLayer()
    name = layer.new_channel("http.request.body?")
    assert name.startswith("http.request.body?") and len(name) == len("http.request.body?") + 12
    for pattern in ("test!", "test.foo", b"test?", "bad name?"):
        with pytest.raises(TypeError):
            layer.new_channel(pattern)


def test_sentinel_layer_takes_tuples_only():
    with pytest.raises(ValueError, match="tuples"):
        RedisSentinelChannelLayer(hosts=["redis://localhost:26379"], services=["m"])
    with pytest.raises(ValueError):
        RedisSentinelChannelLayer(hosts="localhost:26379", services=["m"])


@pytest.mark.parametrize("services", ["mymaster", [1], [""]])
def test_sentinel_services_must_be_a_list_of_names(services):
    with pytest.raises(ValueError):
        RedisSentinelChannelLayer(hosts=[("localhost", 26379)], services=services)


def test_sentinel_layer_defaults_and_str():
    layer = RedisSentinelChannelLayer(services=["one", "two"], sentinel_refresh_interval=5)
    assert layer.hosts == [("localhost", 26379)]
    assert layer.ring_size == 2
    assert str(layer) == "RedisSentinelChannelLayer(services==['one', 'two'])"


def test_1x_helpers_and_constants_are_still_there():
    from asgi_redis import core

    layer = RedisChannelLayer(prefix="p:")
    assert layer._group_key("room") == "p:group:room"
    assert core.STAT_MESSAGES_COUNT == layer.STAT_MESSAGES_COUNT == "messages_count"
    assert core.STAT_CHANNEL_FULL == "channel_full_count"
    assert issubclass(core.UnsupportedRedis, Exception)
    fernet = layer.make_fernet("key")
    assert fernet.decrypt(fernet.encrypt(b"x")) == b"x"
    assert layer.deserialize(layer.serialize({"b": b"\x00", "s": "t"})) == {"b": b"\x00", "s": "t"}


@pytest.mark.parametrize("keys", [[123], [None], ["ok", b""]])
def test_encryption_keys_must_be_non_empty_strings(keys):
    with pytest.raises(ValueError):
        RedisChannelLayer(symmetric_encryption_keys=keys)


def test_an_empty_key_list_means_no_encryption_as_in_1x():
    assert RedisChannelLayer(symmetric_encryption_keys=[]).crypter is None


@pytest.mark.parametrize("interval", ["5", None, True])
def test_sentinel_refresh_interval_must_be_a_number(interval):
    with pytest.raises(ValueError):
        RedisSentinelChannelLayer(services=["m"], sentinel_refresh_interval=interval)


def test_bad_names_and_messages_are_refused_before_any_network_call():
    layer = RedisChannelLayer(hosts=[("127.0.0.1", 1)])  # nothing listens there
    with pytest.raises(TypeError):
        layer.channel_statistics("bad name")
    with pytest.raises(TypeError):
        layer.send_group("group", ["not", "a", "dict"])
    with pytest.raises(TypeError):
        layer.send_group("bad group!", {})
    with pytest.raises(TypeError):
        layer.group_discard("group", "bad name")
    with pytest.raises(TypeError):
        layer.group_channels("")
    with pytest.raises(TypeError):
        layer.receive("not.a.list")
    with pytest.raises(TypeError):
        layer.receive_twisted(["proc!local"])
    with pytest.raises(layer.MessageTooLarge):
        layer.send_group("group", {"big": b"x" * (layer.max_message_size + 1)})


_names = st.from_regex(r"[a-zA-Z0-9_.\-]{1,20}![a-zA-Z0-9_.\-]{0,20}", fullmatch=True)


@given(
    deadline=st.integers(min_value=0, max_value=10**13 - 1),
    targets=st.lists(_names, max_size=5),
    payload=st.binary(max_size=200),
)
def test_any_item_parses_back_to_its_parts(deadline, targets, payload):
    item = b"%013d" % deadline + item_tail(",".join(targets), payload)
    assert parse_item(item) == (deadline, targets, payload)


@given(name=st.text(min_size=1, max_size=99), ring=st.integers(min_value=1, max_value=64))
def test_consistent_hash_always_lands_on_a_shard(name, ring):
    index = consistent_hash(name, ring)
    assert 0 <= index < ring
    assert consistent_hash(name, ring) == index


def test_sentinel_layer_reads_1x_positional_arguments_in_1x_order():
    layer = RedisSentinelChannelLayer(
        30, [("localhost", 26379)], "p:", 600, 7, None, None, "", None, ["a", "b"], 5
    )
    assert (layer.expiry, layer.prefix, layer.group_expiry, layer.capacity) == (30, "p:", 600, 7)
    assert layer.stats_prefix == ""
    assert layer.services == ["a", "b"] and layer.sentinel_refresh_interval == 5
    with pytest.raises(TypeError, match="at most 11 positional arguments, got 12"):
        RedisSentinelChannelLayer(60, None, "asgi:", 86400, 100, None, None, "", None, ["a"], 0, 1)


def test_sentinel_layer_passes_every_base_option_on():
    layer = RedisSentinelChannelLayer(
        services=["one"], capacity=3, max_message_size=2 * 1024 * 1024, spin_wait=0, group_expiry=10
    )
    assert (layer.capacity, layer.max_message_size, layer.spin_wait) == (3, 2 * 1024 * 1024, 0)
    assert layer.group_expiry == 10
    with pytest.raises(TypeError):
        RedisSentinelChannelLayer(services=["one"], no_such_option=1)


@pytest.mark.parametrize(
    "name, bucket, ring, shard",
    [
        # names on the edges of the 1.x ring: bucket = CRC32 & 0xFFF, shard =
        # int(bucket / (4096 / ring)); one bucket more or less moves them
        ("chat.7026!", 2048, 2, 1),
        ("chat.610!", 1365, 3, 0),
        ("chat.1249!", 1366, 3, 1),
        ("chat.5173!", 2731, 3, 2),
    ],
)
def test_names_on_the_edges_of_the_ring_land_where_1x_put_them(name, bucket, ring, shard):
    assert binascii.crc32(name.encode()) & 0xFFF == bucket
    assert consistent_hash(name, ring) == shard


def test_two_shards_both_get_names():
    assert {consistent_hash(f"chan{i}", 2) for i in range(100)} == {0, 1}


def test_encryption_key_errors_say_what_was_wrong():
    with pytest.raises(
        ValueError, match="^symmetric_encryption_keys must be a list of keys, not a single string$"
    ):
        Encryptor("one-key", ttl=None)
    with pytest.raises(ValueError, match="^symmetric_encryption_keys must hold at least one key$"):
        Encryptor([], ttl=None)
    with pytest.raises(
        ValueError, match=r"^Each encryption key must be a non-empty string, got b''$"
    ):
        Encryptor([""], ttl=None)
    with pytest.raises(
        ValueError, match=r"^Each encryption key must be a non-empty string, got 123$"
    ):
        Encryptor([123], ttl=None)


def test_encryption_without_cryptography_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cryptography.fernet", None)
    with pytest.raises(
        ValueError,
        match=r"^symmetric_encryption_keys needs the 'cryptography' package: "
        r"pip install channels-classic\[encryption\]$",
    ):
        Encryptor(["key"], ttl=None)


def test_a_payload_encrypted_longer_ago_than_the_ttl_is_refused():
    from cryptography.fernet import InvalidToken

    encryptor = Encryptor(["key"], ttl=60)
    assert encryptor.ttl == 60
    now = int(time.time())
    assert encryptor.decrypt(encryptor.fernet.encrypt_at_time(b"x", now - 30)) == b"x"
    with pytest.raises(InvalidToken):
        encryptor.decrypt(encryptor.fernet.encrypt_at_time(b"x", now - 120))
    # without a ttl any age is accepted
    forever = Encryptor(["key"], ttl=None)
    assert forever.decrypt(forever.fernet.encrypt_at_time(b"x", now - 10**6)) == b"x"


def test_a_layer_encrypts_with_a_ttl_of_its_expiry_plus_ten_seconds():
    assert RedisChannelLayer(symmetric_encryption_keys=["k"], expiry=30).crypter.ttl == 40


def test_a_group_message_too_large_names_the_group():
    layer = RedisChannelLayer(hosts=[("127.0.0.1", 1)])  # refused before any network call
    with pytest.raises(layer.MessageTooLarge, match="^Message for 'room' is "):
        layer.send_group("room", {"big": b"x" * (layer.max_message_size + 1)})
