"""Routing of the live-server tests' project."""

from channels.routing import route

from . import consumers

channel_routing = [
    route("websocket.connect", consumers.accept, path=r"^/ws/echo/$"),
    route("websocket.receive", consumers.echo, path=r"^/ws/echo/$"),
    consumers.Demultiplexer.as_route(path=r"^/ws/mux/$"),
]
