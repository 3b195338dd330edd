"""Channel routing: WebSocket echo on /ws/echo/; HTTP goes to Django's views."""

from channels.routing import route

from . import consumers

channel_routing = [
    route("websocket.connect", consumers.ws_connect, path=r"^/ws/echo/$"),
    route("websocket.receive", consumers.ws_echo, path=r"^/ws/echo/$"),
]
