"""The UDP server's table of clients: address <-> reply-channel token.

UDP has no connections, so a client is an address that sent a datagram
recently. Each gets a random token (the local part of its reply channel)
that stays the same while it keeps sending. Entries idle for longer than
``idle_timeout`` seconds are forgotten, and the table never holds more
than ``max_clients`` (the least recently seen goes first), so a flood of
spoofed source addresses costs bounded memory. Sans-IO: the clock is
passed in.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["ClientTable"]

Address = tuple[str, int]


class ClientTable:
    """Maps client addresses to tokens and back, with idle expiry and a size cap."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        idle_timeout: float = 300.0,
        max_clients: int = 100_000,
    ) -> None:
        if idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be positive, got {idle_timeout!r}")
        if max_clients < 1:
            raise ValueError(f"max_clients must be at least 1, got {max_clients!r}")
        self._clock = clock
        self.idle_timeout = idle_timeout
        self.max_clients = max_clients
        # token -> (address, last seen); least recently seen first
        self._by_token: OrderedDict[str, tuple[Address, float]] = OrderedDict()
        self._by_address: dict[Address, str] = {}

    def __len__(self) -> int:
        return len(self._by_token)

    def token_for(self, address: Address) -> str:
        """The token of ``address``, made now if it has none; marks it as seen."""
        now = self._clock()
        self._expire(now)
        token = self._by_address.get(address)
        if token is None:
            token = secrets.token_hex(8)
            self._by_address[address] = token
            while len(self._by_token) >= self.max_clients:
                self._forget_oldest()
        self._by_token[token] = (address, now)
        self._by_token.move_to_end(token)
        return token

    def address_for(self, token: str) -> Address | None:
        """The address a token belongs to, or None if unknown or expired."""
        self._expire(self._clock())
        entry = self._by_token.get(token)
        return entry[0] if entry else None

    def _expire(self, now: float) -> None:
        while self._by_token:
            _token, (_address, seen) = next(iter(self._by_token.items()))
            if now - seen <= self.idle_timeout:
                return
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        _token, (address, _seen) = self._by_token.popitem(last=False)
        self._by_address.pop(address, None)
