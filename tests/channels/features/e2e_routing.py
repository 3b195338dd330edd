"""Consumers of the end-to-end project: the talk's chat (slide 29), its binding
(slides 33-36, consumers form), strict ordering, merged session saves and delays."""

from channels import Channel, Group
from channels.auth import channel_session_user, channel_session_user_from_http
from channels.binding.websockets import WebsocketBinding
from channels.generic.websockets import WebsocketConsumer, WebsocketDemultiplexer
from channels.routing import route, route_class
from channels.security.websockets import allowed_hosts_only
from channels.sessions import channel_session
from tests.values.models import IntegerValue


@allowed_hosts_only
@channel_session_user_from_http
def chat_connect(message):
    Group("chat-%s" % message.user.username[0]).add(message.reply_channel)  # noqa: UP031
    message.reply_channel.send({"accept": True})


@channel_session_user
def chat_message(message):
    Group("chat-%s" % message.user.username[0]).send({"text": message["text"]})  # noqa: UP031


class IntegerValueBinding(WebsocketBinding):
    model = IntegerValue
    stream = "intval"
    fields = ["name", "value"]

    def group_names(self, instance, action):
        return ["intval-updates"]

    def has_permission(self, user, action, pk):
        return True


class Demultiplexer(WebsocketDemultiplexer):
    consumers = {"intval": IntegerValueBinding.consumer}

    def connection_groups(self, **kwargs):
        return ["intval-updates"]


class Counter(WebsocketConsumer):
    channel_session = True
    strict_ordering = True

    def connect(self, message, **kwargs):
        message.channel_session["count"] = 0
        super().connect(message, **kwargs)

    def receive(self, text=None, bytes=None, **kwargs):
        self.message.channel_session["count"] += 1
        self.send(text=f"{self.message.channel_session['count']}:{text}")


class Tally(WebsocketConsumer):
    """Each frame stores one key in the channel session; "count" reports them."""

    channel_session = True

    def receive(self, text=None, bytes=None, **kwargs):
        if text == "count":
            self.send(
                text=str(len([k for k in self.message.channel_session.keys() if k.startswith("k")]))
            )
        else:
            self.message.channel_session[text] = True
            self.send(text="ok")


@channel_session
def delay_receive(message):
    delay = int(message["text"])
    Channel("asgi.delay").send({"channel": "not a channel!!", "delay": 0, "content": {}})
    Channel("asgi.delay").send(
        {
            "channel": message.reply_channel.name,
            "delay": delay,
            "content": {"text": f"after {delay}"},
        }
    )


channel_routing = [
    route("websocket.connect", chat_connect, path=r"^/chat/$"),
    route("websocket.receive", chat_message, path=r"^/chat/$"),
    route_class(Demultiplexer, path=r"^/binding/$"),
    route_class(Counter, path=r"^/ordered/$"),
    route_class(Tally, path=r"^/tally/$"),
    route("websocket.receive", delay_receive, path=r"^/delay/$"),
]
