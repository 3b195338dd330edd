"""WebSocket consumers of the reliability project.

Paths carry a client id (``/echo/<id>/``), so that each consumer can record
what it saw for that client in ``REL_EVENTS`` (one append-only file per worker
process) and the tests can check that, for example, every disconnect reached a
worker.
"""

import os
import time

from asgi import www
from channels import Group
from channels.security.websockets import allowed_hosts_only

#: The group long-poll requests wait in until ``/longpoll-release/`` answers them all.
LONG_POLL_GROUP = "longpoll"


def record(kind: str, path: str) -> None:
    """Append ``kind path`` to this process's event file (no-op without ``REL_EVENTS``)."""
    directory = os.environ.get("REL_EVENTS")
    if not directory:
        return
    with open(os.path.join(directory, f"events-{os.getpid()}.log"), "a") as handle:
        handle.write(f"{kind} {path}\n")


def ws_connect(message):
    record("connect", message.content["path"])
    message.reply_channel.send({"accept": True})
    if message.content["path"].startswith("/group/"):
        Group("room").add(message.reply_channel)


def ws_echo(message):
    """Echo a frame; a text starting with ``slow:`` sleeps a second first (an in-flight consumer)."""
    text = message.content.get("text")
    if text is not None and text.startswith("slow:"):
        time.sleep(1.0)
        record("slow-done", message.content["path"] + " " + text)
    if text is not None:
        message.reply_channel.send({"text": text})
    else:
        message.reply_channel.send({"bytes": message.content.get("bytes") or b""})


def ws_group(message):
    Group("room").send({"text": message.content.get("text") or ""})


def ws_disconnect(message):
    record("disconnect", message.content["path"])
    if message.content["path"].startswith("/group/"):
        Group("room").discard(message.reply_channel)


@allowed_hosts_only
def ws_connect_checked(message):
    """A handshake that only pages served from ALLOWED_HOSTS may open."""
    ws_connect(message)


def http_long_poll(message):
    """Hold an HTTP request: its reply channel waits in a group until a release answers it."""
    Group(LONG_POLL_GROUP).add(message.reply_channel)


def http_long_poll_release(message):
    """Answer every waiting long-poll (one group send), then this request."""
    Group(LONG_POLL_GROUP).send(
        www.http_response(200, [(b"content-type", b"text/plain")], b"released")
    )
    message.reply_channel.send(www.http_response(200, [(b"content-type", b"text/plain")], b"done"))


def http_disconnect(message):
    """Daphne sends ``http.disconnect`` after every request: a long-poll leaves its group."""
    if message.content["path"].startswith("/longpoll/"):
        Group(LONG_POLL_GROUP).discard(message.reply_channel)
