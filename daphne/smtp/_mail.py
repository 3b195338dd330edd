"""The SMTP server's sans-IO pieces: who may receive mail, and the DATA buffer.

:class:`RecipientPolicy` answers whether an envelope recipient's domain is
one the server accepts mail for (RFC 5321 reply 550 otherwise).
:class:`MailData` collects the lines after ``DATA`` up to the lone ``.``,
undoes dot-stuffing and enforces the size limit (reply 552) without keeping
the excess in memory. :func:`declared_size` reads the ``SIZE=`` parameter
of ``MAIL FROM`` (RFC 1870) so an oversized mail is refused before it is sent.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MailData", "RecipientPolicy", "declared_size"]


class RecipientPolicy:
    """Which recipient domains are accepted.

    ``domains`` of None accepts every recipient. Otherwise an address is
    accepted when its domain equals one of ``domains`` (case-insensitive);
    an entry starting with ``.`` (``.example.com``) accepts its subdomains.
    """

    def __init__(self, domains: Iterable[str] | None = None) -> None:
        if domains is None:
            self.domains: frozenset[str] | None = None
        else:
            cleaned = {d.strip().lower() for d in domains if d and d.strip()}
            if not cleaned:
                raise ValueError("RecipientPolicy needs at least one domain, or None for any")
            self.domains = frozenset(cleaned)

    def allows(self, address: str) -> bool:
        """True when mail for ``address`` (``local@domain``) is accepted."""
        if self.domains is None:
            return True
        _local, at, domain = address.rpartition("@")
        if not at:
            return False
        domain = domain.lower().rstrip(".")
        if domain in self.domains:
            return True
        return any(d.startswith(".") and domain.endswith(d) for d in self.domains)


def declared_size(parameters: bytes | None) -> int | None:
    """The ``SIZE=n`` value among ``MAIL FROM`` parameters, or None.

    A malformed value counts as absent (the real size is still enforced).
    """
    if not parameters:
        return None
    for item in parameters.split():
        key, _eq, value = item.partition(b"=")
        if key.upper() == b"SIZE" and value.isdigit():
            return int(value)
    return None


class MailData:
    """The body of one ``DATA`` command, fed line by line (without line endings)."""

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be positive, got {max_size!r}")
        self.max_size = max_size
        self.size = 0
        self.finished = False
        self._lines: list[bytes] = []

    @property
    def too_large(self) -> bool:
        return self.size > self.max_size

    def feed(self, line: bytes) -> bool:
        """Take one line; return True once the terminating ``.`` arrived."""
        if self.finished:
            raise RuntimeError("MailData got a line after the terminating '.'")
        if line == b".":
            self.finished = True
            return True
        if line.startswith(b"."):
            line = line[1:]
        self.size += len(line) + 2
        if not self.too_large:
            self._lines.append(line)
        else:
            self._lines.clear()
        return False

    def raw(self) -> bytes:
        """The received mail with CRLF line endings (only while within the limit)."""
        if self.too_large:
            raise ValueError(f"mail of {self.size} bytes exceeds the {self.max_size}-byte limit")
        return b"".join(line + b"\r\n" for line in self._lines)
