"""Routing of the reliability project: Django views for HTTP (long-polls aside), echo and
group consumers for WebSockets."""

import os

from channels.routing import route

from . import consumers, history, presence

# The presence and ack routes only where a test asks for them (REL_PRESENCE=1):
# they add routes and listened channels to every message, which would tilt the
# benchmarks that run this project (benchmarks/scale.py, instructions.py, soak.py).
# The history routes likewise, only with REL_HISTORY=1.
channel_routing = [
    *(presence.routes if os.environ.get("REL_PRESENCE") == "1" else []),
    *(history.routes if os.environ.get("REL_HISTORY") == "1" else []),
    route("http.request", consumers.http_long_poll, path=r"^/longpoll/"),
    route("http.request", consumers.http_long_poll_release, path=r"^/longpoll-release/$"),
    route("http.disconnect", consumers.http_disconnect),
    route("websocket.connect", consumers.ws_connect_checked, path=r"^/origin/"),
    route("websocket.connect", consumers.ws_connect),
    route("websocket.receive", consumers.ws_group, path=r"^/group/"),
    route("websocket.receive", consumers.ws_echo),
    route("websocket.disconnect", consumers.ws_disconnect),
]
