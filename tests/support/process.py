"""A child Python process for the command tests: its own session, its output in a file.

The process runs ``sys.executable`` with the given arguments from the
repository root, in a new session so that ``stop()`` reaches anything it
started; its combined output goes to a temporary file that the assertions
quote when a wait runs out.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from signal import SIGKILL

__all__ = ["ROOT", "Process", "project_env"]

ROOT = Path(__file__).resolve().parents[2]


def project_env(settings: str, **extra: str) -> dict[str, str]:
    """This environment with ``settings`` as the Django settings and the repository importable."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


class Process:
    """``python *argv`` with ``env``; every wait is bounded by ``timeout`` seconds."""

    def __init__(self, argv: list[str], env: dict[str, str], timeout: float = 60) -> None:
        self.timeout = timeout
        self.log = tempfile.NamedTemporaryFile(prefix="channels-cmd-", suffix=".log", delete=False)
        self.popen = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_for_port(self, port: int) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AssertionError(f"process exited early:\n{self.output}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"port {port} never opened:\n{self.output}")

    def wait_for_output(self, text: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never printed:\n{self.output}")

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        return self.popen.wait(timeout)

    def stop(self, signum: int = SIGKILL) -> None:
        """End the whole session with ``signum`` (SIGKILL after 10 s) and remove the log."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signum)
                self.popen.wait(10)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, SIGKILL)
                self.popen.wait(10)
        self.log.close()
        os.unlink(self.log.name)
