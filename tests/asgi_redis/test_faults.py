"""Outages and bad credentials: prompt, named errors, and recovery without a
restart of the process."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from asgi_redis import RedisChannelLayer, RedisUnavailable
from tests.support.redis import free_port

pytestmark = pytest.mark.integration


def test_an_unreachable_host_raises_redis_unavailable_promptly():
    port = free_port()
    layer = RedisChannelLayer(hosts=[("127.0.0.1", port)])
    started = time.monotonic()
    with pytest.raises(RedisUnavailable, match=f"127.0.0.1:{port}.*unreachable"):
        layer.send("down.chan", {})
    with pytest.raises(RedisUnavailable):
        layer.receive(["down.chan"], block=True)
    assert time.monotonic() - started < 3


def test_redis_unavailable_is_a_redis_py_connection_error():
    import redis

    assert issubclass(RedisUnavailable, redis.ConnectionError)


def test_a_wrong_password_is_reported_as_refused_credentials(make_redis_server):
    server = make_redis_server("--requirepass", "s3cret")
    wrong = RedisChannelLayer(hosts=[f"redis://:nope@127.0.0.1:{server.port}/0"])
    with pytest.raises(RedisUnavailable, match="credentials") as caught:
        wrong.send("auth.chan", {})
    assert "nope" not in str(caught.value)
    missing = RedisChannelLayer(hosts=[server.url])
    with pytest.raises(RedisUnavailable, match="credentials"):
        missing.send("auth.chan", {})
    right = RedisChannelLayer(hosts=[f"redis://:s3cret@127.0.0.1:{server.port}/0"])
    right.send("auth.chan", {"ok": 1})
    assert right.receive(["auth.chan"]) == ("auth.chan", {"ok": 1})


def test_the_layer_reconnects_by_itself_after_redis_is_killed_and_restarted(make_redis_server):
    server = make_redis_server()
    layer = RedisChannelLayer(hosts=[server.url])
    layer.send("restart.chan", {"n": 1})
    assert layer.receive(["restart.chan"]) == ("restart.chan", {"n": 1})
    server.kill()
    started = time.monotonic()
    with pytest.raises(RedisUnavailable):
        layer.send("restart.chan", {"n": 2})
    with pytest.raises(RedisUnavailable):
        layer.receive(["restart.chan"], block=True)
    with pytest.raises(RedisUnavailable):
        layer.group_add("restart-group", "restart.chan")
    assert time.monotonic() - started < 3
    server.start()
    # Same layer object: scripts are loaded again, links reconnect.
    layer.group_add("restart-group", "restart.chan")
    layer.send_group("restart-group", {"n": 3})
    assert layer.receive(["restart.chan"], block=True) == ("restart.chan", {"n": 3})


def test_a_blocked_receive_fails_promptly_when_the_server_dies(make_redis_server):
    server = make_redis_server()
    layer = RedisChannelLayer(hosts=[server.url])
    layer.receive(["dying.chan"])
    outcome = {}

    def wait():
        started = time.monotonic()
        try:
            layer.receive(["dying.chan"], block=True)
        except RedisUnavailable as exc:
            outcome["error"] = exc
        outcome["took"] = time.monotonic() - started

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.5)
    server.kill()
    thread.join(10)
    assert isinstance(outcome.get("error"), RedisUnavailable)
    assert outcome["took"] < 3
    server.start()
    layer.send("dying.chan", {"back": True})
    assert layer.receive(["dying.chan"], block=True) == ("dying.chan", {"back": True})


def test_a_sharded_blocking_receive_fails_promptly_when_one_shard_dies(make_redis_server):
    servers = [make_redis_server() for _ in range(2)]
    layer = RedisChannelLayer(hosts=[s.url for s in servers])
    layer.receive(["shdie.chan"])
    outcome = {}

    def wait():
        try:
            layer.receive(["shdie.chan"], block=True)
        except RedisUnavailable as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.5)
    servers[1].kill()
    thread.join(10)
    assert isinstance(outcome.get("error"), RedisUnavailable)
    servers[1].start()
    layer.send("shdie.chan", {})
    layer.send("shdie.chan", {})
    assert layer.receive(["shdie.chan"], block=True)[0] == "shdie.chan"
    assert layer.receive(["shdie.chan"], block=True)[0] == "shdie.chan"


def test_links_busy_during_a_disconnect_are_retired_when_they_come_back(redis_url):
    layer = RedisChannelLayer(hosts=[redis_url])
    pool = layer.shard(0).links
    busy = pool.acquire()
    busy.open()
    idle = pool.acquire()
    idle.open()
    pool.release(idle)
    pool.disconnect()  # e.g. Sentinel named a new master
    assert idle.sock is None
    assert busy.sock is not None
    pool.release(busy)
    assert busy.sock is None
    layer.send("retire.chan", {"ok": 1})  # reconnects transparently
    assert layer.receive(["retire.chan"]) == ("retire.chan", {"ok": 1})
    layer.flush()


def test_a_unix_socket_host_works(make_redis_server, tmp_path):
    path = tmp_path / "redis.sock"
    make_redis_server("--unixsocket", str(path), "--unixsocketperm", "700")
    layer = RedisChannelLayer(hosts=[f"unix://{path}?db=0"])
    layer.send("unix.proc!a", {"via": "unix"})
    assert layer.receive(["unix.proc!"], block=True) == ("unix.proc!a", {"via": "unix"})


def write_self_signed_certificate(directory):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def tls_layer_options(make_redis_server, tmp_path) -> dict:
    """Start a server that also listens with TLS (a self-signed certificate);
    the options of a layer that reaches it over ``rediss://``."""
    cert, key = write_self_signed_certificate(tmp_path)
    tls_port = free_port()
    make_redis_server(
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(cert),
        "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(cert),
        "--tls-auth-clients", "no",
    )  # fmt: skip
    return {
        "hosts": [f"rediss://127.0.0.1:{tls_port}/0"],
        "connection_kwargs": {"ssl_ca_certs": str(cert)},
    }


def test_a_rediss_tls_host_works(make_redis_server, tmp_path):
    layer = RedisChannelLayer(**tls_layer_options(make_redis_server, tmp_path))
    layer.send("tls.chan", {"secure": True})
    assert layer.receive(["tls.chan"], block=True) == ("tls.chan", {"secure": True})
    layer.send("tls.proc!x", {"n": 1})
    assert layer.receive(["tls.proc!"]) == ("tls.proc!x", {"n": 1})


def test_a_restart_while_the_layer_is_idle_goes_unnoticed(make_redis_server):
    server = make_redis_server()
    layer = RedisChannelLayer(hosts=[server.url])
    layer.send("idle.restart", {"n": 1})
    assert layer.receive(["idle.restart"]) == ("idle.restart", {"n": 1})
    server.kill()
    server.start()
    time.sleep(0.3)
    layer.send("idle.restart", {"n": 2})  # no error: the stale link is replaced
    assert layer.receive(["idle.restart"]) == ("idle.restart", {"n": 2})


def test_a_restart_right_after_use_costs_at_most_one_error(make_redis_server):
    server = make_redis_server()
    layer = RedisChannelLayer(hosts=[server.url])
    layer.send("quick.restart", {})
    server.kill()
    server.start()
    errors = 0
    for _ in range(3):
        try:
            layer.send("quick.restart", {"ok": True})
        except RedisUnavailable:
            errors += 1
    assert errors <= 1
    assert layer.receive(["quick.restart"]) == ("quick.restart", {"ok": True})


def test_a_server_without_lmpop_is_detected_and_served_by_the_fallback(make_redis_server):
    server = make_redis_server(
        "--rename-command", "LMPOP", "", "--rename-command", "BLMPOP", ""
    )  # fmt: skip
    layer = RedisChannelLayer(hosts=[server.url])
    for n in range(3):
        layer.send("old.proc!a", {"n": n})
    assert layer.receive(["old.proc!"], block=True) == ("old.proc!a", {"n": 0})
    assert layer.shard(0).has_blmpop is False
    assert [layer.receive(["old.proc!"])[1]["n"] for _ in range(2)] == [1, 2]
    layer.send("old.chan", {})
    assert layer.receive(["old.chan"]) == ("old.chan", {})


def test_an_unexpected_redis_error_is_raised_as_redis_command_error(redis_url):
    import redis

    from asgi_redis import RedisCommandError

    layer = RedisChannelLayer(hosts=[redis_url], prefix="wrongtype:")
    with redis.Redis.from_url(redis_url) as client:
        client.set("wrongtype:clash", "a string, not a list")
        try:
            with pytest.raises(RedisCommandError, match="WRONGTYPE"):
                layer.send("clash", {})
        finally:
            client.delete("wrongtype:clash")
    layer.send("clash", {"fine": True})  # the link is still usable
    assert layer.receive(["clash"]) == ("clash", {"fine": True})


def test_normal_channels_keep_flowing_through_the_other_shards_while_one_is_down(
    make_redis_server, caplog
):
    servers = [make_redis_server() for _ in range(3)]
    layer = RedisChannelLayer(hosts=[s.url for s in servers], capacity=30)
    layer.blpop_timeout = 1
    servers[1].kill()
    with caplog.at_level("WARNING", logger="asgi_redis"):
        for n in range(12):
            layer.send("work.chan", {"n": n})  # no error: shard 1's share goes elsewhere
        got = sorted(layer.receive(["work.chan"], block=n % 2 == 0)[1]["n"] for n in range(12))
        assert got == list(range(12))
        assert layer.receive(["work.chan"], block=True) == (None, None)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(f"127.0.0.1:{servers[1].port}" in w for w in warnings), warnings
    # Channels that live on the lost shard still fail, promptly and by name.
    doomed = next(f"p{i}!" for i in range(100) if layer.consistent_hash(f"p{i}!") == 1)
    with pytest.raises(RedisUnavailable, match=str(servers[1].port)):
        layer.send(doomed + "x", {})
    servers[1].start()
    time.sleep(layer.shard(1).retry_interval + 0.1)
    for n in range(6):
        layer.send("work.chan", {"n": n})
    with redis.Redis.from_url(servers[1].url) as client:
        assert client.llen("asgi:work.chan") == 2  # back in the rotation
    layer.flush()


def test_with_every_shard_down_receives_and_sends_raise(make_redis_server):
    servers = [make_redis_server() for _ in range(2)]
    layer = RedisChannelLayer(hosts=[s.url for s in servers])
    for server in servers:
        server.kill()
    started = time.monotonic()
    with pytest.raises(RedisUnavailable):
        layer.send("all.down", {})
    with pytest.raises(RedisUnavailable):
        layer.receive(["all.down"])
    with pytest.raises(RedisUnavailable):
        layer.receive(["all.down"], block=True)
    assert time.monotonic() - started < 3


def test_a_group_send_reaches_the_members_on_the_shards_still_up(make_redis_server):
    servers = [make_redis_server() for _ in range(3)]
    layer = RedisChannelLayer(hosts=[s.url for s in servers])
    members = [f"gm{i}" for i in range(30)]
    for member in members:
        layer.group_add("partial", member)
    servers[2].kill()
    layer.send_group("partial", {"hi": 1})  # no error: shard 2's members miss it
    reachable = [m for m in members if layer.consistent_hash(m) != 2]
    assert reachable and len(reachable) < len(members)
    for member in reachable:
        assert layer.receive([member]) == (member, {"hi": 1})
    for server in servers[:2]:
        server.kill()
    with pytest.raises(RedisUnavailable):
        layer.send_group("partial", {"hi": 2})


def test_send_batch_reports_a_lost_server_on_each_message_and_recovers(make_redis_server):
    server = make_redis_server()
    layer = RedisChannelLayer(hosts=[server.url])
    layer.send_batch([("batch.down", {"n": 0})])
    server.kill()
    started = time.monotonic()
    outcome = layer.send_batch([("batch.down", {"n": n}) for n in range(3)])
    assert time.monotonic() - started < 3
    assert len(outcome) == 3
    for error in outcome:
        assert isinstance(error, RedisUnavailable)
        assert f"127.0.0.1:{server.port}" in str(error)
    server.start()
    assert layer.send_batch([("batch.down", {"n": 9})]) == [None]
    assert layer.receive_batch(["batch.down"], block=True, limit=4) == [("batch.down", {"n": 9})]


def test_a_server_that_stops_answering_fails_within_the_socket_timeout(make_redis_server):
    import signal

    class QuickLayer(RedisChannelLayer):
        blpop_timeout = 1

    server = make_redis_server()
    layer = QuickLayer(hosts=[server.url], connection_kwargs={"socket_timeout": 2})
    layer.send("frozen.chan", {"n": 1})
    server.process.send_signal(signal.SIGSTOP)  # the socket stays open, nothing answers
    try:
        started = time.monotonic()
        with pytest.raises(RedisUnavailable, match="did not answer within the socket timeout"):
            layer.send("frozen.chan", {"n": 2})
        assert 1.8 < time.monotonic() - started < 4
        started = time.monotonic()
        with pytest.raises(RedisUnavailable):
            layer.receive(["frozen.chan"], block=True)  # a new link: its handshake times out
        assert 1.8 < time.monotonic() - started < 4
    finally:
        server.process.send_signal(signal.SIGCONT)
    layer.send("frozen.chan", {"n": 3})  # a new link; the old ones were closed
    assert [m["n"] for _, m in layer.receive_batch(["frozen.chan"], limit=8)] in ([1, 2, 3], [1, 3])
    # a blocking pop on a link in use waits its own timeout (blpop_timeout + 5 s), then fails
    assert layer.receive(["frozen.chan"], block=True) == (None, None)
    server.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(RedisUnavailable, match="did not answer within the socket timeout"):
            layer.receive(["frozen.chan"], block=True)
        assert 5.5 < time.monotonic() - started < 9
    finally:
        server.process.send_signal(signal.SIGCONT)
    layer.send("frozen.chan", {"n": 4})
    assert layer.receive(["frozen.chan"], block=True) == ("frozen.chan", {"n": 4})


def two_shard_group(make_redis_server, group):
    """A layer on two servers and a group with members on both shards."""
    servers = [make_redis_server() for _ in range(2)]
    layer = RedisChannelLayer(hosts=[s.url for s in servers])
    members = [f"{group}{i}" for i in range(12)]
    for member in members:
        layer.group_add(group, member)
    assert {layer.consistent_hash(m) for m in members} == {0, 1}
    return servers, layer, members


def test_a_group_spread_over_two_shards_is_listed_and_reached_on_both(make_redis_server):
    _, layer, members = two_shard_group(make_redis_server, "both")
    assert sorted(layer.group_channels("both")) == sorted(members)
    layer.send_group("both", {"n": 1})
    for member in members:
        assert layer.receive([member]) == (member, {"n": 1})


def test_listing_a_group_with_a_shard_down_raises_rather_than_answering_in_part(
    make_redis_server,
):
    servers, layer, _ = two_shard_group(make_redis_server, "half")
    servers[1].kill()
    with pytest.raises(RedisUnavailable, match=f"Redis at [^ ]*:{servers[1].port}"):
        layer.group_channels("half")


def test_a_group_send_past_a_lost_shard_logs_that_shard_error(make_redis_server, caplog):
    servers, layer, members = two_shard_group(make_redis_server, "logged")
    servers[1].kill()
    with caplog.at_level("WARNING", logger="asgi_redis"):
        layer.send_group("logged", {"n": 1})
    lost = [r.getMessage() for r in caplog.records if "use the other shards" in r.getMessage()]
    assert len(lost) == 1 and f":{servers[1].port}" in lost[0]
