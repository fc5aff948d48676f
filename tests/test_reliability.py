"""Fault injection: under 10% faults of every kind, nothing is lost and nothing is invented.

The sandbox injects 500, 502, 503, 504, HTML pages, truncated bodies, connection resets and
slow answers (which trip the client's short read timeout) into thousands of requests. With
``on_error="collect"`` every requested (campaign, date) must end up exactly once: in the
frame, with the very numbers a fault-free fetch of the same sandbox gives, or covered by a
collected failure. Retries stay within the budget, counted per request on the wire.

Backoff never really sleeps (``sleep`` is a no-op); the only real waits are the slow faults'
read timeouts, kept short. ``@pytest.mark.slow`` runs a longer soak.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import polars as pl
import pytest
import requests

import braze_frames as bf
from braze_frames.fetch import FetchFailure, FetchResult
from braze_frames.sandbox import ALL_FAULTS, FAULT_KINDS, Sandbox, SandboxStats

TODAY = dt.date(2025, 6, 30)
KEY_COLUMNS = ["campaign_id", "date", "channel", "variation", "metric"]
#: The client's read timeout and the sandbox's "slow" delay: a slow answer always times out.
READ_TIMEOUT = 0.5
SLOW_SECONDS = 1.0


class CountingSession(requests.Session):
    """A real session that counts the attempts of each distinct request on the wire."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.attempts: Counter[tuple[tuple[str, str], ...]] = Counter()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        params: Mapping[str, str] = kwargs.get("params") or {}
        with self._lock:
            self.attempts[tuple(sorted(params.items()))] += 1
        return super().request(method, url, *args, **kwargs)


@dataclass
class Run:
    """One faulty run and the fault-free reference it is compared with."""

    clean: pl.DataFrame
    frame: pl.DataFrame
    failures: list[FetchFailure]
    client_stats: dict[str, float]
    sandbox_stats: SandboxStats
    attempts: Counter[tuple[tuple[str, str], ...]]
    max_retries: int
    campaign_ids: list[str]
    first: dt.date
    last: dt.date


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Categoricals as strings, sorted: frames from separate fetches compare exactly."""
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String)).sort(KEY_COLUMNS)


def run_faulty(
    *,
    seed: int,
    n_campaigns: int,
    windows: int,
    window_days: int,
    jobs: int,
    fault_rate: float,
    faults: tuple[str, ...],
    max_retries: int,
) -> Run:
    """A fault-free fetch of the whole range, then the same range as many small faulty fetches.

    ``windows`` consecutive fetches of ``window_days`` days (one request per campaign each)
    run on ``jobs`` threads that share one client, as a scheduled pipeline would.
    """
    last = TODAY
    first = last - dt.timedelta(days=windows * window_days - 1)
    with Sandbox(seed=seed, n_campaigns=n_campaigns, today=TODAY) as sb:
        ids = list(sb.campaign_ids)
        with bf.BrazeClient(sb.api_key, sb.url, sleep=lambda s: None) as reference:
            # names=False: the faults are aimed at data_series; details have their own tests.
            clean = bf.fetch_data_series(ids, start=first, end=last, client=reference, names=False)
        sb.reset_stats()
        sb.faults = faults
        sb.slow_seconds = SLOW_SECONDS
        sb.fault_rate = fault_rate
        session = CountingSession()
        client = bf.BrazeClient(sb.api_key, sb.url, sleep=lambda s: None, max_retries=max_retries,
                                timeout=(5.0, READ_TIMEOUT), max_concurrency=8, session=session)

        def fetch_window(i: int) -> FetchResult:
            end = last - dt.timedelta(days=i * window_days)
            # The sandbox's data is Braze-shaped: no warning is expected, and one would raise
            # here (filterwarnings=error) and fail the test rather than pass silently.
            result = bf.fetch_data_series(ids, length=window_days, ending_at=end, client=client,
                                          on_error="collect", names=False)
            assert isinstance(result, FetchResult)
            return result

        with client, ThreadPoolExecutor(jobs, thread_name_prefix="job") as pool:
            results = list(pool.map(fetch_window, range(windows)))
        stats = sb.stats
    frame = pl.concat([r.frame for r in results], how="vertical")
    return Run(clean=clean, frame=frame, failures=[f for r in results for f in r.failures],
               client_stats=client.stats.as_dict(), sandbox_stats=stats, attempts=session.attempts,
               max_retries=max_retries, campaign_ids=ids, first=first, last=last)


def covered_days(failures: list[FetchFailure]) -> pl.DataFrame:
    """The (campaign_id, date) pairs the failures cover, one row per pair."""
    pairs = [(f.campaign_id, f.first + dt.timedelta(days=i))
             for f in failures for i in range((f.last - f.first).days + 1)]
    return pl.DataFrame(pairs, schema={"campaign_id": pl.String, "date": pl.Date}, orient="row")


def check_nothing_lost(run: Run) -> dict[str, int]:
    """Every requested (campaign, date) once: in the frame exactly as fault-free, or failed."""
    clean, frame = as_text(run.clean), as_text(run.frame)
    assert frame.select(KEY_COLUMNS).is_duplicated().sum() == 0
    covered = covered_days(run.failures)
    assert covered.is_duplicated().sum() == 0, "two failures cover the same day"
    day_keys = ["campaign_id", "date"]
    in_frame = frame.select(day_keys).unique()
    in_clean = clean.select(day_keys).unique()
    # Inside what was asked for, and never both present and failed.
    assert frame["date"].min() >= run.first and frame["date"].max() <= run.last  # type: ignore[operator]
    assert set(frame["campaign_id"].unique().to_list()) <= set(run.campaign_ids)
    assert in_frame.join(covered, on=day_keys, how="inner").height == 0
    # Nothing invented: every day in the frame has data in the fault-free fetch.
    assert in_frame.join(in_clean, on=day_keys, how="anti").height == 0
    # No silent gap: every fault-free row whose day did not fail is there, identical.
    expected = clean.join(covered, on=day_keys, how="anti")
    lost = expected.join(frame, on=KEY_COLUMNS, how="anti", nulls_equal=True).height
    assert lost == 0, f"{lost} rows lost without a failure"
    assert frame.equals(expected), "the frame differs from the fault-free fetch on days that did not fail"
    dropped = clean.join(covered, on=day_keys, how="semi").height
    return {"rows": frame.height, "rows_lost": lost, "rows_in_failed_days": dropped}


def check_retries_bounded(run: Run) -> None:
    logical = len(run.attempts)
    assert run.client_stats["requests"] == sum(run.attempts.values())
    assert run.client_stats["retries"] <= run.max_retries * logical
    assert run.client_stats["retries"] == sum(run.attempts.values()) - logical
    assert max(run.attempts.values()) <= run.max_retries + 1
    # The wire agrees: every attempt reached the server, and no other request did.
    assert run.sandbox_stats.requests == run.client_stats["requests"]
    # A failure is a request whose every attempt failed.
    exhausted = sum(n == run.max_retries + 1 for n in run.attempts.values())
    assert len(run.failures) <= exhausted


def report(run: Run, rows: dict[str, int]) -> str:
    s = run.sandbox_stats
    return (f"requests={s.requests} logical={len(run.attempts)} faults_injected={s.faults_injected} "
            f"{dict(s.faults)} retries={run.client_stats['retries']:g} failures={len(run.failures)} "
            f"rows={rows['rows']} rows_lost={rows['rows_lost']} "
            f"rows_in_failed_days={rows['rows_in_failed_days']}")


@pytest.fixture(scope="module")
def tight_run() -> Run:
    """2,000 requests (50 campaigns x 40 ten-day windows), 10% faults, one retry each.

    One retry makes ~1% of requests fail for good, so the failure path is exercised too.
    """
    return run_faulty(seed=7, n_campaigns=50, windows=40, window_days=10, jobs=4, fault_rate=0.1,
                     faults=ALL_FAULTS, max_retries=1)


def test_every_fault_kind_was_injected(tight_run: Run) -> None:
    stats = tight_run.sandbox_stats
    assert len(tight_run.attempts) == 50 * 40
    assert stats.requests >= 2000
    assert set(stats.faults) == set(ALL_FAULTS), stats.faults
    assert 0.06 < stats.faults_injected / stats.requests < 0.14
    # Each kind reached the client as what it is.
    assert {500, 502, 503, 504} <= set(stats.by_status)


def test_nothing_lost_nothing_invented(tight_run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    rows = check_nothing_lost(tight_run)
    assert tight_run.failures, "one retry under 10% faults should leave some failures to account for"
    assert rows["rows_in_failed_days"] > 0
    with capsys.disabled():
        print(f"\nfault suite: {report(tight_run, rows)}")


def test_retries_are_bounded(tight_run: Run) -> None:
    check_retries_bounded(tight_run)


def test_failures_are_transient_kinds_with_context(tight_run: Run) -> None:
    for failure in tight_run.failures:
        error = failure.error
        assert isinstance(error, (bf.BrazeConnectionError, bf.BrazeAPIError, bf.UnexpectedResponseError))
        if isinstance(error, bf.BrazeAPIError):
            assert error.status >= 500, error  # nothing the caller must fix was injected
        assert "(after 2 attempts)" in str(error)
        assert failure.campaign_id in (error.url or "")
        assert (failure.last - failure.first).days == 9  # one ten-day window, as asked


@pytest.mark.parametrize("faults", [ALL_FAULTS, FAULT_KINDS], ids=["all-faults", "with-html200"])
def test_enough_retries_recover_everything(faults: tuple[str, ...]) -> None:
    run = run_faulty(seed=11, n_campaigns=20, windows=12, window_days=10, jobs=3, fault_rate=0.1,
                     faults=faults, max_retries=6)
    assert not run.failures, [str(f) for f in run.failures]
    rows = check_nothing_lost(run)
    assert rows["rows"] == run.clean.height
    check_retries_bounded(run)
    assert run.sandbox_stats.faults_injected > 0


def test_warn_mode_names_the_missing_days() -> None:
    # 12 campaigns x 3 windows at 50% faults, no retry: failures are certain (P(none) = 2**-36).
    with Sandbox(seed=5, n_campaigns=12, today=TODAY, fault_rate=0.5, faults=("500", "reset")) as sb, \
            bf.BrazeClient(sb.api_key, sb.url, sleep=lambda s: None, max_retries=0) as client:
        client.window_reading = "exclusive"  # the sandbox's reading: exact 100-day windows
        with pytest.warns(bf.FetchFailedWarning, match=r"request\(s\) failed, their days are missing"):
            frame = bf.fetch_data_series(sb.campaign_ids, length=300, ending_at=TODAY, client=client,
                                         on_error="warn", names=False)
        sb.fault_rate = 0.0
        clean = bf.fetch_data_series(sb.campaign_ids, length=300, ending_at=TODAY, client=client,
                                     names=False)
    got, want = as_text(frame), as_text(clean)
    assert got.join(want, on=KEY_COLUMNS, how="anti", nulls_equal=True).height == 0  # never invented
    assert got.height < want.height


def test_raise_mode_raises_a_braze_error_and_nothing_else() -> None:
    with Sandbox(seed=5, n_campaigns=6, today=TODAY, fault_rate=1.0, faults=ALL_FAULTS,
                 slow_seconds=SLOW_SECONDS) as sb, \
            bf.BrazeClient(sb.api_key, sb.url, sleep=lambda s: None, max_retries=2,
                           timeout=(5.0, READ_TIMEOUT)) as client, \
            pytest.raises(bf.BrazeError) as info:
        bf.fetch_data_series(sb.campaign_ids, length=30, ending_at=TODAY, client=client)
    assert "(after 3 attempts)" in str(info.value)


@pytest.mark.slow
def test_soak_many_faults_many_requests(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_faulty(seed=23, n_campaigns=100, windows=80, window_days=5, jobs=6, fault_rate=0.2,
                     faults=FAULT_KINDS, max_retries=2)
    rows = check_nothing_lost(run)
    check_retries_bounded(run)
    assert run.sandbox_stats.requests >= 8000
    with capsys.disabled():
        print(f"\nfault soak: {report(run, rows)}")
