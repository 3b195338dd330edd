"""Filters for the admin layer page: ``{% load channels_admin %}``.

See docs/operating.rst, "The admin page". They format the first rendering
exactly as the page's script formats each refresh (``layer.js``).
"""

from __future__ import annotations

from django import template

from .._layer_page import format_percent, format_seconds

__all__ = ["register"]

register = template.Library()
register.filter("seconds", format_seconds)
register.filter("percent", format_percent)
