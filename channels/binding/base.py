"""Data binding: model changes out to groups, client changes in to models.

See docs/topics/binding.rst.

A ``Binding`` subclass names a ``model`` and the ``fields`` (or ``exclude``)
it shares. Outbound, model signals turn each save or delete into ``create``,
``update`` or ``delete`` messages for the groups ``group_names`` returns; a
change that moves an instance between groups sends ``delete`` to groups it
left, ``update`` to groups it stayed in and ``create`` to groups it joined,
in that order. Inbound, ``Binding.consumer`` is routed like any consumer and
applies ``create``/``update``/``delete`` actions the user ``has_permission``
for.

Outbound messages are sent from the ``post_save``/``post_delete`` signal, as
in 1.x, so tests inside a transaction (``ChannelTestCase``) receive them. A
binding that sets ``send_on_commit = True`` sends them only when the
transaction commits (``transaction.on_commit``), never for a rolled-back
change; that is the production recommendation.

Differences from 1.x, same API:

* the "before" groups of an update are computed from the stored row, not
  from the already-modified instance;
* inbound ``create``/``update`` only touch the bound fields;
* ``group_names`` may also be written ``def group_names(self, instance,
  action)``, the 1.0 beta signature used in the talk.
"""

from __future__ import annotations

import inspect
import logging
from functools import partial
from typing import Any

from django.apps import apps
from django.contrib.auth.models import AnonymousUser
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save

from channels.auth import channel_session_user
from channels.channel import Group
from channels.sessions import channel_session

__all__ = ["CREATE", "DELETE", "UPDATE", "Binding", "BindingMetaclass"]

logger = logging.getLogger("channels.binding")

CREATE = "create"
UPDATE = "update"
DELETE = "delete"

#: The attribute of a model instance holding, per binding class, the groups
#: it was in before the change under way (set on pre_save/pre_delete).
_OLD_GROUPS = "_binding_group_names"


class BindingMetaclass(type):
    """Records every Binding subclass; registers it once Django's apps are ready."""

    binding_classes: list[type] = []
    register_immediately = False

    def __new__(mcs, name: str, bases: tuple, body: dict) -> type:
        klass = super().__new__(mcs, name, bases, body)
        if any(isinstance(base, BindingMetaclass) for base in bases):
            if mcs.register_immediately:
                klass.register()  # a broken binding fails here, at its definition
            mcs.binding_classes.append(klass)
        return klass

    @classmethod
    def register_all(cls) -> None:
        """Register every binding defined so far, and later ones as they are defined."""
        for binding_class in cls.binding_classes:
            binding_class.register()
        cls.register_immediately = True


def _call_flexibly(method: Any, *args: Any) -> Any:
    """Call ``method`` with as many of ``args`` as its signature takes."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return method(*args)
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return method(*args)
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return method(*args[: max(1, len(positional))])


def _send_to_groups(group_names: list[str], message: dict) -> None:
    """Send one outbound binding message to each group."""
    for name in group_names:
        Group(name).send(message)


class Binding(metaclass=BindingMetaclass):
    """Binds a model to a stream of change messages; subclass per model."""

    #: The model class, or an "app_label.ModelName" string; None marks an abstract binding.
    model: Any = None
    #: Fields to share (``["__all__"]`` for all), or ``exclude`` fields not to share.
    fields: list[str] | None = None
    exclude: list[str] | None = None
    #: Inbound actions run with ``message.user`` from the channel session.
    channel_session_user = True
    channel_session = False
    #: The keyword arguments of the model signal being handled (outbound).
    signal_kwargs: dict | None = None
    #: The stream (or other name) ``encode`` wraps payloads for.
    stream: str | None = None
    #: Send outbound messages when the transaction commits (and never for a
    #: rolled-back change) instead of at signal time, as 1.x did. Opt-in.
    send_on_commit = False

    # -- registration -------------------------------------------------------------------

    @classmethod
    def register(cls) -> None:
        """Connect the model signals for this binding (idempotent)."""
        for model in cls.get_registered_models():
            uid = f"channels.binding:{cls.__module__}.{cls.__qualname__}:{model._meta.label}"
            pre_save.connect(cls.pre_save_receiver, sender=model, weak=False, dispatch_uid=uid)
            post_save.connect(cls.post_save_receiver, sender=model, weak=False, dispatch_uid=uid)
            pre_delete.connect(cls.pre_delete_receiver, sender=model, weak=False, dispatch_uid=uid)
            post_delete.connect(
                cls.post_delete_receiver, sender=model, weak=False, dispatch_uid=uid
            )

    @classmethod
    def get_registered_models(cls) -> list[type[models.Model]]:
        """The models to watch (none for an abstract binding); validates the class."""
        if cls.model is None:
            if "model" in cls.__dict__:
                return []
            raise ValueError(
                f"Binding {cls.__qualname__} must set model (a model class or "
                "'app_label.ModelName'); set model = None to mark it abstract"
            )
        if cls.fields is None and cls.exclude is None:
            raise ValueError(
                f"Binding {cls.__qualname__} must set fields (['__all__'] for all) or exclude"
            )
        if isinstance(cls.model, str):
            cls.model = apps.get_model(cls.model)
        cls.model_label = f"{cls.model._meta.app_label}.{cls.model._meta.object_name}".lower()
        return [cls.model]

    # -- outbound -------------------------------------------------------------------------

    @classmethod
    def pre_save_receiver(cls, instance: models.Model, **kwargs: Any) -> None:
        creating = instance._state.adding
        cls.pre_change_receiver(instance, CREATE if creating else UPDATE)

    @classmethod
    def post_save_receiver(cls, instance: models.Model, created: bool, **kwargs: Any) -> None:
        cls.post_change_receiver(instance, CREATE if created else UPDATE, **kwargs)

    @classmethod
    def pre_delete_receiver(cls, instance: models.Model, **kwargs: Any) -> None:
        cls.pre_change_receiver(instance, DELETE)

    @classmethod
    def post_delete_receiver(cls, instance: models.Model, **kwargs: Any) -> None:
        cls.post_change_receiver(instance, DELETE, **kwargs)

    @classmethod
    def _groups_of(cls, instance: models.Model, action: str) -> set[str]:
        return set(_call_flexibly(cls().group_names, instance, action) or [])

    @classmethod
    def pre_change_receiver(cls, instance: models.Model, action: str) -> None:
        """Remember the groups the instance was in before the change."""
        if action == CREATE:
            old_groups: set[str] = set()
        else:
            stored = instance
            if action == UPDATE and instance.pk is not None:
                stored = type(instance)._default_manager.filter(pk=instance.pk).first()
            old_groups = cls._groups_of(stored, action) if stored is not None else set()
        vars(instance).setdefault(_OLD_GROUPS, {})[cls] = old_groups

    @classmethod
    def post_change_receiver(cls, instance: models.Model, action: str, **kwargs: Any) -> None:
        """Send delete, update and create messages to the groups that need each."""
        old_groups = getattr(instance, _OLD_GROUPS, {}).pop(cls, set())
        if action == CREATE:
            old_groups = set()
        new_groups = set() if action == DELETE else cls._groups_of(instance, action)
        self = cls()
        self.instance = instance
        self.send_messages(instance, old_groups - new_groups, DELETE, **kwargs)
        self.send_messages(instance, old_groups & new_groups, UPDATE, **kwargs)
        self.send_messages(instance, new_groups - old_groups, CREATE, **kwargs)

    def send_messages(
        self, instance: models.Model, group_names: set[str], action: str, **kwargs: Any
    ) -> None:
        """Serialize now and send to ``group_names``: at once, as 1.x did, or
        once the transaction commits when the binding sets ``send_on_commit``."""
        if not group_names:
            return
        self.signal_kwargs = kwargs
        payload = self.serialize(instance, action)
        if payload == {}:
            return
        if self.stream is None:
            raise ValueError(f"Binding {type(self).__qualname__} must set stream")
        message = self.encode(self.stream, payload)
        groups = sorted(group_names)
        if self.send_on_commit:
            send = partial(_send_to_groups, groups, message)
            transaction.on_commit(send, using=kwargs.get("using"))
        else:
            _send_to_groups(groups, message)

    def group_names(self, instance: models.Model) -> list[str]:
        """The groups that should hear about ``instance``; implement it."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement group_names(instance)")

    @classmethod
    def encode(cls, stream: str, payload: dict) -> dict:
        """Wrap ``payload`` into a message for ``stream``; implement it."""
        raise NotImplementedError(f"{cls.__qualname__} must implement encode(stream, payload)")

    def serialize(self, instance: models.Model, action: str) -> dict:
        """The payload describing the change; ``{}`` sends nothing. Implement it."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement serialize()")

    # -- inbound --------------------------------------------------------------------------

    @classmethod
    def consumer(cls, message: Any, **kwargs: Any) -> None:
        """The routable consumer applying inbound actions."""
        cls.get_handler()(message, **kwargs)

    @classmethod
    def get_handler(cls) -> Any:
        """``trigger_inbound`` with the session decorators the class asks for."""
        handler = cls.trigger_inbound
        if cls.channel_session_user:
            return channel_session_user(handler)
        if cls.channel_session:
            return channel_session(handler)
        return handler

    @classmethod
    def trigger_inbound(cls, message: Any, **kwargs: Any) -> None:
        """Decode the action in ``message`` and run it."""
        self = cls()
        self.message = message
        self.kwargs = kwargs
        self.action, self.pk, self.data = self.deserialize(message)
        self.user = getattr(message, "user", None) or AnonymousUser()
        self.run_action(self.action, self.pk, self.data)

    def deserialize(self, message: Any) -> tuple[str, Any, Any]:
        """``(action, pk, data)`` from an inbound message; implement it."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement deserialize()")

    def has_permission(self, user: Any, action: str, pk: Any) -> bool:
        """Whether ``user`` may run ``action`` on ``pk``; implement it."""
        raise NotImplementedError(
            f"{type(self).__qualname__} must implement has_permission(user, action, pk)"
        )

    def run_action(self, action: str, pk: Any, data: Any) -> None:
        """Check permission, then create, update or delete."""
        if action not in (CREATE, UPDATE, DELETE):
            raise ValueError(
                f"Bad binding action {action!r}; expected 'create', 'update' or 'delete'"
            )
        if not self.has_permission(self.user, action, pk):
            logger.info(
                "Binding %s: %s of pk %r refused for user %s",
                type(self).__qualname__,
                action,
                pk,
                self.user,
            )
            return
        if action == CREATE:
            self.create(data)
        elif action == UPDATE:
            self.update(pk, data)
        else:
            self.delete(pk)

    def create(self, data: Any) -> None:
        self.model._default_manager.create(**data)

    def update(self, pk: Any, data: Any) -> None:
        instance = self.model._default_manager.get(pk=pk)
        for name, value in data.items():
            setattr(instance, name, value)
        instance.save()

    def delete(self, pk: Any) -> None:
        self.model._default_manager.filter(pk=pk).delete()
