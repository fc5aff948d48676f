"""The sync store as a Delta Lake table (``sync(..., format="delta")``; the ``delta`` extra).

The table holds the tidy columns plus ``month`` (``YYYY-MM``), its partition column, with
plain strings (Delta has no dictionary type); a store's Canvas table is another Delta table,
in ``_canvas/``, laid out the same way (``storage.tables``). Each batch of a sync is one commit made with
``deltalake.write_deltalake(mode="overwrite", predicate=...)``: the commit deletes every
row of the (campaign, day) sets the batch fetched, restated days included, and inserts the
rows fetched for them, so a day Braze no longer reports loses its rows (a merge would keep
them). The manifest (the same JSON as a Parquet store's ``_braze_sync.json``: certified
days, starts, names) rides in that commit's ``custom_metadata`` under
:data:`MANIFEST_KEY`, so it is atomic with the data it certifies: a crash leaves the last
commit, data and manifest together.

Readers, as the table is:

* ``pl.scan_delta(uri, storage_options=...)`` (and ``read_store``);
* DuckDB through deltalake's Arrow dataset:
  ``duckdb.sql("SELECT ... FROM ds")`` with ``ds = DeltaTable(uri).to_pyarrow_dataset()``
  (DuckDB's own ``delta`` extension downloads at run time);
* Spark and Databricks natively: ``spark.read.format("delta").load(uri)`` with the
  ``delta-spark`` package (its jars come from Maven; not tested here).

Maintenance, from a scheduler between syncs (never during one: take the store's lock or
run it when no sync runs)::

    from deltalake import DeltaTable
    table = DeltaTable(uri, storage_options=options)
    table.optimize.compact()              # many small files per month -> one or a few
    table.vacuum(retention_hours=168, dry_run=False)   # delete files no version needs

Each sync adds a version per batch; ``optimize`` rewrites a month's small files into large
ones (a new version, same rows), and ``vacuum`` deletes the files of versions older than
the retention, after which time travel to them is gone. ``optimize`` and ``vacuum`` commits
carry no manifest: the store's manifest is the one of the latest commit that has one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, cast

import polars as pl
import pyarrow as pa

from .._tables import CAMPAIGN_TABLE, Table
from .fs import ObjectPath, StorePath
from .manifest import _Manifest

__all__ = ["MANIFEST_KEY"]

#: The commit-metadata key under which a Delta store keeps its manifest.
MANIFEST_KEY: Final = "braze_frames.sync"



def _delta_schema(table: Table) -> pa.Schema:
    """A table's columns as the Delta table holds them: plain strings, then ``month``."""
    types = {"date": pa.date32(), "value": pa.float64()}
    return pa.schema([pa.field(c, types.get(c, pa.string())) for c in (*table.columns, "month")])


#: How far back in the log to look for the latest commit with a manifest (optimize and
#: vacuum add commits without one).
_HISTORY: Final = 100


def _deltalake() -> Any:
    try:
        import deltalake
    except ImportError as exc:
        msg = "format='delta' needs deltalake: pip install 'braze-frames[delta]'"
        raise ImportError(msg) from exc
    return deltalake


def _uri(root: StorePath) -> str:
    return str(root) if isinstance(root, ObjectPath) else str(root.resolve())


def _options(root: StorePath) -> dict[str, str] | None:
    return dict(root.options) if isinstance(root, ObjectPath) else None


def is_delta(root: StorePath) -> bool:
    """True when ``root`` holds a Delta table (a ``_delta_log`` with commits)."""
    log = root / "_delta_log"
    if isinstance(log, ObjectPath):
        return any(p.name.endswith(".json") for p in log.iterdir())
    return log.is_dir() and any(log.glob("*.json"))


def load_manifest(root: StorePath, section: str = "campaigns") -> _Manifest:
    """The manifest of the latest commit that carries one (an empty one for a new table)."""
    if not is_delta(root):
        return _Manifest(None, {}, section=section)
    table = _deltalake().DeltaTable(_uri(root), storage_options=_options(root))
    for commit in table.history(_HISTORY):
        text = commit.get(MANIFEST_KEY)
        if isinstance(text, str):
            return _Manifest.loads(text, f"{root} (commit {commit.get('version')})", section=section)
    msg = (f"{root} is a Delta table without a braze_frames manifest in its last {_HISTORY} "
           "commits; sync into a new location, or read it with read_store")
    raise ValueError(msg)


def to_delta_table(frame: pl.DataFrame, table: Table = CAMPAIGN_TABLE) -> pa.Table:
    """Tidy rows as the table's Arrow schema (strings, the month column)."""
    out = frame.select(table.columns).with_columns(
        *(pl.col(c).cast(pl.String) for c in table.string_columns),
        month=pl.col("date").dt.strftime("%Y-%m"),
    )
    return out.to_arrow().cast(_delta_schema(table))


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def predicate(days: Mapping[str, list[tuple[Any, Any]]], id_column: str = "campaign_id") -> str:
    """The SQL predicate of the (campaign, day) sets replaced: runs of days per campaign."""
    terms = [
        f"({id_column} = {_literal(cid)} AND date >= '{a.isoformat()}' AND date <= '{b.isoformat()}')"
        for cid, runs in sorted(days.items()) for a, b in runs
    ]
    return " OR ".join(terms)


def commit(root: StorePath, rows: pa.Table, where: str | None, manifest: _Manifest) -> None:
    """One atomic commit: delete ``where``'s rows, insert ``rows``, with the manifest."""
    dl = _deltalake()
    properties = dl.CommitProperties(custom_metadata={MANIFEST_KEY: manifest.dumps()})
    uri, options = _uri(root), _options(root)
    if not is_delta(root):
        dl.write_deltalake(uri, rows, mode="append", partition_by=["month"],
                           storage_options=options, commit_properties=properties)
        return
    if where is None:
        dl.write_deltalake(uri, rows, mode="append", storage_options=options,
                           commit_properties=properties)
        return
    dl.write_deltalake(uri, rows, mode="overwrite", predicate=where, storage_options=options,
                       commit_properties=properties)


def read(root: StorePath, *, lazy: bool) -> Any:
    """The table's rows: an eager Arrow table, or a polars ``LazyFrame``."""
    if lazy:
        return pl.scan_delta(_uri(root), storage_options=_options(root))
    table = _deltalake().DeltaTable(_uri(root), storage_options=_options(root))
    return cast("pa.Table", table.to_pyarrow_table())


def manifest_json(root: StorePath, section: str = "campaigns") -> dict[str, Any]:
    """The latest manifest, decoded (for tests and tools)."""
    return cast("dict[str, Any]", json.loads(load_manifest(root, section).dumps()))
