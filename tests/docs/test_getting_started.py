"""docs/getting-started.rst, followed literally by a program.

The test reads the page, not a copy of it: every ``code-block`` with a file
path as its caption is written into a fresh directory (the whole file, or
appended when the caption says ``(add at the end)``), and every ``console``
block's ``$`` lines are run in page order, in the directory the page's ``cd``
leads to. Where the page starts a server (``runserver``, or daphne plus
``runworker`` in production), two users sign in through the page's login
form and chat over real WebSockets; under ``runserver`` one of them also
uses the page itself in headless Chromium, so its JavaScript is run too. A command the test does not know fails
it, so the page cannot grow a step that nothing runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support.browser import start_chromium
from tests.support.redis import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "getting-started.rst"
BIN = Path(sys.executable).parent

#: Commands that make the environment this test already runs in.
ENVIRONMENT_COMMANDS = {
    "python3 -m venv .venv",
    ". .venv/bin/activate",
    "pip install ./channels-classic",
}
#: The users the page creates, with their passwords.
USERS = {"ada": "ada-password", "grace": "grace-password"}
#: Where the page's Redis settings point; replaced by the test session's Redis.
PAGE_REDIS_HOST = '("localhost", 6379)'
APPEND = " (add at the end)"


@dataclass
class Block:
    """One ``code-block`` of the page: its language, caption, text and line."""

    language: str
    caption: str
    text: str
    line: int


def page_blocks(source: str) -> list[Block]:
    """The page's ``.. code-block::`` directives, in order, with their text dedented."""
    lines = source.splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        start = re.match(r"^\.\. code-block:: (\S+)\s*$", lines[index])
        index += 1
        if not start:
            continue
        options = {}
        while index < len(lines) and (option := re.match(r"^\s+:(\w+):\s*(.*)$", lines[index])):
            options[option[1]] = option[2]
            index += 1
        body = []
        while index < len(lines) and (not lines[index].strip() or lines[index].startswith(" ")):
            body.append(lines[index])
            index += 1
        text = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
        blocks.append(Block(start[1], options.get("caption", ""), text, index - len(body)))
    return blocks


class Server:
    """A long-running command of the page, its output in a log file."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.argv = argv
        self.log = log
        with open(log, "w") as output:
            self.popen = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)


class Reader:
    """Follows the page: writes its files and runs its commands in a temp dir."""

    def __init__(self, workdir: Path, redis_url: str) -> None:
        self.cwd = workdir
        self.logs = workdir
        self.redis_url = redis_url
        self.servers: list[Server] = []
        #: What each command that ran to its end printed, by command line.
        self.printed: dict[str, str] = {}
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        self.env["PATH"] = f"{BIN}{os.pathsep}{self.env.get('PATH', '')}"

    def write(self, block: Block) -> None:
        relative = block.caption.removesuffix(APPEND)
        assert relative and not Path(relative).is_absolute() and ".." not in relative, block
        path = self.cwd / relative
        text = block.text
        if PAGE_REDIS_HOST in text:
            text = text.replace(PAGE_REDIS_HOST, repr(self.redis_url))
        if block.caption.endswith(APPEND):
            assert path.exists(), f"line {block.line}: {relative} should exist by now"
            with open(path, "a") as existing:
                existing.write("\n" + text)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def run(self, block: Block) -> bool:
        """Run a console block's commands; True when it started servers."""
        # A backslash at the end of a line continues the command, as in the shell.
        for line in block.text.replace("\\\n", "").splitlines():
            if line.startswith("$ "):
                self.command(line[2:], block.line)
        return bool(self.servers)

    def command(self, command: str, line: int) -> None:
        if command in ENVIRONMENT_COMMANDS:
            return
        argv = shlex.split(command)
        if argv[0] == "cd":
            self.cwd = self.cwd / argv[1]
        elif argv == ["redis-server"]:
            pass  # the test session's redis-server, which the settings now point at
        elif argv == ["python", "manage.py", "runserver"]:
            self.start([sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}"])
        elif argv[:1] == ["daphne"]:
            self.start([str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port), *argv[1:]])
        elif argv == ["python", "manage.py", "runworker"]:
            self.start([sys.executable, *argv[1:]])
        elif argv[0] in ("python", "django-admin"):
            executable = sys.executable if argv[0] == "python" else str(BIN / "django-admin")
            done = subprocess.run(
                [executable, *argv[1:]], cwd=self.cwd, env=self.env,
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, (
                f"line {line}: {command!r} failed ({done.returncode}):\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
            self.printed[command] = done.stdout + done.stderr
        else:
            pytest.fail(f"line {line}: the page shows {command!r}, which this test cannot run")

    def start(self, argv: list[str]) -> None:
        log = self.logs / f"server{len(self.servers)}.log"
        self.servers.append(Server(argv, self.cwd, self.env, log))

    def stop_servers(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers = []

    def output(self) -> str:
        return "\n".join(f"$ {shlex.join(s.argv)}\n{s.output()}" for s in self.servers)

    def wait_until_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for server in self.servers:
                assert server.popen.poll() is None, f"a server exited:\n{self.output()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"nothing listens on port {self.port} after {timeout}s:\n{self.output()}")


def sign_in(base_url: str, username: str) -> str:
    """Sign in through the page's login form, as a browser does; the session cookie."""
    with httpx.Client(base_url=base_url, follow_redirects=True, timeout=30) as browser:
        form = browser.get("/chat/lobby/")
        assert form.url.path == "/accounts/login/", form.url
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token, form.text
        room = browser.post(
            str(form.url),
            data={
                "csrfmiddlewaretoken": token[1],
                "username": username,
                "password": USERS[username],
            },
        )
        assert room.url.path == "/chat/lobby/", room.text[:2000]
        assert f"signed in as {username}" in room.text
        script = re.search(r'<script src="([^"]+websocketbridge\.js)"', room.text)
        assert script and browser.get(script[1]).status_code == 200
        return browser.cookies["sessionid"]


@dataclass
class ChatUser:
    name: str
    socket: ClientConnection

    def line(self) -> dict:
        return json.loads(self.socket.recv(timeout=15))


def join(base_url: str, username: str | None, origin: str | None = None) -> ClientConnection:
    """A WebSocket to the lobby, signed in as ``username`` (None: not signed in)."""
    cookie = sign_in(base_url, username) if username else None
    return connect(
        base_url.replace("http://", "ws://") + "/chat/lobby/",
        origin=origin or base_url,
        additional_headers={"Cookie": f"sessionid={cookie}"} if cookie else {},
        open_timeout=15,
    )


def check_chat(base_url: str) -> None:
    """Two users in the lobby: a line typed by one reaches both, with its author."""
    with ExitStack() as sockets:
        users = [ChatUser(name, sockets.enter_context(join(base_url, name))) for name in USERS]
        for author in users:
            author.socket.send(f"hello from {author.name}")
            for user in users:
                assert user.line() == {"user": author.name, "text": f"hello from {author.name}"}
    with pytest.raises(InvalidStatus) as refused, join(base_url, "ada", "https://evil.example"):
        pass
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as refused, join(base_url, None):
        pass
    assert refused.value.response.status_code == 403


def check_page_in_browser(base_url: str) -> None:
    """Ada signs in and types in the page, in Chromium; Grace, on a WebSocket, answers."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser = start_chromium()
    try:
        browser.get(base_url + "/chat/lobby/")
        browser.find_element(By.NAME, "username").send_keys("ada")
        browser.find_element(By.NAME, "password").send_keys(USERS["ada"])
        browser.find_element(By.TAG_NAME, "button").click()
        with join(base_url, "grace") as grace:
            WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.ID, "line"))
            browser.find_element(By.ID, "line").send_keys("typed in the page\n")
            assert json.loads(grace.recv(timeout=15)) == {
                "user": "ada",
                "text": "typed in the page",
            }
            grace.send("seen")
            WebDriverWait(browser, 15).until(
                lambda b: "grace: seen" in b.find_element(By.ID, "log").text
            )
        assert browser.find_element(By.ID, "log").text.splitlines() == [
            "ada: typed in the page",
            "grace: seen",
        ]
    finally:
        browser.quit()


@pytest.fixture
def reader(tmp_path: Path, redis_url: str) -> Iterator[Reader]:
    reader = Reader(tmp_path, redis_url)
    yield reader
    reader.stop_servers()


def test_the_page_followed_literally_gives_a_working_chat_in_development_and_production(
    reader: Reader,
) -> None:
    chats = []
    for block in page_blocks(PAGE.read_text()):
        if block.language == "console":
            if reader.run(block):
                reader.wait_until_listening()
                base_url = f"http://127.0.0.1:{reader.port}"
                try:
                    check_chat(base_url)
                    # Under runserver: its banner as the page quotes it, and the page's JavaScript.
                    if not chats:
                        assert "Starting Channels development server at" in reader.output()
                        check_page_in_browser(base_url)
                except BaseException:
                    print(reader.output())
                    raise
                # A refused handshake's disconnect, among others, must not fail a consumer.
                assert "Traceback" not in reader.output(), reader.output()
                chats.append([server.argv[1:3] for server in reader.servers])
                reader.stop_servers()
        elif block.caption:
            reader.write(block)
    # runserver, then daphne with a worker
    assert len(chats) == 2, chats
    # The page's test module ran, and as many tests as the page says.
    claimed = re.search(r"``(Ran \d+ tests)``", PAGE.read_text())
    assert claimed and claimed[1] in reader.printed["python manage.py test chat"]


def test_the_page_shows_every_file_it_tells_the_reader_to_make() -> None:
    captions = [block.caption for block in page_blocks(PAGE.read_text()) if block.caption]
    for path in (
        "chat/consumers.py",
        "chat/routing.py",
        "chat/views.py",
        "chat/templates/chat/room.html",
        "chat/templates/registration/login.html",
        "chat/tests.py",
        "myproject/urls.py",
        "myproject/asgi.py",
        "myproject/settings.py" + APPEND,
    ):
        assert path in captions, path
