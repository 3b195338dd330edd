"""The example project's bot, end to end: daphne, a worker, daphne-irc and
daphne-smtp as real processes on Redis, a minimal IRC server, a logged-in
WebSocket chat client and smtplib."""

from __future__ import annotations

import json
import smtplib
import sys
import time

import httpx
import pytest
from websockets.sync.client import connect

from asgi_redis import RedisChannelLayer
from tests.daphne.irc.irc_peer import MiniIRCServer
from tests.example.stack import ExampleStack, cookie_header, log_in, port_open
from tests.support.redis import free_port

pytestmark = pytest.mark.integration

TIMEOUT = 20.0


class BotStack:
    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url.rsplit("/", 1)[0] + "/3"
        self.irc = MiniIRCServer().start()
        self.stack = ExampleStack(redis_url=self.redis_url, workers=1)
        self.smtp_port = free_port()

    def start(self) -> None:
        layer = RedisChannelLayer(hosts=[self.redis_url])
        layer.flush()
        self.stack.start()
        self.stack.create_user("ada", "analytical-engine")
        python = [sys.executable, "-m"]
        self.stack.spawn(
            "daphne-irc",
            [*python, "daphne.irc", "example.asgi:channel_layer", "-s", "127.0.0.1"]
            + ["-p", str(self.irc.port), "-n", "examplebot", "-c", "general"],
        )
        self.stack.spawn(
            "daphne-smtp",
            [*python, "daphne.smtp", "example.asgi:channel_layer", "-p", str(self.smtp_port)]
            + ["--domain", "example.com"],
        )
        self.irc.expect(r"^JOIN #general")
        # The worker puts the IRC client in its group when it handles irc-client.connect.
        self._wait(lambda: list(layer.group_channels("irc-clients")), "the IRC group")
        self._wait(lambda: port_open(self.smtp_port), "daphne-smtp to listen")

    def _wait(self, predicate, what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.stack.logs()}")
            time.sleep(0.1)

    def chat_socket(self, room: str):
        with httpx.Client(follow_redirects=False, timeout=10) as client:
            log_in(client, self.stack.url, "ada", "analytical-engine")
            cookies = cookie_header(client)
        url = f"{self.stack.ws_url}/chat/{room}/socket/"
        return connect(url, additional_headers={"Cookie": cookies}, open_timeout=10)

    def stop(self) -> dict[str, int]:
        try:
            return self.stack.stop()
        finally:
            self.irc.stop()


@pytest.fixture(scope="module")
def bot(redis_url):
    stack = BotStack(redis_url)
    try:
        stack.start()
    except BaseException:
        stack.stop()
        raise
    yield stack
    codes = stack.stop()
    assert codes["daphne-irc"] == 0 and codes["daphne-smtp"] == 0, (codes, stack.stack.logs())


def next_line(socket) -> dict:
    return json.loads(socket.recv(timeout=TIMEOUT))


def test_a_post_command_said_on_irc_reaches_the_web_room_and_irc(bot):
    with bot.chat_socket("general") as socket:
        bot.irc.say("alice", "#general", "!post general echo")
        assert next_line(socket) == {"user": "bot", "room": "general", "text": "echo"}
        bot.irc.expect(r"^PRIVMSG #general :echo$")


def test_a_post_command_typed_in_the_web_chat_reaches_irc(bot):
    with bot.chat_socket("general") as socket:
        socket.send(json.dumps({"text": "!post general hi from the web"}))
        assert next_line(socket) == {
            "user": "ada",
            "room": "general",
            "text": "!post general hi from the web",
        }
        assert next_line(socket) == {"user": "bot", "room": "general", "text": "hi from the web"}
        bot.irc.expect(r"^PRIVMSG #general :hi from the web$")


def test_ordinary_chat_lines_are_left_to_the_chat_consumer(bot):
    with bot.chat_socket("lobby") as socket:
        socket.send(json.dumps({"text": "no command here"}))
        assert next_line(socket) == {"user": "ada", "room": "lobby", "text": "no command here"}
        socket.send(json.dumps({"text": "second line"}))
        assert next_line(socket)["text"] == "second line"  # no bot line came in between


def test_mail_to_a_room_address_is_posted_in_that_room(bot):
    with bot.chat_socket("general") as socket:
        with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=TIMEOUT) as client:
            client.sendmail(
                "zoe@example.org",
                ["general@example.com"],
                b"Subject: =?utf-8?q?Caf=C3=A9?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"\r\nNice post!\r\n",
            )
            with pytest.raises(smtplib.SMTPRecipientsRefused):  # not a --domain
                client.sendmail("zoe@example.org", ["general@example.net"], b"\r\nx\r\n")
        assert next_line(socket) == {
            "user": "zoe@example.org",
            "room": "general",
            "text": "[mail] Café: Nice post!",
        }
