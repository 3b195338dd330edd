"""Security helpers for consumers: WebSocket origin checks (SPEC 5.10)."""
