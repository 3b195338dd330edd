"""``DelayedMessage``: one message waiting in the database for its due date.

See docs/topics/delay.rst.

Content is stored as JSON; bytes values (which ASGI messages may carry and
JSON cannot) are kept as ``{"__bytes__": "<base64>"}`` and restored on send;
a dict that would read as such a tag is escaped.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from django.db import models
from django.utils import timezone

from asgi.types import ChannelLayer

__all__ = ["DelayedMessage", "DelayedMessageQuerySet", "decode_content", "encode_content"]

_BYTES = "__bytes__"
_ESCAPED = "__escaped__"


def _tag_bytes(value: Any) -> Any:
    if isinstance(value, bytes):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        tagged = {key: _tag_bytes(item) for key, item in value.items()}
        if len(tagged) == 1 and (_BYTES in tagged or _ESCAPED in tagged):
            return {_ESCAPED: tagged}  # a dict that would read as a tag
        return tagged
    if isinstance(value, (list, tuple)):
        return [_tag_bytes(item) for item in value]
    return value


def _untag_bytes(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _BYTES in value:
            return base64.b64decode(value[_BYTES])
        if len(value) == 1 and _ESCAPED in value:
            value = value[_ESCAPED]
        return {key: _untag_bytes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_untag_bytes(item) for item in value]
    return value


def encode_content(content: dict) -> str:
    """Message content as the JSON text stored in ``DelayedMessage.content``."""
    return json.dumps(_tag_bytes(content))


def decode_content(text: str) -> dict:
    """The message content stored by ``encode_content``."""
    return _untag_bytes(json.loads(text))


class DelayedMessageQuerySet(models.QuerySet):
    def is_due(self) -> DelayedMessageQuerySet:
        """The messages whose due date has passed."""
        return self.filter(due_date__lte=timezone.now())


class DelayedMessage(models.Model):
    """A message for ``channel_name``, to be sent at ``due_date``."""

    due_date = models.DateTimeField(db_index=True)
    channel_name = models.CharField(max_length=512)
    content = models.TextField()

    objects = DelayedMessageQuerySet.as_manager()

    class Meta:
        app_label = "channels_delay"

    def __str__(self) -> str:
        return f"DelayedMessage to {self.channel_name} due {self.due_date.isoformat()}"

    @property
    def delay(self) -> None:
        return None

    @delay.setter
    def delay(self, milliseconds: int) -> None:
        """Set the due date to now plus ``milliseconds``."""
        self.due_date = timezone.now() + timedelta(milliseconds=milliseconds)

    def send(self, channel_layer: ChannelLayer | None = None, requeue_delay: int = 1000) -> bool:
        """Send now and delete the row; if the channel is full, retry in ``requeue_delay`` ms.

        Returns True when the message went out.
        """
        if channel_layer is None:
            from channels.asgi import channel_layers

            channel_layer = channel_layers["default"]
        try:
            channel_layer.send(self.channel_name, decode_content(self.content))
        except channel_layer.ChannelFull:
            self.delay = requeue_delay
            self.save(update_fields=["due_date"])
            return False
        self.delete()
        return True
