"""The example's consumers tested with channels.test, run by ``manage.py test``."""

import json

from django.contrib.auth import get_user_model

from channels.test import ChannelTestCase, WSClient


class ChatTests(ChannelTestCase):
    def setUp(self):
        self.user = get_user_model().objects.create_user("ada", password="engine")

    def test_a_signed_in_user_is_accepted_and_hears_the_room(self):
        client = WSClient()
        client.force_login(self.user)
        client.send_and_consume("websocket.connect", path="/chat/lobby/socket/")
        self.skip_greeting(client)
        client.send_and_consume(
            "websocket.receive", text={"text": "hello"}, path="/chat/lobby/socket/"
        )
        # rooms keep history (CHANNEL_GROUP_HISTORY): lines come numbered
        frame = client.receive()
        self.assertEqual(frame["history"]["group"], "chat-lobby")
        self.assertEqual(
            json.loads(frame["text"]), {"user": "ada", "room": "lobby", "text": "hello"}
        )

    def skip_greeting(self, client):
        """The who's-online list, the join, and the welcome notice asking for an ack."""
        state, joined, welcome = client.receive(), client.receive(), client.receive()
        self.assertEqual(list(state["state"]), ["ada"])
        self.assertEqual(list(joined["joins"]), ["ada"])
        self.assertEqual(welcome["payload"], {"notice": "Welcome to #lobby, ada"})
        return welcome["ack_request"]

    def test_the_room_lists_who_is_online_and_the_welcome_asks_for_an_ack(self):
        client = WSClient()
        client.force_login(self.user)
        client.send_and_consume("websocket.connect", path="/chat/lobby/socket/")
        ack_id = self.skip_greeting(client)
        client.send_and_consume(
            "websocket.receive", text={"ack": ack_id}, path="/chat/lobby/socket/"
        )
        self.assertEqual(
            client.get_next_message("chat.welcomed").content, {"ack": ack_id, "status": "ok"}
        )

    def test_an_anonymous_socket_is_rejected(self):
        client = WSClient()
        client.send_and_consume("websocket.connect", path="/chat/lobby/socket/", check_accept=False)
        self.assertEqual(client.receive(), {"close": True})

    def test_the_echo_socket_echoes(self):
        client = WSClient()
        client.send_and_consume("websocket.connect", path="/ws/echo/")
        client.send_and_consume("websocket.receive", text="ping", path="/ws/echo/")
        self.assertEqual(client.receive(json=False), "ping")
