"""HTTP/2 and WebSocket over TLS (ALPN) with real clients: httpx (http2=True) and websockets."""

import hashlib
import json
import os
import ssl

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.daphne.certs import write_self_signed
from tests.daphne.processes import Daphne

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    key, cert = write_self_signed(tmp_path_factory.mktemp("tls"))
    endpoint = f"ssl:port=0:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    process = Daphne("-m", "tests.daphne.serve_inmemory", endpoint)
    process.cert = str(cert)
    yield process
    assert process.terminate() == 0, process.output()


def https(tls, http2=True):
    return httpx.Client(
        base_url=f"https://127.0.0.1:{tls.port}",
        http2=http2,
        verify=ssl.create_default_context(cafile=tls.cert),
        timeout=20,
    )


def test_http2_request_carries_http_version_2_and_scheme_https(tls):
    with https(tls) as client:
        response = client.get("/h2/path?q=1")
    assert response.http_version == "HTTP/2"
    report = response.json()
    assert report["http_version"] == "2" and report["scheme"] == "https"
    assert report["path"] == "/h2/path" and report["query_string"] == "q=1"
    assert any(name == "host" for name, _ in report["headers"])


def test_http2_streams_share_one_connection(tls):
    with https(tls) as client:
        ports = {client.get(f"/n{i}").json()["client"][1] for i in range(3)}
    assert len(ports) == 1


def test_http2_large_upload_streams_through_the_body_channel(tls):
    body = os.urandom(3 * 1024 * 1024)
    with https(tls) as client:
        report = client.post("/upload", content=body).json()
    assert report["body_chunks"] > 1
    assert report["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_http2_streamed_response(tls):
    with https(tls) as client:
        assert client.get("/stream").text == "chunk0\nchunk1\nchunk2\nend\n"


def test_http11_over_tls_still_works(tls):
    with https(tls, http2=False) as client:
        response = client.get("/one")
    assert response.http_version == "HTTP/1.1"
    assert response.json()["scheme"] == "https"


def test_secure_websocket_has_scheme_wss_and_echoes(tls):
    context = ssl.create_default_context(cafile=tls.cert)
    with ws_connect(f"wss://127.0.0.1:{tls.port}/info", ssl=context) as ws:
        info = json.loads(ws.recv())
        ws.send("secure")
        assert ws.recv() == "secure"
    assert info["scheme"] == "wss"


def test_http2_body_above_the_limit_is_413(tls):
    with https(tls) as client:
        response = client.post("/too-big", content=b"z" * (21 * 1024 * 1024))
        assert response.status_code == 413
        assert client.get("/after").status_code == 200, "the connection stays usable"
