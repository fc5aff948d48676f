"""``ClientStats``: what one client's traffic cost, counted across its threads."""

from __future__ import annotations

import threading

__all__ = ["ClientStats"]


class ClientStats:
    """Thread-safe counters of one client's traffic.

    Attributes (read-only):
        requests: HTTP attempts sent (each retry counts).
        retries: Attempts that were retries.
        rate_limited: 429 responses seen.
        errors: Calls of ``get`` (and the endpoint methods) that raised.
        wait_seconds: Time spent waiting before attempts: retry backoff and rate-limit pacing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"requests": 0, "retries": 0, "rate_limited": 0, "errors": 0}
        self._wait_seconds = 0.0

    def _add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def _waited(self, seconds: float) -> None:
        with self._lock:
            self._wait_seconds += seconds

    @property
    def requests(self) -> int:
        """HTTP attempts sent (each retry counts)."""
        with self._lock:
            return self._counts["requests"]

    @property
    def retries(self) -> int:
        """Attempts that were retries."""
        with self._lock:
            return self._counts["retries"]

    @property
    def rate_limited(self) -> int:
        """429 responses seen."""
        with self._lock:
            return self._counts["rate_limited"]

    @property
    def errors(self) -> int:
        """Calls that raised."""
        with self._lock:
            return self._counts["errors"]

    @property
    def wait_seconds(self) -> float:
        """Seconds spent waiting before attempts (backoff and pacing)."""
        with self._lock:
            return self._wait_seconds

    def as_dict(self) -> dict[str, float]:
        """A consistent snapshot of every counter."""
        with self._lock:
            return {**self._counts, "wait_seconds": self._wait_seconds}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v:g}" for k, v in self.as_dict().items())
        return f"ClientStats({fields})"
