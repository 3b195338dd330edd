"""Small helpers shared by Channels modules."""

from __future__ import annotations

import types
from typing import Any

__all__ = ["name_that_thing"]


def name_that_thing(thing: Any) -> str:
    """A dotted name for a function, method, class or instance, for log lines."""
    if isinstance(thing, types.MethodType):
        return f"{name_that_thing(thing.__self__)}.{thing.__func__.__name__}"
    if hasattr(thing, "__qualname__") and hasattr(thing, "__module__"):
        return f"{thing.__module__}.{thing.__qualname__}"
    if hasattr(thing, "__class__"):
        cls = thing.__class__
        return f"{cls.__module__}.{cls.__qualname__}"
    return repr(thing)
