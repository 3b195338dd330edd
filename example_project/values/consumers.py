"""The multiplexed socket of the values page (slides 33 and 35)."""

from channels.generic.websockets import WebsocketDemultiplexer

from .bindings import IntegerValueBinding
from .models import IntegerValue


def stats_consumer(message, multiplexer=None, **kwargs):
    """The "stats" stream: how many values exist and their total, on request.

    The demultiplexer also forwards connects and disconnects to every stream
    consumer; those are not requests.
    """
    if message.channel.name != "websocket.receive":
        return
    values = list(IntegerValue.objects.values_list("value", flat=True))
    multiplexer.send({"count": len(values), "total": sum(values)})


class Demultiplexer(WebsocketDemultiplexer):
    consumers = {
        "intval": IntegerValueBinding.consumer,
        "stats": stats_consumer,
    }

    def connection_groups(self, **kwargs):
        return ["intval-updates"]
