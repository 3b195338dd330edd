"""Consumers served by the live-server tests."""

from channels.generic.websockets import JsonWebsocketConsumer, WebsocketDemultiplexer


def accept(message):
    message.reply_channel.send({"accept": True})


def echo(message):
    if message["text"] is not None:
        message.reply_channel.send({"text": message["text"]})
    else:
        message.reply_channel.send({"bytes": message["bytes"]})


class EchoStream(JsonWebsocketConsumer):
    """A stream consumer of the demultiplexer: answers on its own stream."""

    def receive(self, content, multiplexer=None, **kwargs):
        multiplexer.send({"echo": content})


class UpperStream(JsonWebsocketConsumer):
    def receive(self, content, multiplexer=None, **kwargs):
        multiplexer.send({"upper": str(content.get("word", "")).upper()})


class Demultiplexer(WebsocketDemultiplexer):
    consumers = {"echo": EchoStream, "upper": UpperStream}
