"""Routing of the projects the command tests start as subprocesses."""

from channels.routing import route

from . import commands_consumers

channel_routing = [
    route("websocket.receive", commands_consumers.echo, path=r"^/echo/$"),
    route("websocket.connect", commands_consumers.accept_with_pid, path=r"^/pid/$"),
    route("http.request", commands_consumers.raw_http, path=r"^/raw/$"),
    route("websocket.receive", commands_consumers.slow_echo, path=r"^/slow/$"),
]
