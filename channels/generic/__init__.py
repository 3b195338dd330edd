"""Generic (class-based) consumers.

See docs/topics/generics.rst.
"""

from .base import BaseConsumer

__all__ = ["BaseConsumer"]
