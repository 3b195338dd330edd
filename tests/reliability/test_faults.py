"""Faults under load, on real daphne, runworker and redis-server processes.

Each test says what the fault may lose under the at-most-once model and
checks that nothing else is lost: no process exits, clients get prompt
answers, and service comes back by itself.
"""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.support.load import HttpLoad, WsEchoLoad

pytestmark = pytest.mark.integration


def wait_until(predicate, timeout: float, message: str) -> float:
    """Poll ``predicate`` until true; the seconds it took (fails after ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{message} (after {timeout}s)")


def get(url: str, timeout: float = 30) -> httpx.Response:
    return httpx.get(url, timeout=timeout)


def serves(stack) -> bool:
    try:
        return get(stack.url + "/hello/", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def test_redis_killed_and_restarted_under_load_gives_prompt_errors_then_recovers_by_itself(
    make_redis_server, make_stack
):
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=2, daphne_args=("-t", "5"))
    http = HttpLoad(stack.url + "/hello/").start()
    websockets = WsEchoLoad(stack.ws_url, clients=3).start()
    time.sleep(1)

    redis.kill()
    outage = []
    for _ in range(5):
        started = time.monotonic()
        outage.append((get(stack.url + "/hello/").status_code, time.monotonic() - started))
    with pytest.raises(InvalidStatus) as refused:
        connect(stack.ws_url + "/echo/during/", open_timeout=15)
    assert refused.value.response.status_code == 503
    redis.start()
    recovery = wait_until(lambda: serves(stack), 30, "service did not resume")
    print(f"\nservice resumed {recovery:.2f}s after Redis came back")
    http.stop()
    records = websockets.stop()

    # Requests during the outage are refused at once with 503 (daphne cannot
    # queue them), not left hanging until the HTTP timeout.
    assert all(status == 503 for status, _ in outage), outage
    assert all(seconds < 3 for _, seconds in outage), outage
    # Every process survived the outage.
    assert all(p.alive() for p in [stack.daphne, *stack.workers]), stack.logs()
    # Open WebSockets that send during the outage are closed with 1013 (try
    # again later): their frames had nowhere to go. None hangs.
    assert all(r.closed in ("closed 1013", "closed by client") for r in records), records
    assert any(r.closed == "closed 1013" for r in records), records
    # Fresh connections work again.
    with connect(stack.ws_url + "/echo/after/", open_timeout=15) as ws:
        ws.send("back")
        assert ws.recv(timeout=15) == "back"
    assert all(r.outcome in (200, 503) for r in http.results), http.failures()[:5]


def test_a_killed_worker_loses_only_the_message_it_held_and_the_others_carry_on(
    make_redis_server, make_stack
):
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=2, daphne_args=("-t", "6"))
    slow: list[tuple[int, float]] = []

    def slow_request():
        started = time.monotonic()
        slow.append((get(stack.url + "/slow/?s=2").status_code, time.monotonic() - started))

    threads = [threading.Thread(target=slow_request) for _ in range(2)]
    for thread in threads:
        thread.start()
    # Both workers are now each inside one slow view; kill one of them.
    time.sleep(0.8)
    victim = stack.workers[0]
    victim.kill()
    http = HttpLoad(stack.url + "/hello/", threads=2).start()
    for thread in threads:
        thread.join(30)
    time.sleep(1)
    http.stop()

    # The killed worker's request gets 503 once daphne's --http-timeout
    # passes; the survivor's completes.
    assert sorted(status for status, _ in slow) == [200, 503], slow
    assert all(5.5 < seconds < 15 for status, seconds in slow if status == 503), slow
    # Traffic after the kill is all served by the surviving worker.
    assert http.results and not http.failures(), http.failures()[:5]
    assert stack.daphne.alive() and stack.workers[1].alive(), stack.logs()


def test_rolling_worker_restart_under_load_fails_no_request_and_drops_no_websocket(
    make_redis_server, make_stack
):
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=2, daphne_args=("-t", "20"))
    http = HttpLoad(stack.url + "/hello/", threads=2).start()
    echo = WsEchoLoad(stack.ws_url, clients=4, tag="fast").start()
    slow = WsEchoLoad(stack.ws_url, clients=2, tag="slow", prefix="slow:", interval=0).start()
    time.sleep(1)

    for old in list(stack.workers):
        new = stack.add_worker()
        new.wait_for_output("Listening on channels")
        time.sleep(0.5)
        assert old.terminate(timeout=30) == 0, old.output()
    time.sleep(2)

    results = http.stop()
    records = echo.stop() + slow.stop()
    assert len(results) > 20 and not http.failures(), http.failures()[:5]
    assert all(r.echoed > 0 for r in records), records
    assert not echo.dropped() and not slow.dropped(), records
    # Every slow consumer that started also finished (one per echoed frame).
    done = [e for e in stack.events() if e.startswith("slow-done")]
    assert len(done) >= sum(r.echoed for r in slow.records), (done, slow.records)


def test_daphne_sigterm_finishes_inflight_closes_with_1001_and_reports_every_disconnect(
    make_redis_server, make_stack
):
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=2, daphne_args=("-t", "20"))
    clients = contextlib.ExitStack()
    sockets = []
    for n in range(3):
        ws = clients.enter_context(connect(f"{stack.ws_url}/echo/term{n}/", open_timeout=15))
        ws.send("hi")
        assert ws.recv(timeout=15) == "hi"
        sockets.append(ws)
    answer: list[httpx.Response] = []
    request = threading.Thread(target=lambda: answer.append(get(stack.url + "/slow/?s=2")))
    request.start()
    time.sleep(0.7)

    code = stack.daphne.terminate(timeout=40)
    request.join(30)

    assert code == 0, stack.daphne.output()
    assert answer and answer[0].status_code == 200 and answer[0].text == "slow done"
    for ws in sockets:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=15)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    wait_until(
        lambda: all(f"disconnect /echo/term{n}/" in stack.events() for n in range(3)),
        20,
        f"disconnects did not reach the workers: {stack.events()}",
    )
    clients.close()


def test_a_backlog_fills_the_channels_then_drains_when_workers_return(
    make_redis_server, make_stack
):
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=1, daphne_args=("-t", "4"), env={"REL_CAPACITY": "10"})
    assert stack.workers[0].terminate() == 0
    statuses: list[tuple[int, float]] = []

    def request():
        started = time.monotonic()
        statuses.append((get(stack.url + "/hello/").status_code, time.monotonic() - started))

    threads = [threading.Thread(target=request) for _ in range(25)]
    for thread in threads:
        thread.start()
        time.sleep(0.02)
    # With http.request full, a WebSocket handshake is still answered promptly.
    ws_outcome = None
    try:
        with connect(stack.ws_url + "/echo/full/", open_timeout=15) as ws:
            ws.send("x")
            ws_outcome = ws.recv(timeout=10)
    except ConnectionClosed as exc:
        ws_outcome = exc.rcvd.code if exc.rcvd else "no close frame"
    except Exception as exc:  # noqa: BLE001 - the refusal is what is checked
        ws_outcome = type(exc).__name__
    for thread in threads:
        thread.join(30)

    # Ten requests fit the channel and time out with 503; the rest are
    # refused with 503 at once because the channel is full.
    assert [s for s, _ in statuses] == [503] * 25, statuses
    prompt = [seconds for _, seconds in statuses if seconds < 2]
    assert len(prompt) >= 10, statuses
    assert stack.daphne.alive(), stack.daphne.output()

    stack.workers[0].start()
    wait_until(lambda: serves(stack), 60, "service did not return after the backlog")
    assert all(get(stack.url + "/hello/").status_code == 200 for _ in range(10))
    print(f"\nWebSocket handshake with no worker: {ws_outcome!r}")
