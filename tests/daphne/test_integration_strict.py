"""Refused request heads and chunk sizes over real sockets, against real
daphne processes: the default one (1.x leniency for a missing Host) and one
started by the CLI with ``--strict-http``."""

import socket

import pytest

from tests.daphne.processes import Daphne

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def daphne():
    process = Daphne("-m", "tests.daphne.serve_inmemory", "tcp:port=0:interface=127.0.0.1")
    yield process
    assert process.terminate() == 0, process.output()


@pytest.fixture(scope="module")
def strict_daphne():
    # no workers: a refused request never reaches the layer
    process = Daphne("-m", "daphne", "--strict-http", "-p", "0", "tests.daphne.test_cli:test_layer")
    yield process
    process.terminate()


def exchange(server, *parts: bytes, timeout=10) -> bytes:
    """Send ``parts`` in turn and read until the server closes."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        for part in parts:
            sock.sendall(part)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_a_huge_chunk_size_is_answered_413_without_sending_its_bytes(daphne):
    head = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = exchange(daphne, head, b"4\r\nabcd\r\n", b"10000000\r\n")  # 256 MiB announced
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert "Refused a request (a 268435456-byte chunk): 413" in daphne.output()


def test_obsolete_line_folding_is_answered_400_and_the_connection_closed(daphne):
    answer = exchange(daphne, b"GET / HTTP/1.1\r\nHost: t\r\nX-A: one\r\n two\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Obsolete line folding" in answer


def test_an_http_11_request_without_host_is_served_by_default(daphne):
    answer = exchange(daphne, b"GET /nohost HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_with_strict_http_an_http_11_request_without_host_is_400(strict_daphne):
    answer = exchange(strict_daphne, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ") and b"no Host header" in answer
    assert "Refused a request (no Host header): 400" in strict_daphne.output()
