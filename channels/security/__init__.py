"""Security helpers for consumers: WebSocket origin checks.

See docs/topics/security.rst.
"""
