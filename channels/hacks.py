"""The one patch Channels applies to Django.

``django.contrib.staticfiles`` ships its own ``runserver``; when it is listed
before ``channels`` in INSTALLED_APPS, Django picks that one. Rebasing it on
Channels' ``runserver`` keeps its ``--nostatic``/``--insecure`` options and
still runs the ASGI server.
"""

from __future__ import annotations

from django.conf import settings

__all__ = ["monkeypatch_django"]


def monkeypatch_django() -> None:
    if "django.contrib.staticfiles" not in settings.INSTALLED_APPS:
        return
    from django.contrib.staticfiles.management.commands import runserver as static_runserver

    from .management.commands.runserver import Command as ChannelsRunserver

    command = static_runserver.Command
    if issubclass(command, ChannelsRunserver):
        return
    command.__bases__ = (ChannelsRunserver,)
