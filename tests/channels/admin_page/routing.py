"""Routing of the browser test's live server: HTTP only (the worker's default)."""

channel_routing: list = []
