"""WSClient's session and log-in helpers reach the channels auth decorators."""

import pytest
from django.contrib.auth import get_user_model

from channels.routing import route
from channels.test import ChannelTestCase, WSClient, apply_routes

from . import consumers

pytestmark = pytest.mark.unit

ROUTES = [
    route("websocket.connect", consumers.user_connect),
    route("websocket.receive", consumers.user_receive),
]


@apply_routes(ROUTES)
class LoginTests(ChannelTestCase):
    def setUp(self):
        self.user = get_user_model().objects.create_user("ada", password="lovelace")

    def test_login_with_good_credentials_carries_the_user_into_the_socket(self):
        client = WSClient()
        assert client.login(username="ada", password="lovelace") is True
        client.send_and_consume("websocket.connect", path="/chat/")
        client.send_and_consume("websocket.receive", text="who am i", path="/chat/")
        assert client.receive(json=False) == "ada"

    def test_login_with_bad_credentials_returns_false_and_the_user_is_anonymous(self):
        client = WSClient()
        assert client.login(username="ada", password="wrong") is False
        client.send_and_consume("websocket.connect", path="/chat/")
        client.send_and_consume("websocket.receive", text="who am i", path="/chat/")
        assert client.receive(json=False) == "anonymous"

    def test_force_login_needs_no_credentials(self):
        client = WSClient()
        client.force_login(self.user)
        client.send_and_consume("websocket.connect", path="/chat/")
        client.send_and_consume("websocket.receive", text="who am i", path="/chat/")
        assert client.receive(json=False) == "ada"

    def test_the_session_is_the_reply_channels_session(self):
        from channels.sessions import session_for_reply_channel

        client = WSClient()
        client.session["colour"] = "teal"
        client.session.save()
        assert session_for_reply_channel(client.reply_channel)["colour"] == "teal"
