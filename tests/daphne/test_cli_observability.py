"""The ``daphne`` flags of the observability work: ``--health-path``,
``--heartbeat-ttl``/``--heartbeat-interval``, ``--log-format``, and what the
CLI hands the server for them."""

from __future__ import annotations

import pytest

from daphne.cli import CommandLineInterface

pytestmark = pytest.mark.protocol


def parse(*args):
    return CommandLineInterface().parser.parse_args([*args, "m:l"])


def refused(capsys, *args, run=False):
    cli = CommandLineInterface()
    with pytest.raises(SystemExit) as exited:
        if run:
            cli.run([*args, "m:l"])
        else:
            cli.parser.parse_args([*args, "m:l"])
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_the_defaults_are_no_health_path_a_15_second_heartbeat_and_text_logs():
    options = parse()
    assert options.health_path is None
    assert options.heartbeat_ttl == 15 and options.heartbeat_interval is None
    assert options.log_format == "text"


@pytest.mark.parametrize("path", ["healthz", "/healthz?x=1", ""])
def test_a_health_path_that_is_not_an_absolute_path_is_refused(path, capsys):
    assert "expected a path starting with /" in refused(capsys, "--health-path", path)


def test_an_unknown_log_format_is_refused_naming_the_choices(capsys):
    error = refused(capsys, "--log-format", "xml")
    assert "invalid choice: 'xml'" in error and "'json'" in error


def test_a_heartbeat_interval_not_below_the_ttl_is_refused(capsys):
    error = refused(capsys, "--heartbeat-ttl", "6", "--heartbeat-interval", "6", run=True)
    assert "--heartbeat-interval (6) must be below --heartbeat-ttl (6)" in error


@pytest.mark.parametrize("value", ["0.5", "-1", "soon"])
def test_a_heartbeat_ttl_under_one_second_is_refused(value, capsys):
    assert "expected" in refused(capsys, "--heartbeat-ttl", value)


class RecordingServer:
    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def run(self):
        pass


def run_with(*args):
    cli = CommandLineInterface()
    cli.server_class = RecordingServer
    cli.run([*args, "tests.daphne.test_cli:test_layer"])
    return cli.server.kwargs


def test_the_server_gets_the_health_and_heartbeat_options():
    kwargs = run_with(
        "--health-path", "/healthz", "--heartbeat-ttl", "9", "--heartbeat-interval", "2"
    )
    assert kwargs["health_path"] == "/healthz"
    assert (kwargs["heartbeat_ttl"], kwargs["heartbeat_interval"]) == (9, 2)


@pytest.mark.parametrize(("verbosity", "explain"), [("1", False), ("2", True)])
def test_the_503_page_explains_only_at_verbosity_2(verbosity, explain):
    assert run_with("-v", verbosity)["explain_errors"] is explain
