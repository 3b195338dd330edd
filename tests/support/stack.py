"""daphne and ``runworker`` processes on a private Redis, for fault and flood tests.

``Stack`` starts one daphne on a fixed free port of 127.0.0.1 (so it can be
restarted on the same port) and any number of workers, all running
``tests.reliability.project`` configured through ``REL_*`` variables. Each
process can be stopped with SIGTERM, killed with SIGKILL and started again;
its combined output goes to a log file the assertions quote on failure.
``rss_kib`` reads a process's resident memory from ``/proc``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tests.support.redis import free_port

__all__ = ["ROOT", "Managed", "Stack", "rss_kib"]

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = "tests.reliability.project.settings"
ASGI = "tests.reliability.project.asgi:channel_layer"


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Managed:
    """One child process that can be signalled and started again with the same command."""

    def __init__(self, name: str, command: list[str], env: dict, directory: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = directory / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> Managed:
        log = open(self.log_path, "a")  # the child keeps it; closed below
        try:
            self.popen = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        """Wait for the exit; SIGKILL after ``timeout`` and raise, so no test hangs."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
            raise AssertionError(
                f"{self.name} did not exit in {timeout}s:\n{self.output()}"
            ) from None

    def terminate(self, timeout: float = 30) -> int:
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(10)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if not self.alive():
                raise AssertionError(f"{self.name} exited:\n{self.output()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in {self.name}'s output after {timeout}s")


class Stack:
    """daphne plus ``workers`` runworker processes serving the reliability project."""

    def __init__(
        self,
        hosts: list[str],
        workers: int = 2,
        daphne_args: tuple[str, ...] = (),
        env: dict | None = None,
        worker_args: tuple[str, ...] = (),
    ) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="reliability-"))
        self.events_dir = self.directory / "events"
        self.events_dir.mkdir()
        self.port = free_port()
        self.prefix = f"rel{uuid.uuid4().hex[:8]}:"
        self.env = dict(os.environ)
        self.env.pop("REDIS_URL", None)
        self.env.update(
            DJANGO_SETTINGS_MODULE=SETTINGS,
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            REL_REDIS_HOSTS=",".join(hosts),
            REL_PREFIX=self.prefix,
            REL_EVENTS=str(self.events_dir),
            **(env or {}),
        )
        daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        self.daphne = Managed(
            "daphne", [*daphne, "-v", "1", *daphne_args, ASGI], self.env, self.directory
        )
        runworker = [sys.executable, "-m", "django", "runworker", "-v", "1", *worker_args]
        self.workers = [
            Managed(f"worker{i}", runworker, self.env, self.directory) for i in range(workers)
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def add_worker(self) -> Managed:
        worker = Managed(
            f"worker{len(self.workers)}", self.workers[0].command, self.env, self.directory
        )
        self.workers.append(worker)
        return worker.start()

    def start_another_daphne(self, timeout: float = 60) -> tuple[Managed, int]:
        """A second daphne like this stack's, on its own free port, once it serves;
        the caller stops it."""
        port = free_port()
        command = list(self.daphne.command)
        command[command.index("-p") + 1] = str(port)
        daphne = Managed(f"daphne-{port}", command, self.env, self.directory).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/hello/", timeout=5).status_code == 200:
                    return daphne, port
            except httpx.HTTPError:
                time.sleep(0.2)
        daphne.kill()
        raise AssertionError(f"the second daphne did not serve:\n{daphne.output()}")

    def start(self, timeout: float = 90) -> Stack:
        for worker in self.workers:
            worker.start()
        self.daphne.start()
        self.wait_until_serving(timeout)
        return self

    def wait_until_serving(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in [self.daphne, *self.workers]:
                if process.popen is not None and not process.alive():
                    raise AssertionError(f"{process.name} exited at start:\n{process.output()}")
            try:
                if httpx.get(self.url + "/hello/", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the stack did not serve within {timeout}s:\n{self.logs()}")

    def events(self) -> list[str]:
        """Every ``kind path`` line the consumers recorded, in no particular order."""
        lines = []
        for path in self.events_dir.glob("events-*.log"):
            lines.extend(path.read_text().splitlines())
        return lines

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.output()[-3000:]}" for p in [self.daphne, *self.workers]
        )

    def stop(self) -> dict[str, int]:
        """SIGTERM daphne, then SIGINT every worker at once (an idle worker leaves its
        blocking receive at once on SIGINT); their exit codes (SIGKILL after 30 s)."""
        codes = {}
        self.daphne.signal(signal.SIGTERM)
        if self.daphne.popen is not None:
            try:
                self.daphne.popen.wait(30)
            except subprocess.TimeoutExpired:
                pass
        for worker in self.workers:
            worker.signal(signal.SIGINT)
        for process in [self.daphne, *self.workers]:
            if process.popen is None:
                continue
            try:
                codes[process.name] = process.popen.wait(30)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                codes[process.name] = process.popen.wait(10)
        return codes

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
