"""Runs example_project as a user would: ``manage.py migrate``, then either
``manage.py runserver`` (in-memory layer) or ``daphne`` plus ``runworker``
processes on Redis, each a real subprocess on a free port."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.redis import free_port

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "example_project"


class ExampleStack:
    def __init__(self, redis_url: str | None = None, workers: int = 2) -> None:
        self.redis_url = redis_url
        self.workers = workers
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="example-stack-"))
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.environment = dict(os.environ)
        self.environment.update(
            EXAMPLE_DB=str(self.directory / "db.sqlite3"),
            DJANGO_SETTINGS_MODULE="example.settings",
            PYTHONUNBUFFERED="1",
        )
        self.environment.pop("REDIS_URL", None)
        if redis_url:
            self.environment["REDIS_URL"] = redis_url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def manage(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=EXAMPLE_DIR,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def create_user(self, username: str, password: str) -> None:
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User; "
            f"User.objects.create_user({username!r}, password={password!r})",
        )

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.directory / f"{name}.log", "w")  # closed with the process
        process = subprocess.Popen(
            command,
            cwd=EXAMPLE_DIR,
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append((name, process))
        return process

    def start(self) -> ExampleStack:
        self.manage("migrate", "--noinput")
        if self.redis_url:
            for index in range(self.workers):
                self.spawn(f"worker{index}", [sys.executable, "manage.py", "runworker", "-v", "2"])
            daphne = str(Path(sys.executable).with_name("daphne"))
            self.spawn(
                "daphne",
                [daphne, "-b", "127.0.0.1", "-p", str(self.port), "example.asgi:channel_layer"],
            )
        else:
            self.spawn(
                "runserver",
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            )
        self.wait_until_serving()
        return self

    def wait_until_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited at start:\n{self.log(name)}")
            try:
                if httpx.get(self.url + "/", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"example project did not serve within {timeout}s:\n{self.logs()}")

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)}" for name, _ in self.processes)

    def stop(self) -> dict[str, int]:
        """SIGTERM every process; return their exit codes."""
        codes = {}
        for name, process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                codes[name] = process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                codes[name] = process.wait(10)
        self.processes = []
        return codes


def log_in(client: httpx.Client, base_url: str, username: str, password: str) -> None:
    """Sign in through the login form, as a browser would (CSRF included)."""
    page = client.get(base_url + "/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        base_url + "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": base_url + "/accounts/login/"},
    )
    if response.status_code != 302:
        raise AssertionError(f"login failed with {response.status_code}")


def cookie_header(client: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def chat_line(socket, timeout: float = 10, group: str | None = None) -> dict:
    """The next chat line on a raw chat socket, past the frames of the
    who's-online list and the acked welcome notice (docs/topics/realtime.rst).
    Rooms keep history, so a line comes in a numbered frame of its room's
    group (``group`` when given; docs/topics/history.rst, "Wire format")."""
    while True:
        frame = json.loads(socket.recv(timeout=timeout))
        if "presence" not in frame and "ack_request" not in frame:
            assert set(frame) == {"history", "text"}, frame
            assert frame["history"]["group"] == group or group is None, frame
            return json.loads(frame["text"])
