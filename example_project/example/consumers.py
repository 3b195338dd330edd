"""Consumers of the example project: plain functions taking a message."""


def ws_connect(message):
    """Accept every WebSocket on the echo path."""
    message.reply_channel.send({"accept": True})


def ws_echo(message):
    """Send each frame back as it came: text as text, binary as binary."""
    if message["text"] is not None:
        message.reply_channel.send({"text": message["text"]})
    else:
        message.reply_channel.send({"bytes": message["bytes"]})
