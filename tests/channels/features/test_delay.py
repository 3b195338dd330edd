"""The delay server: storing, due delivery, full channels, bad input.

See docs/topics/delay.rst.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from asgi.inmemory import ChannelLayer as InMemoryChannelLayer
from channels.delay.models import DelayedMessage, decode_content, encode_content
from channels.delay.worker import DELAY_CHANNEL, InvalidDelayMessage, Worker, parse_delay_message

pytestmark = [pytest.mark.unit, pytest.mark.django_db]


def delay_message(channel="test.target", delay=0, content=None):
    return {"channel": channel, "delay": delay, "content": content or {"text": "hi"}}


@pytest.mark.parametrize(
    "message, error",
    [
        ("not a dict", "expected a dict"),
        ({"channel": "a", "delay": 1}, r"missing key\(s\) \['content'\]"),
        (delay_message(channel=b"bytes.name"), "'channel' must be a str"),
        (delay_message(channel="bad name!!"), "not a valid channel name"),
        (delay_message(channel="x" * 600), "not a valid channel name"),
        (delay_message(delay=-5), "non-negative int"),
        (delay_message(delay=True), "non-negative int"),
        (delay_message(delay="100"), "non-negative int"),
        ({"channel": "a", "delay": 1, "content": [1]}, "'content' must be a dict"),
        (delay_message(content={"value": object()}), "cannot be stored"),
    ],
)
def test_invalid_delay_messages_are_refused_with_what_is_wrong(harness, message, error):
    with pytest.raises(InvalidDelayMessage, match=error):
        parse_delay_message(harness.layer, message)


def test_content_with_bytes_survives_storage():
    content = {"bytes": b"\x00\xff", "nested": [{"b": b"x"}], "text": "t"}
    assert decode_content(encode_content(content)) == content


def test_delay_property_sets_the_due_date_from_now():
    row = DelayedMessage(channel_name="a", content="{}")
    before = timezone.now()
    row.delay = 1500
    assert before + timedelta(milliseconds=1500) <= row.due_date
    assert row.due_date <= timezone.now() + timedelta(milliseconds=1500)


def test_due_messages_are_sent_and_deleted_and_others_wait(harness):
    worker = Worker(harness.layer, signal_handlers=False)
    worker.store(delay_message(content={"text": "now"}))
    worker.store(delay_message(delay=60_000, content={"text": "later"}))
    assert DelayedMessage.objects.is_due().count() == 1
    assert worker.send_due() == 1
    assert harness.replies("test.target") == [{"text": "now"}]
    assert list(DelayedMessage.objects.values_list("content", flat=True)) == [
        encode_content({"text": "later"})
    ]


def test_a_full_channel_is_retried_with_growing_backoff_not_dropped(harness, caplog):
    raw = InMemoryChannelLayer(channel_capacity={"test.full": 1})
    raw.send("test.full", {"already": "there"})
    worker = Worker(raw, signal_handlers=False)
    row = worker.store(delay_message(channel="test.full"))
    with caplog.at_level(logging.WARNING, logger="channels.delay"):
        start = timezone.now()
        assert worker.send_due() == 0
        row.refresh_from_db()
        first_retry = row.due_date - start
        DelayedMessage.objects.filter(pk=row.pk).update(due_date=timezone.now())
        assert worker.send_due() == 0
        row.refresh_from_db()
        second_retry = row.due_date - timezone.now()
    assert timedelta(milliseconds=900) <= first_retry <= timedelta(milliseconds=1500)
    assert timedelta(milliseconds=1800) <= second_retry <= timedelta(milliseconds=2100)
    assert "is full" in caplog.text
    raw.receive(["test.full"])
    DelayedMessage.objects.filter(pk=row.pk).update(due_date=timezone.now())
    assert worker.send_due() == 1
    assert raw.receive(["test.full"]) == ("test.full", {"text": "hi"})
    assert not DelayedMessage.objects.exists()


def test_model_send_pushes_the_due_date_on_a_full_channel(harness):
    raw = InMemoryChannelLayer(channel_capacity={"test.full": 1})
    raw.send("test.full", {"first": True})
    row = DelayedMessage(channel_name="test.full", content=encode_content({"a": 1}))
    row.delay = 0
    row.save()
    assert row.send(channel_layer=raw, requeue_delay=5000) is False
    row.refresh_from_db()
    assert row.due_date > timezone.now() + timedelta(seconds=4)


class ScriptedLayer:
    """Feeds the run loop a fixed list of receives, then stops the worker."""

    ChannelFull = InMemoryChannelLayer.ChannelFull

    def __init__(self, layer, script):
        self.layer = layer
        self.script = list(script)
        self.worker = None

    def receive(self, channels, block=False):
        assert channels == [DELAY_CHANNEL]
        if not self.script:
            self.worker.termed = True
            return None, None
        return DELAY_CHANNEL, self.script.pop(0)

    def __getattr__(self, name):
        return getattr(self.layer, name)


def test_the_loop_logs_and_skips_invalid_messages_and_keeps_delivering(harness, caplog):
    layer = ScriptedLayer(
        harness.layer,
        [{"nonsense": True}, delay_message(content={"text": "still delivered"}), "junk"],
    )
    worker = Worker(layer, signal_handlers=False, database_sleep_duration=0)
    layer.worker = worker
    with caplog.at_level(logging.ERROR, logger="channels.delay"):
        worker.run()
    assert harness.replies("test.target") == [{"text": "still delivered"}]
    assert caplog.text.count("Skipped an invalid asgi.delay message") == 2


def test_rundelay_refuses_the_in_memory_layer(harness):
    with pytest.raises(CommandError, match="in-memory layer"):
        call_command("rundelay")


def test_rundelay_refuses_a_non_positive_sleep(harness):
    with pytest.raises(CommandError, match="--sleep"):
        call_command("rundelay", "--sleep", "0")


def test_rundelay_refuses_an_unknown_layer(harness):
    with pytest.raises(CommandError, match="No channel layer 'nope'"):
        call_command("rundelay", "--layer", "nope")


def test_delay_app_label_is_a_python_identifier():
    from django.apps import apps

    config = apps.get_app_config("channels_delay")
    assert config.name == "channels.delay"
    assert DelayedMessage._meta.db_table == "channels_delay_delayedmessage"
