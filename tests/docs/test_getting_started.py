"""The chat of docs/getting-started.rst works as printed (its files are
included into the page from docs/samples/chat)."""

import sys
from pathlib import Path

from django.contrib.auth import get_user_model

from channels.test import ChannelTestCase, WSClient, apply_routes

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
sys.path.insert(0, str(SAMPLES))

from chat.routing import channel_routing  # noqa: E402


@apply_routes(channel_routing)
class GettingStartedChatTests(ChannelTestCase):
    def setUp(self):
        users = get_user_model().objects
        self.ada = self.connect(users.create_user("ada", password="x"), "/chat/lobby/")
        self.grace = self.connect(users.create_user("grace", password="x"), "/chat/lobby/")

    def connect(self, user, path):
        client = WSClient()
        client.force_login(user)
        client.send_and_consume("websocket.connect", path=path)
        return client

    def test_a_line_reaches_everyone_in_the_room_with_its_author(self):
        self.ada.send_and_consume("websocket.receive", text="hello", path="/chat/lobby/")
        for client in (self.ada, self.grace):
            self.assertEqual(client.receive(), {"user": "ada", "text": "hello"})

    def test_rooms_are_separate(self):
        other = self.connect(get_user_model().objects.create_user("alan"), "/chat/other/")
        other.send_and_consume("websocket.receive", text="elsewhere", path="/chat/other/")
        self.assertEqual(other.receive(), {"user": "alan", "text": "elsewhere"})
        self.assertIsNone(self.ada.receive())

    def test_a_disconnected_client_leaves_the_room(self):
        self.grace.send_and_consume("websocket.disconnect", path="/chat/lobby/")
        self.ada.send_and_consume("websocket.receive", text="still here?", path="/chat/lobby/")
        self.assertEqual(self.ada.receive(), {"user": "ada", "text": "still here?"})
        self.assertIsNone(self.grace.receive())
