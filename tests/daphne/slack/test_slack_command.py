"""``daphne-slack`` as a real subprocess: secrets from the environment only,
signed events in, posts out to the local Slack stand-in, a clean SIGTERM."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.daphne.test_protocol_commands import REPO, TIMEOUT, Command
from tests.support.slack_api import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlackAPI,
    message_event,
    signed_headers,
)

pytestmark = pytest.mark.integration

ECHO_LAYER = """
import threading
from asgi.inmemory import ChannelLayer

channel_layer = ChannelLayer()


def _echo():
    while True:
        channel, message = channel_layer.receive(["slack.receive"], block=True)
        if channel:
            channel_layer.send(
                "slack.send",
                {
                    "channel": message["channel"],
                    "text": "echo " + message["text"],
                    "thread": message["timestamp"],
                },
            )


threading.Thread(target=_echo, daemon=True).start()
"""

SECRETS = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "slack_layer.py").write_text(ECHO_LAYER)
    return tmp_path


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    environment.update(env, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "daphne.slack", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize("missing", ["SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"])
def test_a_missing_secret_is_a_one_line_error_naming_the_variable(project, missing):
    env = {name: value for name, value in SECRETS.items() if name != missing}
    result = run("slack_layer:channel_layer", cwd=project, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"daphne-slack: error: set {missing} in the environment")
    assert "Traceback" not in result.stderr


def test_a_layer_path_that_does_not_import_is_one_line_and_exit_status_2(project):
    result = run("nowhere.asgi:channel_layer", cwd=project, env=SECRETS)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Could not import module 'nowhere.asgi'" in lines[0], lines


def test_a_bad_api_base_is_a_clear_start_up_error(project):
    result = run(
        "slack_layer:channel_layer", "--api-base", "slack.com/api", cwd=project, env=SECRETS
    )
    assert result.returncode == 1
    assert "could not start: api_base must be an http:// or https:// URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_secrets_cannot_be_given_on_the_command_line(project):
    result = run("slack_layer:channel_layer", "--bot-token", BOT_TOKEN, cwd=project, env=SECRETS)
    assert result.returncode == 2
    assert "unrecognized arguments: --bot-token" in result.stderr


def test_help_names_the_options_and_the_environment_variables(tmp_path):
    script = Path(sys.executable).with_name("daphne-slack")
    result = subprocess.run(
        [str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: daphne-slack")
    for word in ["--api-base", "--path", "--port", "--bind", "--queue-size", "SLACK_BOT_TOKEN"]:
        assert word in result.stdout


def test_pyproject_console_script_points_at_the_entry_point():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["daphne-slack"] == "daphne.slack.cli:CommandLineInterface.entrypoint"


def all_lines(command: Command) -> str:
    """Everything the command wrote to stderr, once it has exited."""
    lines = list(command.seen)
    while True:
        try:
            lines.append(command.lines.get(timeout=1.0))
        except queue.Empty:
            return "\n".join(lines)


def test_daphne_slack_answers_a_message_and_exits_0_without_logging_secrets(project, monkeypatch):
    api = FakeSlackAPI().start()
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)  # Command passes the environment on
    command = Command(
        "daphne.slack",
        ["slack_layer:channel_layer", "-p", "0", "-v", "2", "--api-base", api.base],
        project,
    )
    try:
        port = command.expect(r"Slack events on http://127\.0\.0\.1:(\d+)/slack/events").group(1)
        body = message_event("hello bot", ts="1700000000.000300")
        url = f"http://127.0.0.1:{port}/slack/events"
        assert httpx.post(url, content=body, headers=signed_headers(body)).status_code == 200
        forged = httpx.post(url, content=body, headers=signed_headers(body, secret="nope"))
        assert forged.status_code == 401
        (call,) = api.wait_for_calls(1)
        assert call.body == {
            "channel": "C0GENERAL",
            "text": "echo hello bot",
            "thread_ts": "1700000000.000300",
        }
        assert call.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
        command.expect(r"Posted to C0GENERAL")
    finally:
        status = command.terminate()
        api.stop()
    assert status == 0
    logged = all_lines(command)
    assert "Refused a request" in logged and "Stopped" in logged
    assert BOT_TOKEN not in logged and SIGNING_SECRET not in logged
