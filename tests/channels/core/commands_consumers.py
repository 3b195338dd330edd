"""Consumers of the subprocess projects started by the command tests."""

import os
import sys
import time

from asgi import www


def echo(message, **kwargs):
    message.reply_channel.send({"text": message["text"]})


def accept_with_pid(message, **kwargs):
    message.reply_channel.send({"accept": True, "text": str(os.getpid())})


def raw_http(message, **kwargs):
    message.reply_channel.send(www.http_response(200, [(b"content-type", b"text/plain")], b"raw"))


def slow_echo(message, **kwargs):
    # The test waits for this line, then sends SIGTERM while we sleep.
    print("slow_echo started", file=sys.stderr, flush=True)
    time.sleep(1.5)
    message.reply_channel.send({"text": "finished " + message["text"]})
