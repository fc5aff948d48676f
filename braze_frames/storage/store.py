"""An incremental store: fetch what is missing plus the days Braze restates.

A store lives in a local directory or under an object-store URI (``s3://``, ``gs://``,
``az://``; see :mod:`braze_frames.storage.fs`), in one of two formats.

**Parquet** (the default): the hive-partitioned dataset of
:func:`~braze_frames.write_parquet` with ``partition_by=True`` (``month=YYYY-MM/part-0.parquet``,
one file per month, rows sorted by campaign then date, readable as it is by polars, DuckDB,
Spark and pyarrow) plus a small JSON manifest, ``_braze_sync.json``, that says per campaign
which days the store holds for certain, and the campaign's latest names::

    {"format": "braze_frames.sync", "version": 2, "layout": "month", "updated_at": "...",
     "campaigns": {"<id>": {"start": "2025-01-01", "first": "2025-01-01",
                            "last": "2025-07-31", "synced_at": "2025-07-31T06:00:00+00:00",
                            "name": "Spring Sale", "variations": {"<variation>": "Variant A"}}}}

**Delta** (``format="delta"``, the ``delta`` extra): a Delta Lake table with the same rows
and a ``month`` partition column; the manifest rides in each commit's metadata (see
:mod:`braze_frames.storage.delta`).

**Tables.** A store keeps one table per endpoint, each apart: the campaigns at the root (as
above), the Canvases (``sync(..., canvases=...)``) in ``_canvas/`` with their own manifest
(records under ``"canvases"``: per Canvas the certified days, its name and its variants'
and steps' names) and month partitions, read with ``read_store(store, table="canvas")``.
What differs between tables is data (:mod:`braze_frames.storage.tables`); everything below
holds for each of them. One lock covers the whole store.

``first``..``last`` is the *certified* range: every day in it was fetched and written (a day
without rows is a day Braze had no data for). ``start`` is the first day asked for, kept so
that a later sync without ``start=`` still fills what an earlier one could not fetch.
``synced_at`` dates the last fetch. ``name`` and ``variations`` are the latest names seen
(from the fetched rows, and from ``/campaigns/details`` when the sync chose the campaigns):
:func:`read_store` joins them onto the rows, so a renamed campaign shows its new name on
every day without its history being rewritten. The manifest never holds the API key, nor
anything else from the environment.

Which campaigns: the ids given, or, with none, every campaign already in the store plus
every campaign ``/campaigns/list`` gives whose active days overlap the range, archived ones
included (``include_archived=False`` leaves them out); see
:mod:`braze_frames.storage.discover`. What is left out is named in
:attr:`SyncReport.skipped` and in one :class:`SyncWarning`.

What a sync fetches, per campaign (:func:`_plan`):

* a campaign new to the store: ``start .. end`` (clipped to its active days when the sync
  chose it);
* otherwise the days before ``first`` down to ``start``, and the days from
  ``min(last, synced_at) - lookback_days + 1`` to ``max(end, last)``: the recent days,
  because conversions keep arriving after a send (for up to the conversion window, 30 days
  at most) and Braze restates them, and the days after ``last``. Counting back from
  ``min(last, synced_at)`` rather than from today is what makes a history synced long after
  its ``end`` final without re-reading it, and a history synced up to today re-read over its
  last ``lookback_days`` days.

How it is written, batch by batch (a batch is a few dozen campaigns' requests): in a
Parquet store each month the batch touched is read, the (campaign, day) sets fetched
successfully are dropped from it, the rows fetched for them appended, and the month file
rewritten whole (locally: temporary file, fsync, rename; on an object store: built in
memory, one request): days are replaced by (campaign, date), so a day is never held twice
and rerunning is idempotent. Only then does the manifest (also written whole) certify those
days. In a Delta store the batch is one commit that replaces those sets and carries the
manifest. A crash or Ctrl-C at any point leaves every file old or new, whole, the store
readable, and a manifest that certifies only what the store holds; the next sync re-fetches
the rest. Failed requests (``on_error="collect"`` or ``"warn"``) leave their days out of
the certified range, so the next sync retries them; their old rows, if any, are kept.

One sync at a time may run on a store: a local lock (``filelock``), or on an object store a
lock object with an owner and an expiry (see :mod:`braze_frames.storage.lock`).

The layout of version 1 (``campaign_id=<id>/month=YYYY-MM/``) is still read, and the first
sync migrates it: it writes the month files from the old ones, records the new layout in
the manifest, then deletes the old directories (a crash in between is finished by the next
sync; :func:`read_store` reads one layout or the other, never both, but a glob reader sees
both while a migration runs).

Files that start with ``_`` or ``.`` (the manifest, the lock, ``_common_metadata``,
temporary files, ``_delta_log``) are skipped by every Parquet reader and by a
``**/*.parquet`` glob.

Compaction: a Parquet store has one file per month whatever the number of syncs (each one
rewrites the months it touches), so it needs none. A Delta store adds files with every
commit: compact it with ``optimize`` and ``vacuum`` (see :mod:`braze_frames.storage.delta`).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import polars as pl

from .._progress import progress_bar
from .._runner import FetchFailure, OnError, check_ids, check_on_error, client_scope
from .._tables import Table
from .._validate import check_choice, check_int
from ..endpoints.windows import parse_day
from ..fetch import FetchFailedWarning, FetchResult
from . import delta as _delta
from .discover import _details, _discover, _Discovered
from .fs import StorePath, as_path
from .lock import _Lease, _remove_temporary_files, _store_lock
from .manifest import MANIFEST_NAME, _Manifest, _Record, utc_now
from .plan import _batches, _needs_start_message, _Plan, _plan_all
from .read import read_store
from .tables import CAMPAIGNS, CANVASES, SERIES, STORE_TABLES, StoreTable
from .writer import _DeltaTarget, _ParquetTarget, _strings, _Target, _Writer

if TYPE_CHECKING:
    from ..http.client import BrazeClient

__all__ = ["MANIFEST_NAME", "StoreFormat", "SyncReport", "SyncWarning", "read_store", "sync"]

StoreFormat = Literal["parquet", "delta"]

_FORMATS: Final = ("parquet", "delta")

#: A batch is about this many requests per thread of the client, and at least _MIN_BATCH:
#: enough to keep every thread busy, few enough rows to hold two batches in memory.
_BATCH_PER_THREAD = 8

_MIN_BATCH = 64


class SyncWarning(UserWarning):
    """A sync left campaigns out, or could not read their details (named, with the reason)."""


@dataclass(frozen=True)
class SyncReport:
    """What a :func:`sync` did.

    Attributes:
        store: The store: its directory, or its URI.
        campaigns: Campaigns that had days to fetch.
        days_fetched: Campaign-days (and Canvas-days) fetched successfully (days without
            data included).
        rows_written: Rows fetched and written to the store.
        partitions_rewritten: Month files created, replaced or removed (a Parquet store; a
            month whose rows did not change is left alone and not counted), or commits made
            (a Delta store).
        failures: The requests that failed for good; their days stay uncertified and the
            next sync retries them.
        requests: HTTP requests sent (retries included).
        seconds: Wall time.
        skipped: Campaigns left out, each with the reason (archived with
            ``include_archived=False``, or active only outside the range).
        canvases: Canvases that had days to fetch.
        series: Workspace series kinds that had days to fetch.
    """

    store: Path | str
    campaigns: int = 0
    days_fetched: int = 0
    rows_written: int = 0
    partitions_rewritten: int = 0
    failures: list[FetchFailure] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)
    canvases: int = 0
    series: int = 0

    @property
    def ok(self) -> bool:
        """True when every request succeeded."""
        return not self.failures

    def tables(self) -> tuple[str, str]:
        """What was synced and the unit of ``days_fetched``, in words ("2 campaigns", "campaign-days")."""
        parts = [(self.campaigns, "campaign", "campaigns", "campaign"),
                 (self.canvases, "Canvas", "Canvases", "Canvas"),
                 (self.series, "series", "series", "series")]
        shown = parts[:1] + [p for p in parts[1:] if p[0]]
        said = [f"{n:,} {one if n == 1 else many}" for n, one, many, _ in shown]
        what = f"{', '.join(said[:-1])} and {said[-1]}" if len(said) > 1 else said[0]
        kinds = [kind for n, *_, kind in shown if n] or ["campaign"]
        unit = f"{'-, '.join(kinds[:-1])}- and {kinds[-1]}-days" if len(kinds) > 1 else f"{kinds[0]}-days"
        return what, unit

    def __str__(self) -> str:
        what, unit = self.tables()
        text = (
            f"synced {what} into {self.store}: {self.days_fetched} "
            f"{unit} fetched in {self.requests} request(s), {self.rows_written} rows "
            f"written, {self.partitions_rewritten} partition(s) rewritten, {self.seconds:.1f} s"
        )
        if self.failures:
            text += f"; {len(self.failures)} request(s) failed (the next sync retries them)"
        if self.skipped:
            text += f"; {len(self.skipped)} campaign(s) skipped"
        return text


def sync(
    store: str | os.PathLike[str],
    campaign_ids: str | Iterable[str] | None = None,
    *,
    canvases: str | Iterable[str] | None = None,
    series: str | Iterable[str] | None = None,
    start: str | dt.date | dt.datetime | None = None,
    end: str | dt.date | dt.datetime | None = None,
    lookback_days: int = 30,
    client: BrazeClient | None = None,
    on_error: OnError = "raise",
    progress: bool | None = None,
    include_archived: bool = True,
    format: StoreFormat = "parquet",
    storage_options: Mapping[str, Any] | None = None,
) -> SyncReport:
    """Bring a store of ``/campaigns/data_series`` up to date, fetching only what it needs.

    The store is a Parquet dataset partitioned by month (or a Delta table) at ``store``,
    with a manifest of the days it holds for certain and the campaigns' latest names. A
    sync fetches, per campaign, the days the manifest does not certify between ``start``
    and ``end`` and the last ``lookback_days`` days it holds (Braze restates recent days as
    conversions keep arriving), then replaces those days. Rerunning is idempotent; after a
    crash or Ctrl-C the store stays readable and the next sync picks up where the manifest
    says (see the module docstring for the guarantees).

    Canvases (``/canvas/data_series``) are kept in the same store, apart from the
    campaigns: their own folder (``_canvas/``), manifest and month partitions (see
    :mod:`braze_frames.storage.tables`); read them with ``read_store(store,
    table="canvas")``; the workspace series (``fetch_series``, daily) in ``_series/``,
    read with ``read_store(store, table="series")``. A sync touches what it names:
    ``campaign_ids``, ``canvases``, ``series``, or several; with none of them, every table
    the store holds (a new store: the campaigns).

    Args:
        store: The store: a local directory (created when missing) or an ``s3://``,
            ``gs://``, ``az://`` or ``file://`` URI.
        campaign_ids: One campaign id or several; ``None`` for the campaigns already in
            the store plus every campaign ``/campaigns/list`` gives whose active days
            (``/campaigns/details``: first send to last send plus its conversion window)
            overlap the range (unless only ``canvases`` are named). Campaigns new to the
            store then start at ``start``, or without it where the store starts (its
            earliest ``start``).
        canvases: One Canvas id or several, synced into the store's Canvas table the same
            way (windows of 14 days; the days the store lacks plus the last
            ``lookback_days``). ``None`` syncs no Canvas, except in a sync that names
            nothing, which brings the Canvases the store holds up to date.
        series: Workspace series kinds (``"dau"``, ``"mau"``, ``"events"``... as
            ``fetch_series`` takes them), synced daily with every key (each custom event,
            product, tracked segment) into the store's series table, per kind the same
            way (windows of 100 days; the days the store lacks plus the last
            ``lookback_days``).
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
        include_archived: With ``campaign_ids=None``, include archived campaigns (they
            are history); ``False`` leaves them out, and names them in the report.
        format: ``"parquet"`` (a hive dataset partitioned by month) or ``"delta"`` (a
            Delta Lake table; the ``delta`` extra). A store keeps the format it was made with.
        storage_options: Object-store settings in polars' and deltalake's key names
            (``aws_endpoint_url``, ``aws_region``...); credentials otherwise come from the
            environment.

    Returns:
        A :class:`SyncReport`.

    Raises:
        ValueError: Bad arguments, a campaign or Canvas new to the store without ``start``
            (checked before any data request), or a ``format`` other than the store's.
        TypeError: Arguments of the wrong type.
        StoreLockedError: Another sync holds the store's lock (also a ``RuntimeError``
            and a ``BrazeError``); the message says who, and until when.
        BrazeError: A request failed (with ``on_error="raise"``).

    Warns:
        FetchFailedWarning: With ``on_error="warn"``, once, when requests failed.
        SyncWarning: Once, naming the campaigns left out or without details.

    Examples:
        >>> import tempfile
        >>> import braze_frames as bf
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
        >>> read_store(tmp).columns == list(bf.TIDY_COLUMNS)
        True
        >>> canvas = sync(tmp, canvases=sb.canvas_ids[1], start=day - dt.timedelta(days=27), end=day,
        ...               client=client)
        >>> canvas.canvases, canvas.days_fetched, read_store(tmp, table="canvas").columns[:2]
        (1, 28, ['canvas_id', 'canvas_name'])
        >>> client.close(); sb.stop()
    """
    started = time.perf_counter()
    root = as_path(store, storage_options)
    ids = None if campaign_ids is None else check_ids(campaign_ids)
    canvas_ids = None if canvases is None else check_ids(
        canvases, name="canvases", what="Canvas", lister="bf.list_canvases()")
    kinds = None if series is None else _check_series(series)
    first_day = None if start is None else parse_day(start, "start")
    now = utc_now()
    last_day = now.date() if end is None else parse_day(end, "end")
    if first_day is not None and first_day > last_day:
        msg = f"start ({first_day}) is after end ({last_day}); swap them"
        raise ValueError(msg)
    check_int("lookback_days", lookback_days, minimum=0, unit="days")
    check_on_error(on_error)
    check_choice("format", format, _FORMATS)
    if type(include_archived) is not bool:
        msg = f"include_archived must be True or False, not {include_archived!r}"  # type: ignore[unreachable]
        raise TypeError(msg)
    if root.is_file():
        msg = f"{root} is a file; a store is a directory"
        raise NotADirectoryError(msg)
    root.mkdir(parents=True, exist_ok=True)

    with _store_lock(root) as lease:
        _remove_temporary_files(root)
        # Each table's ids (None: not named); a new table adds its keyword here.
        named = {CAMPAIGNS.name: ids, CANVASES.name: canvas_ids, SERIES.name: kinds}
        jobs = _open_tables(root, lease, format, named, first_day)
        with client_scope(client) as cl:
            before = cl.stats.requests
            # Every table is planned before any is fetched: a missing start= is refused
            # before the first data request.
            for job in jobs:
                _plan_job(cl, job, first_day, last_day, lookback_days, include_archived=include_archived)
            for job in jobs:
                _run_job(cl, job, now, on_error=on_error, progress=progress)
            requests = cl.stats.requests - before
    counts = {spec.name: 0 for spec in STORE_TABLES.values()}
    for job in jobs:
        counts[job.spec.name] = sum(1 for p in job.plans.values() if p.intervals)
    writers = [job.writer for job in jobs if job.writer is not None]
    report = SyncReport(
        store=root if isinstance(root, Path) else str(root),
        campaigns=counts[CAMPAIGNS.name],
        days_fetched=sum(w.days_fetched for w in writers),
        rows_written=sum(w.rows_written for w in writers),
        partitions_rewritten=sum(w.partitions_rewritten for w in writers),
        failures=[f for w in writers for f in w.failures],
        requests=requests,
        seconds=time.perf_counter() - started,
        skipped={cid: why for job in jobs for cid, why in job.skipped.items()},
        canvases=counts[CANVASES.name],
        series=counts[SERIES.name],
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


def _check_series(series: str | Iterable[str]) -> list[str]:
    """The series kinds named, checked before any request."""
    from ..endpoints.series import SERIES_KINDS

    kinds = check_ids(series, name="series", what="series kind", lister="bf.fetch_series' docstring")
    unknown = [k for k in kinds if k not in SERIES_KINDS]
    if unknown:
        msg = f"unknown series kind(s) {unknown}: sync takes {sorted(SERIES_KINDS)}"
        raise ValueError(msg)
    return kinds


@dataclass
class _Job:
    """One table's part of a sync: where it goes, what it asks for, how it went."""

    spec: StoreTable
    target: _Target
    manifest: _Manifest
    #: The ids named; None: the campaigns are discovered (``_discover``).
    ids: list[str] | None
    plans: dict[str, _Plan] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    #: With campaigns: whether their details may be read (else fetches ask for no names).
    names: bool = True
    writer: _Writer | None = None


def _open_tables(
    root: StorePath,
    lease: _Lease,
    format: StoreFormat,
    named: Mapping[str, list[str] | None],
    first_day: dt.date | None,
) -> list[_Job]:
    """The tables a sync touches, each loaded: those named, or every table the store holds.

    ``named`` gives each table's ids, by table name (None: not named).
    """
    everything = all(v is None for v in named.values())
    jobs: list[_Job] = []
    for spec in STORE_TABLES.values():
        wanted = named.get(spec.name)
        if wanted is None and not everything:
            continue
        where = root / spec.folder if spec.folder else root
        if everything and spec is not CAMPAIGNS and not (where / MANIFEST_NAME).is_file() \
                and not _delta.is_delta(where):
            continue  # a table this store does not hold
        target: _Target = (_DeltaTarget if format == "delta" else _ParquetTarget)(where, lease, spec)
        target.check_format()
        manifest = target.load()
        if everything and spec is not CAMPAIGNS:
            wanted = list(manifest.records)
        jobs.append(_Job(spec, target, manifest, wanted))
    if everything:
        held = [job for job in jobs if job.manifest.records]
        # A sync that names nothing brings the store's tables up to date; a new store
        # starts with every campaign.
        jobs = held or jobs[:1]
        if not held and first_day is None:
            raise ValueError(_needs_start_message(["every campaign"]))
    return jobs


def _plan_job(
    client: BrazeClient,
    job: _Job,
    first_day: dt.date | None,
    last_day: dt.date,
    lookback_days: int,
    *,
    include_archived: bool,
) -> None:
    """Which days each object of a table needs (campaigns: chosen and named through details)."""
    manifest = job.manifest
    ids = job.ids
    names: dict[str, tuple[str | None, dict[str, str]]] = {}
    if job.spec is CAMPAIGNS:
        found: _Discovered | None = None
        if ids is None:
            # A campaign created since the last sync starts where the store does.
            first_day = first_day if first_day is not None else manifest.earliest_start()
            assert first_day is not None
            found = _discover(client, first_day, last_day, include_archived=include_archived)
            ids = list(dict.fromkeys([*manifest.records, *found.ids]))
        plans = _plan_all(ids, manifest, first_day, last_day, lookback_days)
        if found is not None:
            plans, skipped = _clip(plans, found, manifest)
            job.skipped = {**found.skipped, **skipped}
        else:
            # Names, once, for the manifest. A campaign whose details fail for its own
            # reason (an unknown id) fails its data request too, which reports it.
            found = _details(client, list(plans))
            found = replace(found, no_details={
                cid: why for cid, why in found.no_details.items() if why.startswith(_DENIED)})
        _warn_discovery(found, job.skipped)
        names = found.names
        # When the key may not read details, the sync has said so once, and fetches skip them.
        job.names = not any(why.startswith(_DENIED) for why in found.no_details.values())
    else:
        # A Canvas's names come with its data: the rows carry them, the manifest keeps them.
        plans = _plan_all(ids or [], manifest, first_day, last_day, lookback_days, what=job.spec.what)
    job.plans = plans
    # Record the start asked for, and the names the details gave, before fetching: it
    # certifies nothing, and lets a rerun after a crash go on without start=.
    for oid, plan in plans.items():
        record = manifest.records.get(oid, _Record())
        name, variations = names.get(oid, (None, {}))
        parts = {**record.parts, "variation": {**record.variations, **variations}} if variations \
            else record.parts
        new = replace(record, start=plan.start, name=name or record.name, parts=parts)
        if new != record:
            manifest.records[oid] = new
            manifest.dirty = True


def _run_job(
    client: BrazeClient, job: _Job, now: dt.datetime, *, on_error: OnError, progress: bool | None
) -> None:
    """Fetch and write one table's plans, batch by batch."""
    if job.spec.folder:
        job.target.root.mkdir(parents=True, exist_ok=True)
    job.target.begin(job.manifest)
    job.writer = _Writer(job.target, job.manifest, now)
    try:
        _run(client, job.plans, job.writer, on_error=on_error, progress=progress, names=job.names)
    finally:
        job.target.finish(job.manifest)


#: The errors that say the key may not read details at all (then no fetch asks again).
_DENIED: Final = ("PermissionDeniedError", "AuthenticationError")


def _clip(
    plans: dict[str, _Plan], found: _Discovered, manifest: _Manifest
) -> tuple[dict[str, _Plan], dict[str, str]]:
    """Keep the days of chosen campaigns inside their active days; name those left with none."""
    out: dict[str, _Plan] = {}
    skipped: dict[str, str] = {}
    for cid, plan in plans.items():
        life = found.lives.get(cid)
        if life is None:
            out[cid] = plan
            continue
        kept = tuple(span for a, b in plan.intervals if (span := life.clip(a, b)) is not None)
        if not kept and cid not in manifest.records and plan.intervals:
            lo, hi = plan.intervals[0][0], plan.intervals[-1][1]
            skipped[cid] = f"active {life}, outside {lo}..{hi}"
            continue
        out[cid] = replace(plan, intervals=kept)
    return out, skipped


def _warn_discovery(found: _Discovered, skipped: Mapping[str, str]) -> None:
    notes = []
    if skipped:
        shown = "; ".join(f"{cid}: {why}" for cid, why in list(skipped.items())[:20])
        more = f" (and {len(skipped) - 20} more)" if len(skipped) > 20 else ""
        notes.append(f"{len(skipped)} campaign(s) skipped, see SyncReport.skipped: {shown}{more}")
    if found.no_details:
        shown = ", ".join(list(found.no_details)[:20])
        reason = next(iter(found.no_details.values()))
        notes.append(
            f"no /campaigns/details for {len(found.no_details)} campaign(s) ({reason}): synced "
            f"over the whole range, their names unknown: {shown}"
        )
    if notes:
        warnings.warn("; ".join(notes), SyncWarning, stacklevel=3)


def _run(
    client: BrazeClient,
    plans: Mapping[str, _Plan],
    writer: _Writer,
    *,
    on_error: OnError,
    progress: bool | None,
    names: bool = True,
) -> None:
    """Fetch batch after batch; write each one while the next is fetched.

    Writing is bound by fsync or by the object store, fetching by the server's latency:
    overlapping them, and writing several months at once, hides most of the writing. At
    most two batches are held in memory.
    """
    spec = writer.target.spec
    size = max(_MIN_BATCH, _BATCH_PER_THREAD * client.max_concurrency)
    batches = list(_batches(plans, size, spec.max_length))
    bar = None
    if len(batches) > 1:
        bar = progress_bar(sum(len(b) for b in batches), progress, f"braze sync ({spec.section})",
                           spec.what)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="braze-sync-write")
    pending: tuple[Future[None], int] | None = None
    try:
        for batch in batches:
            frames, failures = _fetch_batch(client, plans, batch, spec, on_error=on_error, names=names,
                                            progress=progress if bar is None else False)
            _finish(pending, bar)
            rows = _split_by_id(frames, spec.table)
            job = pool.submit(writer.write_batch, {cid: plans[cid].intervals for cid in batch},
                              rows, failures)
            pending = (job, len(batch))
        _finish(pending, bar)
    except BaseException as exc:
        # A failed request still lets what was fetched before it be written (and certified);
        # Ctrl-C only waits for the write already running. Either way every file is
        # replaced whole, and the caller saves the manifest after this.
        pool.shutdown(wait=True, cancel_futures=isinstance(exc, KeyboardInterrupt))
        raise
    finally:
        pool.shutdown(wait=True)
        writer.close()
        if bar is not None:
            bar.close()


def _finish(pending: tuple[Future[None], int] | None, bar: Any) -> None:
    if pending is None:
        return
    future, n = pending
    future.result()
    if bar is not None:
        bar.update(n)


def _fetch_batch(
    client: BrazeClient,
    plans: Mapping[str, _Plan],
    batch: Sequence[str],
    spec: StoreTable,
    *,
    on_error: OnError,
    progress: bool | None,
    names: bool = True,
) -> tuple[list[pl.DataFrame], list[FetchFailure]]:
    by_interval: dict[tuple[dt.date, dt.date], list[str]] = {}
    for cid in batch:
        for interval in plans[cid].intervals:
            by_interval.setdefault(interval, []).append(cid)
    frames: list[pl.DataFrame] = []
    failures: list[FetchFailure] = []
    for (a, b), ids in by_interval.items():
        result = spec.fetch(
            ids, start=a, end=b, client=client, names=names,
            on_error="raise" if on_error == "raise" else "collect", progress=progress,
        )
        if isinstance(result, FetchResult):
            frames.append(result.frame)
            failures.extend(result.failures)
        else:
            frames.append(result)
    return frames, failures


def _split_by_id(frames: Sequence[pl.DataFrame], table: Table) -> dict[str, pl.DataFrame]:
    frames = [_strings(f, table) for f in frames if f.height]
    if not frames:
        return {}
    rows = pl.concat(frames, how="vertical")
    return {
        str(key[0]): part
        for key, part in rows.partition_by(table.id_column, as_dict=True, maintain_order=True).items()
    }
