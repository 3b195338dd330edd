"""The command line, endpoint strings, the Server constructor and the access log."""

import datetime
import io
import sys

import pytest
from twisted.internet.testing import MemoryReactorClock

from asgi.inmemory import ChannelLayer
from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface, LayerImportError, import_layer
from daphne.server import Server, build_endpoint_description_strings

pytestmark = pytest.mark.protocol

test_layer = ChannelLayer()


def endpoints_for(*args):
    cli = CommandLineInterface()
    return cli.endpoint_strings(cli.parser.parse_args([*args, "m:layer"]))


def test_no_binding_defaults_to_localhost_8000():
    assert endpoints_for() == ["tcp:port=8000:interface=127.0.0.1"]


def test_host_alone_gets_port_8000_and_port_alone_gets_localhost():
    assert endpoints_for("-b", "0.0.0.0") == ["tcp:port=8000:interface=0.0.0.0"]
    assert endpoints_for("-p", "9000") == ["tcp:port=9000:interface=127.0.0.1"]


def test_endpoint_strings_are_added_and_sorted():
    assert endpoints_for("-e", "unix:/tmp/b", "-e", "tcp:1", "-u", "/tmp/a") == [
        "tcp:1",
        "unix:/tmp/a",
        "unix:/tmp/b",
    ]


def test_every_flag_parses_with_its_1x_default():
    options = CommandLineInterface().parser.parse_args(["m:l"])
    assert options.websocket_connect_timeout == 5
    assert options.http_timeout == 120
    assert (options.ping_interval, options.ping_timeout) == (20, 30)
    assert options.websocket_timeout is None and options.ws_protocols is None
    assert options.root_path == "" and options.socket_strings == []
    assert options.verbosity == 1 and not options.proxy_headers and not options.force_sync
    assert options.websocket_queue_timeout == 10
    assert options.strict_http is False  # 1.x accepted HTTP/1.1 without Host
    assert options.body_send_timeout == 10
    assert options.disconnect_retry_timeout == 60
    assert options.shutdown_timeout == 10
    options = CommandLineInterface().parser.parse_args(
        ["--ws-protocol", "a", "b", "--fd", "3", "-t", "7", "--websocket_timeout", "-1", "m:l"]
    )
    assert options.ws_protocols == ["a", "b"] and options.file_descriptor == 3
    assert options.http_timeout == 7 and options.websocket_timeout == -1


def test_build_endpoint_strings_escapes_ipv6_and_covers_unix_and_fd():
    assert build_endpoint_description_strings(host="[::1]", port=80) == [
        r"tcp:port=80:interface=\:\:1"
    ]
    assert build_endpoint_description_strings(unix_socket="/s") == ["unix:/s"]
    assert build_endpoint_description_strings(file_descriptor=5) == ["fd:fileno=5"]


@pytest.mark.parametrize("kwargs", [{"host": "h"}, {"port": 1}])
def test_host_or_port_alone_is_a_value_error(kwargs):
    with pytest.raises(ValueError, match="both host and port"):
        build_endpoint_description_strings(**kwargs)


def test_import_layer_follows_the_attribute_path():
    assert import_layer("tests.daphne.test_cli:test_layer") is test_layer


@pytest.mark.parametrize(
    "path, message",
    [
        ("no_colon", "path.to.module:instance"),
        ("tests.daphne.no_such_module:x", "Could not import module"),
        ("tests.daphne.test_cli:missing", "missing"),
    ],
)
def test_import_layer_errors_say_what_was_expected(path, message):
    with pytest.raises(LayerImportError, match=message):
        import_layer(path)


def test_cli_exits_with_status_2_and_a_clear_message_for_a_bad_layer(capsys):
    with pytest.raises(SystemExit) as info:
        CommandLineInterface().run(["-v", "0", "tests.daphne.test_cli:pytest"])
    assert info.value.code == 2
    assert "is not a channel layer" in capsys.readouterr().err


def test_cli_passes_every_option_to_the_server(monkeypatch):
    captured = {}

    class FakeServer:
        def __init__(self, **kwargs):
            captured.update(kwargs)

        def run(self):
            captured["ran"] = True

    cli = CommandLineInterface()
    cli.server_class = FakeServer
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    cli.run(
        [
            "--proxy-headers",
            "--force-sync",
            "--strict-http",
            "--root-path",
            "/r",
            "--ws-protocol",
            "chat",
            "--websocket_connect_timeout",
            "9",
            "--websocket-queue-timeout",
            "2.5",
            "--body-send-timeout",
            "4",
            "--lease-ttl",
            "6",
            "--disconnect-retry-timeout",
            "90",
            "--shutdown-timeout",
            "0",
            "-v",
            "0",
            "tests.daphne.test_cli:test_layer",
        ]
    )
    assert captured["ran"] and captured["channel_layer"] is test_layer
    assert captured["proxy_forwarded_address_header"] == "X-Forwarded-For"
    assert captured["proxy_forwarded_proto_header"] == "X-Forwarded-Proto"
    assert captured["force_sync"] and captured["root_path"] == "/r"
    assert captured["ws_protocols"] == ["chat"]
    assert captured["websocket_connect_timeout"] == 9
    assert captured["websocket_queue_timeout"] == 2.5
    assert captured["strict_http"] is True
    assert captured["body_send_timeout"] == 4
    assert captured["lease_ttl"] == 6
    assert captured["disconnect_retry_timeout"] == 90
    assert captured["shutdown_timeout"] == 0
    assert captured["action_logger"] is None  # verbosity 0 and no --access-log


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_queue_timeout_that_is_not_positive_seconds_is_refused(value, capsys):
    with pytest.raises(SystemExit) as exited:
        CommandLineInterface().parser.parse_args(["--websocket-queue-timeout", value, "m:l"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--websocket-queue-timeout" in error and repr(value) in error


def test_the_lease_ttl_defaults_to_15_seconds_and_0_turns_leases_off():
    parse = CommandLineInterface().parser.parse_args
    assert parse(["m:l"]).lease_ttl == 15
    assert parse(["--lease-ttl", "0", "m:l"]).lease_ttl == 0


@pytest.mark.parametrize("value", ["0.5", "-1", "soon"])
def test_a_lease_ttl_under_one_second_is_refused(value, capsys):
    with pytest.raises(SystemExit) as exited:
        CommandLineInterface().parser.parse_args(["--lease-ttl", value, "m:l"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--lease-ttl" in error and repr(value) in error


def test_the_queue_timeout_reaches_the_factory_a_started_server_builds():
    reactor = MemoryReactorClock()
    server = Server(
        test_layer,
        endpoints=["tcp:0"],
        reactor=reactor,
        signal_handlers=False,
        websocket_queue_timeout=2.5,
    )
    server.start()
    assert server.factory.websocket_queue_timeout == 2.5
    # the frame queue that enforces it
    assert server.factory.sender._queue.full_timeout == 2.5


def test_the_body_send_timeout_reaches_the_factory_a_started_server_builds():
    reactor = MemoryReactorClock()
    server = Server(
        test_layer, endpoints=["tcp:0"], reactor=reactor, signal_handlers=False, body_send_timeout=3
    )
    server.start()
    assert server.factory.body_send_timeout == 3


def test_server_without_endpoints_raises_user_warning():
    with pytest.raises(UserWarning, match="No endpoints"):
        Server(test_layer)


def test_server_deprecated_host_port_become_endpoints():
    with pytest.warns(DeprecationWarning):
        server = Server(test_layer, host="127.0.0.1", port=8001)
    assert server.endpoints == ["tcp:port=8001:interface=127.0.0.1"]


def test_server_websocket_timeout_defaults_to_group_expiry():
    server = Server(ChannelLayer(group_expiry=300), endpoints=["tcp:0"])
    assert server.websocket_timeout == 300


def test_server_refuses_something_that_is_not_a_layer_when_it_starts():
    server = Server(object(), endpoints=["tcp:0"], reactor=MemoryReactorClock())
    with pytest.raises(TypeError, match="send"):
        server.start()


def test_access_log_lines_for_http_and_websocket():
    stream = io.StringIO()
    log = AccessLogGenerator(stream)
    log(
        "http",
        "complete",
        {
            "path": "/p",
            "status": 200,
            "method": "GET",
            "client": "1.2.3.4:5",
            "time_taken": 0.1,
            "size": 12,
        },
    )
    log("websocket", "connecting", {"path": "/ws", "client": None})
    log("websocket", "rejected", {"path": "/ws", "client": "1.2.3.4:5"})
    log("websocket", "unknown-action", {"path": "/ws"})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("1.2.3.4:5 - - [") and lines[0].endswith('] "GET /p" 200 12')
    assert lines[1].startswith("- - - [") and lines[1].endswith('"WSCONNECTING /ws" - -')
    assert '"WSREJECT /ws"' in lines[2]


def test_access_log_write_entry_formats_the_date_ncsa_style():
    stream = io.StringIO()
    AccessLogGenerator(stream).write_entry(
        "h", datetime.datetime(2024, 3, 5, 6, 7, 8), "GET /", 404, 3, ident="i", user="u"
    )
    assert stream.getvalue() == 'h i u [05/Mar/2024:06:07:08] "GET /" 404 3\n'


def run_capturing_server_options(monkeypatch, args):
    captured = {}

    class FakeServer:
        def __init__(self, **kwargs):
            captured.update(kwargs)

        def run(self):
            pass

    cli = CommandLineInterface()
    cli.server_class = FakeServer
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    cli.run([*args, "-v", "0", "tests.daphne.test_cli:test_layer"])
    return captured


def test_proxy_trusted_ips_reach_the_server_parsed(monkeypatch):
    captured = run_capturing_server_options(
        monkeypatch, ["--proxy-headers", "--proxy-trusted-ips", "127.0.0.1,10.0.0.0/8"]
    )
    trusted = captured["proxy_trusted_ips"]
    assert "127.0.0.1" in trusted and "10.9.9.9" in trusted and "192.0.2.1" not in trusted


def test_without_proxy_trusted_ips_every_peer_is_believed_as_in_1x(monkeypatch):
    captured = run_capturing_server_options(monkeypatch, ["--proxy-headers"])
    assert captured["proxy_trusted_ips"] is None


def test_proxy_trusted_ips_without_proxy_headers_is_refused(capsys):
    with pytest.raises(SystemExit) as exited:
        CommandLineInterface().run(["--proxy-trusted-ips", "127.0.0.1", "m:l"])
    assert exited.value.code == 2
    assert "--proxy-trusted-ips needs --proxy-headers" in capsys.readouterr().err


def test_a_proxy_trusted_ip_that_is_no_address_is_refused(capsys):
    with pytest.raises(SystemExit) as exited:
        CommandLineInterface().parser.parse_args(
            ["--proxy-headers", "--proxy-trusted-ips", "127.0.0.1,proxy.local", "m:l"]
        )
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--proxy-trusted-ips" in error and "got 'proxy.local'" in error


def test_proxy_trusted_ips_reach_the_factory_a_started_server_builds():
    server = Server(
        test_layer,
        endpoints=["tcp:0"],
        reactor=MemoryReactorClock(),
        signal_handlers=False,
        proxy_forwarded_address_header="X-Forwarded-For",
        proxy_trusted_ips="10.0.0.1",
    )
    server.start()
    assert "10.0.0.1" in server.factory.proxy_headers.trusted
    assert "10.0.0.2" not in server.factory.proxy_headers.trusted


@pytest.mark.parametrize("value", ["-1", "later"])
def test_a_shutdown_timeout_that_is_not_seconds_is_refused(value, capsys):
    with pytest.raises(SystemExit) as exited:
        CommandLineInterface().parser.parse_args(["--shutdown-timeout", value, "m:l"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--shutdown-timeout" in error and repr(value) in error


def test_the_metrics_options_reach_the_server(monkeypatch):
    captured = run_capturing_server_options(monkeypatch, ["--metrics-port", "0"])
    assert (captured["metrics_port"], captured["metrics_bind"]) == (0, "127.0.0.1")
    assert captured["metrics_layer"] is False and captured["metrics_channels"] == []
    defaults = CommandLineInterface().parser.parse_args(["m:l"])
    assert defaults.metrics_port is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--metrics-port", "70000"], "from 0 to 65535"),
        (["--metrics-layer"], "need --metrics-port"),
        (
            ["--metrics-port", "0", "--metrics-channel", "x"],
            "--metrics-channel needs --metrics-layer",
        ),
        (["--metrics-port", "0", "--metrics-layer"], "'inspect' extension"),
    ],
)
def test_bad_metrics_options_are_refused_with_a_clear_message(flags, message, capsys):
    with pytest.raises(SystemExit) as info:
        CommandLineInterface().run(["-v", "0", *flags, "tests.daphne.test_cli:plain_layer"])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_metrics_without_the_extra_name_the_package_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.setitem(sys.modules, "prometheus_client.core", None)
    with pytest.raises(SystemExit) as info:
        CommandLineInterface().run(
            ["-v", "0", "--metrics-port", "0", "tests.daphne.test_cli:test_layer"]
        )
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "prometheus_client" in err and "pip install channels-classic[metrics]" in err


class _PlainLayer(ChannelLayer):
    extensions = ["groups", "flush"]


plain_layer = _PlainLayer()
