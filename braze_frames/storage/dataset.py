"""Hive-partitioned datasets: the layout Spark, DuckDB, polars and pyarrow all read.

See :mod:`braze_frames.storage.parquet` for the layout, the escaping of values and how
engines read it as it is.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Literal, cast

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .arrow import Kind, _decode_metadata, _metadata_json, _stats
from .files import (
    _atomic_write,
    _check_parent,
    _file_schema,
    _read_schema,
    _write_table_file,
    _WriteOptions,
)
from .fs import ObjectPath, StorePath

__all__ = ["Existing", "hive_escape"]

Existing = Literal["error", "overwrite_or_ignore", "delete_matching"]
_EXISTING: Final = ("error", "overwrite_or_ignore", "delete_matching")
#: ``partition_by=True``: a month's rows in one file (SPEC 7, version 2). Engines pay per
#: file, and campaign x month made files of about a thousand rows.
_DEFAULT_PARTITIONS: Final = ("month",)

#: Inside each file of a dataset, rows are sorted by these (the ones the frame has), so
#: that row-group statistics let readers skip campaigns (or Canvases).
_SORT_COLUMNS: Final = ("campaign_id", "canvas_id", "date")

_MONTH: Final = "month"

_PART_FILE: Final = "part-0.parquet"

_COMMON_METADATA: Final = "_common_metadata"

_HIVE_NULL: Final = "__HIVE_DEFAULT_PARTITION__"

_HIVE_SAFE: Final = frozenset(string.ascii_letters + string.digits + "-_.~")

# Partition columns hold these types; their names go into the metadata so a reader can
# type the values parsed from the paths.
_PARTITION_TYPES: Final[Mapping[str, pa.DataType]] = {
    str(t): t
    for t in (
        pa.string(), pa.bool_(), pa.date32(), pa.int8(), pa.int16(), pa.int32(), pa.int64(),
        pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64(),
    )
}


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


def _sorted_for_files(table: pa.Table) -> pa.Table:
    """Rows by campaign (or Canvas) then date (a stable sort: rows of one day keep their order)."""
    keys = [(c, "ascending") for c in _SORT_COLUMNS if c in table.column_names]
    if not keys or table.num_rows < 2:
        return table
    sortable = [c for c, _ in keys if not pa.types.is_dictionary(table[c].type)]
    if len(sortable) != len(keys):
        return table
    return table.take(pc.sort_indices(table, sort_keys=keys))


def _iter_partitions(
    table: pa.Table, spec: Mapping[str, Any]
) -> Iterator[tuple[tuple[str | None, ...], pa.Table]]:
    table = _sorted_for_files(table)
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
    root: StorePath, kind: Kind, columns: Sequence[str], spec: Mapping[str, Any], existing: Existing
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
        old = _decode_metadata(_read_schema(common)) or {}
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
    root: StorePath,
    parts: Sequence[str],
    kind: Kind,
    categorical: list[str],
    user: dict[str, Any] | None,
    options: _WriteOptions,
    existing: Existing,
    *,
    check_layout: bool = True,
    common: bool = True,
) -> StorePath:
    spec = _partition_spec(table, parts)
    columns = table.column_names
    if check_layout:
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
        _write_table_file(rows.drop_columns(stored), target, schema, options, dataset=True)
        if existing == "delete_matching":
            for other in directory.glob("*.parquet"):
                if other.name != _PART_FILE:
                    other.unlink()
    if not common:
        return root
    # Schema and layout without rows: lets an empty dataset read back, and later writes
    # check that they add to the same layout. Readers skip ``_``-prefixed files.
    meta = _metadata_json(
        kind, columns, categorical, {"campaign_ids": None, "date_range": None, "rows": None}, spec, user
    )
    common_schema = _file_schema(table, kind, meta, drop=stored)
    _atomic_write(root / _COMMON_METADATA, lambda fh: pq.write_metadata(common_schema, fh))
    return root


def _dataset_module() -> Any:
    # pyarrow.dataset imports pandas when it is installed; import braze_frames must not.
    import pyarrow.dataset

    return pyarrow.dataset


def _data_files(root: StorePath) -> list[Any]:
    """The dataset's Parquet files, sorted, skipping hidden and ``_``-prefixed entries."""
    found: list[Any] = []
    candidates = root.files() if isinstance(root, ObjectPath) else root.rglob("*.parquet")
    for f in candidates:
        rel = f.relative_to(root).parts  # type: ignore[arg-type]
        if f.name.endswith(".parquet") and not any(p.startswith((".", "_")) for p in rel) \
                and (isinstance(f, ObjectPath) or f.is_file()):
            found.append(f)
    return sorted(found, key=str)


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


def _hive_partitioning(root: StorePath, files: Sequence[Any], meta: Mapping[str, Any] | None) -> Any:
    spec = (meta or {}).get("partitioning")
    if spec:
        fields = [pa.field(c, _PARTITION_TYPES.get(spec["types"].get(c, ""), pa.string()))
                  for c in spec["columns"]]
        return _dataset_module().partitioning(pa.schema(fields), flavor="hive")
    # A dataset written by another tool: infer the partition columns from the paths.
    has_keys = any("=" in p for f in files for p in f.relative_to(root).parts[:-1])
    return _dataset_module().HivePartitioning.discover(infer_dictionary=False) if has_keys else None


def _dataset_root(source: StorePath, meta: Mapping[str, Any] | None) -> StorePath:
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


def _common_meta(root: StorePath) -> dict[str, Any] | None:
    common = root / _COMMON_METADATA
    return _decode_metadata(_read_schema(common)) if common.is_file() else None


def _empty_dataset(root: StorePath, columns: list[str] | None, expression: Any) -> pa.Table:
    common = root / _COMMON_METADATA
    if not common.is_file():
        msg = f"no Parquet files under {root}"
        raise FileNotFoundError(msg)
    schema = _read_schema(common)
    meta = _decode_metadata(schema) or {}
    spec = meta.get("partitioning") or {}
    fields = list(schema) + [
        pa.field(col, _PARTITION_TYPES.get(spec["types"].get(col, ""), pa.string()))
        for col in spec.get("columns", [])
        if col not in schema.names
    ]
    table = pa.schema(fields).empty_table()
    return _scan(_dataset_module().dataset(table), columns, expression)
