"""The talk's chat bot (slides 45-47) and its email route (slide 19).

One consumer, on the ``chat.message`` channel, answers ``!post <room>
<text>`` commands, whichever way they came in:

- over IRC: ``daphne-irc`` sends what it hears on ``irc-client.receive``;
  :func:`irc_receive` turns each line into a ``chat.message``;
- over the WebSocket chat room: :func:`ws_command` catches chat frames whose
  text starts with ``!`` and does the same;
- over Slack: ``daphne-slack`` sends what people write on ``slack.receive``;
  :func:`slack_receive` turns each message into a ``chat.message``.

``!post general echo`` posts ``echo`` as the bot into the chat room
``general`` (every browser in it), into ``#general`` on IRC, through the
group of IRC clients that :func:`irc_connect` keeps, and (when the project
has ``SLACK_BOT_TOKEN`` set) into Slack's ``#general`` through ``slack.send``.
The bot's own Slack messages never come back: ``daphne-slack`` does not pass
bots' messages on.

Mail to ``<room>@example.com`` (routed by address, as on slide 19) is
posted into that room by :func:`comment_response`.

Run it with the example stack on Redis plus::

    daphne-irc example.asgi:channel_layer -s irc.example.net -n examplebot -c general
    daphne-smtp example.asgi:channel_layer -p 8025 --domain example.com
    SLACK_SIGNING_SECRET=... SLACK_BOT_TOKEN=xoxb-... daphne-slack example.asgi:channel_layer
"""

import html
import json
import re

from django.conf import settings

from channels import Channel, Group
from channels.auth import channel_session_user

from . import chat, longpoll

BOT_NAME = "bot"
COMMAND = re.compile(r"^!post\s+#?(?P<room>[\w-]+)\s+(?P<text>\S.*)$", re.DOTALL)


def irc_clients():
    """Every IRC client's reply channel: a group carries the bot's IRC lines."""
    return Group("irc-clients")


def say(room, user, text):
    """Post a line in a chat room, exactly as a person's line is posted."""
    line = {"user": user, "room": room, "text": text[:1000]}
    chat.room_group(room).send({"text": json.dumps(line)})
    longpoll.publish(line)


def chat_message(message):
    """The one bot consumer: obey ``!post <room> <text>`` from any source."""
    command = COMMAND.match(message["text"].strip())
    if command is None:
        return
    room, text = command["room"], command["text"].strip()
    say(room, BOT_NAME, text)
    irc_clients().send({"type": "message", "channel": "#" + room, "body": text.splitlines()[0]})
    if settings.SLACK_ENABLED:
        Channel("slack.send").send({"channel": "#" + room, "text": slack_escape(text)})


def irc_connect(message):
    """An IRC client signed on: its reply channel joins the IRC group."""
    irc_clients().add(message.reply_channel)


def irc_receive(message):
    """A line said on IRC becomes a ``chat.message``."""
    Channel("chat.message").send(
        {
            "source": "irc",
            "user": message["user"].split("!", 1)[0],
            "room": message["channel"].lstrip("#&"),
            "text": message["body"],
        }
    )


def slack_receive(message):
    """A message written in Slack becomes a ``chat.message``.

    Slack escapes ``&``, ``<`` and ``>`` in message text; the command sees
    what the person typed. ``room`` is the Slack channel's ID: the command
    names the room it posts to.
    """
    Channel("chat.message").send(
        {
            "source": "slack",
            "user": message["user"],
            "room": message["channel"],
            "text": html.unescape(message["text"]),
        }
    )


def slack_escape(text):
    """Text as Slack's ``chat.postMessage`` wants it: ``&``, ``<``, ``>`` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@channel_session_user
def ws_command(message, room):
    """A ``!`` command typed in the WebSocket chat: shown in the room, then obeyed."""
    try:
        text = str(json.loads(message["text"])["text"])
    except (TypeError, ValueError, KeyError):
        return
    user = message.user.get_username()
    say(room, user, text)
    Channel("chat.message").send({"source": "websocket", "user": user, "room": room, "text": text})


def comment_response(message, room):
    """Mail to ``<room>@example.com``: its subject and first text lines go into the room."""
    sender = message["from"] or "mailer-daemon"
    subject = message["headers"].get("subject", "(no subject)")
    body = first_text(message.content["content"]).strip()
    say(room, sender, f"[mail] {subject}: {body[:200]}" if body else f"[mail] {subject}")


def first_text(content):
    """The first ``text/plain`` body of a content object, decoded; "" if none."""
    content_type = content["content-type"].lower()
    if "parts" in content and content["parts"] is not None:
        for part in content["parts"]:
            text = first_text(part)
            if text:
                return text
        return ""
    if not content_type.startswith("text/plain"):
        return ""
    charset = re.search(r'charset="?([\w.-]+)"?', content_type)
    try:
        return content["body"].decode(charset[1] if charset else "utf-8", "replace")
    except LookupError:
        return content["body"].decode("utf-8", "replace")
