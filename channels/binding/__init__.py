"""Data binding: keep client-side copies of models in sync.

See docs/topics/binding.rst.
"""

from .base import Binding

__all__ = ["Binding"]
