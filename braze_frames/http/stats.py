"""``ClientStats``: what one client's traffic cost, counted across its threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields

__all__ = ["ClientStats"]


@dataclass
class ClientStats:
    """Counters of one client's traffic, shared by its threads.

    Reading one counter needs no lock (an int or float is read whole); ``as_dict`` takes
    a consistent snapshot of them all.

    Attributes:
        requests: HTTP attempts sent (each retry counts).
        retries: Attempts that were retries.
        rate_limited: 429 responses seen.
        errors: Calls of ``get`` (and the endpoint methods) that raised.
        wait_seconds: Time spent waiting before attempts: retry backoff and rate-limit pacing.
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: int = 0
    wait_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, amount: float = 1) -> None:
        """Add ``amount`` to one counter."""
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def as_dict(self) -> dict[str, float]:
        """A consistent snapshot of every counter."""
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
