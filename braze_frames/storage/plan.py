"""Which days a sync fetches for each object, and in which batches: pure, no I/O.

See :mod:`braze_frames.storage.store` for the rules (what a new object, a look-back and a
later ``end`` fetch).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from .manifest import _Manifest, _Record

_ONE_DAY: Final = dt.timedelta(days=1)


@dataclass(frozen=True)
class _Plan:
    """The days one campaign (or Canvas) needs: disjoint, sorted, inclusive intervals."""

    start: dt.date | None
    intervals: tuple[tuple[dt.date, dt.date], ...]

    def requests(self, max_length: int) -> int:
        """An estimate: each request covers up to ``max_length`` days (100 for campaigns)."""
        return sum(-(-((b - a).days + 1) // (max_length - 1)) for a, b in self.intervals)


def _plan(
    record: _Record | None,
    start: dt.date | None,
    end: dt.date,
    lookback_days: int,
) -> _Plan | None:
    """The days a campaign needs fetched (see the module docstring); None without a start."""
    known = [d for d in (start, None if record is None else record.start) if d is not None]
    if not known:
        return None
    want = min(known)
    if record is None or record.first is None or record.last is None:
        return _Plan(want, ((want, end),) if want <= end else ())
    first, last = record.first, record.last
    synced = record.synced_at.date() if record.synced_at is not None else first - _ONE_DAY
    anchor = min(last, synced)
    refetch_from = max(first, anchor - dt.timedelta(days=lookback_days) + _ONE_DAY)
    upper = max(end, last)
    intervals: list[tuple[dt.date, dt.date]] = []
    if want < first:
        intervals.append((want, first - _ONE_DAY))
    if refetch_from <= upper:
        if intervals and intervals[-1][1] + _ONE_DAY >= refetch_from:
            intervals[-1] = (intervals[-1][0], upper)
        else:
            intervals.append((refetch_from, upper))
    return _Plan(want, tuple(intervals))


def _needs_start_message(names: Sequence[str], what: str = "") -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    shown = f"{what} {shown}" if what else shown
    return (
        f"the first sync of {shown} needs start=: the first day to fetch, e.g. "
        "start='2025-01-01' (later syncs continue from what the store holds)"
    )


def _plan_all(
    ids: Sequence[str],
    manifest: _Manifest,
    start: dt.date | None,
    end: dt.date,
    lookback_days: int,
    *,
    what: str = "",
) -> dict[str, _Plan]:
    plans: dict[str, _Plan] = {}
    missing: list[str] = []
    for cid in ids:
        plan = _plan(manifest.records.get(cid), start, end, lookback_days)
        if plan is None:
            missing.append(cid)
        else:
            plans[cid] = plan
    if missing:
        raise ValueError(_needs_start_message(missing, what))
    return plans


def _batches(plans: Mapping[str, _Plan], size: int, max_length: int) -> Iterator[list[str]]:
    """Campaigns (or Canvases) in groups of about ``size`` requests.

    Enough requests to keep every thread busy, few enough rows to hold in memory.
    """
    batch: list[str] = []
    weight = 0
    for cid, plan in plans.items():
        if not plan.intervals:
            continue
        batch.append(cid)
        weight += plan.requests(max_length)
        if weight >= size:
            yield batch
            batch, weight = [], 0
    if batch:
        yield batch


def _days(a: dt.date, b: dt.date) -> Iterator[dt.date]:
    for i in range((b - a).days + 1):
        yield a + dt.timedelta(days=i)


def _month(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _longest_run(days: set[dt.date]) -> tuple[dt.date, dt.date] | None:
    """The longest run of consecutive days (the newest of equals)."""
    best: tuple[dt.date, dt.date] | None = None
    run_start: dt.date | None = None
    prev: dt.date | None = None
    for day in sorted(days):
        if prev is None or day != prev + _ONE_DAY:
            run_start = day
        prev = day
        assert run_start is not None
        if best is None or (day - run_start) >= (best[1] - best[0]):
            best = (run_start, day)
    return best




def _runs(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days as runs of consecutive days."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + _ONE_DAY == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
