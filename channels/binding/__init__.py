"""Data binding (SPEC 5.12): keep client-side copies of models in sync."""

from .base import Binding

__all__ = ["Binding"]
