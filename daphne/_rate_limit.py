"""A token bucket: the optional per-connection WebSocket message rate limit.

Sans-IO: the caller passes the time (daphne's injected clock), so tests
drive it with plain numbers. ``rate`` tokens arrive per second up to
``burst``; each message takes one; a message finding none is over the limit.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """Allows ``rate`` events per second on average, in bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got rate={rate}, burst={burst}")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float) -> bool:
        """Spend one token at time ``now``; False when none is left (over the limit)."""
        elapsed = max(0.0, now - self.updated)
        self.updated = now
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
