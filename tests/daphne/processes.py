"""Start daphne (and workers) as real processes for integration tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"Listening on TCP address ([\d.]+):(\d+)")


class Process:
    """A child process whose combined output goes to a temporary file."""

    def __init__(self, *args: str, env: dict | None = None, pass_fds: tuple = ()) -> None:
        self.output_file = tempfile.NamedTemporaryFile(prefix="daphne-test-", suffix=".log")
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
        self.popen = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=full_env,
            stdout=self.output_file,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
        )

    def output(self) -> str:
        return Path(self.output_file.name).read_text(errors="replace")

    def wait_for(self, pattern: re.Pattern | str, timeout: float = 30) -> re.Match:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = regex.search(self.output())
            if match:
                return match
            if self.popen.poll() is not None:
                raise RuntimeError(f"process exited early:\n{self.output()}")
            time.sleep(0.05)
        raise TimeoutError(f"{regex.pattern!r} not seen in {timeout}s:\n{self.output()}")

    def terminate(self, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


class Daphne(Process):
    """A daphne process; ``port`` is known once it listens."""

    def __init__(self, *args: str, env: dict | None = None, pass_fds: tuple = ()) -> None:
        super().__init__(*args, env=env, pass_fds=pass_fds)
        match = self.wait_for(_LISTENING)
        self.host, self.port = match.group(1), int(match.group(2))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"


def wait_count(process: Process, pattern: re.Pattern, count: int, timeout: float) -> int:
    """How many times ``pattern`` is in ``process``'s output once it reaches
    ``count`` or ``timeout`` passes (whichever comes first)."""
    deadline = time.monotonic() + timeout
    seen = len(pattern.findall(process.output()))
    while seen < count and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = len(pattern.findall(process.output()))
    return seen


def redis_daphne(env: dict, *flags: str) -> Daphne:
    """daphne on a free port of 127.0.0.1 serving ``tests.daphne.redis_layer`` (set up by
    ``env``'s ``DAPHNE_TEST_*`` variables), with ``flags`` before the layer path."""
    return Daphne(
        "-m", "daphne", "-e", "tcp:port=0:interface=127.0.0.1", *flags,
        "tests.daphne.redis_layer:channel_layer",
        env=env,
    )  # fmt: skip


def redis_worker(env: dict, threads: int = 1) -> Process:
    """``tests.daphne.worker_process`` with ``threads`` threads, once it is ready."""
    process = Process("-m", "tests.daphne.worker_process", str(threads), env=env)
    process.wait_for("worker ready")
    return process
