"""The example project's bot, end to end: daphne, a worker, daphne-irc,
daphne-smtp and daphne-slack as real processes on Redis, a minimal IRC
server, a local stand-in for Slack's Web API, a logged-in WebSocket chat
client, smtplib, and Events API callbacks signed as Slack signs them."""

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
from tests.example.stack import ExampleStack, chat_line, cookie_header, log_in, port_open
from tests.support.redis import free_port
from tests.support.slack_api import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlackAPI,
    message_event,
    signed_headers,
)

pytestmark = pytest.mark.integration

TIMEOUT = 20.0


class BotStack:
    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url.rsplit("/", 1)[0] + "/3"
        self.irc = MiniIRCServer().start()
        self.stack = ExampleStack(redis_url=self.redis_url, workers=1)
        self.smtp_port = free_port()
        self.slack_api = FakeSlackAPI().start()
        self.slack_port = free_port()
        # daphne-slack reads both; the worker's settings turn the bot's Slack posts on
        self.stack.environment.update(
            SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_BOT_TOKEN=BOT_TOKEN
        )
        self.slack_events = 0

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
        self.stack.spawn(
            "daphne-slack",
            [*python, "daphne.slack", "example.asgi:channel_layer", "-p", str(self.slack_port)]
            + ["--api-base", self.slack_api.base],
        )
        self.irc.expect(r"^JOIN #general")
        # The worker puts the IRC client in its group when it handles irc-client.connect.
        self._wait(lambda: list(layer.group_channels("irc-clients")), "the IRC group")
        self._wait(lambda: port_open(self.smtp_port), "daphne-smtp to listen")
        self._wait(lambda: port_open(self.slack_port), "daphne-slack to listen")

    def slack_says(self, text: str, **event) -> None:
        """Post a signed Events API callback to daphne-slack, as Slack would."""
        self.slack_events += 1
        body = message_event(text, event_id=f"Ev0BOT{self.slack_events}", **event)
        url = f"http://127.0.0.1:{self.slack_port}/slack/events"
        response = httpx.post(url, content=body, headers=signed_headers(body), timeout=TIMEOUT)
        assert response.status_code == 200, response.text

    def slack_posts(self, count: int) -> list[dict]:
        """The bodies of the first ``count`` chat.postMessage calls made."""
        calls = self.slack_api.wait_for_calls(count, timeout=TIMEOUT)
        assert all(call.path == "/api/chat.postMessage" for call in calls)
        return [call.body for call in calls]

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
            self.slack_api.stop()


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
    assert codes["daphne-irc"] == codes["daphne-smtp"] == codes["daphne-slack"] == 0, (
        codes,
        stack.stack.logs(),
    )
    assert BOT_TOKEN not in stack.stack.logs()


def next_line(socket) -> dict:
    return chat_line(socket, TIMEOUT)


def test_a_post_command_said_on_irc_reaches_the_web_room_and_irc(bot):
    with bot.chat_socket("general") as socket:
        bot.irc.say("alice", "#general", "!post general echo")
        assert next_line(socket) == {"user": "bot", "room": "general", "text": "echo"}
        bot.irc.expect(r"^PRIVMSG #general :echo$")
        assert {"channel": "#general", "text": "echo"} in bot.slack_posts(1)


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
        assert {"channel": "#general", "text": "hi from the web"} in bot.slack_posts(2)


def test_a_post_command_written_in_slack_reaches_the_web_room_irc_and_slack(bot):
    with bot.chat_socket("general") as socket:
        calls = len(bot.slack_api.calls)
        bot.slack_says("!post general fish &amp; chips")  # Slack escapes & < >
        assert next_line(socket) == {"user": "bot", "room": "general", "text": "fish & chips"}
        bot.irc.expect(r"^PRIVMSG #general :fish & chips$")
        posted = bot.slack_posts(calls + 1)[calls:]
        assert posted == [{"channel": "#general", "text": "fish &amp; chips"}]


def test_the_bots_own_slack_messages_are_not_answered_again(bot):
    with bot.chat_socket("general") as socket:
        calls = len(bot.slack_api.calls)
        # what Slack sends back for the bot's own chat.postMessage
        bot.slack_says("!post general loop", bot_id="B0EXAMPLE", user="U0EXAMPLEBOT")
        bot.slack_says("!post general after")
        assert next_line(socket) == {"user": "bot", "room": "general", "text": "after"}
        bot.irc.expect(r"^PRIVMSG #general :after$")
        posted = bot.slack_posts(calls + 1)[calls:]
        assert posted == [{"channel": "#general", "text": "after"}]


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
