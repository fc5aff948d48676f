"""Client-side pacing: stay inside Braze's rate limit instead of bursting into 429s.

Two mechanisms, both shared by every thread using one client:

* a semaphore caps the requests in flight at ``max_concurrency``;
* a :class:`Budget` per rate-limit bucket (one per API path: ``/campaigns/data_series`` has
  its own 50,000/minute limit, ``/campaigns/list`` and ``/campaigns/details`` share
  250,000/hour) follows the last ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` seen.

The pacing rule (:func:`plan`) is a pure function of the budget and the time:

* plenty left (more than :func:`low_water_mark`): go at once, never slower than unpaced;
* little left: spread what is left evenly over the time to the reset;
* nothing left, or a 429 seen (``blocked_until``): every thread waits for the reset;
* a reset further away than ``horizon`` (the client's ``max_wait``): no pacing; the server
  decides, and a 429 with such a reset becomes ``RateLimitError`` in the client.

The budget counts down locally as requests start, and each response corrects it; responses
from requests that were still in flight are accounted for, so a stale ``remaining`` does not
let several threads spend the same unit.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Final

from .retry import get_header, parse_number

__all__ = ["LOW_WATER_FRACTION", "Budget", "RateLimiter", "low_water_mark", "observe", "plan"]

#: Pacing starts when less than this share of the limit is left.
LOW_WATER_FRACTION: Final = 0.1


@dataclass(frozen=True)
class Budget:
    """What is known of one rate-limit bucket.

    Attributes:
        limit: Requests allowed per window (``X-RateLimit-Limit``, else the most seen left).
        remaining: Requests estimated left in the window, counting requests already started.
        reset_at: When the window turns over, UTC epoch seconds.
        next_slot: The earliest start of the next paced request.
        blocked_until: No request starts before this time (set after a 429).
    """

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    next_slot: float = 0.0
    blocked_until: float = 0.0


def low_water_mark(limit: int | None, max_concurrency: int) -> int:
    """Below this many requests left, pacing starts.

    A tenth of the limit, and never less than two rounds of concurrent requests.

    Examples:
        >>> low_water_mark(600, 8), low_water_mark(50_000, 8), low_water_mark(None, 8)
        (60, 5000, 16)
    """
    floor = 2 * max_concurrency
    if limit is None:
        return floor
    return max(floor, math.ceil(limit * LOW_WATER_FRACTION))


def observe(
    budget: Budget, headers: Mapping[str, str], *, others_in_flight: int = 0
) -> Budget:
    """Fold a response's rate-limit headers into the budget.

    Args:
        budget: The bucket's budget before the response.
        headers: The response headers (any case; missing or garbled values are ignored).
        others_in_flight: Other requests of this client in flight: the server had not counted
            them when it computed ``remaining``.

    Returns:
        The updated budget.

    Examples:
        >>> b = observe(Budget(), {"x-ratelimit-remaining": "10", "x-ratelimit-reset": "60"})
        >>> b.remaining, b.reset_at, b.limit
        (10, 60.0, 10)
        >>> observe(b, {"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": "60"}).remaining
        10
    """
    limit_header = parse_number(get_header(headers, "X-RateLimit-Limit"))
    remaining_header = parse_number(get_header(headers, "X-RateLimit-Remaining"))
    reset = parse_number(get_header(headers, "X-RateLimit-Reset"))

    limit = budget.limit
    if limit_header is not None and limit_header > 0:
        limit = int(limit_header)
    if remaining_header is None:
        return replace(budget, limit=limit)
    estimate = max(int(remaining_header) - max(others_in_flight, 0), 0)
    if limit_header is None:
        limit = max(limit or 0, int(remaining_header))

    if reset is not None and budget.reset_at is not None:
        if reset < budget.reset_at:
            # A late response from the previous window: it says nothing about this one.
            return replace(budget, limit=limit)
        if reset == budget.reset_at and budget.remaining is not None:
            # Same window: responses arrive out of order, the lowest count is the freshest.
            estimate = min(estimate, budget.remaining)
    if reset is None:  # a response without the reset keeps the window we know
        reset = budget.reset_at
    return replace(budget, limit=limit, remaining=estimate, reset_at=reset)


def plan(
    budget: Budget, now: float, *, max_concurrency: int, horizon: float
) -> tuple[float, Budget]:
    """Decide when the next request of a bucket may start, and spend one unit of its budget.

    Args:
        budget: The bucket's budget.
        now: The current time, UTC epoch seconds.
        max_concurrency: The client's concurrency (sets the low-water mark).
        horizon: The longest wait worth pacing for (the client's ``max_wait``).

    Returns:
        ``(start, budget)``: when to start (``>= now``) and the budget after this request.

    Examples:
        Plenty left: no wait.

        >>> plan(Budget(remaining=500, reset_at=60.0, limit=600), 0.0,
        ...      max_concurrency=8, horizon=60.0)[0]
        0.0

        Ten left and ten seconds to go: one request per second.

        >>> start, b = plan(Budget(remaining=10, reset_at=10.0, limit=600), 0.0,
        ...                 max_concurrency=8, horizon=60.0)
        >>> start, b.next_slot, b.remaining
        (0.0, 1.0, 9)
    """
    start = max(now, budget.blocked_until)
    if budget.remaining is None or budget.reset_at is None:
        return start, budget
    if budget.reset_at <= start:
        # The window has turned over: its numbers are stale until the next response.
        return start, replace(budget, remaining=None, reset_at=None, next_slot=start)
    if budget.reset_at - start > horizon:
        # Pacing over a long window would stall the caller; let the server say no.
        return start, replace(budget, remaining=max(budget.remaining - 1, 0))
    if budget.remaining <= 0:
        start = budget.reset_at
        return start, replace(budget, remaining=None, reset_at=None, next_slot=start)
    if budget.remaining > low_water_mark(budget.limit, max_concurrency):
        return start, replace(budget, remaining=budget.remaining - 1)
    start = max(start, budget.next_slot)
    if start >= budget.reset_at:
        return start, replace(budget, remaining=None, reset_at=None, next_slot=start)
    interval = (budget.reset_at - start) / budget.remaining
    return start, replace(budget, remaining=budget.remaining - 1, next_slot=start + interval)


class RateLimiter:
    """Thread-safe pacing for one client: a concurrency cap and a budget per bucket.

    Use :meth:`slot` around each HTTP attempt, :meth:`update` with each response's headers
    (inside the slot), and :meth:`block` after a 429.

    Args:
        max_concurrency: Most requests in flight at once.
        max_wait: The longest the limiter waits for a reset it can see coming (see :func:`plan`).
        clock: Wall-clock time in UTC epoch seconds (``X-RateLimit-Reset`` is on that scale).
        sleep: How to wait; injectable so tests never sleep.

    Examples:
        >>> waits = []
        >>> limiter = RateLimiter(2, clock=lambda: 100.0, sleep=waits.append)
        >>> limiter.block("/campaigns/data_series", until=103.0)
        >>> with limiter.slot("/campaigns/data_series"):
        ...     pass
        >>> waits
        [3.0]
    """

    def __init__(
        self,
        max_concurrency: int = 8,
        *,
        max_wait: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.max_concurrency = max_concurrency
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self._budgets: dict[str, Budget] = {}
        self._in_flight = 0

    def __repr__(self) -> str:
        return f"RateLimiter(max_concurrency={self.max_concurrency}, max_wait={self.max_wait})"

    def budget(self, bucket: str = "") -> Budget:
        """The current budget of a bucket (a snapshot)."""
        with self._lock:
            return self._budgets.get(bucket, Budget())

    @property
    def in_flight(self) -> int:
        """Requests currently inside :meth:`slot`."""
        with self._lock:
            return self._in_flight

    @contextmanager
    def slot(self, bucket: str = "") -> Iterator[None]:
        """Hold one of the concurrency slots, after waiting for the bucket's pacing."""
        with self._slots:
            self._wait_turn(bucket)
            with self._lock:
                self._in_flight += 1
            try:
                yield
            finally:
                with self._lock:
                    self._in_flight -= 1

    def update(self, bucket: str, headers: Mapping[str, str]) -> None:
        """Fold a response's rate-limit headers into the bucket's budget (call inside the slot)."""
        with self._lock:
            current = self._budgets.get(bucket, Budget())
            others = max(self._in_flight - 1, 0)
            self._budgets[bucket] = observe(current, headers, others_in_flight=others)

    def block(self, bucket: str, *, until: float) -> None:
        """Make every request of the bucket wait until ``until`` (after a 429)."""
        with self._lock:
            current = self._budgets.get(bucket, Budget())
            if until > current.blocked_until:
                self._budgets[bucket] = replace(current, blocked_until=until)

    def _wait_turn(self, bucket: str) -> None:
        with self._lock:
            now = self._clock()
            start, after = plan(
                self._budgets.get(bucket, Budget()),
                now,
                max_concurrency=self.max_concurrency,
                horizon=self.max_wait,
            )
            self._budgets[bucket] = after
        waited_until = start
        if start > now:
            self._sleep(start - now)
        # A 429 seen by another thread while we slept pushes the block further: honour it.
        # Planned times, not the clock, drive this loop, so a fake sleep cannot spin it.
        while True:
            with self._lock:
                blocked_until = self._budgets[bucket].blocked_until
            if blocked_until <= waited_until:
                return
            self._sleep(blocked_until - waited_until)
            waited_until = blocked_until
