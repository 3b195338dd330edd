"""Routing of the group history browser tests: sockets that resume on reconnect."""

from channels.generic.history import ResumeHistoryMixin
from channels.generic.websockets import WebsocketConsumer


class News(ResumeHistoryMixin, WebsocketConsumer):
    groups = ["news"]


class Short(ResumeHistoryMixin, WebsocketConsumer):
    groups = ["short"]


channel_routing = [
    News.as_route(path=r"^/ws/news/$"),
    Short.as_route(path=r"^/ws/short/$"),
]
