"""An incremental Parquet store: fetch what is missing plus the days Braze restates.

A store is the hive-partitioned dataset of :func:`~braze_frames.write_parquet`
(``campaign_id=<id>/month=YYYY-MM/part-0.parquet``, readable as it is by polars, DuckDB,
Spark and pyarrow) plus a small JSON manifest, ``_braze_sync.json``, that says per campaign
which days the store holds for certain::

    {"format": "braze_frames.sync", "version": 1, "updated_at": "...",
     "campaigns": {"<id>": {"start": "2025-01-01", "first": "2025-01-01",
                            "last": "2025-07-31", "synced_at": "2025-07-31T06:00:00+00:00"}}}

``first``..``last`` is the *certified* range: every day in it was fetched and written (a day
without rows is a day Braze had no data for). ``start`` is the first day asked for, kept so
that a later sync without ``start=`` still fills what an earlier one could not fetch.
``synced_at`` dates the last fetch. The manifest never holds the API key, nor anything
else from the environment.

What a sync fetches, per campaign (:func:`_plan`):

* a campaign new to the store: ``start .. end``;
* otherwise the days before ``first`` down to ``start``, and the days from
  ``min(last, synced_at) - lookback_days + 1`` to ``max(end, last)``: the recent days,
  because conversions keep arriving after a send (for up to the conversion window, 30 days
  at most) and Braze restates them, and the days after ``last``. Counting back from
  ``min(last, synced_at)`` rather than from today is what makes a history synced long after
  its ``end`` final without re-reading it, and a history synced up to today re-read over its
  last ``lookback_days`` days.

How it is written, per campaign: each (campaign, month) partition touched is read, the days
fetched successfully are dropped from it, the rows fetched for them appended, and the
partition rewritten atomically (temporary file, fsync, rename): days are replaced by date,
so a day is never held twice and rerunning is idempotent. Only then does the manifest (also
written atomically) certify those days. A crash or Ctrl-C at any point leaves every
partition old or new, whole, the dataset readable, and a manifest that certifies only what
is on disk; the next sync re-fetches the rest. Failed requests (``on_error="collect"`` or
``"warn"``) leave their days out of the certified range, so the next sync retries them;
their old rows, if any, are kept. One sync at a time may run on a store (a lock file,
``_braze_sync.lock``, refuses a second one on POSIX systems).

Files that start with ``_`` or ``.`` (the manifest, the lock, ``_common_metadata``,
temporary files) are skipped by every Parquet reader and by a ``**/*.parquet`` glob.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from .._progress import progress_bar
from .._schema import TIDY_COLUMNS
from .._tidy import POLARS_SCHEMA, Backend, check_backend, empty_tidy
from .._validate import check_int
from ..endpoints.windows import MAX_LENGTH, parse_day
from ..fetch import (
    FetchFailedWarning,
    FetchFailure,
    FetchResult,
    OnError,
    _check_ids,
    _client_scope,
    check_on_error,
    fetch_data_series,
    list_campaigns,
)
from .dataset import _PART_FILE, hive_escape
from .files import _fsync_dir
from .lock import _remove_temporary_files, _store_lock
from .manifest import MANIFEST_NAME, _Manifest, _Record, utc_now
from .parquet import read_parquet, write_parquet

if TYPE_CHECKING:
    from ..http.client import BrazeClient

__all__ = ["MANIFEST_NAME", "SyncReport", "read_store", "sync"]

__all__ = ["MANIFEST_NAME", "SyncReport", "read_store", "sync"]

_ONE_DAY: Final = dt.timedelta(days=1)

#: Campaigns written at once: writing waits on fsync, which threads overlap.
_WRITERS: Final = 8

#: A batch is about this many requests per thread of the client, and at least _MIN_BATCH:
#: enough to keep every thread busy, few enough rows to hold two batches in memory.
_BATCH_PER_THREAD = 8

_MIN_BATCH = 64


@dataclass(frozen=True)
class SyncReport:
    """What a :func:`sync` did.

    Attributes:
        store: The store's root directory.
        campaigns: Campaigns that had days to fetch.
        days_fetched: Campaign-days fetched successfully (days without data included).
        rows_written: Rows fetched and written to the store.
        partitions_rewritten: (campaign, month) partitions created, replaced or removed
            (a partition whose rows did not change is left alone and not counted).
        failures: The requests that failed for good; their days stay uncertified and the
            next sync retries them.
        requests: HTTP requests sent (retries included).
        seconds: Wall time.
    """

    store: Path
    campaigns: int = 0
    days_fetched: int = 0
    rows_written: int = 0
    partitions_rewritten: int = 0
    failures: list[FetchFailure] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every request succeeded."""
        return not self.failures

    def __str__(self) -> str:
        text = (
            f"synced {self.campaigns} campaign(s) into {self.store}: {self.days_fetched} "
            f"campaign-days fetched in {self.requests} request(s), {self.rows_written} rows "
            f"written, {self.partitions_rewritten} partition(s) rewritten, {self.seconds:.1f} s"
        )
        if self.failures:
            text += f"; {len(self.failures)} request(s) failed (the next sync retries them)"
        return text


def sync(
    store: str | os.PathLike[str],
    campaign_ids: str | Iterable[str] | None = None,
    *,
    start: str | dt.date | dt.datetime | None = None,
    end: str | dt.date | dt.datetime | None = None,
    lookback_days: int = 30,
    client: BrazeClient | None = None,
    on_error: OnError = "raise",
    progress: bool | None = None,
) -> SyncReport:
    """Bring a Parquet store of ``/campaigns/data_series`` up to date, fetching only what it needs.

    The store is a hive-partitioned dataset (``campaign_id``, ``month``) at ``store``, with a
    manifest (``_braze_sync.json``) of the days it holds for certain. A sync fetches, per
    campaign, the days the manifest does not certify between ``start`` and ``end`` and the
    last ``lookback_days`` days it holds (Braze restates recent days as conversions keep
    arriving), then replaces those days in their month partitions. Rerunning is idempotent;
    after a crash or Ctrl-C the dataset stays readable and the next sync picks up where the
    manifest says (see the module docstring for the guarantees).

    Args:
        store: The store's directory (created when missing).
        campaign_ids: One campaign id or several; ``None`` for every campaign that
            ``/campaigns/list`` gives (permission ``campaigns.list``; archived ones left out)
            plus those already in the store. Campaigns new to the store then start at
            ``start``, or without it where the store starts (its earliest ``start``).
        start: First day wanted, inclusive. Needed for a campaign's first sync; later syncs
            remember it (an earlier ``start`` extends the store backwards).
        end: Last day wanted, inclusive; default today (UTC).
        lookback_days: How many of the most recent days held (counted back from the
            campaign's last sync, or from its last day if that is earlier) to fetch again.
            30 covers Braze's longest conversion window; 0 never re-reads a day (so a day
            fetched while still in progress stays partial).
        client: A ``BrazeClient``; by default one is made from ``BRAZE_API_KEY`` and
            ``BRAZE_REST_ENDPOINT``.
        on_error: ``"raise"`` the first failure (what was fetched before it is written and
            certified); ``"warn"`` once at the end; ``"collect"`` silently. Either way the
            failures are in the report and their days are retried by the next sync.
        progress: Show a progress bar; default: when interactive.

    Returns:
        A :class:`SyncReport`.

    Raises:
        ValueError: Bad arguments, or a campaign new to the store without ``start``
            (checked before any ``/campaigns/data_series`` request).
        TypeError: Arguments of the wrong type.
        RuntimeError: Another sync holds the store's lock.
        BrazeError: A request failed (with ``on_error="raise"``).

    Warns:
        FetchFailedWarning: With ``on_error="warn"``, once, when requests failed.

    Examples:
        >>> import tempfile
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> sb = Sandbox(seed=0).start()
        >>> client = BrazeClient(sb.api_key, sb.url)
        >>> tmp = tempfile.mkdtemp()
        >>> day = sb.today - dt.timedelta(days=100)
        >>> first = sync(tmp, sb.campaign_ids[:2], start=day - dt.timedelta(days=59), end=day,
        ...              client=client)
        >>> again = sync(tmp, sb.campaign_ids[:2], end=day + dt.timedelta(days=10), client=client)
        >>> first.days_fetched, again.days_fetched  # again: 30 days looked back, 10 new ones
        (120, 80)
        >>> read_store(tmp).columns == list(TIDY_COLUMNS)
        True
        >>> client.close(); sb.stop()
    """
    started = time.perf_counter()
    root = Path(store)
    ids = None if campaign_ids is None else _check_ids(campaign_ids)
    first_day = None if start is None else parse_day(start, "start")
    now = utc_now()
    last_day = now.date() if end is None else parse_day(end, "end")
    if first_day is not None and first_day > last_day:
        msg = f"start ({first_day}) is after end ({last_day}); swap them"
        raise ValueError(msg)
    check_int("lookback_days", lookback_days, minimum=0, unit="days")
    check_on_error(on_error)
    if root.exists() and not root.is_dir():
        msg = f"{root} is a file; a store is a directory"
        raise NotADirectoryError(msg)
    root.mkdir(parents=True, exist_ok=True)

    with _store_lock(root):
        _remove_temporary_files(root)
        manifest = _Manifest.load(root)
        if ids is None and not manifest.records and first_day is None:
            msg = _needs_start_message(["every campaign"])
            raise ValueError(msg)
        with _client_scope(client) as cl:
            before = cl.stats.requests
            if ids is None:
                listed = [str(c["id"]) for c in list_campaigns(client=cl) if c.get("id")]
                ids = list(dict.fromkeys([*manifest.records, *listed]))
                if first_day is None:
                    # A campaign created since the last sync starts where the store does.
                    first_day = manifest.earliest_start()
            plans = _plan_all(ids, manifest, first_day, last_day, lookback_days)
            # Record the start asked for before fetching: it certifies nothing, and lets a
            # rerun after a crash go on without start=.
            for cid, plan in plans.items():
                record = manifest.records.get(cid, _Record())
                if record.start != plan.start:
                    manifest.records[cid] = replace(record, start=plan.start)
                    manifest.dirty = True
            manifest.save()
            if not (root / "_common_metadata").exists():
                # Lets an empty store read back as an empty tidy frame.
                write_parquet(empty_tidy(), root, partition_by=True, kind="tidy")
            writer = _Writer(root, manifest, now)
            try:
                _run(cl, plans, writer, on_error=on_error, progress=progress)
            finally:
                manifest.save()
            requests = cl.stats.requests - before
    report = SyncReport(
        store=root,
        campaigns=sum(1 for p in plans.values() if p.intervals),
        days_fetched=writer.days_fetched,
        rows_written=writer.rows_written,
        partitions_rewritten=writer.partitions_rewritten,
        failures=writer.failures,
        requests=requests,
        seconds=time.perf_counter() - started,
    )
    if report.failures and on_error == "warn":
        shown = "; ".join(str(f) for f in report.failures[:5])
        more = f" (and {len(report.failures) - 5} more)" if len(report.failures) > 5 else ""
        warnings.warn(
            f"{len(report.failures)} request(s) failed; their days are not certified and the "
            f"next sync retries them: {shown}{more}",
            FetchFailedWarning,
            stacklevel=2,
        )
    return report


def read_store(
    store: str | os.PathLike[str], *, backend: Backend = "polars", lazy: bool = False
) -> Any:
    """Read a store written by :func:`sync` as one tidy frame.

    The store is an ordinary hive-partitioned dataset, so other readers work on it as it is:
    ``pl.scan_parquet(f"{store}/**/*.parquet", hive_partitioning=True)``, DuckDB's
    ``read_parquet('<store>/**/*.parquet', hive_partitioning=true)``, Spark, pyarrow
    (set the partition columns' types to strings if every id looks like a number).

    Args:
        store: The store's directory.
        backend: ``"polars"`` or ``"pandas"`` (eager only).
        lazy: Return a polars ``LazyFrame`` over the files instead of reading them. Its
            ``campaign_id`` is a ``String`` (the other columns have the tidy dtypes), so that
            a filter on it skips whole directories; a filter on ``date`` skips row groups.

    Returns:
        The tidy frame (tidy columns and dtypes; rows by campaign and month, then date), or
        a ``LazyFrame`` with the same columns.

    Raises:
        FileNotFoundError: No store at ``store``.
        ValueError: ``lazy=True`` with a backend other than polars, or an unknown backend.
    """
    backend = check_backend(backend)
    root = Path(store)
    if not root.is_dir():
        msg = f"no store at {root}: run sync() first"
        raise FileNotFoundError(msg)
    if not lazy:
        return read_parquet(root, backend=backend)
    if backend != "polars":
        msg = "lazy=True gives a polars LazyFrame; use backend='polars' (or lazy=False for pandas)"
        raise ValueError(msg)
    if not any(root.glob("campaign_id=*/month=*/*.parquet")):
        return empty_tidy().lazy().cast({"campaign_id": pl.String()})
    scan = pl.scan_parquet(
        str(root / "**" / "*.parquet"),
        hive_partitioning=True,
        hive_schema={"campaign_id": pl.String(), "month": pl.String()},
    )
    # A cast of the hive column would keep polars from pruning directories with it.
    schema = {c: t for c, t in POLARS_SCHEMA.items() if c != "campaign_id"}
    if "campaign_name" not in scan.collect_schema():  # a store written before names
        scan = scan.with_columns(pl.lit(None, pl.String()).alias("campaign_name"))
    return scan.select(TIDY_COLUMNS).cast(pl.Schema(schema))


@dataclass(frozen=True)
class _Plan:
    """The days one campaign needs: disjoint, sorted, inclusive intervals."""

    start: dt.date | None
    intervals: tuple[tuple[dt.date, dt.date], ...]

    @property
    def requests(self) -> int:
        """An estimate: each request covers up to a hundred days."""
        return sum(-(-((b - a).days + 1) // (MAX_LENGTH - 1)) for a, b in self.intervals)


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


def _needs_start_message(names: Sequence[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
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
        raise ValueError(_needs_start_message(missing))
    return plans


def _batches(plans: Mapping[str, _Plan], size: int) -> Iterator[list[str]]:
    """Campaigns in groups of about ``size`` requests.

    Enough requests to keep every thread busy, few enough rows to hold in memory.
    """
    batch: list[str] = []
    weight = 0
    for cid, plan in plans.items():
        if not plan.intervals:
            continue
        batch.append(cid)
        weight += plan.requests
        if weight >= size:
            yield batch
            batch, weight = [], 0
    if batch:
        yield batch


def _run(
    client: BrazeClient,
    plans: Mapping[str, _Plan],
    writer: _Writer,
    *,
    on_error: OnError,
    progress: bool | None,
) -> None:
    """Fetch batch after batch; write each one while the next is fetched.

    Writing is bound by fsync (each partition file and its directory, for the atomic
    replace), fetching by the server's latency: overlapping them, and writing several
    campaigns at once, hides most of the writing. At most two batches are held in memory.
    """
    size = max(_MIN_BATCH, _BATCH_PER_THREAD * client.max_concurrency)
    batches = list(_batches(plans, size))
    bar = None
    if len(batches) > 1:
        bar = progress_bar(sum(len(b) for b in batches), progress, "braze sync", "campaign")
    pool = ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="braze-sync-write")
    pending: list[Future[None]] = []
    try:
        for batch in batches:
            frames, failures = _fetch_batch(client, plans, batch, on_error=on_error,
                                            progress=progress if bar is None else False)
            _finish(pending, bar)
            rows = _split_by_campaign(frames)
            pending = [
                pool.submit(writer.upsert, cid, plans[cid].intervals, rows.get(cid),
                            [f for f in failures if f.campaign_id == cid])
                for cid in batch
            ]
        _finish(pending, bar)
    except BaseException as exc:
        # A failed request still lets what was fetched before it be written (and certified);
        # Ctrl-C only waits for the writes already running. Either way every file is
        # replaced whole, and the caller saves the manifest after this.
        pool.shutdown(wait=True, cancel_futures=isinstance(exc, KeyboardInterrupt))
        raise
    finally:
        pool.shutdown(wait=True)
        if bar is not None:
            bar.close()


def _finish(pending: Sequence[Future[None]], bar: Any) -> None:
    for future in pending:
        future.result()
        if bar is not None:
            bar.update(1)


def _fetch_batch(
    client: BrazeClient,
    plans: Mapping[str, _Plan],
    batch: Sequence[str],
    *,
    on_error: OnError,
    progress: bool | None,
) -> tuple[list[pl.DataFrame], list[FetchFailure]]:
    by_interval: dict[tuple[dt.date, dt.date], list[str]] = {}
    for cid in batch:
        for interval in plans[cid].intervals:
            by_interval.setdefault(interval, []).append(cid)
    frames: list[pl.DataFrame] = []
    failures: list[FetchFailure] = []
    for (a, b), ids in by_interval.items():
        result = fetch_data_series(
            ids, start=a, end=b, client=client,
            on_error="raise" if on_error == "raise" else "collect", progress=progress,
        )
        if isinstance(result, FetchResult):
            frames.append(result.frame)
            failures.extend(result.failures)
        else:
            frames.append(result)
    return frames, failures


def _split_by_campaign(frames: Sequence[pl.DataFrame]) -> dict[str, pl.DataFrame]:
    frames = [f for f in frames if f.height]
    if not frames:
        return {}
    rows = pl.concat(frames, how="vertical")
    return {
        str(key[0]): part
        for key, part in rows.partition_by("campaign_id", as_dict=True, maintain_order=True).items()
    }


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


class _Writer:
    """Upserts one campaign's fetched days into its partitions, then certifies them."""

    def __init__(self, root: Path, manifest: _Manifest, now: dt.datetime) -> None:
        self.root = root
        self.manifest = manifest
        self.now = now
        # Campaigns are written by several threads: counters and the manifest are shared.
        self._lock = threading.Lock()
        self.days_fetched = 0
        self.rows_written = 0
        self.partitions_rewritten = 0
        self.failures: list[FetchFailure] = []

    def upsert(
        self,
        cid: str,
        intervals: Sequence[tuple[dt.date, dt.date]],
        rows: pl.DataFrame | None,
        failures: Sequence[FetchFailure],
    ) -> None:
        asked = {d for a, b in intervals for d in _days(a, b)}
        failed = {d for f in failures for d in _days(f.first, f.last)} & asked
        ok = asked - failed
        if rows is not None:
            # Only dates asked for and fetched; fetch_data_series already keeps to them.
            rows = rows.filter(pl.col("date").is_in(sorted(ok)))
        rewritten = self._write(cid, ok, rows)
        with self._lock:
            self.failures.extend(failures)
            self.days_fetched += len(ok)
            self.rows_written += 0 if rows is None else rows.height
            self.partitions_rewritten += rewritten
            self._certify(cid, ok, failed)

    def _write(self, cid: str, ok: set[dt.date], rows: pl.DataFrame | None) -> int:
        """Replace the days ``ok`` in the campaign's partitions; the partitions changed."""
        months: dict[str, list[dt.date]] = {}
        for day in sorted(ok):
            months.setdefault(_month(day), []).append(day)
        new_by_month: dict[str, pl.DataFrame] = {}
        if rows is not None and rows.height:
            keyed = rows.with_columns(pl.col("date").dt.strftime("%Y-%m").alias("__month__"))
            for key, part in keyed.partition_by("__month__", as_dict=True).items():
                new_by_month[str(key[0])] = part.drop("__month__")
        staged: list[pl.DataFrame] = []
        removed: list[Path] = []
        base = self.root / f"campaign_id={hive_escape(cid)}"
        for month, days in months.items():
            directory = base / f"month={month}"
            old = _read_partition(directory)
            new = new_by_month.get(month)
            parts = []
            if old is not None:
                parts.append(old.filter(~pl.col("date").is_in(days)))
            if new is not None:
                parts.append(new)
            if not parts:
                continue  # no data that month, before or now
            merged = pl.concat(parts, how="vertical").sort("date", maintain_order=True)
            if old is not None and merged.equals(old):
                continue  # nothing restated: leave the file alone
            if merged.height:
                staged.append(merged)
            elif old is not None:
                removed.append(directory)
        if staged:
            write_parquet(pl.concat(staged, how="vertical"), self.root, partition_by=True,
                          kind="tidy", existing="delete_matching")
        for directory in removed:
            for file in directory.glob("*.parquet"):
                file.unlink()
            _fsync_dir(directory)
        return len(staged) + len(removed)

    def _certify(self, cid: str, ok: set[dt.date], failed: set[dt.date]) -> None:
        record = self.manifest.records.get(cid, _Record())
        held: set[dt.date] = set()
        if record.first is not None and record.last is not None:
            held = set(_days(record.first, record.last)) - failed
        run = _longest_run(held | ok)
        self.manifest.records[cid] = replace(
            record,
            first=None if run is None else run[0],
            last=None if run is None else run[1],
            synced_at=self.now,
        )
        self.manifest.dirty = True
        self.manifest.save(throttle=True)


def _read_partition(directory: Path) -> pl.DataFrame | None:
    if not (directory / _PART_FILE).exists() and not any(directory.glob("*.parquet")):
        return None
    frame = read_parquet(directory)
    return frame if isinstance(frame, pl.DataFrame) else None
