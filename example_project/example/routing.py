"""Channel routing of the example project: what each kind of message runs.

HTTP requests that no route catches go to Django's views.
"""

from values.consumers import Demultiplexer

from channels.routing import route

from . import bot, chat, consumers, longpoll

channel_routing = [
    # A WebSocket echo (the smallest consumer there is).
    route("websocket.connect", consumers.ws_connect, path=r"^/ws/echo/$"),
    route("websocket.receive", consumers.ws_echo, path=r"^/ws/echo/$"),
    # The talk's bot: "!post <room> <text>" typed in the chat, said on IRC or written
    # in Slack goes to one consumer on chat.message; mail to <room>@example.com lands
    # in the room.
    route(
        "websocket.receive",
        bot.ws_command,
        path=r"^/chat/(?P<room>[\w-]+)/socket/$",
        text=r'^\s*\{\s*"text"\s*:\s*"!',
    ),
    route("chat.message", bot.chat_message),
    route("irc-client.connect", bot.irc_connect),
    route("irc-client.receive", bot.irc_receive, type="message"),
    route("slack.receive", bot.slack_receive, type="message"),
    route("email.receive", bot.comment_response, address=r"^(?P<room>[\w-]+)@example\.com$"),
    # The chat: one group per room, the Django user carried into the socket.
    route("websocket.connect", chat.chat_connect, path=r"^/chat/(?P<room>[\w-]+)/socket/$"),
    route("websocket.receive", chat.chat_receive, path=r"^/chat/(?P<room>[\w-]+)/socket/$"),
    route("websocket.disconnect", chat.chat_disconnect, path=r"^/chat/(?P<room>[\w-]+)/socket/$"),
    # The outcomes of the acknowledged welcome notices.
    route("chat.welcomed", chat.welcomed),
    # Live data binding and a stats stream, multiplexed on one socket.
    Demultiplexer.as_route(path=r"^/binding/$"),
    # A long-poll request whose client leaves stops waiting.
    route("http.disconnect", longpoll.request_gone),
]
