"""Slow, idle, non-reading and flooding clients against a live daphne.

daphne's memory is measured (RSS from /proc) and printed; the assertions
are about behaviour: sockets get closed, other clients keep being served.
Latency figures are printed; where one is asserted, the bound is about ten
times what was measured (a behaviour check, not a benchmark).
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.rawhttp import parse_close, read_until_close, ws_frame, ws_open
from tests.support.stack import rss_kib

pytestmark = pytest.mark.integration


def closed_by_server(sock: socket.socket, timeout: float) -> bytes | None:
    """What the server sent before closing, or None if it was still open after ``timeout``."""
    sock.settimeout(timeout)
    received = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return received
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        return received


def test_slowloris_and_idle_connections_are_closed_at_the_head_deadline_while_others_are_served(
    make_redis_server, make_stack
):
    redis = make_redis_server()
    stack = make_stack(
        [redis.url], workers=1, daphne_args=("--request-head-timeout", "4", "-t", "20")
    )
    before = rss_kib(stack.daphne.pid)
    slow = [socket.create_connection(("127.0.0.1", stack.port)) for _ in range(100)]
    idle = [socket.create_connection(("127.0.0.1", stack.port)) for _ in range(100)]
    stop = threading.Event()

    def trickle():
        head = b"GET /hello/ HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        for byte in head:
            if stop.is_set():
                return
            for sock in slow:
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    pass
            time.sleep(0.2)

    trickler = threading.Thread(target=trickle)
    trickler.start()
    served = []
    started = time.monotonic()
    while time.monotonic() - started < 3:
        served.append(httpx.get(stack.url + "/hello/", timeout=15).status_code)
    peak = rss_kib(stack.daphne.pid)
    slow_answers = [closed_by_server(sock, 15) for sock in slow]
    idle_answers = [closed_by_server(sock, 15) for sock in idle]
    stop.set()
    trickler.join(30)
    after = rss_kib(stack.daphne.pid)
    for sock in slow + idle:
        sock.close()
    print(f"\ndaphne RSS {before} KiB, with 200 slow/idle sockets {peak} KiB, after {after} KiB")

    assert served and all(status == 200 for status in served)
    assert all(a is not None and a.startswith(b"HTTP/1.1 408 ") for a in slow_answers), [
        a[:40] if a else a for a in slow_answers[:5]
    ]
    assert all(a == b"" for a in idle_answers), idle_answers[:5]
    assert stack.daphne.alive()
    assert httpx.get(stack.url + "/hello/", timeout=15).status_code == 200


def test_slow_uploads_that_keep_sending_outlast_the_head_deadline(make_redis_server, make_stack):
    redis = make_redis_server()
    stack = make_stack(
        [redis.url], workers=1, daphne_args=("--request-head-timeout", "2", "-t", "20")
    )
    body = b"0123456789" * 3
    uploads = [socket.create_connection(("127.0.0.1", stack.port)) for _ in range(5)]
    for sock in uploads:
        sock.sendall(
            b"POST /echo/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
    started = time.monotonic()
    for byte in body:  # 30 bytes, 0.15 s apart: 4.5 s, over twice the deadline
        for sock in uploads:
            sock.sendall(bytes([byte]))
        time.sleep(0.15)
    took = time.monotonic() - started
    answers = [closed_by_server(sock, 15) for sock in uploads]
    for sock in uploads:
        sock.close()
    assert took > 4
    for answer in answers:
        assert answer is not None and answer.startswith(b"HTTP/1.1 200 "), answer
        assert body in answer.partition(b"\r\n\r\n")[2], answer


def test_a_websocket_client_that_never_reads_is_closed_when_its_buffer_limit_is_hit(
    make_redis_server, make_stack
):
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=1)
    before = rss_kib(stack.daphne.pid)
    sock = ws_open(stack.port, "/echo/deaf/")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = b"z" * (256 * 1024)
    sent = 0
    try:
        for _ in range(200):  # 50 MiB of echoes, far beyond the 4 MiB limit
            sock.sendall(ws_frame(2, payload))
            sent += 1
            time.sleep(0.01)
    except OSError:
        pass  # daphne hung up on us: the point of the test
    peak = rss_kib(stack.daphne.pid)
    sock.close()
    print(f"\nsent {sent} x 256 KiB unread; daphne RSS {before} -> {peak} KiB")
    assert sent < 200, "daphne kept accepting frames from a client that never reads"
    wait = time.monotonic() + 20
    while "reads too slowly" not in stack.daphne.output() and time.monotonic() < wait:
        time.sleep(0.1)
    assert "reads too slowly" in stack.daphne.output()
    assert "disconnect /echo/deaf/" in " ".join(stack.events()) or wait_for_event(
        stack, "disconnect /echo/deaf/"
    )
    # the buffer limit bounds what daphne held for it (4 MiB plus slack)
    assert peak - before < 64 * 1024, (before, peak)
    assert httpx.get(stack.url + "/hello/", timeout=15).status_code == 200


def wait_for_event(stack, event: str, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if event in stack.events():
            return True
        time.sleep(0.1)
    return False


def quiet_round_trips(url: str, count: int, wait: float = 30) -> tuple[list[float], int]:
    """Round-trip times of ``count`` frames on a fresh socket, and how many got no echo
    within ``wait`` seconds (the socket is then replaced, so one loss costs one frame)."""
    times: list[float] = []
    lost = 0
    with contextlib.ExitStack() as sockets:
        ws = sockets.enter_context(connect(url, open_timeout=15))
        for n in range(count):
            started = time.monotonic()
            ws.send(f"quiet {n}")
            try:
                while ws.recv(timeout=wait) != f"quiet {n}":
                    pass  # a late echo of a frame already counted as lost
                times.append(time.monotonic() - started)
            except (TimeoutError, ConnectionClosed):
                lost += 1
                ws = sockets.enter_context(connect(url, open_timeout=15))
            time.sleep(0.02)
    return times, lost


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def start_flooding(port: int) -> tuple[threading.Event, list[str], threading.Thread]:
    """``flood_until`` on /echo/noisy/ in a thread, given half a second to get
    going: ``(stop event, close codes seen, the thread)``."""
    stop = threading.Event()
    outcomes: list[str] = []
    flooder = threading.Thread(target=flood_until, args=(port, "/echo/noisy/", stop, outcomes))
    flooder.start()
    time.sleep(0.5)
    return stop, outcomes, flooder


def flood_until(port: int, path: str, stop: threading.Event, outcomes: list[str]) -> None:
    """One noisy raw client after another, each sending as fast as it can until daphne closes
    it; ``outcomes`` gets the close code each one saw (echoes are never read)."""
    frame = ws_frame(1, b"x" * 200)
    while not stop.is_set():
        sent = 0
        try:
            sock = ws_open(port, path)
        except OSError as exc:
            outcomes.append(f"open failed: {exc!r}")
            time.sleep(0.1)
            continue
        sock.settimeout(5)
        try:
            while not stop.is_set():
                sock.sendall(frame)
                sent += 1
        except OSError:
            pass
        if stop.is_set():
            sock.close()
            return
        received = read_until_close(sock, 2)
        sock.close()
        outcomes.append(f"closed {parse_close(received)} after {sent}")


def test_with_a_rate_limit_a_flood_does_not_starve_a_quiet_websocket(make_redis_server, make_stack):
    redis = make_redis_server()
    stack = make_stack(
        [redis.url],
        workers=2,
        env={"REL_CAPACITY": "1000"},
        daphne_args=("--websocket-rate-limit", "100"),
    )
    baseline, _ = quiet_round_trips(stack.ws_url + "/echo/alone/", 50)
    stop, outcomes, flooder = start_flooding(stack.port)
    during, lost = quiet_round_trips(stack.ws_url + "/echo/quiet/", 100)
    stop.set()
    flooder.join(60)
    print(
        f"\nrate limit 100/s: quiet p99 alone {p99(baseline) * 1000:.1f} ms, "
        f"during a flood {p99(during) * 1000:.1f} ms; "
        f"{len(outcomes)} flooders closed, e.g. {outcomes[:2]}"
    )
    assert lost == 0 and len(during) == 100
    assert outcomes and all(o.startswith("closed 1008") for o in outcomes), outcomes[:5]


def test_the_rate_limit_closes_a_flooding_websocket_with_1008(make_redis_server, make_stack):
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=1, daphne_args=("--websocket-rate-limit", "50"))
    # A raw client that reads everything daphne sends in its own thread, as a
    # browser does, whatever its writer is doing. (websockets' sync client
    # cannot: its reader waits for the lock a send blocked on a full socket
    # holds, so under load it may never see the close frame before daphne
    # gives up on the close handshake.)
    sock = ws_open(stack.port, "/echo/noisy/")
    received = bytearray()
    closed = threading.Event()

    def read() -> None:
        received.extend(read_until_close(sock, 30))
        closed.set()

    reader = threading.Thread(target=read)
    reader.start()
    frame = ws_frame(1, b"flood")
    sent = 0
    try:
        while not closed.is_set() and sent < 100_000:
            sock.sendall(frame)
            sent += 1
    except OSError:
        pass  # daphne hung up after its close frame
    reader.join(30)
    sock.close()
    assert closed.is_set(), f"no close after {sent} frames"
    assert parse_close(bytes(received)) == 1008, (sent, bytes(received[-64:]))


def test_without_any_option_a_flood_is_slowed_down_and_a_quiet_websocket_loses_nothing(
    make_redis_server, make_stack
):
    # Default capacity (100): the flooder alone could fill websocket.receive many
    # times a second. daphne stops reading it while its frames wait, and lets
    # every socket's frames into the full channel in turn.
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=2)
    stop, outcomes, flooder = start_flooding(stack.port)
    during, lost = quiet_round_trips(stack.ws_url + "/echo/quiet/", 50, wait=5)
    stop.set()
    flooder.join(60)
    print(
        f"\ndefault settings: quiet p50 {statistics.median(during) * 1000:.1f} ms, "
        f"p99 {p99(during) * 1000:.1f} ms, max {max(during) * 1000:.1f} ms during a flood; "
        f"lost {lost}; flooders closed: {outcomes[:3]}"
    )
    assert lost == 0 and len(during) == 50
    # measured well under 0.3 s on a loaded two-core machine; without fair
    # admission most echoes never came back at all
    assert max(during) < 2.0, sorted(during)[-5:]
    assert "had no room in time" not in stack.daphne.output()
