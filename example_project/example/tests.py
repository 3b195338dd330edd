"""The example's consumers tested with channels.test, run by ``manage.py test``."""

from django.contrib.auth import get_user_model

from channels.test import ChannelTestCase, WSClient


class ChatTests(ChannelTestCase):
    def setUp(self):
        self.user = get_user_model().objects.create_user("ada", password="engine")

    def test_a_signed_in_user_is_accepted_and_hears_the_room(self):
        client = WSClient()
        client.force_login(self.user)
        client.send_and_consume("websocket.connect", path="/chat/lobby/socket/")
        client.send_and_consume(
            "websocket.receive", text={"text": "hello"}, path="/chat/lobby/socket/"
        )
        self.assertEqual(client.receive(), {"user": "ada", "room": "lobby", "text": "hello"})

    def test_an_anonymous_socket_is_rejected(self):
        client = WSClient()
        client.send_and_consume("websocket.connect", path="/chat/lobby/socket/", check_accept=False)
        self.assertEqual(client.receive(), {"close": True})

    def test_the_echo_socket_echoes(self):
        client = WSClient()
        client.send_and_consume("websocket.connect", path="/ws/echo/")
        client.send_and_consume("websocket.receive", text="ping", path="/ws/echo/")
        self.assertEqual(client.receive(json=False), "ping")
