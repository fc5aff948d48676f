"""Rate limits per endpoint family, as Braze documents them (one budget per key and family).

Braze's budgets (https://www.braze.com/docs/api/api_limits/):

- ``"data_series"``: ``/campaigns/data_series``, 50,000 requests a minute;
- ``"default"``: 250,000 requests an hour shared by ``/campaigns/list``,
  ``/campaigns/details``, the Canvas endpoints, the KPIs, sessions, ``/events/data_series``,
  segments and sends (Braze's default limit, which also covers unknown paths here);
- ``"small"``: 1,000 requests an hour shared by ``/events/list``,
  ``/purchases/product_list``, ``/purchases/revenue_series`` and
  ``/purchases/quantity_series``.

Windows are fixed and aligned on the minute or the hour, read from an injectable clock, so
tests exercise pacing without waiting. Every answered request with a valid key spends one
unit of its family's budget; the headers ``X-RateLimit-Limit``, ``X-RateLimit-Remaining``
and ``X-RateLimit-Reset`` (UTC epoch seconds) describe that budget, and a 429 adds
``Retry-After`` (seconds).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_LIMITS",
    "FAMILY_OF_PATH",
    "Family",
    "RateLimits",
    "family_of",
]


@dataclass(frozen=True)
class Family:
    """One rate-limit budget.

    Attributes:
        name: ``"data_series"``, ``"default"`` or ``"small"``.
        limit: Requests per window per key.
        window_seconds: 60 (a minute) or 3600 (an hour); windows align on their boundaries.
    """

    name: str
    limit: int
    window_seconds: int


#: Braze's budgets: (requests, window seconds) per family.
DEFAULT_LIMITS: Final[Mapping[str, tuple[int, int]]] = {
    "data_series": (50_000, 60),
    "default": (250_000, 3600),
    "small": (1_000, 3600),
}

#: The family of each path the sandbox serves; any other path is ``"default"``.
FAMILY_OF_PATH: Final[Mapping[str, str]] = {
    "/campaigns/data_series": "data_series",
    "/events/list": "small",
    "/purchases/product_list": "small",
    "/purchases/revenue_series": "small",
    "/purchases/quantity_series": "small",
}


def family_of(path: str) -> str:
    """The rate-limit family of a path.

    Examples:
        >>> family_of("/campaigns/data_series"), family_of("/canvas/list"), family_of("/events/list")
        ('data_series', 'default', 'small')
    """
    return FAMILY_OF_PATH.get(path, "default")


class RateLimits:
    """Fixed windows per (key, family), aligned on their minute or hour boundaries."""

    def __init__(self, families: Mapping[str, Family], clock: Callable[[], float]) -> None:
        self.families = dict(families)
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}

    def _family(self, path: str) -> Family:
        return self.families[family_of(path)]

    @staticmethod
    def _reset_at(now: float, family: Family) -> int:
        return (int(now) // family.window_seconds + 1) * family.window_seconds

    def peek(self, path: str) -> dict[str, str]:
        """Headers for a request that spends nothing (no valid key)."""
        family = self._family(path)
        return self._headers(family, family.limit, self._reset_at(self._clock(), family))

    def spend(self, key: str, path: str) -> tuple[bool, dict[str, str]]:
        """Spend one unit of the key's budget for the path's family; False when it is gone."""
        family = self._family(path)
        now = self._clock()
        reset = self._reset_at(now, family)
        with self._lock:
            window, used = self._windows.get((key, family.name), (reset, 0))
            if window != reset:
                used = 0
            allowed = used < family.limit
            if allowed:
                used += 1
            self._windows[key, family.name] = (reset, used)
        headers = self._headers(family, family.limit - used, reset)
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil(reset - now)))
        return allowed, headers

    @staticmethod
    def _headers(family: Family, remaining: int, reset: int) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(family.limit),
                "X-RateLimit-Remaining": str(max(0, remaining)),
                "X-RateLimit-Reset": str(reset)}
