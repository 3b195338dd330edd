"""``daphne-smtp``, ``daphne-irc``, ``daphne-udp`` and ``daphne-slack`` keep a
heartbeat record, as daphne and the worker do (docs/operating.rst,
"Heartbeats and health checks").

Each command runs as a real process on the session's private redis-server,
under a prefix of this test's own: its record appears in
``inspect_processes()`` with its kind and the channels it reads, counts the
messages it sent to the layer, and is gone as soon as SIGTERM stopped it.
One process start per command (plus one for ``--heartbeat-ttl 0``).
"""

from __future__ import annotations

import re
import smtplib
import socket
import uuid

import httpx
import pytest

from asgi import email as asgi_email
from asgi import irc as asgi_irc
from asgi import slack as asgi_slack
from asgi import udp
from asgi_redis import RedisChannelLayer
from tests.daphne.irc.irc_peer import MiniIRCServer
from tests.daphne.processes import Process
from tests.support.interface_servers import TIMEOUT, receive, wait_until
from tests.support.slack_api import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlackAPI,
    message_event,
    signed_headers,
)

pytestmark = pytest.mark.integration

LAYER = "tests.daphne.redis_layer:channel_layer"
TTL = "3"  # renewed every second


@pytest.fixture
def prefix() -> str:
    return f"beats-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def layer(redis_url, prefix):
    """The application's side of the layer the command uses."""
    layer = RedisChannelLayer(hosts=[redis_url], prefix=prefix)
    yield layer
    layer.flush()
    layer.close()


@pytest.fixture
def start(redis_url, prefix):
    """Start ``python -m <module> LAYER --heartbeat-ttl 3 ...``; killed at the end."""
    processes: list[Process] = []

    def start(module: str, *args: str, env: dict | None = None) -> Process:
        environment = {"DAPHNE_TEST_REDIS_URL": redis_url, "DAPHNE_TEST_PREFIX": prefix}
        process = Process(
            "-m", module, LAYER, "--heartbeat-ttl", TTL, *args, env={**environment, **(env or {})}
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()


def record_of(layer, process: Process) -> dict | None:
    records = [r for r in layer.inspect_processes() if r["pid"] == process.popen.pid]
    assert len(records) <= 1, records
    return records[0] if records else None


def announced(layer, process: Process) -> dict:
    return wait_until(lambda: record_of(layer, process), what="the process's heartbeat record")


def counted(layer, process: Process, handled: int) -> dict:
    """The record once it counts ``handled`` messages sent to the layer."""
    return wait_until(
        lambda: (r := record_of(layer, process)) and r["handled"] >= handled and r,
        what=f"a record counting {handled} message(s)",
    )


def stopped_and_gone(layer, process: Process) -> None:
    assert process.terminate() == 0  # SIGTERM
    assert record_of(layer, process) is None, "a clean stop removes the record at once"


def test_daphne_udp_announces_its_reply_pattern_counts_datagrams_and_leaves_on_sigterm(
    layer, start
):
    process = start("daphne.udp", "-p", "0")
    port = int(process.wait_for(r"UDP server listening on 127\.0\.0\.1:(\d+)").group(1))
    record = announced(layer, process)
    assert record["kind"] == "daphne-udp" and record["handled"] == 0
    (pattern,) = record["channels"]
    assert re.fullmatch(r"udp\.send\.\w+!\*", pattern), pattern

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"tick", ("127.0.0.1", port))
    _, message = receive(layer, [udp.RECEIVE_CHANNEL])
    assert message["reply_channel"].startswith(pattern[:-1])
    record = counted(layer, process, 1)
    assert record["handled"] == 1 and record["last_activity"] > record["started"]
    stopped_and_gone(layer, process)


def test_daphne_smtp_announces_itself_consuming_nothing_and_counts_mails(layer, start):
    process = start("daphne.smtp", "-p", "0")
    port = int(process.wait_for(r"SMTP server listening on 127\.0\.0\.1:(\d+)").group(1))
    record = announced(layer, process)
    assert record["kind"] == "daphne-smtp"
    assert (record["channels"], record["handled"]) == ([], 0)

    with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
        client.sendmail("a@example.org", ["bot@example.com"], b"Subject: beat\r\n\r\nhi\r\n")
    receive(layer, [asgi_email.RECEIVE_CHANNEL])
    record = counted(layer, process, 1)
    assert record["handled"] == 1 and record["last_activity"] > record["started"]
    stopped_and_gone(layer, process)


def test_daphne_irc_announces_its_control_pattern_and_counts_what_it_heard(layer, start):
    irc_server = MiniIRCServer().start()
    try:
        process = start(
            "daphne.irc", "-s", "127.0.0.1", "-p", str(irc_server.port), "-n", "beatbot",
            "-c", "general",
        )  # fmt: skip
        _, connect = receive(layer, [asgi_irc.CONNECT_CHANNEL])
        receive(layer, [asgi_irc.JOIN_CHANNEL])
        record = counted(layer, process, 2)  # irc-client.connect and irc-client.join
        assert record["kind"] == "daphne-irc" and record["handled"] == 2
        (pattern,) = record["channels"]
        assert re.fullmatch(r"irc-client\.send\.\w+!\*", pattern), pattern
        assert connect["reply_channel"].startswith(pattern[:-1])

        irc_server.say("alice", "#general", "are you alive?")
        receive(layer, [asgi_irc.RECEIVE_CHANNEL])
        assert counted(layer, process, 3)["handled"] == 3
        stopped_and_gone(layer, process)
    finally:
        irc_server.stop()


def test_daphne_slack_announces_its_send_channel_and_counts_messages(layer, start):
    api = FakeSlackAPI().start()
    try:
        process = start(
            "daphne.slack", "-p", "0", "--api-base", api.base,
            env={"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN},
        )  # fmt: skip
        port = int(process.wait_for(r"Slack events on http://127\.0\.0\.1:(\d+)").group(1))
        record = announced(layer, process)
        assert record["kind"] == "daphne-slack" and record["handled"] == 0
        assert record["channels"] == [asgi_slack.SEND_CHANNEL]

        body = message_event("beat")
        url = f"http://127.0.0.1:{port}/slack/events"
        response = httpx.post(url, content=body, headers=signed_headers(body), timeout=TIMEOUT)
        assert response.status_code == 200
        receive(layer, [asgi_slack.RECEIVE_CHANNEL])
        record = counted(layer, process, 1)
        assert record["handled"] == 1 and record["last_activity"] > record["started"]
        stopped_and_gone(layer, process)
    finally:
        api.stop()


def test_heartbeat_ttl_0_registers_nothing(layer, start):
    process = start("daphne.udp", "-p", "0", "--heartbeat-ttl", "0")
    port = int(process.wait_for(r"UDP server listening on 127\.0\.0\.1:(\d+)").group(1))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"tick", ("127.0.0.1", port))
    # the datagram went through the layer: the server has been running for a while
    receive(layer, [udp.RECEIVE_CHANNEL])
    assert record_of(layer, process) is None
    assert process.terminate() == 0
    assert "Heartbeat" not in process.output()
