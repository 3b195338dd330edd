"""Data binding: outbound after commit (the ``send_on_commit`` opt-in),
inbound through a demultiplexer. The 1.x default, sending at signal time, is

See docs/topics/binding.rst.
covered by tests/compat/test_binding.py."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client as DjangoClient

from channels.binding.base import Binding
from channels.binding.websockets import WebsocketBinding, WebsocketBindingWithMembers
from channels.generic.websockets import WebsocketDemultiplexer
from channels.message import Message
from channels.routing import route_class
from tests.values.models import Note

from .conftest import Socket

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]


class NoteBinding(WebsocketBinding):
    model = "values.Note"
    stream = "notes"
    exclude = ["secret"]
    send_on_commit = True

    @classmethod
    def group_names(cls, instance):
        return [f"room-{instance.room}"]

    def has_permission(self, user, action, pk):
        return user.is_authenticated and user.username != "mallory"


class NoteMembersBinding(WebsocketBindingWithMembers):
    model = Note
    stream = "notes-with-members"
    fields = ["text"]
    send_members = ["shout", "owner.username"]

    @classmethod
    def group_names(cls, instance):
        return ["members"] if instance.owner_id else []

    def has_permission(self, user, action, pk):
        return False


class NotesDemultiplexer(WebsocketDemultiplexer):
    http_user = True
    consumers = {"notes": NoteBinding.consumer}


def listen(harness, group):
    name = f"listener.{group}"
    harness.layer.group_add(group, name)
    return name


def payloads(harness, listener):
    result = []
    for content in harness.replies(listener):
        body = json.loads(content["text"])
        result.append((body["stream"], body["payload"]))
    return result


def test_create_update_delete_send_the_talks_message_format(harness):
    lobby = listen(harness, "room-lobby")
    note = Note.objects.create(room="lobby", text="hi", secret="s3")
    note.text = "hello"
    note.save()
    pk = note.pk
    note.delete()
    assert payloads(harness, lobby) == [
        (
            "notes",
            {
                "action": "create",
                "pk": pk,
                "data": {"room": "lobby", "text": "hi", "owner": None},
                "model": "values.note",
            },
        ),
        (
            "notes",
            {
                "action": "update",
                "pk": pk,
                "data": {"room": "lobby", "text": "hello", "owner": None},
                "model": "values.note",
            },
        ),
        (
            "notes",
            {
                "action": "delete",
                "pk": pk,
                "data": {"room": "lobby", "text": "hello", "owner": None},
                "model": "values.note",
            },
        ),
    ]


def test_moving_between_groups_sends_delete_to_the_old_and_create_to_the_new(harness):
    lobby, garden = listen(harness, "room-lobby"), listen(harness, "room-garden")
    note = Note.objects.create(room="lobby", text="moving")
    harness.replies(lobby)
    note.room = "garden"
    note.save()
    assert [p["action"] for _s, p in payloads(harness, lobby)] == ["delete"]
    assert [p["action"] for _s, p in payloads(harness, garden)] == ["create"]


def test_nothing_is_sent_until_the_transaction_commits(harness):
    lobby = listen(harness, "room-lobby")
    with transaction.atomic():
        Note.objects.create(room="lobby", text="pending")
        assert harness.replies(lobby) == []
    assert [p["action"] for _s, p in payloads(harness, lobby)] == ["create"]


def test_a_rolled_back_change_sends_nothing(harness):
    lobby = listen(harness, "room-lobby")
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            Note.objects.create(room="lobby", text="never")
            raise RuntimeError("roll back")
    assert harness.replies(lobby) == []
    assert not Note.objects.exists()


def test_binding_with_members_adds_attributes_and_called_methods(harness):
    members = listen(harness, "members")
    owner = User.objects.create_user("ada")
    note = Note.objects.create(room="r", text="quiet", owner=owner)
    ((stream, payload),) = payloads(harness, members)
    assert stream == "notes-with-members"
    assert payload["data"] == {"text": "quiet", "shout": "QUIET", "owner__username": "ada"}
    assert payload["pk"] == note.pk


# -- inbound ----------------------------------------------------------------------------


def connected_socket(harness, username):
    harness.route([route_class(NotesDemultiplexer, path="^/notes/")])
    headers = []
    if username:
        user = User.objects.create_user(username)
        browser = DjangoClient()
        browser.force_login(user)
        key = browser.cookies[settings.SESSION_COOKIE_NAME].value
        headers = [[b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode()]]
    sock = Socket(harness, path="/notes/", headers=headers)
    sock.connect()
    harness.run_all()
    assert sock.replies() == [{"accept": True}]
    return sock


def send_action(harness, sock, payload):
    sock.receive({"stream": "notes", "payload": payload})
    harness.run_all()


def test_inbound_create_update_delete_from_a_logged_in_user(harness):
    sock = connected_socket(harness, "ada")
    send_action(harness, sock, {"action": "create", "data": {"room": "lobby", "text": "new"}})
    note = Note.objects.get()
    assert (note.room, note.text) == ("lobby", "new")
    send_action(harness, sock, {"action": "update", "pk": note.pk, "data": {"text": "edited"}})
    note.refresh_from_db()
    assert (note.room, note.text) == ("lobby", "edited")
    send_action(harness, sock, {"action": "delete", "pk": note.pk})
    assert not Note.objects.exists()


def test_inbound_changes_are_broadcast_back_to_the_groups(harness):
    sock = connected_socket(harness, "ada")
    harness.layer.group_add("room-lobby", sock.reply_channel)
    send_action(harness, sock, {"action": "create", "data": {"room": "lobby", "text": "echo"}})
    (reply,) = sock.texts()
    assert reply["stream"] == "notes"
    assert reply["payload"]["action"] == "create"
    assert reply["payload"]["data"]["text"] == "echo"


@pytest.mark.parametrize("username", [None, "mallory"])
def test_inbound_actions_without_permission_change_nothing(harness, username, caplog):
    sock = connected_socket(harness, username)
    with caplog.at_level(logging.INFO, logger="channels.binding"):
        send_action(harness, sock, {"action": "create", "data": {"room": "x", "text": "no"}})
    assert not Note.objects.exists()
    assert "refused" in caplog.text


def test_inbound_data_for_unbound_fields_is_ignored(harness):
    sock = connected_socket(harness, "ada")
    send_action(
        harness, sock, {"action": "create", "data": {"room": "r", "text": "t", "secret": "hack"}}
    )
    assert Note.objects.get().secret == ""


def test_inbound_update_of_a_missing_row_is_logged_not_raised(harness, caplog):
    sock = connected_socket(harness, "ada")
    with caplog.at_level(logging.WARNING, logger="channels.binding"):
        send_action(harness, sock, {"action": "update", "pk": 999, "data": {"text": "x"}})
    assert "missing" in caplog.text


def test_inbound_bad_action_is_a_value_error(harness):
    sock = connected_socket(harness, "ada")
    content = sock.receive_message(json.dumps({"action": "explode", "pk": 1}))
    message = Message(content, "websocket.receive", harness.layer)
    message.user = User.objects.get(username="ada")
    with pytest.raises(ValueError, match="Bad binding action 'explode'"):
        NoteBinding.trigger_inbound(message)


def test_binding_without_model_or_fields_fails_at_its_definition():
    with pytest.raises(ValueError, match="must set model"):

        class NoModel(WebsocketBinding):
            stream = "x"
            fields = ["a"]

    with pytest.raises(ValueError, match="fields"):

        class NoFields(WebsocketBinding):
            model = Note
            stream = "x"


def test_model_none_in_the_class_body_marks_an_abstract_binding():
    assert WebsocketBinding.get_registered_models() == []
    assert Binding.get_registered_models() == []


def test_slight_ordering_on_a_binding_is_a_value_error():
    with pytest.raises(ValueError, match="slight_ordering"):

        class Slight(WebsocketBinding):
            model = Note
            fields = ["text"]
            stream = "x"
            slight_ordering = True


def test_bindings_defined_before_django_is_ready_are_registered_by_register_all(
    harness, monkeypatch
):
    from channels.binding.base import BindingMetaclass

    monkeypatch.setattr(BindingMetaclass, "register_immediately", False)
    monkeypatch.setattr(BindingMetaclass, "binding_classes", [])

    class EarlyBinding(WebsocketBinding):
        model = Note
        stream = "early"
        fields = ["text"]

        @classmethod
        def group_names(cls, instance):
            return ["early"]

    early = listen(harness, "early")
    Note.objects.create(room="r", text="before")
    assert harness.replies(early) == []
    BindingMetaclass.register_all()
    Note.objects.create(room="r", text="after")
    assert [p["data"] for _s, p in payloads(harness, early)] == [{"text": "after"}]
    from django.db.models.signals import post_delete, post_save, pre_delete, pre_save

    for signal in (pre_save, post_save, pre_delete, post_delete):
        signal.disconnect(
            sender=Note,
            dispatch_uid=f"channels.binding:{EarlyBinding.__module__}.{EarlyBinding.__qualname__}:values.Note",
        )
