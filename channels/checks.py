"""Start-up checks (1.x's ``package_checks``, plus Django system checks).

``check_all()`` refuses layer packages too old for this Channels. The system
checks report ``CHANNEL_LAYERS`` mistakes by name at ``manage.py check`` time
instead of as a traceback on the first message.
"""

from __future__ import annotations

import importlib.metadata
import re

from django.core import checks

__all__ = ["check_all", "check_channel_layers", "register", "required_versions"]

#: Third-party layer packages Channels 1.1.8 knew minimum versions of.
required_versions = {"asgi_rabbitmq": "0.4.0", "asgi_redis": "1.2.0", "asgi_ipc": "1.3.0"}


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def check_all() -> None:
    """Raise ``RuntimeError`` when an installed layer package is too old."""
    for package, minimum in required_versions.items():
        try:
            installed = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
        if _version_tuple(installed) < _version_tuple(minimum):
            raise RuntimeError(
                f"Channels needs {package} >= {minimum}, but {installed} is installed; "
                f"upgrade it with: pip install -U {package}"
            )


def check_channel_layers(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """System check: every CHANNEL_LAYERS entry has a BACKEND and a ROUTING."""
    from django.conf import settings

    configs = getattr(settings, "CHANNEL_LAYERS", None)
    if configs is None:
        return []
    if not isinstance(configs, dict):
        return [
            checks.Error(
                "CHANNEL_LAYERS must be a dict of alias -> layer settings.",
                hint="CHANNEL_LAYERS = {'default': {'BACKEND': ..., 'ROUTING': ...}}",
                id="channels.E001",
            )
        ]
    errors = []
    for alias, config in configs.items():
        if not isinstance(config, dict):
            errors.append(
                checks.Error(f"CHANNEL_LAYERS[{alias!r}] must be a dict.", id="channels.E001")
            )
            continue
        if not config.get("BACKEND"):
            errors.append(
                checks.Error(
                    f"CHANNEL_LAYERS[{alias!r}] has no BACKEND.",
                    hint="For example 'asgi_redis.RedisChannelLayer'.",
                    id="channels.E002",
                )
            )
        if "ROUTING" not in config:
            errors.append(
                checks.Error(
                    f"CHANNEL_LAYERS[{alias!r}] has no ROUTING.",
                    hint="Set it to a dotted path such as 'myproject.routing.channel_routing'.",
                    id="channels.E003",
                )
            )
        if not isinstance(config.get("CONFIG", {}), dict):
            errors.append(
                checks.Error(
                    f"CHANNEL_LAYERS[{alias!r}]['CONFIG'] must be a dict of keyword arguments.",
                    id="channels.E004",
                )
            )
    return errors


def register() -> None:
    checks.register(check_channel_layers, "channels")
