"""Data binding as 1.x tests used it: outbound messages leave at signal time.

Channels 1.x sent a binding's messages from the ``post_save`` and
``post_delete`` signals, so a binding test inside ``ChannelTestCase`` (a
Django ``TestCase``, whose transaction never commits) received them with
``WSClient.receive()`` or ``get_next_message``. These tests are written the
way a 1.x user wrote them: bindings declared in the test, hand-built frames,
``Group(...).add``/``join_group``. The opt-in ``send_on_commit = True`` is
covered at the end: its messages arrive only after a real commit and never
after a rollback.

Every test uses its own group names: bindings stay registered for the whole
run, so a group shared between tests would hear other tests' bindings.
"""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from channels import Group
from channels.binding.base import CREATE, DELETE, UPDATE
from channels.binding.websockets import WebsocketBinding
from channels.generic.websockets import WebsocketDemultiplexer
from channels.test import (
    ChannelTestCase,
    HttpClient,
    TransactionChannelTestCase,
    WSClient,
    apply_routes,
)
from tests.values.models import IntegerValue, Note

pytestmark = pytest.mark.unit


def intval_binding(group: str, on_commit: bool = False) -> type[WebsocketBinding]:
    """A 1.x-style IntegerValue binding broadcasting every value to ``group``."""

    class IntegerValueBinding(WebsocketBinding):
        # The qualified name is the signals' dispatch uid: one per group.
        __qualname__ = f"IntegerValueBinding[{group}]"
        model = IntegerValue
        stream = "intval"
        fields = ["name", "value"]
        if on_commit:  # otherwise the class default applies, as for a 1.x binding
            send_on_commit = True

        @classmethod
        def group_names(cls, instance):
            return [group]

        def has_permission(self, user, action, pk):
            return True

    return IntegerValueBinding


def intval_frame(action: str, value: IntegerValue, name: str, number: int) -> dict:
    """The frame a client of the ``intval`` stream expects (the talk's format)."""
    return {
        "stream": "intval",
        "payload": {
            "action": action,
            "pk": value.pk,
            "data": {"name": name, "value": number},
            "model": "values.integervalue",
        },
    }


def note_binding(group: str) -> type[WebsocketBinding]:
    """A Note binding with the ``send_on_commit`` opt-in, broadcasting to ``group``."""

    class NoteBinding(WebsocketBinding):
        __qualname__ = f"NoteBinding[{group}]"
        model = Note
        stream = "notes"
        fields = ["text"]
        send_on_commit = True

        @classmethod
        def group_names(cls, instance):
            return [group]

    return NoteBinding


def note_frame(action: str, note: Note, text: str) -> dict:
    """The frame a client of the ``notes`` stream expects."""
    return {
        "stream": "notes",
        "payload": {
            "action": action,
            "pk": note.pk,
            "data": {"text": text},
            "model": "values.note",
        },
    }


class OutboundAtSignalTimeTests(ChannelTestCase):
    """The 1.x default: sent from the model signal, inside the test's transaction."""

    def test_create_reaches_a_wsclient_in_the_group_inside_channel_test_case(self):
        intval_binding("compat-create")
        client = WSClient()
        client.join_group("compat-create")
        value = IntegerValue.objects.create(name="Cool", value=3)
        assert client.receive() == intval_frame(CREATE, value, "Cool", 3)
        assert client.receive() is None

    def test_update_and_delete_are_each_received_as_they_happen(self):
        intval_binding("compat-update")
        value = IntegerValue.objects.create(name="Cool", value=3)
        client = WSClient()
        client.join_group("compat-update")
        value.value = 56
        value.save()
        assert client.receive() == intval_frame(UPDATE, value, "Cool", 56)
        expected_delete = intval_frame(DELETE, value, "Cool", 56)
        value.delete()
        assert client.receive() == expected_delete
        assert client.receive() is None

    def test_get_next_message_reads_a_binding_message_sent_to_a_group_member(self):
        intval_binding("compat-next-message")
        Group("compat-next-message").add("test.listener")
        value = IntegerValue.objects.create(name="Seen", value=1)
        message = self.get_next_message("test.listener", require=True)
        assert json.loads(message["text"]) == intval_frame(CREATE, value, "Seen", 1)

    def test_the_deprecated_http_client_of_1_0_tests_receives_binding_frames(self):
        intval_binding("compat-http-client")
        with pytest.warns(DeprecationWarning, match="use channels.test.WSClient"):
            client = HttpClient()
        client.join_group("compat-http-client")
        value = IntegerValue.objects.create(name="Old", value=10)
        assert client.receive() == intval_frame(CREATE, value, "Old", 10)

    def test_a_change_inside_atomic_is_received_before_the_block_commits(self):
        intval_binding("compat-atomic")
        client = WSClient()
        client.join_group("compat-atomic")
        with transaction.atomic():
            value = IntegerValue.objects.create(name="Early", value=7)
            assert client.receive() == intval_frame(CREATE, value, "Early", 7)

    def test_a_rolled_back_change_has_already_been_sent_without_the_opt_in(self):
        intval_binding("compat-rollback-default")
        client = WSClient()
        client.join_group("compat-rollback-default")
        with pytest.raises(RuntimeError, match="roll it back"):
            with transaction.atomic():
                IntegerValue.objects.create(name="Ghost", value=1)
                raise RuntimeError("roll it back")
        assert not IntegerValue.objects.filter(name="Ghost").exists()
        assert client.receive()["payload"]["data"] == {"name": "Ghost", "value": 1}

    def test_an_overridden_serialize_data_shapes_the_message_sent_at_signal_time(self):
        class ShoutingBinding(WebsocketBinding):
            model = Note
            stream = "shouts"
            fields = ["text"]

            @classmethod
            def group_names(cls, instance):
                return ["compat-shouts"]

            def serialize_data(self, instance):
                return {"loud": instance.text.upper()}

        client = WSClient()
        client.join_group("compat-shouts")
        note = Note.objects.create(room="r", text="quiet")
        assert client.receive()["payload"] == {
            "action": CREATE,
            "pk": note.pk,
            "data": {"loud": "QUIET"},
            "model": "values.note",
        }

    def test_group_names_returning_nothing_sends_nothing(self):
        class SilentBinding(WebsocketBinding):
            model = Note
            stream = "silent"
            fields = ["text"]

            @classmethod
            def group_names(cls, instance):
                return ["compat-silent"] if instance.room == "loud" else []

        client = WSClient()
        client.join_group("compat-silent")
        Note.objects.create(room="quiet", text="shh")
        assert client.receive() is None
        Note.objects.create(room="loud", text="hey")
        assert client.receive()["payload"]["data"] == {"text": "hey"}

    def test_a_binding_without_stream_fails_at_the_save_with_a_value_error(self):
        class StreamlessBinding(WebsocketBinding):
            model = Note
            fields = ["text"]

            @classmethod
            def group_names(cls, instance):
                return ["compat-streamless"] if instance.room == "streamless" else []

        with pytest.raises(ValueError, match="StreamlessBinding must set stream"):
            Note.objects.create(room="streamless", text="nowhere to go")

    def test_an_inbound_change_is_broadcast_back_to_the_sending_wsclient(self):
        binding = intval_binding("compat-inbound")
        value = IntegerValue.objects.create(name="Cool", value=0)

        class Demultiplexer(WebsocketDemultiplexer):
            consumers = {"intval": binding.consumer}
            groups = ["compat-inbound"]

        with apply_routes([Demultiplexer.as_route(path="/")]):
            client = WSClient()
            client.send_and_consume("websocket.connect", path="/")
            client.send_and_consume(
                "websocket.receive",
                path="/",
                text={
                    "stream": "intval",
                    "payload": {"action": UPDATE, "pk": value.pk, "data": {"value": "56"}},
                },
            )
        assert client.receive() == intval_frame(UPDATE, value, "Cool", 56)
        value.refresh_from_db()
        assert value.value == 56


class SendOnCommitInChannelTestCaseTests(ChannelTestCase):
    """With the opt-in, a ``ChannelTestCase`` test must run the commit hooks itself."""

    def test_nothing_arrives_until_the_on_commit_callbacks_run(self):
        intval_binding("compat-capture", on_commit=True)
        client = WSClient()
        client.join_group("compat-capture")
        with self.captureOnCommitCallbacks(execute=True):
            value = IntegerValue.objects.create(name="Later", value=2)
            assert client.receive() is None
        assert client.receive() == intval_frame(CREATE, value, "Later", 2)


class SendOnCommitTests(TransactionChannelTestCase):
    """The opt-in ``send_on_commit = True`` against real commits and rollbacks.

    These tests commit, so they bind ``Note``: committed ``IntegerValue`` rows
    would move the primary keys other modules' tests expect.
    """

    def test_a_change_inside_atomic_arrives_only_after_commit(self):
        note_binding("compat-commit")
        client = WSClient()
        client.join_group("compat-commit")
        with transaction.atomic():
            note = Note.objects.create(room="r", text="committed")
            assert client.receive() is None
        assert client.receive() == note_frame(CREATE, note, "committed")

    def test_a_rolled_back_change_is_never_sent(self):
        note_binding("compat-rollback")
        client = WSClient()
        client.join_group("compat-rollback")
        with pytest.raises(RuntimeError, match="roll it back"):
            with transaction.atomic():
                Note.objects.create(room="r", text="ghost")
                raise RuntimeError("roll it back")
        assert client.receive() is None
        assert not Note.objects.exists()

    def test_a_rolled_back_savepoint_drops_only_its_own_messages(self):
        note_binding("compat-savepoint")
        client = WSClient()
        client.join_group("compat-savepoint")
        with transaction.atomic():
            kept = Note.objects.create(room="r", text="kept")
            with pytest.raises(RuntimeError, match="inner"):
                with transaction.atomic():
                    Note.objects.create(room="r", text="dropped")
                    raise RuntimeError("inner")
        assert client.receive() == note_frame(CREATE, kept, "kept")
        assert client.receive() is None

    def test_without_a_transaction_the_message_is_sent_at_once(self):
        note_binding("compat-autocommit")
        client = WSClient()
        client.join_group("compat-autocommit")
        note = Note.objects.create(room="r", text="now")
        assert client.receive() == note_frame(CREATE, note, "now")
