"""The management commands' in-process parts: options, patching, consumers, log lines."""

import importlib.metadata
import io

import pytest
from django.contrib.staticfiles.management.commands import runserver as static_runserver
from django.core.management import get_commands, load_command_class

from channels import checks
from channels.handler import ViewConsumer
from channels.management.commands import runserver, runworker
from channels.staticfiles import StaticFilesConsumer
from channels.utils import name_that_thing

pytestmark = pytest.mark.unit


def parse(command, *argv):
    return vars(command.create_parser("manage.py", "runserver").parse_args(list(argv)))


def test_staticfiles_runserver_is_rebased_on_the_channels_one():
    assert issubclass(static_runserver.Command, runserver.Command)
    app = get_commands()["runserver"]
    assert isinstance(load_command_class(app, "runserver"), runserver.Command)


def test_runserver_options_and_defaults():
    options = parse(static_runserver.Command())
    assert options["http_timeout"] == 60
    assert options["websocket_handshake_timeout"] == 5
    assert options["run_worker"] is True and options["use_asgi"] is True
    assert options["worker_threads"] is None
    assert options["use_static_handler"] is True and options["insecure_serving"] is False
    changed = parse(
        static_runserver.Command(),
        "--noworker",
        "--noasgi",
        "--http_timeout",
        "7",
        "--websocket_handshake_timeout",
        "9",
        "--threads",
        "2",
        "--nostatic",
    )
    assert changed["run_worker"] is False and changed["use_asgi"] is False
    assert (changed["http_timeout"], changed["websocket_handshake_timeout"]) == (7, 9)
    assert changed["worker_threads"] == 2 and changed["use_static_handler"] is False


def test_channels_runserver_used_directly_has_the_static_options_too():
    options = parse(runserver.Command(), "--insecure")
    assert options["insecure_serving"] is True


@pytest.mark.parametrize(
    "debug,options,static",
    [
        (True, {}, True),
        (False, {}, False),
        (False, {"insecure_serving": True}, True),
        (True, {"use_static_handler": False}, False),
    ],
)
def test_runserver_serves_static_files_under_debug_or_insecure(settings, debug, options, static):
    settings.DEBUG = debug
    consumer = runserver.Command().get_consumer(**options)
    assert isinstance(consumer, StaticFilesConsumer) is static
    # Otherwise Django's views, handed to check_default as 1.x's runserver did.
    assert (type(consumer) is ViewConsumer) is not static


def test_runworker_serves_static_files_only_under_debug(settings):
    settings.DEBUG = True
    assert isinstance(runworker.Command().get_consumer(), StaticFilesConsumer)
    settings.DEBUG = False
    assert type(runworker.Command().get_consumer()) is ViewConsumer


def test_runworker_options_and_defaults():
    command = runworker.Command()
    parser = command.create_parser("manage.py", "runworker")
    options = vars(parser.parse_args([]))
    assert options["layer"] == "default" and options["threads"] == 1
    assert options["only_channels"] is None and options["exclude_channels"] is None
    options = vars(
        parser.parse_args(["--only-channels", "a.*", "--only-channels", "b", "--threads", "3"])
    )
    assert options["only_channels"] == ["a.*", "b"] and options["threads"] == 3


def test_log_action_lines():
    lines = [
        runserver._describe(
            "http",
            "complete",
            {
                "method": "GET",
                "path": "/p",
                "status": 200,
                "time_taken": 0.0123,
                "client": "1.2.3.4:5",
            },
        ),
        runserver._describe("websocket", "connecting", {"path": "/ws", "client": "c"}),
        runserver._describe("websocket", "connected", {"path": "/ws", "client": "c"}),
        runserver._describe("websocket", "rejected", {"path": "/ws", "client": "c"}),
        runserver._describe("websocket", "disconnected", {"path": "/ws", "client": "c"}),
        runserver._describe("websocket", "unknown", {}),
    ]
    assert lines[0].endswith("HTTP GET /p 200 [0.01, 1.2.3.4:5]")
    assert [line.split("] ", 1)[1] for line in lines[1:5]] == [
        "WebSocket HANDSHAKING /ws [c]",
        "WebSocket CONNECT /ws [c]",
        "WebSocket REJECT /ws [c]",
        "WebSocket DISCONNECT /ws [c]",
    ]
    assert lines[5] is None


def test_log_action_writes_one_line_to_stderr(monkeypatch):
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    runserver.Command(no_color=True).log_action(
        "http", "complete", {"method": "POST", "path": "/x", "status": 500, "client": "c"}
    )
    assert stderr.getvalue().count("\n") == 1 and "HTTP POST /x 500" in stderr.getvalue()


def test_name_that_thing_names_functions_classes_instances_and_methods():
    assert name_that_thing(name_that_thing) == "channels.utils.name_that_thing"
    assert name_that_thing(StaticFilesConsumer) == "channels.staticfiles.StaticFilesConsumer"
    consumer = StaticFilesConsumer()
    assert name_that_thing(consumer) == "channels.staticfiles.StaticFilesConsumer"
    assert name_that_thing(consumer.__call__) == "channels.staticfiles.StaticFilesConsumer.__call__"


def test_check_all_refuses_an_old_layer_package(monkeypatch):
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "1.0.0" if name == "asgi_redis" else "9.9"
    )
    with pytest.raises(RuntimeError, match="asgi_redis >= 1.2.0, but 1.0.0"):
        checks.check_all()


def test_check_all_accepts_new_or_missing_packages(monkeypatch):
    def version(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    checks.check_all()
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "10.0.0")
    checks.check_all()


@pytest.fixture
def quiet_setup_logger(monkeypatch):
    """Keep call_command from redirecting the worker logger for later tests."""
    import logging

    monkeypatch.setattr(
        runworker,
        "setup_logger",
        lambda name, verbosity=1, log_format="text": logging.getLogger(name),
    )


@pytest.mark.parametrize("threads", ["0", "-2"])
def test_runworker_refuses_fewer_than_one_thread(threads, quiet_setup_logger):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--threads must be at least 1"):
        call_command("runworker", "--threads", threads)


def test_runworker_refuses_the_in_memory_layer_in_process(quiet_setup_logger):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="only works inside one process"):
        call_command("runworker")


def test_runworker_reaps_dead_servers_leases_only_on_a_layer_with_the_extension():
    import logging

    from asgi.inmemory import ChannelLayer
    from channels.asgi import ChannelLayerWrapper

    class LeasingLayer(ChannelLayer):
        extensions = ["groups", "flush", "leases"]

        def lease_claim(self, limit=16):
            return []

    command = runworker.Command()
    command.logger = logging.getLogger("test")
    command.channel_layer = ChannelLayerWrapper(ChannelLayer(), "default", [])
    assert command._start_reaper() is None
    command.channel_layer = ChannelLayerWrapper(LeasingLayer(), "default", [])
    reaper = command._start_reaper()
    try:
        assert reaper.layer is command.channel_layer.channel_layer
        assert reaper._thread.is_alive()
    finally:
        reaper.stop(timeout=2)


@pytest.mark.parametrize(
    "options",
    [
        ["--heartbeat-ttl", "-1"],
        ["--heartbeat-ttl", "6", "--heartbeat-interval", "6"],
        ["--heartbeat-interval", "0"],
    ],
)
def test_runworker_refuses_heartbeat_options_that_cannot_work(options, quiet_setup_logger):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--heartbeat-ttl must be 0 \\(off\\) or positive"):
        call_command("runworker", *options)


def test_runworker_refuses_an_unknown_log_format(quiet_setup_logger):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="invalid choice: 'xml'"):
        call_command("runworker", "--log-format", "xml")
