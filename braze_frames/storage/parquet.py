r"""Parquet files and hive-partitioned datasets: one Arrow schema, atomic writes, exact read-back.

Tidy frames (exactly the columns of ``TIDY_COLUMNS``) are cast to :data:`TIDY_ARROW_SCHEMA`
whatever the backend they come from, so a pandas frame and a polars frame holding the same
rows give byte-for-byte the same data (only the write time in the metadata differs). Other
frames (pivot, rates, reconcile output, or anything else) keep their own columns, with the
differences between backends ironed out: every string flavour (``string``,
``large_string``, ``string_view``, dictionaries/categoricals of strings) becomes ``string``,
binaries become ``binary``, a ``date`` column that pandas holds as midnight timestamps
becomes ``date32`` like polars' ``Date``, and a float NaN becomes null (pyarrow reads every
pandas NaN as null, so polars' NaN must go the same way for the rows to match). Which
columns were categorical is kept in the metadata, so :func:`read_parquet` gives them back
as categoricals.

Every file carries key-value metadata under the key ``braze_frames`` (JSON): the library
version, :data:`SCHEMA_VERSION`, the frame's ``kind``, its columns, the campaign ids, the
date range, the row count and the write time (UTC). Nothing from the environment goes in,
so never the API key.

Writes are atomic per file: the data goes to a hidden temporary file in the target
directory (``.<name>.<random>.tmp``, which every reader below skips), is fsynced, then
``os.replace``-d over the target; a crash leaves the old file as it was and removes the
temporary one.

Partitioned datasets (``partition_by=True``) use the hive layout Spark, DuckDB, polars and
pyarrow all read, one directory per month::

    root/
      _common_metadata                          schema + braze_frames metadata (no rows)
      month=2024-07/part-0.parquet              every campaign's rows of July 2024

``month`` (``YYYY-MM``) is derived from ``date``. Inside each file rows are sorted by
``campaign_id`` then ``date``, in row groups of 65,536 rows, so that a reader looking for a
few campaigns skips most row groups by their statistics; a write makes at most one file per
partition. (Version 1 partitioned by campaign and month: thousands of files of about a
thousand rows, which DuckDB read 8x slower than one file. ``partition_by=("campaign_id",
"month")`` still writes that layout.)

Partition columns live only in the paths, not inside the files, as hive readers expect (a
column in both places makes some readers fail or pick one silently). Values are escaped the
hive way: every ASCII character except
letters, digits and ``-_.~`` is percent-encoded as ``%XX`` (upper-case hex). That covers
Spark/Hive's ``escapePathName`` set (``/``, ``=``, ``%``, ``:``, ``?``, ``#``, quotes,
``*``, ``[``, ``]``, ``{``, ``^``, ``\``, DEL and control characters; on Windows also
``<>|`` and space) and adds space, ``+`` and the rest of ASCII punctuation, as pyarrow's
URI encoding does. Non-ASCII characters are left as they are, as Spark does: Spark decodes
each ``%XX`` as one character, so a percent-encoded UTF-8 sequence would come back garbled
there, while raw UTF-8 paths read back right everywhere. A null value is written as
``__HIVE_DEFAULT_PARTITION__``; an empty string is refused (Spark and Hive read it as
null). On a case-insensitive file system ids that differ only by case would share a
directory; Braze's ids are lower-case hex.

Why not ``pyarrow.dataset.write_dataset`` or polars' partitioned write: both write each
file in place (a crash leaves a truncated file where a reader finds it), both give every
file the same key-value metadata (ours records each file's campaigns, dates and rows), and
pyarrow's ``segment_encoding="uri"`` percent-encodes non-ASCII characters (``café`` becomes
``caf%C3%A9``), which Spark reads back garbled. The writer here is the few lines that
partition the rows; each file goes through the same whole-or-nothing write as a single file.

Compaction: a dataset grown by many small writes (``existing="overwrite_or_ignore"`` adds
no file to a partition it rewrites, but other tools may) is compacted by reading it and
writing it again, partition by partition::

    for month in months:
        part = bf.read_parquet(root, filters=[("month", "=", month)])
        bf.write_parquet(part, root, partition_by=True, existing="delete_matching")

Reading a dataset as it is::

    pl.scan_parquet(f"{root}/**/*.parquet", hive_partitioning=True,
                    hive_schema={"month": pl.String})
    duckdb.sql(f"SELECT * FROM read_parquet('{root}/**/*.parquet', hive_partitioning=true,"
               " hive_types={'month': VARCHAR})")
    pyarrow.dataset.dataset(root, format="parquet", partitioning="hive")
    spark.read.option("basePath", root).parquet(root)

The explicit types matter for partition values that look like numbers (a ``campaign_id``
directory of the campaign x month layout; polars and DuckDB would infer integers); in Spark
set ``spark.sql.sources.partitionColumnTypeInference.enabled`` to ``false`` for the same
reason. All of them skip the ``_``- and ``.``-prefixed files.

Object stores: every function here takes ``s3://``, ``gs://``, ``az://`` and ``file://``
URIs as well as local paths, with ``storage_options=`` in polars' and deltalake's key names
(see :mod:`braze_frames.storage.fs`). On an object store each file is built in memory and
written in one request, whole or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, cast, overload

import polars as pl
import pyarrow as pa

from .._tidy import Backend, check_backend, to_backend
from .._validate import check_choice
from .arrow import (
    METADATA_KEY,
    Kind,
    _check_user_metadata,
    _decode_metadata,
    _metadata_json,
    _prepare,
    _stats,
    _to_polars,
)
from .dataset import (
    _COMMON_METADATA,
    _EXISTING,
    Existing,
    _common_meta,
    _data_files,
    _dataset_module,
    _dataset_root,
    _empty_dataset,
    _filter_expression,
    _hive_partitioning,
    _partition_columns,
    _scan,
    _write_dataset,
)
from .files import (
    _atomic_write,
    _check_parent,
    _file_schema,
    _read_schema,
    _schema_of,
    _write_table_file,
    _WriteOptions,
)
from .fs import ObjectPath, StorePath, as_path

__all__ = ["parquet_metadata", "read_parquet", "write_csv", "write_parquet"]



@overload
def write_parquet(
    df: Any,
    path: os.PathLike[str],
    *,
    partition_by: bool | str | Sequence[str] = False,
    metadata: Mapping[str, Any] | None = None,
    kind: Kind | None = None,
    compression: str = "zstd",
    compression_level: int | None = None,
    existing: Existing = "overwrite_or_ignore",
    storage_options: Mapping[str, Any] | None = None,
) -> Path: ...


@overload
def write_parquet(
    df: Any,
    path: str,
    *,
    partition_by: bool | str | Sequence[str] = False,
    metadata: Mapping[str, Any] | None = None,
    kind: Kind | None = None,
    compression: str = "zstd",
    compression_level: int | None = None,
    existing: Existing = "overwrite_or_ignore",
    storage_options: Mapping[str, Any] | None = None,
) -> StorePath: ...


def write_parquet(
    df: Any,
    path: str | os.PathLike[str],
    *,
    partition_by: bool | str | Sequence[str] = False,
    metadata: Mapping[str, Any] | None = None,
    kind: Kind | None = None,
    compression: str = "zstd",
    compression_level: int | None = None,
    existing: Existing = "overwrite_or_ignore",
    storage_options: Mapping[str, Any] | None = None,
) -> StorePath:
    """Write a frame to one Parquet file, or to a hive-partitioned dataset, atomically.

    Args:
        df: A tidy frame, or a frame derived from one (pivot, rates, reconcile), or any
            other frame: pandas or polars DataFrame, polars LazyFrame (collected), pyarrow
            Table, or another frame narwhals supports. A pandas index is dropped when it is
            unnamed; a named index is refused (``reset_index()`` it into columns).
        path: The file to write; or, with ``partition_by``, the dataset's root directory
            (created if missing; its parent must exist). A local path or an ``s3://``,
            ``gs://``, ``az://`` or ``file://`` URI.
        partition_by: ``False`` for one file. ``True`` for the standard dataset layout
            (``month`` alone, rows sorted by campaign then date in each file); or the names
            of the partition columns, e.g. ``("campaign_id", "month")``, where ``month``
            (``YYYY-MM``) is derived from ``date``. Partition columns hold strings,
            integers, booleans or dates.
        metadata: Extra JSON-serialisable entries, stored under ``"user"`` in the
            ``braze_frames`` metadata.
        kind: What the frame is: ``"tidy"``, ``"canvas"``, ``"pivot"``, ``"rates"``,
            ``"reconcile"`` or ``"frame"``. Detected from the columns when omitted;
            ``"tidy"`` requires exactly the tidy columns, ``"canvas"`` exactly
            ``CANVAS_COLUMNS``.
        compression: Parquet codec (``"zstd"``, ``"snappy"``, ``"gzip"``, ``"none"``...).
        compression_level: Codec level; zstd defaults to 3.
        existing: What to do with data already at ``path``, named as in
            ``pyarrow.dataset.write_dataset``: ``"overwrite_or_ignore"`` replaces the files
            this call writes and leaves everything else (for a dataset, every partition
            written is replaced whole by this frame's rows, partitions absent from the
            frame are kept); ``"delete_matching"`` also deletes other Parquet files in the
            partition directories written; ``"error"`` refuses to write over an existing
            file or into a non-empty directory. A dataset is written file by file, each
            file atomically: after a crash every partition is either old or new, whole.
        storage_options: Object-store settings in polars' and deltalake's key names
            (``aws_endpoint_url``, ``aws_region``...); credentials otherwise come from the
            environment.

    Returns:
        The path written: the file, or the dataset's root (a ``Path``, or an
        ``ObjectPath`` whose ``str`` is the URI).

    Raises:
        TypeError: ``df`` is not a frame, or a tidy column has the wrong type.
        ValueError: A tidy key column holds nulls, a partition column is unusable, or an
            argument is invalid.
        FileNotFoundError: The directory that should hold the file (or the dataset's root)
            does not exist.
        FileExistsError: ``existing="error"`` and something is in the way.

    Examples:
        >>> import tempfile
        >>> from braze_frames._tidy import from_records
        >>> df = from_records([("c1", "2024-07-01", "email", "v1", None, "sent", 10.0)])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     out = write_parquet(df, f"{tmp}/out.parquet")
        ...     back = read_parquet(out)
        ...     meta = parquet_metadata(out)
        >>> back.equals(df), meta["kind"], meta["campaign_ids"], meta["rows"]
        (True, 'tidy', ['c1'], 1)
    """
    check_choice("existing", existing, _EXISTING)
    table, frame_kind, categorical = _prepare(df, kind)
    user = _check_user_metadata(metadata)
    options = _WriteOptions(compression, compression_level)
    target = as_path(path, storage_options)
    parts = _partition_columns(partition_by)
    if parts is None:
        return _write_single(table, target, frame_kind, categorical, user, options, existing)
    return _write_dataset(table, target, parts, frame_kind, categorical, user, options, existing)


def read_parquet(
    path: str | os.PathLike[str],
    *,
    backend: Backend = "polars",
    columns: Sequence[str] | None = None,
    filters: Any = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Any:
    """Read a Parquet file or a hive-partitioned dataset back as a frame.

    A tidy frame comes back with exactly the tidy dtypes (``POLARS_SCHEMA`` for polars;
    ``category`` strings, ``datetime64[ms]`` date and ``float64`` value for pandas) in the
    tidy column order. For a dataset, the partition columns are restored from the paths
    (unescaped, with the types they were written with) and a derived ``month`` is dropped,
    so a round trip gives the same rows; their order is by partition (sorted paths), then
    as written. Derived frames come back with the dtypes they were written with, as far as
    Arrow allows (categoricals stay categoricals; pandas dates are ``datetime64[ms]``).
    Files written by other tools are read as they are.

    Args:
        path: A ``.parquet`` file or a dataset's root directory: a local path or an
            ``s3://``, ``gs://``, ``az://`` or ``file://`` URI.
        backend: ``"polars"`` or ``"pandas"``.
        columns: Read only these columns (partition columns and ``month`` included), in
            this order.
        filters: A ``pyarrow.compute.Expression`` or pyarrow's list-of-tuples form, e.g.
            ``[("campaign_id", "=", "c1"), ("month", ">=", "2024-07")]``; on a dataset,
            filters on partition columns skip whole directories, and the others skip row
            groups by their statistics.
        storage_options: Object-store settings (see :func:`write_parquet`).

    Returns:
        A polars or pandas DataFrame.

    Raises:
        FileNotFoundError: Nothing at ``path``, or a directory without Parquet files.
        ValueError: An unknown backend, or a column that is not there.
    """
    backend = check_backend(backend)
    source = as_path(path, storage_options)
    table, meta = _read_table(source, columns, filters)
    frame = _to_polars(table, meta, selected=columns is not None)
    return to_backend(frame, backend)


def parquet_metadata(
    path: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return the ``braze_frames`` metadata of a file, or of a whole dataset.

    For a dataset, the per-file entries are combined: ``campaign_ids`` (``canvas_ids`` for
    Canvas frames) is their union,
    ``date_range`` spans them all, ``rows`` is the total, ``written_at`` the latest, and
    ``files`` counts the data files.

    Args:
        path: A file or a dataset's root directory written by :func:`write_parquet`
            (local, or an object-store URI).
        storage_options: Object-store settings (see :func:`write_parquet`).

    Returns:
        The decoded JSON: ``library``, ``version``, ``schema_version``, ``kind``,
        ``columns``, ``categorical``, ``campaign_ids``, ``date_range`` (``{"min", "max"}``
        ISO dates or null), ``rows``, ``written_at``, ``partitioning`` and, when given,
        ``user``.

    Raises:
        FileNotFoundError: Nothing at ``path``.
        ValueError: The file was not written by braze_frames.
    """
    source = as_path(path, storage_options)
    if not source.is_dir():
        return _require_metadata(_schema_of(source), source)
    files = _data_files(source)
    common = source / _COMMON_METADATA
    if not files:
        if common.is_file():
            meta = _require_metadata(_schema_of(common), common)
            return {**meta, "files": 0}
        msg = f"no Parquet files under {source}"
        raise FileNotFoundError(msg)
    metas = [_require_metadata(_schema_of(f), f) for f in files]
    combined = dict(metas[0])
    for key in ("campaign_ids", "canvas_ids"):
        ids = {cid for m in metas for cid in (m.get(key) or [])}
        if key in combined or any(m.get(key) is not None for m in metas):
            combined[key] = sorted(ids) if any(m.get(key) is not None for m in metas) else None
    ranges = [m["date_range"] for m in metas if m.get("date_range")]
    combined["date_range"] = (
        {"min": min(r["min"] for r in ranges), "max": max(r["max"] for r in ranges)} if ranges else None
    )
    combined["rows"] = sum(int(m.get("rows", 0)) for m in metas)
    combined["written_at"] = max(str(m.get("written_at", "")) for m in metas)
    combined["files"] = len(files)
    return combined


@overload
def write_csv(
    df: Any, path: os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None
) -> Path: ...


@overload
def write_csv(
    df: Any, path: str, *, storage_options: Mapping[str, Any] | None = None
) -> StorePath: ...


def write_csv(
    df: Any, path: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None
) -> StorePath:
    """Write a frame to CSV atomically, with ISO dates and empty fields for nulls.

    Takes the same frames as :func:`write_parquet` and normalises them the same way, so a
    pandas ``datetime64`` date is written ``2024-07-01``, like polars' ``Date``.

    Args:
        df: The frame.
        path: The CSV file; its directory must exist. Object-store URIs work too.
        storage_options: Object-store settings (see :func:`write_parquet`).

    Returns:
        The path written.

    Raises:
        TypeError: ``df`` is not a frame.
        FileNotFoundError: The directory does not exist.
    """
    table, _, _ = _prepare(df, None)
    target = as_path(path, storage_options)
    _check_parent(target)
    if target.is_dir():
        msg = f"{target} is a directory; give a file name"
        raise IsADirectoryError(msg)
    frame = cast("pl.DataFrame", pl.from_arrow(table))

    def write(fh: IO[bytes]) -> None:
        frame.write_csv(fh, date_format="%Y-%m-%d")

    _atomic_write(target, write)
    return target


def _require_metadata(schema: pa.Schema, path: StorePath) -> dict[str, Any]:
    meta = _decode_metadata(schema)
    if meta is None:
        msg = f"{path} has no {METADATA_KEY!r} metadata: it was not written by braze_frames"
        raise ValueError(msg)
    return meta


def _write_single(
    table: pa.Table,
    target: StorePath,
    kind: Kind,
    categorical: list[str],
    user: dict[str, Any] | None,
    options: _WriteOptions,
    existing: Existing,
) -> StorePath:
    _check_parent(target)
    if target.is_dir():
        msg = f"{target} is a directory; pass partition_by=True to write a dataset there"
        raise IsADirectoryError(msg)
    if existing == "error" and target.exists():
        msg = f"{target} exists (existing='error'); use existing='overwrite_or_ignore' to replace it"
        raise FileExistsError(msg)
    meta = _metadata_json(kind, table.column_names, categorical, _stats(table), None, user)
    _write_table_file(table, target, _file_schema(table, kind, meta), options)
    return target


def _read_table(
    source: StorePath, columns: Sequence[str] | None, filters: Any
) -> tuple[pa.Table, dict[str, Any] | None]:
    expression = _filter_expression(filters)
    cols = None if columns is None else list(columns)
    if isinstance(columns, str):
        cols = [columns]
    if not source.exists():
        msg = f"no such file or directory: {source}"
        raise FileNotFoundError(msg)
    if isinstance(source, Path):
        source = source.resolve()
    if not source.is_dir():
        meta = _decode_metadata(_read_schema(source))
        key, fs = _location(source)
        dataset = _dataset_module().dataset(key, filesystem=fs, format="parquet")
        return _scan(dataset, cols, expression), meta
    files = _data_files(source)
    if not files:
        return _empty_dataset(source, cols, expression), _common_meta(source)
    return _read_files(source, files, cols, expression)


def _read_files(
    source: StorePath, files: Sequence[Any], columns: list[str] | None, expression: Any
) -> tuple[pa.Table, dict[str, Any] | None]:
    """Read some of a dataset's files, with the partition columns parsed from their paths."""
    meta = _decode_metadata(_read_schema(files[0]))
    base = _dataset_root(source, meta)
    fs = base.filesystem if isinstance(base, ObjectPath) else None
    dataset = _dataset_module().dataset(
        [_location(f)[0] for f in files],
        filesystem=fs,
        format="parquet",
        partitioning=_hive_partitioning(base, files, meta),
        partition_base_dir=_location(base)[0],
    )
    return _scan(dataset, columns, expression), meta


def _location(path: StorePath) -> tuple[str, Any]:
    """(path, filesystem) as pyarrow takes them."""
    if isinstance(path, ObjectPath):
        return path.key, path.filesystem
    return str(path), None
