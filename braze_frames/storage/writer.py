"""How a sync writes what it fetched: the batch writer and its two targets.

:class:`_Writer` upserts a batch's fetched days, then certifies them in the manifest; a
:class:`_Target` is where they go: a Parquet store (one file per month, each rewritten
whole) or a Delta table (one commit per batch, the manifest in its metadata). Also the
layout of version 1 (campaign x month) and its migration.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import polars as pl

from .._runner import FetchFailure
from .._tables import Table
from . import delta as _delta
from .arrow import Kind, _prepare, _to_polars
from .dataset import _COMMON_METADATA, _data_files, _write_dataset
from .files import _fsync_dir, _WriteOptions
from .fs import ObjectPath, StorePath
from .lock import _Lease
from .manifest import LAYOUT_CAMPAIGN_MONTH, LAYOUT_MONTH, MANIFEST_NAME, _Manifest, _Record
from .parquet import _read_files, read_parquet, write_parquet
from .plan import _days, _longest_run, _month, _runs
from .tables import CAMPAIGNS, StoreTable

#: Months written at once: writing waits on fsync or on the object store, which threads overlap.
_WRITERS: Final = 8


def _strings(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Key columns as plain strings: frames from different fetches and files concatenate."""
    return frame.select(table.columns).with_columns(pl.col(c).cast(pl.String) for c in table.string_columns)


def _latest_names(rows: pl.DataFrame, table: Table) -> tuple[str | None, dict[str, dict[str, str]]]:
    """The object's name and its parts' (variations; variants, steps) on the latest day that has them."""
    latest = rows.sort("date", maintain_order=True)
    name: str | None = None
    parts: dict[str, dict[str, str]] = {}
    for column, name_column in table.names.items():
        if column == table.id_column:
            names = latest.drop_nulls(name_column)[name_column]
            name = names[-1] if len(names) else None
            continue
        pairs = latest.drop_nulls([column, name_column]).unique(column, keep="last", maintain_order=True)
        parts[column] = dict(zip(pairs[column].to_list(), pairs[name_column].to_list(), strict=True))
    return name, parts


class _Writer:
    """Upserts a batch's fetched days into the store, then certifies them."""

    def __init__(self, target: _Target, manifest: _Manifest, now: dt.datetime) -> None:
        self.target = target
        self.manifest = manifest
        self.now = now
        self.days_fetched = 0
        self.rows_written = 0
        self.partitions_rewritten = 0
        self.failures: list[FetchFailure] = []

    def write_batch(
        self,
        intervals: Mapping[str, Sequence[tuple[dt.date, dt.date]]],
        rows: Mapping[str, pl.DataFrame],
        failures: Sequence[FetchFailure],
    ) -> None:
        ok: dict[str, set[dt.date]] = {}
        failed: dict[str, set[dt.date]] = {}
        kept: list[pl.DataFrame] = []
        for cid, spans in intervals.items():
            asked = {d for a, b in spans for d in _days(a, b)}
            bad = {d for f in failures if f.campaign_id == cid for d in _days(f.first, f.last)} & asked
            ok[cid], failed[cid] = asked - bad, bad
            part = rows.get(cid)
            if part is not None:
                # Only dates asked for and fetched; fetch_data_series already keeps to them.
                part = part.filter(pl.col("date").is_in(sorted(ok[cid])))
                if part.height:
                    kept.append(part)
        table = self.target.spec.table
        new = pl.concat(kept, how="vertical") if kept else _strings(self.target.spec.empty(), table)
        certify = self._certified(ok, failed, rows)
        self.partitions_rewritten += self.target.replace(ok, new, certify)
        self.failures.extend(f for f in failures if f.campaign_id in intervals)
        self.days_fetched += sum(len(d) for d in ok.values())
        self.rows_written += new.height

    def _certified(
        self,
        ok: Mapping[str, set[dt.date]],
        failed: Mapping[str, set[dt.date]],
        rows: Mapping[str, pl.DataFrame],
    ) -> dict[str, _Record]:
        """The manifest's records once these days are written."""
        out: dict[str, _Record] = {}
        for cid in ok:
            record = self.manifest.records.get(cid, _Record())
            held: set[dt.date] = set()
            if record.first is not None and record.last is not None:
                held = set(_days(record.first, record.last)) - failed[cid]
            run = _longest_run(held | ok[cid])
            name, parts = record.name, {c: dict(n) for c, n in record.parts.items()}
            if cid in rows:
                seen, seen_parts = _latest_names(rows[cid], self.target.spec.table)
                name = seen or name
                for column, names in seen_parts.items():
                    parts.setdefault(column, {}).update(names)
            out[cid] = replace(
                record,
                first=None if run is None else run[0],
                last=None if run is None else run[1],
                synced_at=self.now,
                name=name,
                parts={c: n for c, n in parts.items() if n},
            )
        return out

    def close(self) -> None:
        self.target.close()


class _Target:
    """Where a batch goes: a Parquet table's month files, or a Delta table's commits."""

    def __init__(self, root: StorePath, lease: _Lease, spec: StoreTable = CAMPAIGNS) -> None:
        self.root = root
        self.lease = lease
        self.spec = spec
        self.manifest: _Manifest | None = None

    def check_format(self) -> None:
        raise NotImplementedError

    def load(self) -> _Manifest:
        raise NotImplementedError

    def begin(self, manifest: _Manifest) -> None:
        raise NotImplementedError

    def replace(
        self, ok: Mapping[str, set[dt.date]], rows: pl.DataFrame, certify: Mapping[str, _Record]
    ) -> int:
        raise NotImplementedError

    def finish(self, manifest: _Manifest) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the target holds (threads)."""


class _ParquetTarget(_Target):
    """Month files rewritten whole; the manifest in ``_braze_sync.json``."""

    def __init__(self, root: StorePath, lease: _Lease, spec: StoreTable = CAMPAIGNS) -> None:
        super().__init__(root, lease, spec)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def check_format(self) -> None:
        if _delta.is_delta(self.root):
            msg = f"{self.root} is a Delta store: pass format='delta' to sync it"
            raise ValueError(msg)

    def load(self) -> _Manifest:
        manifest = _Manifest.load(self.root, self.spec.section)
        if self.spec is CAMPAIGNS:
            if not (self.root / MANIFEST_NAME).is_file() and _old_layout_dirs(self.root):
                manifest.layout = LAYOUT_CAMPAIGN_MONTH  # a dataset of version 1 without a manifest
            _migrate(self.root, manifest, self.lease)
        self.manifest = manifest
        return manifest

    def begin(self, manifest: _Manifest) -> None:
        self.lease.check()
        manifest.save()
        if not (self.root / _COMMON_METADATA).is_file():
            # Lets an empty store read back as an empty tidy frame.
            write_parquet(self.spec.empty(), self.root, partition_by=True, kind=self.spec.kind)

    def replace(
        self, ok: Mapping[str, set[dt.date]], rows: pl.DataFrame, certify: Mapping[str, _Record]
    ) -> int:
        replaced: dict[str, list[tuple[str, dt.date]]] = {}
        for cid, days in ok.items():
            for day in days:
                replaced.setdefault(_month(day), []).append((cid, day))
        new_by_month: dict[str, pl.DataFrame] = {}
        if rows.height:
            keyed = rows.with_columns(pl.col("date").dt.strftime("%Y-%m").alias("__month__"))
            for key, part in keyed.partition_by("__month__", as_dict=True).items():
                new_by_month[str(key[0])] = part.drop("__month__")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="braze-month")
        jobs = [self._pool.submit(self._month, month, pairs, new_by_month.get(month))
                for month, pairs in sorted(replaced.items())]
        changed = sum(job.result() for job in jobs)
        assert self.manifest is not None
        self.manifest.records.update(certify)
        self.manifest.dirty = True
        self.lease.check()
        self.manifest.save(throttle=True)
        return changed

    def _month(self, month: str, pairs: list[tuple[str, dt.date]], new: pl.DataFrame | None) -> int:
        """Replace the (campaign, day) ``pairs`` in one month file; 1 when the file changed."""
        directory = self.root / f"month={month}"
        key = self.spec.table.id_column
        old = _read_month(directory, self.spec.table)
        parts = []
        if old is not None:
            gone = pl.DataFrame({key: [p[0] for p in pairs], "date": [p[1] for p in pairs]},
                                schema={key: pl.String(), "date": pl.Date()})
            parts.append(old.join(gone, on=[key, "date"], how="anti", maintain_order="left"))
        if new is not None:
            parts.append(new)
        if not parts:
            return 0  # no data that month, before or now
        merged = pl.concat(parts, how="vertical").sort([key, "date"], maintain_order=True)
        if old is not None and merged.equals(old):
            return 0  # nothing restated: leave the file alone
        self.lease.check()
        if merged.height:
            _write_months(self.root, merged, self.spec.kind)
        else:
            for file in directory.glob("*.parquet"):
                file.unlink()
            if isinstance(directory, Path):
                _fsync_dir(directory)
        return 1

    def finish(self, manifest: _Manifest) -> None:
        manifest.save()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class _DeltaTarget(_Target):
    """One Delta commit per batch, the manifest in its metadata."""

    def check_format(self) -> None:
        _delta._deltalake()  # the extra is there
        if not _delta.is_delta(self.root) and _data_files(self.root):
            msg = (f"{self.root} holds a Parquet store: sync it with format='parquet', or sync "
                   "into another location")
            raise ValueError(msg)

    def load(self) -> _Manifest:
        self.manifest = _delta.load_manifest(self.root, self.spec.section)
        return self.manifest

    def begin(self, manifest: _Manifest) -> None:
        if manifest.dirty or not _delta.is_delta(self.root):
            # The starts (and names) before any fetch, as a commit without rows.
            self.lease.check()
            _delta.commit(self.root, _delta.to_delta_table(self.spec.empty(), self.spec.table), None,
                          manifest)
            manifest.dirty = False

    def replace(
        self, ok: Mapping[str, set[dt.date]], rows: pl.DataFrame, certify: Mapping[str, _Record]
    ) -> int:
        assert self.manifest is not None
        runs = {cid: _runs(days) for cid, days in ok.items() if days}
        records = {**self.manifest.records, **certify}
        staged = _Manifest(None, records, self.manifest.layout, self.manifest.section)
        self.lease.check()
        where = _delta.predicate(runs, self.spec.table.id_column) if runs else None
        _delta.commit(self.root, _delta.to_delta_table(rows, self.spec.table), where, staged)
        # The commit carried the new manifest: only now does this process believe it.
        self.manifest.records.update(certify)
        return 1

    def finish(self, manifest: _Manifest) -> None:
        """Nothing: every commit carried its manifest."""


def _read_month(directory: StorePath, table: Table) -> pl.DataFrame | None:
    if not any(directory.glob("*.parquet")):
        return None
    frame = read_parquet(directory)
    return _strings(frame, table) if isinstance(frame, pl.DataFrame) else None


def _write_months(root: StorePath, frame: pl.DataFrame, kind: Kind = "tidy") -> None:
    """Write rows as their month files (one per month), whole, without ``_common_metadata``."""
    table, kind, categorical = _prepare(frame, kind)
    _write_dataset(table, root, ["month"], kind, categorical, None, _WriteOptions("zstd", None),
                   "delete_matching", check_layout=False, common=False)


# --- the layout of version 1 -----------------------------------------------------------------


def _old_layout_dirs(root: StorePath) -> list[StorePath]:
    return [p for p in root.iterdir() if p.name.startswith("campaign_id=")] if root.is_dir() else []


def _layout(root: StorePath, manifest: _Manifest) -> str:
    """The layout to read: the manifest's, or version 1's when only its directories exist."""
    if (root / MANIFEST_NAME).is_file():
        return manifest.layout
    return LAYOUT_CAMPAIGN_MONTH if _old_layout_dirs(root) else LAYOUT_MONTH


def _layout_files(root: StorePath, layout: str) -> list[Any]:
    head = "month=" if layout == LAYOUT_MONTH else "campaign_id="
    return [f for f in _data_files(root) if f.relative_to(root).parts[0].startswith(head)]


def _migrate(root: StorePath, manifest: _Manifest, lease: _Lease) -> None:
    """Move a version-1 store (campaign x month) to month files; resumable after a crash."""
    old = _old_layout_dirs(root)
    if manifest.layout == LAYOUT_CAMPAIGN_MONTH:
        lease.check()
        files = _layout_files(root, LAYOUT_CAMPAIGN_MONTH)
        if files:
            table, meta = _read_files(root, files, None, None)
            _write_months(root, _strings(_to_polars(table, meta, selected=False), CAMPAIGNS.table))
        # The schema and layout for later writes and for an empty store.
        common = root / _COMMON_METADATA
        common.unlink(missing_ok=True)
        write_parquet(CAMPAIGNS.empty(), root, partition_by=True, kind="tidy")
        manifest.layout = LAYOUT_MONTH
        manifest.dirty = True
        manifest.save()  # from here on, readers read the month files only
    for directory in old:
        lease.check()
        if isinstance(directory, ObjectPath):
            directory.delete_tree()
        else:
            import shutil

            shutil.rmtree(directory)
