"""Reading a sync store back: :func:`read_store`, with the manifest's latest names joined on."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import polars as pl

from .._tables import Table
from .._tidy import Backend, check_backend, to_backend
from .._validate import check_choice
from . import delta as _delta
from .arrow import _to_polars
from .dataset import _COMMON_METADATA
from .fs import ObjectPath, StorePath, as_path
from .manifest import LAYOUT_MONTH, _Manifest
from .parquet import _read_files, read_parquet
from .tables import STORE_TABLES, StoreTable
from .writer import _layout, _layout_files


def read_store(
    store: str | os.PathLike[str],
    *,
    table: str = "campaign",
    backend: Backend = "polars",
    lazy: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> Any:
    """Read a table of a store written by :func:`sync` as one tidy frame, with the latest names.

    ``campaign_name`` and ``variation_name`` (a Canvas table: ``canvas_name``,
    ``variant_name``, ``step_name``) come from the table's manifest (the latest names a
    sync saw) where it has them, else from the rows. The store is an ordinary dataset, so
    other readers work on it as it is (without that join), one table per folder:
    ``pl.scan_parquet(f"{store}/month=*/*.parquet", hive_partitioning=True)`` (Canvases:
    ``f"{store}/_canvas/month=*/*.parquet"``), DuckDB's
    ``read_parquet('<store>/month=*/*.parquet', hive_partitioning=true)``, Spark, pyarrow
    (both skip ``_canvas/`` when reading the root); a Delta store with ``pl.scan_delta``,
    deltalake, Spark (see :mod:`braze_frames.storage.delta`).

    Args:
        store: The store: a local directory or an object-store URI.
        table: ``"campaign"`` (the default), ``"canvas"`` (``sync(..., canvases=...)``) or
            ``"series"`` (``sync(..., series=...)``).
        backend: ``"polars"`` or ``"pandas"`` (eager only).
        lazy: Return a polars ``LazyFrame`` over the files instead of reading them. Its
            key columns are ``String`` (the others have the tidy dtypes), so that a filter
            on the id column or ``date`` skips row groups by their statistics, and a
            filter on ``date`` skips whole months in a Parquet store.
        storage_options: Object-store settings (see :func:`sync`).

    Returns:
        The tidy frame (the table's columns and dtypes; rows by month, then id and date),
        or a ``LazyFrame`` with the same columns.

    Raises:
        FileNotFoundError: No store at ``store``, or no such table in it.
        ValueError: ``lazy=True`` with a backend other than polars, an unknown backend or
            table.
    """
    backend = check_backend(backend)
    check_choice("table", table, tuple(STORE_TABLES))
    spec = STORE_TABLES[table]
    base = as_path(store, storage_options)
    root = base / spec.folder if spec.folder else base
    if lazy and backend != "polars":
        msg = "lazy=True gives a polars LazyFrame; use backend='polars' (or lazy=False for pandas)"
        raise ValueError(msg)
    if not base.is_dir():
        msg = f"no store at {base}: run sync() first"
        raise FileNotFoundError(msg)
    if not root.is_dir():
        msg = f"the store at {base} holds no {spec.name} table: sync(store, {spec.section}=[...]) writes it"
        raise FileNotFoundError(msg)
    columns = spec.table.columns
    if _delta.is_delta(root):
        manifest = _delta.load_manifest(root, spec.section)
        data = _delta.read(root, lazy=lazy)
        if lazy:
            frame = data.select(columns).cast(_lazy_schema(spec))
            return _lazy_dtypes(_join_names(frame, manifest, spec.table), spec)
        tidy = _to_polars(data.drop_columns(["month"]), {"kind": spec.kind}, selected=False)
        return to_backend(_named(tidy, manifest, spec), backend)
    manifest = _Manifest.load(root, spec.section)
    layout = _layout(root, manifest)
    if not lazy:
        files = _layout_files(root, layout)
        if not files:
            tidy = read_parquet(root) if (root / _COMMON_METADATA).is_file() else spec.empty()
        else:
            found, meta = _read_files(root, files, None, None)
            tidy = _to_polars(found, meta, selected=False)
        return to_backend(_named(tidy, manifest, spec), backend)
    return _scan_parquet_store(root, layout, manifest, spec)


def _lazy_schema(spec: StoreTable) -> pl.Schema:
    """The table's columns with every key as a plain string: what a scan reads and joins on."""
    strings = spec.table.string_columns
    return pl.Schema({c: (pl.String() if c in strings else t) for c, t in spec.dtypes.items()})


def _lazy_dtypes(frame: pl.LazyFrame, spec: StoreTable) -> pl.LazyFrame:
    """The table's dtypes, except its id: a String, so that filters on it reach the scan."""
    return frame.cast({c: spec.dtypes[c] for c in spec.table.string_columns if c != spec.table.id_column})


def _scan_parquet_store(
    root: StorePath, layout: str, manifest: _Manifest, spec: StoreTable
) -> pl.LazyFrame:
    if not _layout_files(root, layout):
        return _lazy_dtypes(spec.empty().lazy().cast(_lazy_schema(spec)), spec)
    pattern = "month=*/*.parquet" if layout == LAYOUT_MONTH else "campaign_id=*/month=*/*.parquet"
    hive = {"month": pl.String()}
    if layout != LAYOUT_MONTH:
        hive = {"campaign_id": pl.String(), "month": pl.String()}
    file_schema = {c: t for c, t in _lazy_schema(spec).items() if c not in hive}
    scan = pl.scan_parquet(
        f"{root}/{pattern}",
        hive_partitioning=True,
        hive_schema=pl.Schema(hive),
        # Read the dictionary columns as strings: filters on them then use the statistics.
        schema=pl.Schema(file_schema),
        missing_columns="insert",  # a file written before names (schema version 1)
        cast_options=pl.ScanCastOptions(categorical_to_string="allow"),
        storage_options=dict(root.options) if isinstance(root, ObjectPath) else None,
    )
    return _lazy_dtypes(_join_names(scan.select(spec.table.columns), manifest, spec.table), spec)


def _join_names(frame: pl.LazyFrame, manifest: _Manifest, table: Table) -> pl.LazyFrame:
    """The manifest's latest names over the rows' own (a lazy plan; key columns String)."""
    own, parts = manifest.names()
    if not own and not any(parts.values()):
        return frame
    key = table.id_column
    for column, name_column in table.names.items():
        if column == key:
            names = pl.DataFrame({key: list(own), "__name__": list(own.values())},
                                 schema={key: pl.String(), "__name__": pl.String()})
            on = [key]
        else:
            pairs = parts.get(column, {})
            names = pl.DataFrame(
                {key: [k[0] for k in pairs], column: [k[1] for k in pairs], "__name__": list(pairs.values())},
                schema={key: pl.String(), column: pl.String(), "__name__": pl.String()},
            )
            on = [key, column]
        if not names.height:
            continue
        frame = frame.join(names.lazy(), on=on, how="left", maintain_order="left").with_columns(
            pl.coalesce("__name__", name_column).alias(name_column)).drop("__name__")
    return frame.select(table.columns)


def _named(frame: pl.DataFrame, manifest: _Manifest, spec: StoreTable) -> pl.DataFrame:
    """The eager frame with the manifest's latest names, in the table's dtypes."""
    own, parts = manifest.names()
    if not own and not any(parts.values()):
        return frame
    strings = frame.with_columns(pl.col(c).cast(pl.String) for c in spec.table.string_columns)
    return _join_names(strings.lazy(), manifest, spec.table).collect().cast(dict(spec.dtypes))  # type: ignore[arg-type]
