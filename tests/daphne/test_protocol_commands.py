"""daphne-smtp, daphne-irc and daphne-udp run as real subprocesses.

The layer module each command loads is written per test: an in-memory
layer plus a tiny echo consumer thread, so real traffic flows through the
real command without any other process.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import tomllib
from importlib import import_module
from pathlib import Path

import pytest

from tests.daphne.irc.irc_peer import MiniIRCServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0

LAYER_MODULE = """
import os
import threading
from pathlib import Path
from asgi.inmemory import ChannelLayer

channel_layer = ChannelLayer()


def _echo():
    while True:
        channel, message = channel_layer.receive(
            ["udp.receive", "irc-client.receive", "email.receive"], block=True
        )
        if channel == "udp.receive":
            channel_layer.send(message["reply_channel"], {"data": message["data"].upper()})
        elif channel == "irc-client.receive":
            channel_layer.send(
                message["reply_channel"],
                {"type": "message", "channel": message["channel"], "body": "echo " + message["body"]},
            )
        elif channel == "email.receive":
            # written aside and renamed, so the test never reads a half-written file
            Path("mail-subject.tmp").write_text(message["headers"]["subject"])
            os.replace("mail-subject.tmp", "mail-subject.txt")


threading.Thread(target=_echo, daemon=True).start()
"""


class Command:
    """A running command; its stderr lines are collected by a thread."""

    def __init__(self, module: str, args: list[str], cwd: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))

    def expect(self, pattern: str) -> re.Match:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no log line matching {pattern!r}; got {self.seen}")

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "cmd_layer.py").write_text(LAYER_MODULE)
    return tmp_path


def run(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize(
    "prog, flag",
    [
        ("daphne-smtp", "--max-size"),
        ("daphne-irc", "--nickname"),
        ("daphne-udp", "--client-timeout"),
    ],
)
def test_help_describes_the_command_and_its_options(tmp_path, prog, flag):
    # the installed console script, as a user runs it
    script = Path(sys.executable).with_name(prog)
    result = subprocess.run(
        [str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: {prog}")
    assert "channel_layer" in result.stdout and flag in result.stdout and "-v" in result.stdout


@pytest.mark.parametrize(
    "module, extra",
    [("daphne.smtp", []), ("daphne.irc", ["-s", "x", "-n", "bot"]), ("daphne.udp", [])],
)
def test_a_layer_path_that_does_not_import_is_one_line_and_exit_status_2(tmp_path, module, extra):
    result = run(module, "nowhere.asgi:channel_layer", *extra, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Could not import module 'nowhere.asgi'" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_port_already_in_use_is_a_clear_start_up_error(project):
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    try:
        result = run(
            "daphne.udp", "cmd_layer:channel_layer", "-p", str(taken.getsockname()[1]), cwd=project
        )
    finally:
        taken.close()
    assert result.returncode == 1
    assert "daphne-udp: error: could not start" in result.stderr
    assert "Traceback" not in result.stderr


def test_daphne_udp_echoes_datagrams_and_exits_0_on_sigterm(project):
    command = Command("daphne.udp", ["cmd_layer:channel_layer", "-p", "0"], project)
    try:
        port = int(command.expect(r"UDP server listening on 127\.0\.0\.1:(\d+)").group(1))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(TIMEOUT)
        sock.sendto(b"shout", ("127.0.0.1", port))
        assert sock.recvfrom(100)[0] == b"SHOUT"
        sock.close()
    finally:
        status = command.terminate()
    assert status == 0
    command.expect(r"INFO +Stopped")


def test_daphne_smtp_accepts_mail_and_exits_0_on_sigterm(project):
    command = Command(
        "daphne.smtp", ["cmd_layer:channel_layer", "-p", "0", "--domain", "example.com"], project
    )
    try:
        port = int(command.expect(r"SMTP server listening on 127\.0\.0\.1:(\d+)").group(1))
        with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
            client.sendmail("a@example.org", ["bot@example.com"], b"Subject: via cli\r\n\r\nhi\r\n")
        marker = project / "mail-subject.txt"
        deadline = time.monotonic() + TIMEOUT
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.read_text() == "via cli"
    finally:
        status = command.terminate()
    assert status == 0


def test_daphne_irc_joins_answers_and_quits_on_sigterm(project):
    irc_server = MiniIRCServer().start()
    command = Command(
        "daphne.irc",
        [
            "cmd_layer:channel_layer",
            "-s",
            "127.0.0.1",
            "-p",
            str(irc_server.port),
            "-n",
            "clibot",
            "-c",
            "general",
        ],
        project,
    )
    try:
        irc_server.expect(r"^JOIN #general")
        command.expect(r"Joined #general")
        irc_server.say("alice", "#general", "hello bot")
        irc_server.expect(r"^PRIVMSG #general :echo hello bot$")
        status = command.terminate()
        assert status == 0
        irc_server.expect(r"^QUIT ")
    finally:
        if command.process.poll() is None:
            command.process.kill()
        irc_server.stop()


def test_pyproject_console_scripts_point_at_the_entry_points():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    for name, package in [("daphne-smtp", "smtp"), ("daphne-irc", "irc"), ("daphne-udp", "udp")]:
        target = scripts[name]
        module_name, _, attr_path = target.partition(":")
        assert module_name == f"daphne.{package}.cli"
        obj = import_module(module_name)
        for attr in attr_path.split("."):
            obj = getattr(obj, attr)
        assert callable(obj)
