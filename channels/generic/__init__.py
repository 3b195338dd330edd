"""Generic (class-based) consumers (SPEC 5.11)."""

from .base import BaseConsumer

__all__ = ["BaseConsumer"]
