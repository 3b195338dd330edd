"""Embedding daphne: start/stop from code, UNIX sockets and adopted file descriptors."""

import json
import socket

import httpx
import pytest

from tests.daphne.processes import Daphne, Process

pytestmark = pytest.mark.integration


def test_server_starts_and_stops_twice_in_one_reactor_thread():
    process = Process("-m", "tests.daphne.serve_embedded")
    assert process.popen.wait(60) == 0, process.output()
    runs = json.loads(process.wait_for(r"RESULT (.*)").group(1))
    assert len(runs) == 2
    for run in runs:
        ((host, port),) = run["ports"]
        assert host == "127.0.0.1" and port > 0
        assert run["status"] == 200 and run["echo"] == "x"
        assert run["close_code"] == 1001
        assert run["closed_after_stop"] is True
    assert runs[0]["ports"] != runs[1]["ports"]


def test_unix_socket_endpoint(tmp_path):
    path = tmp_path / "daphne.sock"
    process = Process("-m", "tests.daphne.serve_inmemory", f"unix:{path}")
    try:
        process.wait_for("Listening on unix:")
        transport = httpx.HTTPTransport(uds=str(path))
        with httpx.Client(transport=transport, base_url="http://daphne", timeout=10) as client:
            report = client.get("/over-unix").json()
        assert report["path"] == "/over-unix"
        assert report["client"] is None and report["server"] is None
    finally:
        assert process.terminate() == 0, process.output()


def test_adopted_file_descriptor_endpoint():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(50)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    process = Daphne("-m", "tests.daphne.serve_inmemory", f"fd:fileno={fd}", pass_fds=(fd,))
    listener.close()
    try:
        assert process.port == port
        with httpx.Client(timeout=10) as client:
            assert client.get(f"http://127.0.0.1:{port}/fd").json()["path"] == "/fd"
    finally:
        assert process.terminate() == 0, process.output()


def test_daphne_exits_1_with_a_message_when_it_cannot_listen():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        process = Process(
            "-m",
            "daphne",
            "-e",
            f"tcp:port={port}:interface=127.0.0.1",
            "tests.daphne.test_cli:test_layer",
        )
        assert process.popen.wait(30) == 1
    finally:
        taken.close()
    assert "Could not listen" in process.output() and "Traceback" not in process.output()
