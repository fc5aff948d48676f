"""One Arrow schema per frame kind, whatever backend made the frame, and the metadata it carries.

Tidy frames (exactly ``TIDY_COLUMNS``) are cast to :data:`TIDY_ARROW_SCHEMA`, and Canvas
frames (exactly ``CANVAS_COLUMNS``, kind ``"canvas"``) to :data:`CANVAS_ARROW_SCHEMA`, so a
pandas frame and a polars frame holding the same rows give the same bytes (only the write
time in the metadata differs). Other frames (pivot, rates, reconcile output...) keep their own
columns with the backends' differences ironed out: every string flavour becomes
``string``, binaries ``binary``, pandas' midnight timestamps in ``date`` become ``date32``,
and a float NaN becomes null. The metadata (JSON under :data:`METADATA_KEY`) never holds
anything from the environment, so never the API key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, cast

import narwhals.stable.v2 as nw
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .._schema import SERIES_COLUMNS, TIDY_COLUMNS
from .._tables import CAMPAIGN_TABLE, CANVAS_COLUMNS, CANVAS_TABLE, Table
from .._tidy import CANVAS_POLARS_SCHEMA, HOUR_DTYPE, POLARS_SCHEMA, SERIES_POLARS_SCHEMA
from .._validate import check_choice

__all__ = ["CANVAS_ARROW_SCHEMA", "METADATA_KEY", "SCHEMA_VERSION", "TIDY_ARROW_SCHEMA", "Kind"]

Kind = Literal["tidy", "canvas", "pivot", "rates", "reconcile", "frame", "series"]

_KINDS: Final = ("tidy", "canvas", "pivot", "rates", "reconcile", "frame", "series")

#: The key of the key-value metadata entry this library writes (JSON).
METADATA_KEY: Final = "braze_frames"

#: Version of the on-disk layout: the tidy Arrow schema, the metadata fields, the hive layout.
SCHEMA_VERSION: Final = 2

_KEY_TYPE: Final = pa.dictionary(pa.int32(), pa.string())

#: The one Arrow schema of a tidy frame on disk, whatever backend wrote it. The string keys
#: are dictionaries (written as Parquet dictionary pages, read back as categoricals);
#: the key columns other than ``variation``/``variation_name`` are never null.
TIDY_ARROW_SCHEMA: Final = pa.schema([
    pa.field("campaign_id", _KEY_TYPE, nullable=False),
    pa.field("campaign_name", _KEY_TYPE, nullable=True),
    pa.field("date", pa.date32(), nullable=False),
    pa.field("channel", _KEY_TYPE, nullable=False),
    pa.field("variation", _KEY_TYPE, nullable=True),
    pa.field("variation_name", _KEY_TYPE, nullable=True),
    pa.field("metric", _KEY_TYPE, nullable=False),
    pa.field("value", pa.float64(), nullable=True),
])

#: The Canvas table on disk (SPEC section 12), as the campaign table: dictionary keys; the
#: keys but ``variant``/``step`` and the names are never null.
CANVAS_ARROW_SCHEMA: Final = pa.schema([
    pa.field(name, pa.date32() if name == "date" else pa.float64() if name == "value" else _KEY_TYPE,
             nullable=name in CANVAS_TABLE.may_be_null)
    for name in CANVAS_COLUMNS
])

#: The tables with a fixed schema, by kind: their Arrow schema, their polars dtypes.
_TABLES: Final[Mapping[str, tuple[Table, pa.Schema, Mapping[str, Any]]]] = {
    "tidy": (CAMPAIGN_TABLE, TIDY_ARROW_SCHEMA, POLARS_SCHEMA),
    "canvas": (CANVAS_TABLE, CANVAS_ARROW_SCHEMA, CANVAS_POLARS_SCHEMA),
}

_ACCEPTED: Final = (
    "a pandas or polars DataFrame, a polars LazyFrame, a pyarrow Table, or any frame "
    "narwhals supports"
)


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
    else:
        check_choice("kind", kind, _KINDS)
    if kind in _TABLES:
        tidy, schema, _ = _TABLES[kind]
        if tuple(names) != tidy.columns:
            msg = f"kind={kind!r} needs exactly the columns {list(tidy.columns)}, got {names}"
            raise ValueError(msg)
        return _cast_tidy(table, schema), kind, list(tidy.string_columns)
    if kind == "series":
        return _cast_series(table), kind, list(_SERIES_STRINGS)
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
    if tuple(names) == SERIES_COLUMNS:
        return "series"
    if tuple(names) == CANVAS_COLUMNS:
        return "canvas"
    if {"metric", "value", "numerator", "denominator"} <= cols:
        return "rates"
    if "event" in cols and (
        {"by_conversion_date", "by_send_date", "difference"} & cols or any("gap" in c for c in cols)
    ):
        return "reconcile"
    if ({"campaign_id", "channel", "variation"} <= cols or {"canvas_id", "variant", "step"} <= cols) \
            and not {"metric", "value"} & cols:
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


def _cast_tidy(table: pa.Table, target: pa.Schema = TIDY_ARROW_SCHEMA) -> pa.Table:
    """Cast a tidy table to its schema (``TIDY_ARROW_SCHEMA``...) with plain strings (encoded at write)."""
    arrays: list[pa.ChunkedArray] = []
    for field in target:
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
            never = ", ".join(f.name for f in target if not f.nullable)
            msg = (
                f"tidy column {field.name!r} has {col.null_count} null value(s); "
                f"{never} must never be null"
            )
            raise ValueError(msg)
        arrays.append(col)
    schema = pa.schema([
        f.with_type(pa.string()) if pa.types.is_dictionary(f.type) else f for f in target
    ])
    return pa.Table.from_arrays(arrays, schema=schema)


_SERIES_STRINGS: Final = ("metric", "key", "key_name", "app_id")
#: An hourly series' ``date`` on disk: microseconds, UTC (polars' ``HOUR_DTYPE``).
_HOUR_TYPE: Final = pa.timestamp("us", "UTC")


def _cast_series(table: pa.Table) -> pa.Table:
    """A workspace series table (``SERIES_COLUMNS``) the same whichever backend made it.

    Its strings plain (read back as categoricals), ``value`` float64 with NaN as null, and
    ``date`` a ``date32`` (days) or a UTC ``timestamp[us]`` (hours; an hour in another
    time zone is the same instant in UTC).
    """
    if tuple(table.column_names) != SERIES_COLUMNS:
        msg = f"kind='series' needs exactly the columns {list(SERIES_COLUMNS)}, got {table.column_names}"
        raise ValueError(msg)
    table, _ = _normalise(table)
    date = table["date"]
    if pa.types.is_timestamp(date.type) and date.type.tz is not None:
        date = pc.cast(date, _HOUR_TYPE)
    else:
        date = _as_date(date)
    arrays = [date if name == "date" else table[name] for name in SERIES_COLUMNS]
    for name in ("metric", "date"):
        column = arrays[SERIES_COLUMNS.index(name)]
        if column.null_count:
            msg = f"series column {name!r} has {column.null_count} null value(s); it must never be null"
            raise ValueError(msg)
    if not (pa.types.is_floating(arrays[-1].type) or pa.types.is_integer(arrays[-1].type)
            or pa.types.is_null(arrays[-1].type)):
        msg = f"series column 'value' must be numeric, got {arrays[-1].type}"
        raise TypeError(msg)
    arrays[-1] = _nan_to_null(pc.cast(arrays[-1], pa.float64()))
    for i in range(4):  # an all-null column of a backend without dtypes (pandas object)
        if pa.types.is_null(arrays[i].type):
            arrays[i] = pc.cast(arrays[i], pa.string())
    return pa.Table.from_arrays(arrays, names=list(SERIES_COLUMNS))


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
    """Campaign (or Canvas) ids, date range and row count of the rows about to be written."""
    ids: list[str] | None = None
    if "campaign_id" in table.column_names and pa.types.is_string(table["campaign_id"].type):
        ids = sorted(v for v in pc.unique(table["campaign_id"]).to_pylist() if v is not None)
    canvas_ids: dict[str, list[str]] = {}
    if "canvas_id" in table.column_names and pa.types.is_string(table["canvas_id"].type):
        found = pc.unique(table["canvas_id"]).to_pylist()
        canvas_ids["canvas_ids"] = sorted(v for v in found if v is not None)
    date_range: dict[str, str] | None = None
    if "date" in table.column_names and (
        pa.types.is_date32(table["date"].type) or pa.types.is_timestamp(table["date"].type)
    ):
        lo_hi = pc.min_max(table["date"]).as_py()
        if lo_hi["min"] is not None:
            date_range = {"min": lo_hi["min"].isoformat(), "max": lo_hi["max"].isoformat()}
    return {"campaign_ids": ids, **canvas_ids, "date_range": date_range, "rows": table.num_rows}


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


def _decode_metadata(schema: pa.Schema) -> dict[str, Any] | None:
    raw = (schema.metadata or {}).get(METADATA_KEY.encode())
    if raw is None:
        return None
    meta = json.loads(raw)
    return meta if isinstance(meta, dict) else None


def _to_polars(table: pa.Table, meta: Mapping[str, Any] | None, *, selected: bool) -> pl.DataFrame:
    """Give the table back the dtypes and column order it was written with."""
    names = table.column_names
    kind = (meta or {}).get("kind")
    written = list((meta or {}).get("columns") or [])
    if kind is None and tuple(names) == TIDY_COLUMNS:
        kind = "tidy"
    if kind is None and tuple(names) == CANVAS_COLUMNS:
        kind = "canvas"
    if not selected and written:
        # Hive readers append partition columns; derived ones (month) were not in the frame.
        derived = set(((meta or {}).get("partitioning") or {}).get("derived") or [])
        order = [c for c in written if c in names]
        order += [c for c in names if c not in order and c not in derived]
        table = table.select(order)
    frame = cast("pl.DataFrame", pl.from_arrow(table))
    if kind == "tidy" and not selected and "campaign_name" not in frame.columns:
        # Written before names joined the tidy table (schema version 1): no names known.
        frame = frame.with_columns(pl.lit(None, pl.String()).alias("campaign_name"))
        frame = frame.select(TIDY_COLUMNS)
    if kind in _TABLES:
        dtypes = _TABLES[str(kind)][2]
        return frame.cast({c: dtypes[c] for c in frame.columns if c in dtypes})
    if kind == "series":
        hourly = frame.schema.get("date") == HOUR_DTYPE
        schema = dict(SERIES_POLARS_SCHEMA, date=HOUR_DTYPE if hourly else pl.Date())
        return frame.cast({c: schema[c] for c in frame.columns if c in schema})
    categorical = set((meta or {}).get("categorical") or [])
    return frame.cast({
        c: pl.Categorical() for c in frame.columns
        if c in categorical and frame.schema[c] in (pl.String, pl.Categorical, pl.Null)
    })
