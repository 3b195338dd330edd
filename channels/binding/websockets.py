"""Data binding over multiplexed WebSockets.

See docs/topics/binding.rst.

Outbound frames are ``{"stream": stream, "payload": {"action", "pk", "data",
"model"}}`` with ``data`` holding the bound fields as Django's JSON
serializer writes them. Inbound payloads are ``{"action", "pk", "data"}``;
their values are converted by the model fields (a string ``"56"`` for an
integer field is stored as 56), and fields that are not bound are ignored.

Inbound messages come either from a ``WebsocketDemultiplexer``'s
``consumers`` (a ``websocket.receive`` whose text is the payload) or from its
``mapping`` (the payload itself, with ``reply_channel``, on a channel such as
``binding.intval``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core import serializers
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.serializers.base import DeserializationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from channels.generic.websockets import WebsocketMultiplexer
from channels.sessions import enforce_ordering

from .base import Binding

__all__ = ["WebsocketBinding", "WebsocketBindingWithMembers"]

logger = logging.getLogger("channels.binding")

_SLIGHT_ORDERING_REMOVED = (
    "slight_ordering was removed in Channels 1.0; remove slight_ordering = True from "
    "{name} (use strict_ordering = True for strict ordering)"
)


class WebsocketBinding(Binding):
    """A binding whose stream is multiplexed on WebSockets."""

    model = None
    #: The multiplexer stream name.
    stream: str | None = None
    #: Apply inbound messages of a connection strictly in order.
    strict_ordering = False
    slight_ordering = False

    encode = WebsocketMultiplexer.encode

    @classmethod
    def register(cls) -> None:
        if cls.slight_ordering:
            raise ValueError(_SLIGHT_ORDERING_REMOVED.format(name=cls.__qualname__))
        super().register()

    # -- outbound -------------------------------------------------------------------------

    def serialize(self, instance: models.Model, action: str) -> dict:
        return {
            "action": action,
            "pk": instance.pk,
            "data": self.serialize_data(instance),
            "model": self.model_label,
        }

    def _bound_field_names(self) -> list[str] | None:
        """The field names to share, or None for all of them."""
        if self.fields is not None:
            fields = [self.fields] if isinstance(self.fields, str) else list(self.fields)
            return None if fields == ["__all__"] else fields
        opts = self.model._meta
        excluded = set(self.exclude or [])
        return [
            f.name for f in [*opts.concrete_fields, *opts.many_to_many] if f.name not in excluded
        ]

    def serialize_data(self, instance: models.Model) -> dict:
        """The bound fields of ``instance``, as Django's JSON serializer writes them."""
        text = serializers.serialize("json", [instance], fields=self._bound_field_names())
        return json.loads(text)[0]["fields"]

    # -- inbound --------------------------------------------------------------------------

    @classmethod
    def get_handler(cls) -> Any:
        handler = super().get_handler()
        if cls.slight_ordering:
            raise ValueError(_SLIGHT_ORDERING_REMOVED.format(name=cls.__qualname__))
        if cls.strict_ordering:
            return enforce_ordering(handler, slight=False)
        return handler

    @classmethod
    def trigger_inbound(cls, message: Any, **kwargs: Any) -> None:
        # A demultiplexer passes connect and disconnect to every stream consumer.
        if message.channel.name in ("websocket.connect", "websocket.disconnect"):
            return
        super().trigger_inbound(message, **kwargs)

    def deserialize(self, message: Any) -> tuple[str, Any, Any]:
        if message.channel.name == "websocket.receive":
            try:
                body = json.loads(message["text"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"Binding frame is not JSON text: {exc}") from None
        else:
            body = message.content
        if not isinstance(body, dict) or "action" not in body:
            raise ValueError(
                "A binding payload must be a JSON object with 'action' (and 'pk', 'data'), "
                f"got {body!r:.200}"
            )
        data = body.get("data") or {}
        if not isinstance(data, dict):
            raise ValueError(f"A binding payload's 'data' must be an object, got {data!r:.200}")
        return body["action"], body.get("pk"), data

    def _allowed(self, data: dict) -> dict:
        names = self._bound_field_names()
        if names is None:
            names = [f.name for f in self.model._meta.concrete_fields if not f.primary_key]
        return {name: value for name, value in data.items() if name in names}

    def _hydrate(self, pk: Any, data: dict) -> models.Model:
        """A model instance built from ``data`` with the fields' own conversions."""
        record = {"model": self.model_label, "pk": pk, "fields": data}
        try:
            deserialized = list(serializers.deserialize("python", [record], ignorenonexistent=True))
        except (DeserializationError, ValidationError) as exc:
            raise ValueError(f"Invalid data for {self.model_label}: {exc}") from None
        return deserialized[0].object

    def _apply(self, instance: models.Model, hydrated: models.Model, names: list[str]) -> None:
        for name in names:
            field = self.model._meta.get_field(name)
            if field.many_to_many:
                continue
            setattr(instance, field.attname, getattr(hydrated, field.attname))

    def create(self, data: dict) -> None:
        data = self._allowed(data)
        try:
            hydrated = self._hydrate(None, data)
        except ValueError as exc:
            logger.warning("Binding %s: create refused: %s", type(self).__qualname__, exc)
            return
        instance = self.model()
        self._apply(instance, hydrated, list(data))
        instance.save()

    def update(self, pk: Any, data: dict) -> None:
        data = self._allowed(data)
        try:
            instance = self.model._default_manager.get(pk=pk)
        except (ObjectDoesNotExist, ValueError, TypeError, ValidationError):
            logger.warning(
                "Binding %s: update of missing %s pk %r ignored",
                type(self).__qualname__,
                self.model_label,
                pk,
            )
            return
        try:
            hydrated = self._hydrate(pk, data)
        except ValueError as exc:
            logger.warning("Binding %s: update refused: %s", type(self).__qualname__, exc)
            return
        self._apply(instance, hydrated, list(data))
        instance.save()

    def delete(self, pk: Any) -> None:
        try:
            self.model._default_manager.filter(pk=pk).delete()
        except (ValueError, TypeError, ValidationError):
            logger.warning("Binding %s: delete of bad pk %r ignored", type(self).__qualname__, pk)


class WebsocketBindingWithMembers(WebsocketBinding):
    """A WebSocket binding that also sends attributes and properties of the instance.

    ``send_members`` lists dotted attribute paths (``"owner.username"``);
    callables are called; the keys in ``data`` use ``__`` for dots.
    """

    model = None
    send_members: list[str] = []
    encoder = DjangoJSONEncoder()

    def serialize_data(self, instance: models.Model) -> dict:
        data = super().serialize_data(instance)
        members = {}
        for path in self.send_members:
            value: Any = instance
            for name in path.split("."):
                value = getattr(value, name)
            if callable(value):
                value = value()
            members[path.replace(".", "__")] = value
        data.update(json.loads(self.encoder.encode(members)))
        return data
