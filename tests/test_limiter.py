"""The adaptive limiter: pure pacing decisions, simulated servers, and the thread-safe class."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass

import pytest

from braze_frames.http.limiter import Budget, RateLimiter, low_water_mark, observe, plan
from braze_frames.http.retry import retry_delay

T0 = 1_750_000_040.0  # 20 s into a minute-aligned window


def headers(remaining: int, reset: float, limit: int | None = 600) -> dict[str, str]:
    out = {"x-ratelimit-remaining": str(remaining), "x-ratelimit-reset": str(reset)}
    if limit is not None:
        out["x-ratelimit-limit"] = str(limit)
    return out


# -- observe -------------------------------------------------------------------------------


def test_observe_reads_lowercase_and_mixed_case_names() -> None:
    b = observe(Budget(), {"X-RateLimit-Limit": "600", "x-ratelimit-remaining": "42",
                           "X-RATELIMIT-RESET": "1750000060"})
    assert (b.limit, b.remaining, b.reset_at) == (600, 42, 1_750_000_060.0)


def test_observe_accounts_for_requests_still_in_flight() -> None:
    b = observe(Budget(), headers(42, 100), others_in_flight=5)
    assert b.remaining == 37
    assert observe(Budget(), headers(3, 100), others_in_flight=5).remaining == 0


def test_observe_same_window_keeps_the_lowest_count() -> None:
    b = observe(Budget(), headers(40, 100))
    assert observe(b, headers(45, 100)).remaining == 40  # a late, older response
    assert observe(b, headers(30, 100)).remaining == 30


def test_observe_new_window_replaces_and_stale_window_is_ignored() -> None:
    b = observe(Budget(), headers(3, 100))
    newer = observe(b, headers(590, 160))
    assert (newer.remaining, newer.reset_at) == (590, 160.0)
    assert observe(newer, headers(2, 100)) == newer


@pytest.mark.parametrize(
    "bad",
    [{}, {"X-RateLimit-Remaining": ""}, {"X-RateLimit-Remaining": "many"},
     {"X-RateLimit-Remaining": "nan"}],
)
def test_observe_ignores_missing_or_garbled_headers(bad: dict[str, str]) -> None:
    b = observe(Budget(), headers(40, 100))
    assert observe(b, bad) == b


def test_observe_without_reset_keeps_the_known_window() -> None:
    b = observe(Budget(), headers(40, 100))
    after = observe(b, {"X-RateLimit-Remaining": "30"})
    assert (after.remaining, after.reset_at) == (30, 100.0)
    assert observe(Budget(), {"X-RateLimit-Remaining": "30"}).reset_at is None


def test_observe_without_limit_header_learns_the_largest_remaining() -> None:
    b = observe(Budget(), headers(500, 100, limit=None))
    assert b.limit == 500
    assert observe(b, headers(400, 100, limit=None)).limit == 500


# -- plan ----------------------------------------------------------------------------------


def test_low_water_mark() -> None:
    assert low_water_mark(600, 8) == 60
    assert low_water_mark(50, 8) == 16
    assert low_water_mark(None, 1) == 2


def test_unknown_budget_never_waits() -> None:
    start, after = plan(Budget(), T0, max_concurrency=8, horizon=60)
    assert start == T0
    assert after == Budget()


def test_plenty_left_never_waits() -> None:
    b = Budget(limit=600, remaining=500, reset_at=T0 + 40)
    for _ in range(400):
        start, b = plan(b, T0, max_concurrency=8, horizon=60)
        assert start == T0
    assert b.remaining == 100


def test_low_budget_is_spread_evenly_until_the_reset() -> None:
    b = Budget(limit=600, remaining=20, reset_at=T0 + 40)
    starts = []
    for _ in range(20):
        start, b = plan(b, T0, max_concurrency=8, horizon=60)
        starts.append(start - T0)
    assert starts == pytest.approx([2.0 * i for i in range(20)])
    assert starts[-1] < 40  # the last one still fits in the window


def test_no_budget_waits_for_the_reset_then_forgets_the_old_window() -> None:
    b = Budget(limit=600, remaining=0, reset_at=T0 + 12)
    start, b = plan(b, T0, max_concurrency=8, horizon=60)
    assert start == T0 + 12
    assert (b.remaining, b.reset_at) == (None, None)


def test_window_turned_over_means_no_pacing() -> None:
    b = Budget(limit=600, remaining=0, reset_at=T0 - 1)
    start, after = plan(b, T0, max_concurrency=8, horizon=60)
    assert start == T0
    assert after.remaining is None


def test_reset_beyond_the_horizon_is_left_to_the_server() -> None:
    # An hourly bucket with little left: pacing would stall for minutes per request.
    b = Budget(limit=250_000, remaining=0, reset_at=T0 + 3000)
    start, after = plan(b, T0, max_concurrency=8, horizon=60)
    assert start == T0
    assert after.remaining == 0


def test_blocked_until_applies_to_everyone() -> None:
    b = Budget(blocked_until=T0 + 7)
    assert plan(b, T0, max_concurrency=8, horizon=60)[0] == T0 + 7
    assert plan(b, T0 + 9, max_concurrency=8, horizon=60)[0] == T0 + 9


# -- simulated servers ---------------------------------------------------------------------


@dataclass
class FixedWindowServer:
    """Braze-like: ``limit`` requests per aligned window; 429 beyond, with the reset."""

    limit: int
    window: float
    start: float = 0.0
    count: int = 0
    rejected: int = 0
    served: int = 0

    def hit(self, now: float) -> tuple[int, dict[str, str]]:
        index = int(now // self.window)
        if index != self.start:
            self.start, self.count = index, 0
        reset = (index + 1) * self.window
        if self.count >= self.limit:
            self.rejected += 1
            return 429, headers(0, reset, self.limit)
        self.count += 1
        self.served += 1
        return 200, headers(self.limit - self.count, reset, self.limit)


@pytest.mark.parametrize(("workers", "latency"), [(1, 0.02), (8, 0.05), (8, 0.4), (32, 0.1)])
def test_large_job_runs_at_the_budget_without_429_storms(workers: int, latency: float) -> None:
    server = FixedWindowServer(limit=600, window=60.0)
    finish = run_job(server, requests=3000, workers=workers, latency=latency)
    assert server.served == 3000
    assert server.rejected <= 2  # ~zero: not one per worker per window
    # 3000 requests at 600/min, starting 20 s into a window: done inside the 6th window,
    # i.e. within a few seconds of the fastest the budget allows.
    windows = (finish - (T0 - 20)) / 60
    assert 4.5 < windows <= 5.01


def test_no_slowdown_while_the_budget_is_large() -> None:
    server = FixedWindowServer(limit=50_000, window=60.0)
    finish = run_job(server, requests=2000, workers=8, latency=0.05)
    assert server.rejected == 0
    # 2000 requests, 8 at a time, 50 ms each: 12.5 s unpaced.
    assert finish - T0 == pytest.approx(2000 / 8 * 0.05, rel=0.01)


def run_job(server: FixedWindowServer, *, requests: int, workers: int, latency: float) -> float:
    """Discrete-event simulation: ``workers`` loops share one budget through ``plan``/``observe``.

    Each request reaches the server ``latency / 2`` after it starts and its response comes
    back ``latency / 2`` later; a 429 blocks everyone until ``retry_delay`` says, and the
    request is tried again.
    """
    budget = Budget()
    seq = itertools.count()
    events: list[tuple[float, int, str, int, object]] = [
        (T0, next(seq), "start", w, None) for w in range(workers)
    ]
    todo = requests
    in_flight = 0
    finish = T0
    while events:
        now, _, kind, worker, payload = heapq.heappop(events)
        if kind == "start":
            if todo == 0:
                continue
            todo -= 1
            start, budget = plan(budget, now, max_concurrency=workers, horizon=60.0)
            heapq.heappush(events, (start, next(seq), "send", worker, None))
        elif kind == "send":
            in_flight += 1
            heapq.heappush(events, (now + latency / 2, next(seq), "server", worker, None))
        elif kind == "server":
            reply = server.hit(now)
            heapq.heappush(events, (now + latency / 2, next(seq), "reply", worker, reply))
        else:
            status, hdrs = payload  # type: ignore[misc]
            budget = observe(budget, hdrs, others_in_flight=in_flight - 1)
            in_flight -= 1
            if status == 429:
                delay = retry_delay(0, hdrs, rand=0.5, now=now, status=429)
                budget = Budget(
                    budget.limit, budget.remaining, budget.reset_at, budget.next_slot,
                    max(budget.blocked_until, now + delay),
                )
                todo += 1
            else:
                finish = max(finish, now)
            heapq.heappush(events, (now, next(seq), "start", worker, None))
    return finish


# -- the class -----------------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def test_limiter_paces_a_sequential_job_to_the_budget() -> None:
    clock = FakeClock()
    limiter = RateLimiter(8, clock=clock.time, sleep=clock.sleep)
    server = FixedWindowServer(limit=100, window=60.0)
    for _ in range(350):
        with limiter.slot("/campaigns/data_series"):
            status, hdrs = server.hit(clock.time())
            limiter.update("/campaigns/data_series", hdrs)
        assert status == 200
    assert server.rejected == 0
    # Per window, only the last low-water-mark (16) requests are paced, plus one wait for
    # the reset; the fourth window's 50 requests go out at once.
    assert len(clock.sleeps) <= 3 * 17
    assert (clock.now - (T0 - 20)) / 60 == pytest.approx(3.0, abs=0.01)


def test_buckets_are_independent() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock.time, sleep=clock.sleep)
    limiter.block("/campaigns/data_series", until=T0 + 30)
    with limiter.slot("/campaigns/list"):
        pass
    assert clock.sleeps == []
    with limiter.slot("/campaigns/data_series"):
        pass
    assert clock.sleeps == [30.0]


def test_a_block_raised_while_waiting_is_honoured() -> None:
    waits: list[float] = []
    limiter = RateLimiter(1, clock=lambda: T0, sleep=waits.append)
    limiter.block("b", until=T0 + 5)

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:  # another thread sees a 429 meanwhile
            limiter.block("b", until=T0 + 9)

    limiter._sleep = sleep
    with limiter.slot("b"):
        pass
    assert waits == [5.0, 4.0]


def test_concurrency_cap_holds_across_threads() -> None:
    limiter = RateLimiter(3)
    lock = threading.Lock()
    active = peak = 0

    def work() -> None:
        nonlocal active, peak
        with limiter.slot():
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.01)
            with lock:
                active -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 3
    assert limiter.in_flight == 0


def test_update_counts_the_other_requests_in_flight() -> None:
    limiter = RateLimiter(4, clock=lambda: T0, sleep=lambda s: None)
    entered = threading.Barrier(3)
    release = threading.Event()

    def hold() -> None:
        with limiter.slot("b"):
            entered.wait()
            release.wait(5)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    entered.wait()
    with limiter.slot("b"):
        limiter.update("b", headers(50, T0 + 30))
    release.set()
    for t in threads:
        t.join()
    assert limiter.budget("b").remaining == 48


def test_invalid_concurrency() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        RateLimiter(0)
    assert "max_concurrency=2" in repr(RateLimiter(2))
