"""Routing of the reliability project: Django views for HTTP, echo and group consumers for WebSockets."""

from channels.routing import route

from . import consumers

channel_routing = [
    route("websocket.connect", consumers.ws_connect_checked, path=r"^/origin/"),
    route("websocket.connect", consumers.ws_connect),
    route("websocket.receive", consumers.ws_group, path=r"^/group/"),
    route("websocket.receive", consumers.ws_echo),
    route("websocket.disconnect", consumers.ws_disconnect),
]
