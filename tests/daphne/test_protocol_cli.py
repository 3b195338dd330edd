"""daphne._protocol_cli: layer import, logging and heartbeat flags shared by the
``daphne-smtp``, ``daphne-irc``, ``daphne-udp`` and ``daphne-slack`` commands."""

from __future__ import annotations

import importlib
import logging
import sys
import time

import pytest

from asgi.heartbeat import Activity
from asgi.inmemory import ChannelLayer
from daphne._beat import start_heartbeat
from daphne._protocol_cli import (
    LayerImportError,
    ProtocolCommandLine,
    configure_logging,
    import_channel_layer,
)

pytestmark = pytest.mark.unit

MODULES = ("proj_layers", "broken_layers")


def forget_the_current_directory() -> None:
    """Drop what the import system remembers about "the current directory".

    The finder cached in ``sys.path_importer_cache`` for a ``"."`` (or ``""``)
    entry is bound to the absolute directory that was current when it was
    made, so after a ``chdir`` it keeps looking in the old one: a test that
    imported through ``"."`` from elsewhere (``daphne.cli`` puts ``"."`` on
    ``sys.path``) would make these imports fail, or find stale modules.
    """
    for entry in ("", "."):
        sys.path_importer_cache.pop(entry, None)
    for name in MODULES:
        sys.modules.pop(name, None)
    importlib.invalidate_caches()


@pytest.fixture
def layer_module(tmp_path, monkeypatch):
    (tmp_path / "proj_layers.py").write_text(
        "from asgi.inmemory import ChannelLayer\n"
        "class Holder:\n    layer = ChannelLayer()\n"
        "channel_layer = Holder.layer\n"
        "not_a_layer = object()\n"
    )
    (tmp_path / "broken_layers.py").write_text("raise RuntimeError('settings missing')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    forget_the_current_directory()
    yield
    # and leave no finder bound to this temporary directory for later tests
    forget_the_current_directory()


def test_a_module_attribute_path_imports_from_the_current_directory(layer_module):
    layer = import_channel_layer("proj_layers:channel_layer")
    assert type(layer).__name__ == "ChannelLayer"
    assert import_channel_layer("proj_layers:Holder.layer") is layer


@pytest.mark.parametrize(
    "path, complaint",
    [
        ("proj_layers", "like 'myproject.asgi:channel_layer'"),
        (":channel_layer", "like 'myproject.asgi:channel_layer'"),
        ("no_such_module:layer", "Could not import module 'no_such_module'"),
        ("broken_layers:layer", "RuntimeError: settings missing"),
        ("proj_layers:missing", "has no attribute path 'missing'"),
        ("proj_layers:Holder.nope", "(missing 'nope')"),
        ("proj_layers:not_a_layer", "is not a channel layer"),
    ],
)
def test_a_bad_layer_path_is_one_clear_error(layer_module, path, complaint):
    with pytest.raises(LayerImportError) as error:
        import_channel_layer(path)
    assert complaint in str(error.value)


@pytest.mark.parametrize(
    "verbosity, level", [(0, logging.WARNING), (1, logging.INFO), (2, logging.DEBUG)]
)
def test_verbosity_sets_the_log_level_like_daphne(verbosity, level, capsys):
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    try:
        configure_logging(verbosity)
        assert root.level == level
        logging.getLogger("daphne.test").warning("hello %s", "there")
        assert "WARNING  hello there" in capsys.readouterr().err
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]


def test_json_log_format_writes_one_json_object_per_line_with_the_extra_fields():
    import io
    import json

    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    stream = io.StringIO()
    try:
        configure_logging(1, stream=stream, log_format="json")
        logging.getLogger("daphne.drops").warning(
            "Dropped 1 message(s) on %s", "http.request", extra={"reason": "timeout", "count": 1}
        )
        logging.getLogger("daphne.test").info("second")
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["logger"] == "daphne.drops" and first["level"] == "WARNING"
    assert first["message"] == "Dropped 1 message(s) on http.request"
    assert (first["reason"], first["count"]) == ("timeout", 1)
    assert second["message"] == "second"


class Command(ProtocolCommandLine):
    prog = "daphne-test"


def test_the_heartbeat_flags_default_to_daphnes_15_seconds_renewed_every_third():
    options = Command().parser.parse_args(["m:l"])
    assert (options.heartbeat_ttl, options.heartbeat_interval) == (15, None)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--heartbeat-ttl", "6", "--heartbeat-interval", "6"], "must be below --heartbeat-ttl"),
        (["--heartbeat-ttl", "0.5"], "expected 0 (no heartbeat) or at least 1 second"),
        (["--heartbeat-interval", "0"], "expected a number of seconds above 0"),
    ],
)
def test_heartbeat_flags_out_of_range_are_usage_errors(args, error, capsys):
    with pytest.raises(SystemExit) as exited:
        Command().run(["nowhere:layer", *args])
    assert exited.value.code == 2
    assert error in capsys.readouterr().err


class LayerWithoutInspect:
    extensions = ["groups"]

    def __init__(self):
        self.records = []

    def heartbeat(self, record, ttl):
        self.records.append(record)


def beat_on(layer, ttl=15):
    return start_heartbeat(
        layer,
        kind="daphne-test",
        channels=lambda: ["test.send.abc!*"],
        activity=Activity().snapshot,
        ttl=ttl,
        interval=None,
    )


def test_no_heartbeat_starts_on_a_layer_without_the_inspect_extension():
    layer = LayerWithoutInspect()
    assert beat_on(layer) is None
    assert layer.records == []


def test_a_started_heartbeat_keeps_the_record_until_stopped():
    layer = ChannelLayer()
    heartbeat = beat_on(layer)
    try:
        (record,) = wait_for_records(layer)
        assert (record["kind"], record["channels"]) == ("daphne-test", ["test.send.abc!*"])
    finally:
        heartbeat.stop()
    assert layer.inspect_processes() == []


def wait_for_records(layer):
    # the first renewal is made by the heartbeat's own thread
    for _ in range(500):
        records = layer.inspect_processes()
        if records:
            return records
        time.sleep(0.01)
    raise AssertionError("no heartbeat record within 5 s")
