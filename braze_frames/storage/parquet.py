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
pyarrow all read::

    root/
      _common_metadata                          schema + braze_frames metadata (no rows)
      campaign_id=<escaped id>/month=2024-07/part-0.parquet

``month`` (``YYYY-MM``) is derived from ``date``. Partition columns live only in the paths,
not inside the files, as hive readers expect (a column in both places makes some readers
fail or pick one silently). Values are escaped the hive way: every ASCII character except
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

Reading a dataset as it is::

    pl.scan_parquet(f"{root}/**/*.parquet", hive_partitioning=True,
                    hive_schema={"campaign_id": pl.String, "month": pl.String})
    duckdb.sql(f"SELECT * FROM read_parquet('{root}/**/*.parquet', hive_partitioning=true,"
               " hive_types={'campaign_id': VARCHAR, 'month': VARCHAR})")
    pyarrow.dataset.dataset(root, format="parquet", partitioning="hive")
    spark.read.option("basePath", root).parquet(root)

The explicit types matter only when every id looks like a number (polars and DuckDB would
otherwise infer integers); in Spark set ``spark.sql.sources.partitionColumnTypeInference.enabled``
to ``false`` for the same reason. All of them skip the ``_``- and ``.``-prefixed files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import string
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final, Literal, cast

import narwhals.stable.v2 as nw
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._schema import TIDY_COLUMNS
from .._tidy import POLARS_SCHEMA, Backend, check_backend, to_backend

__all__ = [
    "METADATA_KEY",
    "SCHEMA_VERSION",
    "TIDY_ARROW_SCHEMA",
    "Existing",
    "Kind",
    "hive_escape",
    "parquet_metadata",
    "read_parquet",
    "write_csv",
    "write_parquet",
]

Kind = Literal["tidy", "pivot", "rates", "reconcile", "frame"]
Existing = Literal["error", "overwrite_or_ignore", "delete_matching"]
_KINDS: Final = ("tidy", "pivot", "rates", "reconcile", "frame")
_EXISTING: Final = ("error", "overwrite_or_ignore", "delete_matching")

#: The key of the key-value metadata entry this library writes (JSON).
METADATA_KEY: Final = "braze_frames"
#: Version of the on-disk layout: the tidy Arrow schema, the metadata fields, the hive layout.
SCHEMA_VERSION: Final = 1

_KEY_TYPE: Final = pa.dictionary(pa.int32(), pa.string())
#: The one Arrow schema of a tidy frame on disk, whatever backend wrote it. The string keys
#: are dictionaries (written as Parquet dictionary pages, read back as categoricals);
#: the key columns other than ``variation``/``variation_name`` are never null.
TIDY_ARROW_SCHEMA: Final = pa.schema([
    pa.field("campaign_id", _KEY_TYPE, nullable=False),
    pa.field("date", pa.date32(), nullable=False),
    pa.field("channel", _KEY_TYPE, nullable=False),
    pa.field("variation", _KEY_TYPE, nullable=True),
    pa.field("variation_name", _KEY_TYPE, nullable=True),
    pa.field("metric", _KEY_TYPE, nullable=False),
    pa.field("value", pa.float64(), nullable=True),
])
_TIDY_STRINGS: Final = ("campaign_id", "channel", "variation", "variation_name", "metric")

_DEFAULT_PARTITIONS: Final = ("campaign_id", "month")
_MONTH: Final = "month"
_PART_FILE: Final = "part-0.parquet"
_COMMON_METADATA: Final = "_common_metadata"
_HIVE_NULL: Final = "__HIVE_DEFAULT_PARTITION__"
_HIVE_SAFE: Final = frozenset(string.ascii_letters + string.digits + "-_.~")
#: Rows per row group: big enough for good compression and few footers, small enough that
#: readers can skip row groups of a large file by their date statistics.
_ROW_GROUP_ROWS = 1 << 20
_ZSTD_LEVEL: Final = 3
_ACCEPTED: Final = (
    "a pandas or polars DataFrame, a polars LazyFrame, a pyarrow Table, or any frame "
    "narwhals supports"
)

# Partition columns hold these types; their names go into the metadata so a reader can
# type the values parsed from the paths.
_PARTITION_TYPES: Final[Mapping[str, pa.DataType]] = {
    str(t): t
    for t in (
        pa.string(), pa.bool_(), pa.date32(), pa.int8(), pa.int16(), pa.int32(), pa.int64(),
        pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64(),
    )
}


# --- public functions ----------------------------------------------------------------


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
) -> Path:
    """Write a frame to one Parquet file, or to a hive-partitioned dataset, atomically.

    Args:
        df: A tidy frame, or a frame derived from one (pivot, rates, reconcile), or any
            other frame: pandas or polars DataFrame, polars LazyFrame (collected), pyarrow
            Table, or another frame narwhals supports. A pandas index is dropped when it is
            unnamed; a named index is refused (``reset_index()`` it into columns).
        path: The file to write; or, with ``partition_by``, the dataset's root directory
            (created if missing; its parent must exist).
        partition_by: ``False`` for one file. ``True`` for the standard dataset layout
            (``campaign_id``, ``month``); or the names of the partition columns, where
            ``month`` (``YYYY-MM``) is derived from ``date``. Partition columns hold
            strings, integers, booleans or dates.
        metadata: Extra JSON-serialisable entries, stored under ``"user"`` in the
            ``braze_frames`` metadata.
        kind: What the frame is: ``"tidy"``, ``"pivot"``, ``"rates"``, ``"reconcile"`` or
            ``"frame"``. Detected from the columns when omitted; ``"tidy"`` requires
            exactly the tidy columns.
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

    Returns:
        The path written: the file, or the dataset's root.

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
    if existing not in _EXISTING:
        msg = f"existing must be one of {_EXISTING}, not {existing!r}"
        raise ValueError(msg)
    table, frame_kind, categorical = _prepare(df, kind)
    user = _check_user_metadata(metadata)
    options = _WriteOptions(compression, compression_level)
    target = Path(path)
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
        path: A ``.parquet`` file or a dataset's root directory.
        backend: ``"polars"`` or ``"pandas"``.
        columns: Read only these columns (partition columns and ``month`` included), in
            this order.
        filters: A ``pyarrow.compute.Expression`` or pyarrow's list-of-tuples form, e.g.
            ``[("campaign_id", "=", "c1"), ("month", ">=", "2024-07")]``; on a dataset,
            filters on partition columns skip whole directories.

    Returns:
        A polars or pandas DataFrame.

    Raises:
        FileNotFoundError: Nothing at ``path``, or a directory without Parquet files.
        ValueError: An unknown backend, or a column that is not there.
    """
    backend = check_backend(backend)
    source = Path(path)
    table, meta = _read_table(source, columns, filters)
    frame = _to_polars(table, meta, selected=columns is not None)
    return to_backend(frame, backend)


def parquet_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the ``braze_frames`` metadata of a file, or of a whole dataset.

    For a dataset, the per-file entries are combined: ``campaign_ids`` is their union,
    ``date_range`` spans them all, ``rows`` is the total, ``written_at`` the latest, and
    ``files`` counts the data files.

    Args:
        path: A file or a dataset's root directory written by :func:`write_parquet`.

    Returns:
        The decoded JSON: ``library``, ``version``, ``schema_version``, ``kind``,
        ``columns``, ``categorical``, ``campaign_ids``, ``date_range`` (``{"min", "max"}``
        ISO dates or null), ``rows``, ``written_at``, ``partitioning`` and, when given,
        ``user``.

    Raises:
        FileNotFoundError: Nothing at ``path``.
        ValueError: The file was not written by braze_frames.
    """
    source = Path(path)
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
    ids = {cid for m in metas for cid in (m.get("campaign_ids") or [])}
    ranges = [m["date_range"] for m in metas if m.get("date_range")]
    combined["campaign_ids"] = sorted(ids) if any(m.get("campaign_ids") is not None for m in metas) else None
    combined["date_range"] = (
        {"min": min(r["min"] for r in ranges), "max": max(r["max"] for r in ranges)} if ranges else None
    )
    combined["rows"] = sum(int(m.get("rows", 0)) for m in metas)
    combined["written_at"] = max(str(m.get("written_at", "")) for m in metas)
    combined["files"] = len(files)
    return combined


def write_csv(df: Any, path: str | os.PathLike[str]) -> Path:
    """Write a frame to CSV atomically, with ISO dates and empty fields for nulls.

    Takes the same frames as :func:`write_parquet` and normalises them the same way, so a
    pandas ``datetime64`` date is written ``2024-07-01``, like polars' ``Date``.

    Args:
        df: The frame.
        path: The CSV file; its directory must exist.

    Returns:
        The path written.

    Raises:
        TypeError: ``df`` is not a frame.
        FileNotFoundError: The directory does not exist.
    """
    table, _, _ = _prepare(df, None)
    target = Path(path)
    _check_parent(target)
    if target.is_dir():
        msg = f"{target} is a directory; give a file name"
        raise IsADirectoryError(msg)
    frame = cast("pl.DataFrame", pl.from_arrow(table))

    def write(fh: IO[bytes]) -> None:
        frame.write_csv(fh, date_format="%Y-%m-%d")

    _atomic_write(target, write)
    return target


def hive_escape(value: str) -> str:
    """Escape a value for a hive partition directory name (``key=<escaped>``).

    Every ASCII character except letters, digits and ``-_.~`` becomes ``%XX``; non-ASCII
    characters are kept (see the module docstring for why). Any URL-decoder undoes it.

    Examples:
        >>> hive_escape("a/b=c %d")
        'a%2Fb%3Dc%20%25d'
        >>> hive_escape("caf\u00e9-1")
        'caf\u00e9-1'
    """
    return "".join(
        ch if ch in _HIVE_SAFE or ord(ch) > 127 else f"%{ord(ch):02X}" for ch in value
    )


# --- input: any frame -> one normalised Arrow table --------------------------------------


def _prepare(df: Any, kind: Kind | None) -> tuple[pa.Table, Kind, list[str]]:
    """Convert the input to Arrow, decide its kind and normalise it.

    Returns the table (strings plain, not yet dictionary-encoded), the kind and the columns
    to read back as categoricals.
    """
    table = _to_arrow(df)
    names = list(table.column_names)
    _check_unique(names)
    if kind is None:
        kind = _detect_kind(names)
    elif kind not in _KINDS:
        msg = f"kind must be one of {_KINDS}, not {kind!r}"
        raise ValueError(msg)
    elif kind == "tidy" and tuple(names) != TIDY_COLUMNS:
        msg = f"kind='tidy' needs exactly the columns {list(TIDY_COLUMNS)}, got {names}"
        raise ValueError(msg)
    if kind == "tidy":
        return _cast_tidy(table), kind, list(_TIDY_STRINGS)
    table, categorical = _normalise(table)
    return table, kind, categorical


def _check_unique(names: Sequence[Any]) -> None:
    if len(set(names)) != len(names):
        dupes = sorted({str(n) for n in names if names.count(n) > 1})
        msg = f"the frame has duplicate column names {dupes}; Parquet needs unique names"
        raise ValueError(msg)


def _to_arrow(df: Any) -> pa.Table:
    if isinstance(df, pa.Table):
        return df.replace_schema_metadata(None)
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if isinstance(df, pl.DataFrame):
        return df.to_arrow()
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(df, pd.DataFrame):
        return _pandas_to_arrow(df)
    try:
        frame = nw.from_native(df)
    except TypeError:
        msg = f"write a frame: {_ACCEPTED}; got {type(df).__module__}.{type(df).__qualname__}"
        raise TypeError(msg) from None
    if isinstance(frame, nw.LazyFrame):
        return frame.collect().to_arrow()
    if isinstance(frame, nw.DataFrame):
        return frame.to_arrow()
    msg = f"write a frame: {_ACCEPTED}; got a {type(df).__qualname__}"
    raise TypeError(msg)


def _pandas_to_arrow(df: Any) -> pa.Table:
    import pandas as pd

    if isinstance(df.columns, pd.MultiIndex):
        msg = "the frame has MultiIndex columns; flatten them to strings first"
        raise TypeError(msg)
    if df.columns.has_duplicates:
        _check_unique(list(df.columns))
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad:
        msg = f"column names must be strings, got {bad[:5]!r}; rename them first"
        raise ValueError(msg)
    if any(name is not None for name in df.index.names):
        msg = (
            f"the frame's index {list(df.index.names)} holds data that Parquet would lose; "
            "call df.reset_index() to keep it as columns, or df.reset_index(drop=True)"
        )
        raise ValueError(msg)
    table = pa.Table.from_pandas(df, preserve_index=False)
    # The "pandas" entry describes the writer's dtypes; dropping it keeps the file the
    # same whichever backend wrote it.
    return table.replace_schema_metadata(None)


def _detect_kind(names: Sequence[str]) -> Kind:
    cols = set(names)
    if tuple(names) == TIDY_COLUMNS:
        return "tidy"
    if {"metric", "value", "numerator", "denominator"} <= cols:
        return "rates"
    if "event" in cols and (
        {"by_conversion_date", "by_send_date", "difference"} & cols or any("gap" in c for c in cols)
    ):
        return "reconcile"
    if {"campaign_id", "channel", "variation"} <= cols and not {"metric", "value"} & cols:
        return "pivot"
    return "frame"


# Compared by name: the ``*_view`` types and their ``pa.types`` predicates are newer than
# the oldest pyarrow this package supports.
_STRING_TYPES: Final = frozenset({"string", "large_string", "string_view"})
_BINARY_TYPES: Final = frozenset({"binary", "large_binary", "binary_view"})


def _is_stringish(t: pa.DataType) -> bool:
    return str(t) in _STRING_TYPES


def _is_binaryish(t: pa.DataType) -> bool:
    return str(t) in _BINARY_TYPES


def _is_variable_list(t: pa.DataType) -> bool:
    return isinstance(t, (pa.ListType, pa.LargeListType)) or type(t).__name__ in {
        "ListViewType", "LargeListViewType"
    }


def _cast_tidy(table: pa.Table) -> pa.Table:
    """Cast a tidy table to ``TIDY_ARROW_SCHEMA`` with plain strings (encoded at write)."""
    arrays: list[pa.ChunkedArray] = []
    for field in TIDY_ARROW_SCHEMA:
        col = table[field.name]
        if field.name == "date":
            col = _as_date(col)
        elif field.name == "value":
            if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
                    or pa.types.is_decimal(col.type) or pa.types.is_null(col.type)):
                msg = f"tidy column 'value' must be numeric, got {col.type}"
                raise TypeError(msg)
            col = _nan_to_null(pc.cast(col, pa.float64()))
        else:
            t = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
            if not (_is_stringish(t) or pa.types.is_null(t)):
                msg = f"tidy column {field.name!r} must hold strings, got {col.type}"
                raise TypeError(msg)
            col = pc.cast(col, pa.string())
        if not field.nullable and col.null_count:
            msg = (
                f"tidy column {field.name!r} has {col.null_count} null value(s); "
                "campaign_id, date, channel and metric must never be null"
            )
            raise ValueError(msg)
        arrays.append(col)
    schema = pa.schema([
        f.with_type(pa.string()) if pa.types.is_dictionary(f.type) else f for f in TIDY_ARROW_SCHEMA
    ])
    return pa.Table.from_arrays(arrays, schema=schema)


def _as_date(col: pa.ChunkedArray) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_date32(t):
        return col
    if pa.types.is_date64(t):
        return pc.cast(col, pa.date32())
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            msg = (
                f"tidy column 'date' has time zone {t.tz!r}; Braze's days are calendar "
                "dates: convert to naive dates first (pandas: .dt.tz_localize(None))"
            )
            raise TypeError(msg)
        if not _all_midnight(col):
            msg = "tidy column 'date' has times of day; it must hold calendar dates"
            raise ValueError(msg)
        return pc.cast(col, pa.date32())
    msg = f"tidy column 'date' must hold dates (or midnight timestamps), got {t}"
    raise TypeError(msg)


def _all_midnight(col: pa.ChunkedArray) -> bool:
    # Arrow's timestamp -> date32 cast truncates silently, so check first.
    if len(col) == col.null_count:
        return True
    floored = pc.floor_temporal(col, 1, "day")
    return bool(pc.all(pc.equal(floored, col)).as_py())


def _nan_to_null(col: pa.ChunkedArray) -> pa.ChunkedArray:
    # pandas has no null apart from NaN, and pyarrow reads its NaN as null; doing the same
    # for polars makes both backends write the same rows.
    nan = pc.is_nan(col)
    if not pc.any(nan).as_py():
        return col
    return pc.if_else(nan, pa.scalar(None, col.type), col)


def _normalise_type(t: pa.DataType) -> pa.DataType:
    """The backend-neutral version of a type: one string, one binary, one list, date32."""
    if _is_stringish(t):
        return pa.string()
    if _is_binaryish(t):
        return pa.binary()
    if pa.types.is_date64(t):
        return pa.date32()
    if _is_variable_list(t):
        return pa.list_(_normalise_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(_normalise_type(t.field(i).type))
                          for i in range(t.num_fields)])
    return t


def _normalise(table: pa.Table) -> tuple[pa.Table, list[str]]:
    """Give a derived frame the same Arrow schema whichever backend produced it."""
    fields: list[pa.Field] = []
    arrays: list[pa.ChunkedArray] = []
    categorical: list[str] = []
    for name, original in zip(table.column_names, table.columns, strict=True):
        col = original
        t = col.type
        if pa.types.is_dictionary(t):
            value_type = t.value_type
            if _is_stringish(value_type) or pa.types.is_null(value_type):
                categorical.append(name)
                value_type = pa.string()
            col = pc.cast(col, value_type)
            t = value_type
        if name == "date" and pa.types.is_timestamp(t) and t.tz is None and _all_midnight(col):
            target = pa.date32()
        else:
            target = _normalise_type(t)
        if target != col.type:
            col = pc.cast(col, target)
        if pa.types.is_floating(target):
            col = _nan_to_null(col)
        fields.append(pa.field(name, target))
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields)), categorical


def _encode(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Dictionary-encode the columns the schema says are dictionaries, one dictionary each.

    Encoding per file (after partitioning) keeps each file's dictionaries to the values it
    holds, in order of first appearance, so equal rows give equal files.
    """
    arrays = []
    for field in schema:
        col = table[field.name]
        if pa.types.is_dictionary(field.type):
            col = pc.dictionary_encode(col.combine_chunks())
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=schema)


# --- metadata --------------------------------------------------------------------------


def _version() -> str:
    from .. import __version__  # the package is fully imported by the time anyone writes

    return __version__


def _check_user_metadata(metadata: object) -> dict[str, Any] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        msg = f"metadata must be a mapping of JSON values, not {type(metadata).__name__}"
        raise TypeError(msg)
    user = dict(metadata)
    try:
        json.dumps(user)
    except (TypeError, ValueError) as exc:
        msg = f"metadata must be JSON-serialisable: {exc}"
        raise TypeError(msg) from exc
    return user


def _stats(table: pa.Table) -> dict[str, Any]:
    """Campaign ids, date range and row count of the rows about to be written."""
    ids: list[str] | None = None
    if "campaign_id" in table.column_names and pa.types.is_string(table["campaign_id"].type):
        ids = sorted(v for v in pc.unique(table["campaign_id"]).to_pylist() if v is not None)
    date_range: dict[str, str] | None = None
    if "date" in table.column_names and (
        pa.types.is_date32(table["date"].type) or pa.types.is_timestamp(table["date"].type)
    ):
        lo_hi = pc.min_max(table["date"]).as_py()
        if lo_hi["min"] is not None:
            date_range = {"min": lo_hi["min"].isoformat(), "max": lo_hi["max"].isoformat()}
    return {"campaign_ids": ids, "date_range": date_range, "rows": table.num_rows}


def _metadata_json(
    kind: Kind,
    columns: Sequence[str],
    categorical: Sequence[str],
    stats: Mapping[str, Any],
    partitioning: Mapping[str, Any] | None,
    user: Mapping[str, Any] | None,
) -> bytes:
    meta: dict[str, Any] = {
        "library": "braze_frames",
        "version": _version(),
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "columns": list(columns),
        "categorical": list(categorical),
        **stats,
        "written_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
        "partitioning": dict(partitioning) if partitioning is not None else None,
    }
    if user is not None:
        meta["user"] = dict(user)
    text = json.dumps(meta, ensure_ascii=False)
    # Only data the caller handed in can end up here; still, refuse to persist the key if
    # it was passed along (e.g. in ``metadata=``) by mistake.
    key = os.environ.get("BRAZE_API_KEY", "")
    if len(key) >= 8 and key in text:
        msg = "the Parquet metadata would contain the Braze API key; refusing to write it"
        raise ValueError(msg)
    return text.encode()


def _schema_of(path: Path) -> pa.Schema:
    if not path.exists():
        msg = f"no such file or directory: {path}"
        raise FileNotFoundError(msg)
    return pq.read_schema(path)


def _decode_metadata(schema: pa.Schema) -> dict[str, Any] | None:
    raw = (schema.metadata or {}).get(METADATA_KEY.encode())
    if raw is None:
        return None
    meta = json.loads(raw)
    return meta if isinstance(meta, dict) else None


def _require_metadata(schema: pa.Schema, path: Path) -> dict[str, Any]:
    meta = _decode_metadata(schema)
    if meta is None:
        msg = f"{path} has no {METADATA_KEY!r} metadata: it was not written by braze_frames"
        raise ValueError(msg)
    return meta


# --- atomic file writes ----------------------------------------------------------------


class _WriteOptions:
    def __init__(self, compression: object, level: int | None) -> None:
        if not isinstance(compression, str):
            msg = f"compression must be a codec name such as 'zstd', not {compression!r}"
            raise TypeError(msg)
        self.compression: str = compression
        self.level = _ZSTD_LEVEL if level is None and compression.lower() == "zstd" else level


def _check_parent(target: Path) -> None:
    parent = target.parent
    if not parent.is_dir():
        msg = f"cannot write {target}: the directory {parent} does not exist; create it first"
        raise FileNotFoundError(msg)


def _atomic_write(target: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temporary file in the same directory, fsync, then rename over."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    # os.open with a mode (not mkstemp's 0600) so the file gets the usual umask permissions.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; directories cannot be opened this way on Windows.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_table_file(
    table: pa.Table, target: Path, schema: pa.Schema, options: _WriteOptions
) -> None:
    table = _encode(table, schema)

    def write(fh: IO[bytes]) -> None:
        writer = pq.ParquetWriter(
            fh, schema, compression=options.compression, compression_level=options.level
        )
        try:
            for start in range(0, table.num_rows, _ROW_GROUP_ROWS):
                writer.write_table(table.slice(start, _ROW_GROUP_ROWS))
        finally:
            writer.close()

    _atomic_write(target, write)


def _file_schema(table: pa.Table, kind: Kind, meta: bytes, drop: Sequence[str] = ()) -> pa.Schema:
    base = TIDY_ARROW_SCHEMA if kind == "tidy" else table.schema
    fields = [f for f in base if f.name not in drop]
    return pa.schema(fields, metadata={METADATA_KEY: meta})


def _write_single(
    table: pa.Table,
    target: Path,
    kind: Kind,
    categorical: list[str],
    user: dict[str, Any] | None,
    options: _WriteOptions,
    existing: Existing,
) -> Path:
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


# --- hive-partitioned datasets ---------------------------------------------------------


def _partition_columns(partition_by: bool | str | Sequence[str]) -> list[str] | None:
    if partition_by is False:
        return None
    if partition_by is True:
        return list(_DEFAULT_PARTITIONS)
    cols = [partition_by] if isinstance(partition_by, str) else list(partition_by)
    if not cols or not all(isinstance(c, str) for c in cols) or len(set(cols)) != len(cols):
        msg = f"partition_by must be True, False or distinct column names, not {partition_by!r}"
        raise ValueError(msg)
    return cols


def _partition_spec(table: pa.Table, parts: Sequence[str]) -> dict[str, Any]:
    """Check the partition columns and describe them for the metadata."""
    types: dict[str, str] = {}
    derived: list[str] = []
    for col in parts:
        if col not in table.column_names:
            if col == _MONTH and "date" in table.column_names:
                derived.append(col)
                types[col] = str(pa.string())
                continue
            msg = f"cannot partition by {col!r}: the frame has no such column"
            if col == _MONTH:
                msg += " and no 'date' column to derive it from"
            raise ValueError(msg)
        t = table[col].type
        if str(t) not in _PARTITION_TYPES:
            msg = f"cannot partition by {col!r} of type {t}: use strings, integers, booleans or dates"
            raise TypeError(msg)
        types[col] = str(t)
    if len(parts) == table.num_columns:
        msg = "partition_by names every column; leave at least one column in the files"
        raise ValueError(msg)
    return {"flavor": "hive", "columns": list(parts), "types": types, "derived": derived}


def _partition_keys(table: pa.Table, spec: Mapping[str, Any]) -> pl.DataFrame:
    """One string column per partition column: the directory value of each row."""
    exprs: list[pl.Expr] = []
    sources = {c for c in spec["columns"] if c not in spec["derived"]}
    if spec["derived"]:
        sources.add("date")
    frame = cast("pl.DataFrame", pl.from_arrow(table.select(sorted(sources))))
    for col in spec["columns"]:
        if col in spec["derived"]:
            exprs.append(pl.col("date").dt.strftime("%Y-%m").alias(col))
            continue
        dtype = frame.schema[col]
        if dtype == pl.Date:
            expr = pl.col(col).dt.strftime("%Y-%m-%d")
        elif dtype == pl.Boolean:
            expr = pl.when(pl.col(col)).then(pl.lit("true")).otherwise(pl.lit("false"))
            expr = pl.when(pl.col(col).is_null()).then(None).otherwise(expr)
        else:
            expr = pl.col(col).cast(pl.String)
        exprs.append(expr.alias(col))
    keys = frame.select(exprs)
    for col in spec["columns"]:
        if (keys[col] == "").any():
            msg = (
                f"partition column {col!r} holds an empty string, which hive readers take "
                "for null; replace it first"
            )
            raise ValueError(msg)
    return keys


def _iter_partitions(
    table: pa.Table, spec: Mapping[str, Any]
) -> Iterator[tuple[tuple[str | None, ...], pa.Table]]:
    cols = list(spec["columns"])
    keys = _partition_keys(table, spec).with_row_index("__row__")
    ordered = keys.sort(cols, maintain_order=True, nulls_last=True)
    sizes = ordered.group_by(cols, maintain_order=True).len(name="__n__")
    rows = table.take(ordered["__row__"].to_arrow())
    start = 0
    for group in sizes.iter_rows():
        n = int(group[-1])
        yield tuple(group[:-1]), rows.slice(start, n)
        start += n


def _check_dataset_layout(
    root: Path, kind: Kind, columns: Sequence[str], spec: Mapping[str, Any], existing: Existing
) -> None:
    if not root.exists():
        _check_parent(root)
        return
    if not root.is_dir():
        msg = f"{root} is a file; a partitioned dataset needs a directory"
        raise NotADirectoryError(msg)
    if existing == "error" and any(root.iterdir()):
        msg = f"{root} is not empty (existing='error'); use existing='overwrite_or_ignore' to update it"
        raise FileExistsError(msg)
    common = root / _COMMON_METADATA
    if common.is_file():
        old = _decode_metadata(pq.read_schema(common)) or {}
        old_layout = (old.get("kind"), old.get("columns"), (old.get("partitioning") or {}).get("columns"))
        if old_layout != (kind, list(columns), list(spec["columns"])):
            msg = (
                f"{root} holds a dataset of kind {old_layout[0]!r} with columns {old_layout[1]} "
                f"partitioned by {old_layout[2]}; this frame ({kind!r}, {list(columns)}, "
                f"partitioned by {list(spec['columns'])}) would make it unreadable as one: "
                "write it to another directory"
            )
            raise ValueError(msg)


def _write_dataset(
    table: pa.Table,
    root: Path,
    parts: Sequence[str],
    kind: Kind,
    categorical: list[str],
    user: dict[str, Any] | None,
    options: _WriteOptions,
    existing: Existing,
) -> Path:
    spec = _partition_spec(table, parts)
    columns = table.column_names
    _check_dataset_layout(root, kind, columns, spec, existing)
    stored = [c for c in parts if c not in spec["derived"]]
    root.mkdir(exist_ok=True)
    for values, rows in _iter_partitions(table, spec):
        directory = root.joinpath(*(
            f"{col}={_HIVE_NULL if v is None else hive_escape(v)}"
            for col, v in zip(parts, values, strict=True)
        ))
        directory.mkdir(parents=True, exist_ok=True)
        meta = _metadata_json(kind, columns, categorical, _stats(rows), spec, user)
        schema = _file_schema(rows, kind, meta, drop=stored)
        target = directory / _PART_FILE
        _write_table_file(rows.drop_columns(stored), target, schema, options)
        if existing == "delete_matching":
            for other in directory.glob("*.parquet"):
                if other.name != _PART_FILE:
                    other.unlink()
    # Schema and layout without rows: lets an empty dataset read back, and later writes
    # check that they add to the same layout. Readers skip ``_``-prefixed files.
    meta = _metadata_json(
        kind, columns, categorical, {"campaign_ids": None, "date_range": None, "rows": None}, spec, user
    )
    common_schema = _file_schema(table, kind, meta, drop=stored)
    _atomic_write(root / _COMMON_METADATA, lambda fh: pq.write_metadata(common_schema, fh))
    return root


# --- reading ---------------------------------------------------------------------------


def _dataset_module() -> Any:
    # pyarrow.dataset imports pandas when it is installed; import braze_frames must not.
    import pyarrow.dataset

    return pyarrow.dataset


def _data_files(root: Path) -> list[Path]:
    """The dataset's Parquet files, sorted, skipping hidden and ``_``-prefixed entries."""
    files = []
    for f in root.rglob("*.parquet"):
        rel = f.relative_to(root).parts
        if not any(p.startswith((".", "_")) for p in rel) and f.is_file():
            files.append(f)
    return sorted(files)


def _filter_expression(filters: Any) -> Any:
    if filters is None or isinstance(filters, pc.Expression):
        return filters
    if isinstance(filters, Sequence) and not isinstance(filters, str):
        return pq.filters_to_expression(list(filters))
    msg = (
        "filters must be a pyarrow.compute.Expression or a list of (column, op, value) "
        f"tuples, not {type(filters).__name__}"
    )
    raise TypeError(msg)


def _hive_partitioning(root: Path, files: Sequence[Path], meta: Mapping[str, Any] | None) -> Any:
    spec = (meta or {}).get("partitioning")
    if spec:
        fields = [pa.field(c, _PARTITION_TYPES.get(spec["types"].get(c, ""), pa.string()))
                  for c in spec["columns"]]
        return _dataset_module().partitioning(pa.schema(fields), flavor="hive")
    # A dataset written by another tool: infer the partition columns from the paths.
    has_keys = any("=" in p for f in files for p in f.relative_to(root).parts[:-1])
    return _dataset_module().HivePartitioning.discover(infer_dictionary=False) if has_keys else None


def _read_table(
    source: Path, columns: Sequence[str] | None, filters: Any
) -> tuple[pa.Table, dict[str, Any] | None]:
    expression = _filter_expression(filters)
    cols = None if columns is None else list(columns)
    if isinstance(columns, str):
        cols = [columns]
    if not source.exists():
        msg = f"no such file or directory: {source}"
        raise FileNotFoundError(msg)
    if not source.is_dir():
        meta = _decode_metadata(pq.read_schema(source))
        dataset = _dataset_module().dataset(str(source), format="parquet")
        return _scan(dataset, cols, expression), meta
    files = _data_files(source)
    if not files:
        return _empty_dataset(source, cols, expression), _common_meta(source)
    meta = _decode_metadata(pq.read_schema(files[0]))
    base = _dataset_root(source, meta)
    dataset = _dataset_module().dataset(
        [str(f) for f in files],
        format="parquet",
        partitioning=_hive_partitioning(base, files, meta),
        partition_base_dir=str(base),
    )
    return _scan(dataset, cols, expression), meta


def _dataset_root(source: Path, meta: Mapping[str, Any] | None) -> Path:
    """The dataset's root, also when ``source`` is one of its partition directories.

    Reading ``root/campaign_id=c1`` must still give ``campaign_id`` from the path, so the
    partition components above the files are parsed from the root.
    """
    columns = set(((meta or {}).get("partitioning") or {}).get("columns") or [])
    base = source.resolve()
    while base.name.partition("=")[0] in columns and base.parent != base:
        base = base.parent
    return base


def _scan(dataset: Any, columns: list[str] | None, expression: Any) -> pa.Table:
    if columns is not None:
        missing = [c for c in columns if c not in dataset.schema.names]
        if missing:
            msg = f"no column(s) {missing} in the data; it has {dataset.schema.names}"
            raise ValueError(msg)
    return dataset.to_table(columns=columns, filter=expression)


def _common_meta(root: Path) -> dict[str, Any] | None:
    common = root / _COMMON_METADATA
    return _decode_metadata(pq.read_schema(common)) if common.is_file() else None


def _empty_dataset(root: Path, columns: list[str] | None, expression: Any) -> pa.Table:
    common = root / _COMMON_METADATA
    if not common.is_file():
        msg = f"no Parquet files under {root}"
        raise FileNotFoundError(msg)
    schema = pq.read_schema(common)
    meta = _decode_metadata(schema) or {}
    spec = meta.get("partitioning") or {}
    fields = list(schema) + [
        pa.field(col, _PARTITION_TYPES.get(spec["types"].get(col, ""), pa.string()))
        for col in spec.get("columns", [])
        if col not in schema.names
    ]
    table = pa.schema(fields).empty_table()
    return _scan(_dataset_module().dataset(table), columns, expression)


def _to_polars(table: pa.Table, meta: Mapping[str, Any] | None, *, selected: bool) -> pl.DataFrame:
    """Give the table back the dtypes and column order it was written with."""
    names = table.column_names
    kind = (meta or {}).get("kind")
    written = list((meta or {}).get("columns") or [])
    if kind is None and tuple(names) == TIDY_COLUMNS:
        kind = "tidy"
    if not selected and written:
        # Hive readers append partition columns; derived ones (month) were not in the frame.
        derived = set(((meta or {}).get("partitioning") or {}).get("derived") or [])
        order = [c for c in written if c in names]
        order += [c for c in names if c not in order and c not in derived]
        table = table.select(order)
    frame = cast("pl.DataFrame", pl.from_arrow(table))
    if kind == "tidy":
        return frame.cast({c: POLARS_SCHEMA[c] for c in frame.columns if c in POLARS_SCHEMA})
    categorical = set((meta or {}).get("categorical") or [])
    return frame.cast({
        c: pl.Categorical() for c in frame.columns
        if c in categorical and frame.schema[c] in (pl.String, pl.Categorical, pl.Null)
    })
