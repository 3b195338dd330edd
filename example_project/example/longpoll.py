"""HTTP that waits: a long-poll for the next chat line, and a streamed response.

The long-poll view parks its reply channel in a group and raises
``ResponseLater``; the next chat line answers every parked request at once.
"""

import json
import time

from django.http import StreamingHttpResponse

from channels import Group
from channels.asgi import channel_layers
from channels.exceptions import ResponseLater


def waiting(room):
    return Group(f"longpoll-{room}")


def next_line(request, room):
    """Answers when the next line is posted in ``room`` (or daphne's timeout hits)."""
    waiting(room).add(request.reply_channel)
    raise ResponseLater()


def publish(line):
    """Answer every request waiting on ``line``'s room with ``line``."""
    response = {
        "status": 200,
        "headers": [[b"content-type", b"application/json"]],
        "content": json.dumps(line).encode(),
    }
    group = waiting(line["room"])
    # Sent at once, not at the consumer's end: the members leave just below.
    group.send(response, immediately=True)
    for channel in list(channel_layers["default"].group_channels(group.name)):
        group.discard(channel)


def request_gone(message):
    """``http.disconnect``: the client of a waiting request went away."""
    parts = message["path"].strip("/").split("/")
    if len(parts) == 3 and parts[0] == "chat" and parts[2] == "next":
        waiting(parts[1]).discard(message.reply_channel)


def ticks(request):
    """A streamed response: five server-sent events, one every 200 ms."""

    def events():
        for number in range(1, 6):
            yield f"data: tick {number}\n\n"
            time.sleep(0.2)

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response
