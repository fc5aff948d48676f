"""Load: eight fetch jobs share one client, one rate-limit budget, and stay under it.

The sandbox enforces a small limit (120 requests a minute, fixed windows) and counts its
429s. Eight threads run ``fetch_data_series`` at once through one ``BrazeClient``; the
client's limiter must pace them so that 429s stay near zero and every job succeeds with the
same data as an unlimited fetch.

Time runs faster than the wall clock: the sandbox's rate-limit windows, the client's clock
(``X-RateLimit-Reset`` is compared with it) and the client's sleep all follow one
``ScaledClock``, so several simulated minutes take seconds while every wait is still real.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl
import pytest

import braze_frames as bf
from braze_frames.sandbox import Sandbox, SandboxStats

TODAY = dt.date(2025, 6, 30)
KEY_COLUMNS = ["campaign_id", "date", "channel", "variation", "metric"]
RATE_LIMIT = 120  # requests per (simulated) minute
JOBS = 8
#: Simulated epoch at the start: a minute boundary, so the first window is a whole one.
EPOCH = 60 * 29_166_667


class ScaledClock:
    """Epoch seconds that run ``speed`` times faster than real time, and a matching sleep."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin = time.monotonic()
        self._lock = threading.Lock()
        self.slept = 0.0  # simulated seconds asked for, across threads

    def __call__(self) -> float:
        return EPOCH + (time.monotonic() - self._origin) * self.speed

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept += seconds
        time.sleep(seconds / self.speed)


@dataclass
class LoadRun:
    frames: list[pl.DataFrame]
    reference: list[pl.DataFrame]
    stats: SandboxStats
    client_stats: dict[str, float]
    simulated_seconds: float
    real_seconds: float


def job_windows(job: int, rounds: int, length: int) -> list[dt.date]:
    """The ``ending_at`` of each of a job's fetches: jobs read disjoint stretches of history."""
    return [TODAY - dt.timedelta(days=(job * rounds + r) * length) for r in range(rounds)]


def run_load(*, seed: int, rounds: int, length: int, speed: float) -> LoadRun:
    clock = ScaledClock(speed)
    with Sandbox(seed=seed, today=TODAY, rate_limit=RATE_LIMIT, clock=clock) as sb:
        ids = list(sb.campaign_ids)
        sb.warm()  # simulate up front: the first requests should not wait on it
        client = bf.BrazeClient(sb.api_key, sb.url, clock=clock, sleep=clock.sleep, max_concurrency=8)
        start_sim, start_real = clock(), time.perf_counter()

        def job(n: int) -> pl.DataFrame:
            frames = [bf.fetch_data_series(ids, length=length, ending_at=end, client=client)
                      for end in job_windows(n, rounds, length)]
            combined: pl.DataFrame = pl.concat(frames, how="vertical")
            return combined

        with client, ThreadPoolExecutor(JOBS, thread_name_prefix="job") as pool:
            frames = list(pool.map(job, range(JOBS)))
        simulated, real = clock() - start_sim, time.perf_counter() - start_real
        stats = sb.stats
        client_stats = client.stats.as_dict()
    # The same fetches without a limit: the paced data must be identical.
    with Sandbox(seed=seed, today=TODAY) as free, \
            bf.BrazeClient(free.api_key, free.url, sleep=lambda s: None) as unlimited:
        reference = [
            pl.concat([bf.fetch_data_series(ids, length=length, ending_at=end, client=unlimited)
                       for end in job_windows(n, rounds, length)], how="vertical")
            for n in range(JOBS)
        ]
    return LoadRun(frames, reference, stats, client_stats, simulated, real)


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String)).sort(KEY_COLUMNS)


def check_run(run: LoadRun, expected_requests: int) -> None:
    assert run.stats.requests >= expected_requests
    # Paced, not refused: 429s near zero, and the client saw the same ones.
    assert run.stats.rate_limited <= 2, run.stats
    assert run.client_stats["rate_limited"] == run.stats.rate_limited
    assert run.client_stats["errors"] == 0
    # The budget really bound: the requests needed more than one window.
    assert run.simulated_seconds >= 60 * (run.stats.requests // RATE_LIMIT) - 60
    assert run.client_stats["wait_seconds"] > 0
    for got, want in zip(run.frames, run.reference, strict=True):
        assert got.height > 0
        assert as_text(got).equals(as_text(want))


def test_eight_jobs_share_one_budget(capsys: pytest.CaptureFixture[str]) -> None:
    # 8 jobs x 2 fetches x 20 campaigns = 320 requests: almost three windows of 120.
    run = run_load(seed=3, rounds=2, length=30, speed=30.0)
    check_run(run, expected_requests=JOBS * 2 * 20)
    with capsys.disabled():
        print(f"\nload: {run.stats.requests} requests, {run.stats.rate_limited} x 429, "
              f"{run.simulated_seconds:.0f} simulated s in {run.real_seconds:.1f} real s")


@pytest.mark.slow
def test_soak_eight_jobs_for_ten_simulated_minutes(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_load(seed=4, rounds=8, length=10, speed=20.0)
    check_run(run, expected_requests=JOBS * 8 * 20)
    with capsys.disabled():
        print(f"\nload soak: {run.stats.requests} requests, {run.stats.rate_limited} x 429, "
              f"{run.simulated_seconds:.0f} simulated s in {run.real_seconds:.1f} real s")
