"""What every verb shares: wrapping any backend's frame, checking it, sorting keys as strings.

Every verb has the shape ``IntoFrameT -> IntoFrameT``: pandas in, pandas out; polars in,
polars out; a polars ``LazyFrame`` (or another lazy narwhals backend) in, the same lazy type
out. Key columns come back as plain strings (``String`` / pandas ``str``), sorted, whatever
their input dtype (``Categorical`` / ``category`` included): category order differs
between pandas and polars, string order does not.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import narwhals.stable.v2 as nw

from .._errors import TidyFrameError
from .._schema import ALL_CHANNEL, CHANNEL_SCHEMAS, metric_order
from .._tables import CAMPAIGN_TABLE, Table, base_channel, table_of
from ._fast import category_codes

__all__ = [
    "STRING_COLUMNS",
    "Source",
    "channel_metrics",
    "computed_once",
    "day_number",
    "days_from_civil",
    "distinct",
    "duckdb_query",
    "fill_null_key",
    "finish",
    "give_back",
    "long_rows",
    "lookups_sql",
    "order_channels",
    "pairs_and_dates",
    "plan_input",
    "present_metrics",
    "python_day_number",
    "restore_null_key",
    "schema_problems",
    "sort_keys",
    "sorted_strings",
    "sql_name",
    "string_keys",
    "table_of_frame",
    "tidy_lazy",
    "wide_columns",
    "widen",
    "with_lookups",
    "wrap",
]

STRING_COLUMNS: Final = CAMPAIGN_TABLE.string_columns

# Joins never match null keys (polars, pandas through narwhals, SQL), so nullable join keys
# are filled with this value and restored afterwards. No Braze id contains a NUL. None at
# the end: pandas 2's fillna drops trailing NULs (numpy's fixed-width text), and the value
# filled was then not the one restored.
_NULL_KEY: Final = "\x00braze_frames:null"


def schema_problems(
    schema: Mapping[str, Any], *, exact: bool, required: Sequence[str] | None = None,
    table: Table = CAMPAIGN_TABLE,
) -> list[str]:
    """List what is wrong with a frame's columns and dtypes (empty when nothing is).

    Args:
        schema: Column name -> narwhals dtype.
        exact: Also require no other columns, in the table's order (``validate``); the
            verbs only need ``required`` and ignore the rest.
        required: The columns needed; default every column of ``table``.
        table: The table the frame should be (campaigns unless said otherwise).
    """
    columns = table.columns
    required = columns if required is None else required
    problems: list[str] = []
    names = list(schema)
    missing = [c for c in required if c not in schema]
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        other = table_of(names)
        if other is not table and other.id_column in schema:
            problems.append(f"this is a {other.name} frame ({other.id_column}...), not a {table.name} frame")
    if exact:
        extra = [c for c in names if c not in columns]
        if extra:
            problems.append(
                f"unexpected column{'s' if len(extra) > 1 else ''}: {', '.join(extra)}"
            )
        if not missing and not extra and names != list(columns):
            problems.append(f"columns out of order: {names}, expected {list(columns)}")
    problems.extend(
        f"{name} has dtype {schema[name]}, expected {_expected(name)}"
        for name in required
        if name in schema and not _dtype_ok(name, schema[name], table)
    )
    return problems


def _expected(name: str) -> str:
    if name == "date":
        return "Date or Datetime (pandas: datetime64)"
    if name == "value":
        return "Float64 (pandas: float64)"
    return "String or Categorical (pandas: str or category)"


def _dtype_ok(name: str, dtype: Any, table: Table) -> bool:
    if name == "value":
        return bool(dtype == nw.Float64)
    if name == "date":
        return any(dtype == kind for kind in (nw.Date, nw.Datetime))
    if any(dtype == kind for kind in (nw.String, nw.Categorical, nw.Enum)):
        return True
    # An all-null column has no dtype of its own (polars Null); fine where nulls are.
    return name in table.may_be_null and bool(dtype == nw.Unknown)


#: What fetches each table, for the hint of a frame that is not one.
_MADE_BY: Final = {"campaign": "braze_frames.fetch_data_series", "canvas": "braze_frames.fetch_canvas_series"}


def schema_error(problems: Sequence[str], table: Table = CAMPAIGN_TABLE) -> TidyFrameError:
    made_by = _MADE_BY.get(table.name, "braze_frames")
    return TidyFrameError(
        "not a tidy braze frame: " + "; ".join(problems),
        problems=problems,
        hint=(
            f"a tidy {table.name} frame has exactly the columns {list(table.columns)}, as "
            f"{made_by} returns it; rename, cast or select columns to "
            "match (e.g. value to Float64, date to Date)."
        ),
    )


def table_of_frame(df: Any) -> Table:
    """The table a frame (any backend, eager or lazy) belongs to, told by its id column."""
    return table_of(wrap(df).collect_schema().names())


def tidy_lazy(
    df: Any, required: Sequence[str] | None = None, *, table: Table = CAMPAIGN_TABLE
) -> tuple[nw.LazyFrame[Any], bool]:
    """Wrap a tidy frame for the verbs: check the columns they need, go lazy.

    Eager frames are made lazy so that one code path serves every backend (polars gets
    its query optimiser; pandas stays eager underneath). ``finish`` undoes it.

    Args:
        df: The frame.
        required: The columns needed; default every column of ``table``.
        table: The table the frame should be (campaigns unless said otherwise).

    Returns:
        The narwhals LazyFrame with only the ``required`` columns, and whether the caller
        passed an eager frame.

    Raises:
        TidyFrameError: A needed column is missing or has the wrong dtype.
    """
    required = table.columns if required is None else required
    frame = wrap(df)
    eager = isinstance(frame, nw.DataFrame)
    lazy = frame.lazy()
    schema = lazy.collect_schema()
    if "campaign_name" in required and "campaign_name" not in schema and "campaign_id" in schema:
        # A frame from before names joined the tidy table: every name unknown.
        lazy = lazy.with_columns(nw.lit(None, nw.String()).alias("campaign_name"))
        schema = lazy.collect_schema()
    problems = schema_problems(schema, exact=False, required=required, table=table)
    if problems:
        raise schema_error(problems, table)
    if list(schema) == list(required):
        return lazy, eager  # pandas copies every column on a select, even of all of them
    return lazy.select(*required), eager


def wrap(df: Any) -> nw.DataFrame[Any] | nw.LazyFrame[Any]:
    """The narwhals frame of any native frame (eager or lazy)."""
    frame: nw.DataFrame[Any] | nw.LazyFrame[Any] = nw.from_native(df)
    return frame


def finish(frame: nw.LazyFrame[Any], eager: bool) -> Any:
    """Return a result as the caller's native type (collecting when it passed an eager frame)."""
    if eager:
        # pandas keeps the pre-sort index; a fresh RangeIndex is what people expect.
        return nw.maybe_reset_index(frame.collect()).to_native()
    return frame.to_native()


def channel_metrics(frame: nw.LazyFrame[Any]) -> dict[str, frozenset[str]]:
    """Which metrics each channel has (one small query on lazy frames)."""
    rows = frame.group_by("channel", "metric").agg(nw.len()).select("channel", "metric").collect()
    found: dict[str, set[str]] = {}
    for channel, metric in rows.iter_rows():
        if channel is not None and metric is not None:
            found.setdefault(str(channel), set()).add(str(metric))
    return {ch: frozenset(ms) for ch, ms in found.items()}


def pairs_and_dates(
    frame: nw.LazyFrame[Any],
) -> tuple[dict[str, frozenset[str]], dt.date | None, dt.date | None]:
    """``channel_metrics`` and the frame's first and last dates, in the same small query."""
    return pairs_and_dates_of(
        frame.group_by("channel", "metric")
        .agg(nw.col("date").min().alias("_first"), nw.col("date").max().alias("_last"))
        .collect()
    )


def pairs_and_dates_of(
    rows: nw.DataFrame[Any],
) -> tuple[dict[str, frozenset[str]], dt.date | None, dt.date | None]:
    """``pairs_and_dates`` from rows of (channel, metric, first date, last date)."""
    found: dict[str, set[str]] = {}
    firsts, lasts = [], []
    for channel, metric, first, last in rows.iter_rows():
        if channel is not None and metric is not None:
            found.setdefault(str(channel), set()).add(str(metric))
        if first is not None:
            firsts.append(first.date() if isinstance(first, dt.datetime) else first)
        if last is not None:
            lasts.append(last.date() if isinstance(last, dt.datetime) else last)
    pairs = {ch: frozenset(ms) for ch, ms in found.items()}
    return pairs, min(firsts, default=None), max(lasts, default=None)


def present_metrics(pairs: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """Every metric found on any channel."""
    return frozenset(m for ms in pairs.values() for m in ms)


def order_channels(channels: Iterable[str]) -> list[str]:
    """``"all"``, then documented channels in ``CHANNEL_SCHEMAS`` order, then others by name.

    A Canvas step's later entry of a channel (``email#2``) follows its channel.
    """
    known = {ch: i for i, ch in enumerate(CHANNEL_SCHEMAS)}

    def key(ch: str) -> tuple[int, int, str, int]:
        if ch == ALL_CHANNEL:
            return (0, 0, "", 0)
        base = base_channel(ch)
        if base in known:
            return (1, known[base], "", int(ch[len(base) + 1:] or 0))
        return (2, 0, ch, 0)

    return sorted(set(channels), key=key)


def with_schema(channel: str, metrics: Iterable[str]) -> set[str]:
    return set(metrics) | set(CHANNEL_SCHEMAS.get(base_channel(channel), ()))


def distinct(frame: nw.LazyFrame[Any], column: str, *, eager: bool = False) -> list[str]:
    """The distinct non-null values of a column (one small query on lazy frames).

    ``eager=True`` says the frame is in memory: a polars or pandas categorical column is
    then read through its codes, faster than ``unique``.
    """
    if eager and frame.implementation.is_polars():
        import polars as pl

        native = frame.select(column).collect().to_native().get_column(column)
        if isinstance(native.dtype, (pl.Categorical, pl.Enum)):
            return [str(v) for v in category_codes(native)[1].to_list()]
    if eager and frame.implementation.is_pandas():
        import numpy as np
        import pandas as pd

        series = frame.collect().to_native()[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            # The codes say which categories occur: 5x faster than unique() here.
            counts = np.bincount(series.cat.codes.to_numpy() + 1, minlength=len(series.cat.categories) + 1)
            return [str(v) for v in series.cat.categories[np.flatnonzero(counts[1:])]]
    values = frame.select(column).filter(~nw.col(column).is_null()).unique().collect()
    return [str(v) for v in values[column].to_list()]


def wide_columns(channels: Iterable[str], metrics: Iterable[str]) -> list[str]:
    """The metric columns of ``pivot(layout="metrics")``, in order.

    The schema metrics of the channels present (channels in ``order_channels`` order,
    each schema in Braze's order, first occurrence wins), then every other metric in
    ``metric_order`` (extras, conversion events, unknown by name).
    """
    columns: dict[str, None] = {}
    for ch in order_channels(channels):
        columns.update(dict.fromkeys(CHANNEL_SCHEMAS.get(base_channel(ch), ())))
    rest = set(metrics) - columns.keys()
    return [*columns, *metric_order(ALL_CHANNEL, rest)]


def widen(frame: nw.LazyFrame[Any], index: Sequence[str], names: Sequence[str]) -> nw.LazyFrame[Any]:
    """Spread ``metric``/``value`` into one column per name, null where absent.

    Needs (index, metric) unique. pandas uses its own pivot: its group_by takes no
    conditional aggregations (narwhals would fall back to a slow ``apply``). Every other
    backend runs ``when(metric == name).then(value).max()`` per name, lazily, which
    polars also runs faster than its eager ``pivot``.
    """
    index = list(index)
    if frame.implementation.is_pandas_like():
        # pandas' own pivot, called directly: narwhals' wrapper reorders the columns
        # through a MultiIndex .loc that costs as much again on millions of rows.
        native = frame.collect().to_native()
        if len(native):
            pivoted = native.pivot(index=index, columns="metric", values="value")
            pivoted.columns = [str(c) for c in pivoted.columns]
            native = pivoted.reset_index()
        else:
            native = native[index]
        wide: nw.LazyFrame[Any] = nw.from_native(native, eager_only=True).lazy()
        have = set(wide.collect_schema())
        missing = [nw.lit(None, nw.Float64()).alias(n) for n in names if n not in have]
        if missing:
            wide = wide.with_columns(*missing)
        return wide.select(*index, *names)
    metric = nw.col("metric")
    return frame.group_by(*index).agg(
        *(nw.when(metric == n).then(nw.col("value")).max().alias(n) for n in names)
    )


def string_keys(frame: Any, columns: Iterable[str]) -> Any:
    """Cast key columns to String (Categorical in, String out: one sort order everywhere)."""
    schema = frame.collect_schema()
    todo = [c for c in columns if c in schema and schema[c] != nw.String]
    if not todo:
        return frame
    if frame.implementation.is_pandas():
        return _pandas_strings(frame, todo, sort_by=None)
    return frame.with_columns(*(nw.col(c).cast(nw.String()) for c in todo))


def sort_keys(frame: Any, columns: Sequence[str]) -> Any:
    """Sort by the given columns, nulls first (the ``"all"`` rows' null variation)."""
    return frame.sort(*columns, nulls_last=False)


def sorted_strings(frame: Any, text: Sequence[str], by: Sequence[str]) -> Any:
    """``string_keys`` then ``sort_keys``, as one step (pandas does it much faster so)."""
    schema = frame.collect_schema()
    todo = [c for c in text if c in schema and schema[c] != nw.String]
    if todo and frame.implementation.is_pandas():
        return _pandas_strings(frame, todo, sort_by=by)
    return sort_keys(string_keys(frame, todo), by)


def _pandas_strings(frame: Any, columns: Sequence[str], sort_by: Sequence[str] | None) -> Any:
    """Fast path for pandas: categoricals to strings by category, optionally sorting first.

    pandas turns a categorical into strings row by row (0.15 s per 700k rows here) where
    taking from the converted categories costs 7 ms; and sorting strings costs 15x
    sorting categorical codes, which sort lexically once the categories are in order.
    """
    import pandas as pd

    eager = isinstance(frame, nw.DataFrame)
    native = (frame if eager else frame.collect()).to_native()
    categorical = [c for c in columns if isinstance(native[c].dtype, pd.CategoricalDtype)]
    if sort_by is not None:
        native = native.assign(
            **{c: native[c].cat.set_categories(sorted(native[c].cat.categories)) for c in categorical}
        )
        native = native.sort_values(list(sort_by), na_position="first", kind="stable")
        native = native.reset_index(drop=True)
    converted = {}
    for c in columns:
        col = native[c]
        if c in categorical:
            labels = pd.array(col.cat.categories.astype("str"), dtype="str")
            values = labels.take(col.cat.codes.to_numpy(), allow_fill=True)
            converted[c] = pd.Series(values, index=native.index, name=c)
        else:
            converted[c] = col.astype("str")
    result = nw.from_native(native.assign(**converted), eager_only=True)
    return result if eager else result.lazy()


def fill_null_key(frame: Any, column: str) -> Any:
    """Fill a nullable String join key so joins match its nulls (see ``restore_null_key``)."""
    return frame.with_columns(nw.col(column).fill_null(_NULL_KEY))


def restore_null_key(frame: Any, column: str) -> Any:
    """Undo ``fill_null_key``."""
    return frame.with_columns(
        nw.when(nw.col(column) != _NULL_KEY).then(nw.col(column)).alias(column)
    )


# -- one plan for every backend -----------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """What a verb was given, so that its result goes back in the same form.

    Attributes:
        kind: ``"polars"`` (a DataFrame), ``"polars_lazy"``, ``"pandas"``, ``"eager"``
            (another eager narwhals backend, e.g. a pyarrow Table) or ``"lazy"`` (DuckDB,
            PySpark and the other lazy narwhals backends).
        implementation: The input's narwhals ``Implementation``.
        date_dtype: pandas only: the input's ``date`` dtype, given back to ``date``.
    """

    kind: str
    implementation: Any
    date_dtype: Any = None

    @property
    def lazy(self) -> bool:
        """Whether the caller passed a lazy frame (the result stays a plan)."""
        return self.kind in ("polars_lazy", "lazy")


def plan_input(
    df: Any, required: Sequence[str] | None = None, *, table: Table = CAMPAIGN_TABLE
) -> tuple[nw.LazyFrame[Any], Source]:
    """Wrap a tidy frame for a verb that builds one plan: polars for every eager input.

    Eager frames (pandas, polars, pyarrow...) are in memory, where polars runs the plan
    fastest; pandas crosses as Arrow (its categoricals become polars categoricals, 0.2 s
    for 5M rows) and comes back with ``give_back``. Lazy frames stay in their engine
    (polars ``LazyFrame``, DuckDB, PySpark): the plan runs where the data is.

    ``required`` defaults to every column of ``table``.

    Raises:
        TidyFrameError: A needed column is missing or has the wrong dtype.
    """
    frame = wrap(df)
    impl = frame.implementation
    if isinstance(frame, nw.LazyFrame):
        lazy, _ = tidy_lazy(frame, required, table=table)
        return lazy, Source("polars_lazy" if impl.is_polars() else "lazy", impl)
    checked, _ = tidy_lazy(frame, required, table=table)  # the columns and dtypes, before converting
    import polars as pl

    native = frame.to_native()
    if impl.is_polars():
        polars_frame = native
        source = Source("polars", impl)
    elif impl.is_pandas():
        date_dtype = native["date"].dtype if "date" in native.columns else None
        polars_frame = pl.from_pandas(checked.collect().to_native())
        source = Source("pandas", impl, date_dtype)
    else:
        polars_frame = pl.from_arrow(checked.collect().to_arrow())
        source = Source("eager", impl)
    # An empty pandas column of strings has no type left after crossing (polars Null).
    untyped = [c for c, t in polars_frame.schema.items() if t == pl.Null and c not in ("date", "value")]
    if untyped:
        polars_frame = polars_frame.with_columns(pl.col(untyped).cast(pl.String))
    lazy, _ = tidy_lazy(polars_frame.lazy(), required, table=table)
    return lazy, source


def give_back(result: nw.LazyFrame[Any], source: Source) -> Any:
    """A verb's result as the caller's type: collected for eager inputs, a plan for lazy ones."""
    if source.lazy:
        return result.to_native()
    collected = result.collect()
    if source.kind == "polars":
        return collected.to_native()
    if source.kind == "pandas":
        native = collected.to_native().to_pandas()
        if "date" in native.columns and source.date_dtype is not None:
            native["date"] = native["date"].astype(source.date_dtype)
        return native
    return nw.from_arrow(collected.to_arrow(), backend=source.implementation).to_native()


def long_rows(
    frame: nw.LazyFrame[Any],
    index: Sequence[str],
    groups: Sequence[tuple[str, Sequence[str]]],
    fields: Sequence[str],
    *,
    label: str,
    present: str,
) -> nw.LazyFrame[Any]:
    """Wide to long, several columns at a time, in one pass over ``frame``.

    Each group ``(name, columns)`` becomes one row per row of ``frame``: the ``index``
    columns, ``label`` = name, and the group's columns side by side under ``fields``;
    rows whose ``present`` field is null are dropped. DuckDB unpivots several value
    columns natively, PySpark's ``stack`` does the same, polars concatenates one select
    per group (its optimiser computes the shared input once); other engines unpivot
    each column, then gather a row's fields back with a group-by.
    """
    impl = frame.implementation
    aliases = {f"r{i}": name for i, (name, _) in enumerate(groups)}
    if impl.is_duckdb():
        value_names = ", ".join(sql_name(f) for f in fields)
        ins = ", ".join(
            "(" + ", ".join(sql_name(c) for c in columns) + f") AS {sql_name(alias)}"
            for alias, (_, columns) in zip(aliases, groups, strict=True)
        )
        keep = ", ".join([*(sql_name(c) for c in index), sql_name(label), value_names])
        # Every name is quoted as an identifier (our own columns and aliases).
        sql = (
            f"SELECT {keep} FROM _braze_wide UNPIVOT INCLUDE NULLS "  # noqa: S608
            f"(({value_names}) FOR {sql_name(label)} IN ({ins})) WHERE {sql_name(present)} IS NOT NULL"
        )
        return _relabel(duckdb_query(frame, "_braze_wide", sql), label, aliases)
    if impl.is_pyspark() or impl.is_pyspark_connect():
        def tick(name: str) -> str:
            return "`" + name.replace("`", "``") + "`"

        pieces = ", ".join(
            f"'{alias}', " + ", ".join(tick(c) for c in columns)
            for alias, (_, columns) in zip(aliases, groups, strict=True)
        )
        stacked = frame.to_native().selectExpr(
            *(tick(c) for c in index),
            f"stack({len(groups)}, {pieces}) AS ({', '.join(tick(c) for c in (label, *fields))})",
        )
        spark: nw.LazyFrame[Any] = nw.from_native(stacked)
        return _relabel(spark, label, aliases).filter(~nw.col(present).is_null())
    if impl.is_polars():
        # One select per group, concatenated, over an input computed once (explicitly:
        # polars' own detection of the common input missed it under a join).
        shared = computed_once(frame, polars=True)
        selects = [
            shared.select(
                *index,
                nw.lit(name, nw.String()).alias(label),
                *(nw.col(c).alias(f) for c, f in zip(columns, fields, strict=True)),
            )
            for name, columns in groups
        ]
        return nw.concat(selects, how="vertical").filter(~nw.col(present).is_null())
    columns = [c for _, cs in groups for c in cs]
    which = {c: (name, f) for name, cs in groups for c, f in zip(cs, fields, strict=True)}
    long = frame.unpivot(on=columns, index=list(index), variable_name="_var", value_name="_val")
    long = long.filter(~nw.col("_val").is_null()).with_columns(
        nw.col("_var").replace_strict(columns, [which[c][0] for c in columns], default=None,
                                      return_dtype=nw.String()).alias(label),
        nw.col("_var").replace_strict(columns, [which[c][1] for c in columns], default=None,
                                      return_dtype=nw.String()).alias("_field"),
    )
    gathered = long.group_by(*index, label).agg(
        nw.when(nw.col("_field") == f).then(nw.col("_val")).max().alias(f) for f in fields
    )
    return gathered.filter(~nw.col(present).is_null())


def _relabel(frame: nw.LazyFrame[Any], label: str, aliases: Mapping[str, str]) -> nw.LazyFrame[Any]:
    keys = list(aliases)
    return frame.with_columns(
        nw.col(label).replace_strict(keys, [aliases[k] for k in keys], default=None,
                                     return_dtype=nw.String()).alias(label)
    )


_VIEWS = itertools.count()


def duckdb_query(frame: nw.LazyFrame[Any], name: str, sql: str) -> nw.LazyFrame[Any]:
    """``sql`` on a DuckDB frame, which it reads as the table ``name``.

    DuckDB registers the relation as a temporary view of that name on its connection, and
    a relation built on it reads the view by name whenever it runs (DuckDB 1.x). So each
    call gets a name of its own (``name`` with a number): with one name for all, a later
    call would redefine an earlier result's input, or read itself ("infinite recursion
    detected"). The views stay on the connection as long as it lives.
    """
    unique = f"{name}_{next(_VIEWS)}"
    text = re.sub(rf"\b{re.escape(name)}\b", unique, sql)
    result: nw.LazyFrame[Any] = nw.from_native(frame.to_native().query(unique, text))
    return result


def computed_once(frame: nw.LazyFrame[Any], *, polars: bool = False) -> nw.LazyFrame[Any]:
    """The same plan, marked to be computed once however often the engine reads it.

    DuckDB rewrites a window over groups (``max(x) OVER (PARTITION BY ...)``) into an
    aggregate joined back, and narwhals' CTEs are inlined (``NOT MATERIALIZED``), so the
    rows under the window, and the scan under them, would be computed twice. A
    ``MATERIALIZED`` CTE keeps them once. With ``polars``, polars gets an explicit
    cache: its optimiser finds common plans on its own, but missed the rates' period rows
    under a join (the whole pass ran twice); elsewhere its own choice is kept (a cache
    on every plan cost eager frames 6%). Other engines keep the plan as it is.
    """
    if polars and frame.implementation.is_polars():
        cached: nw.LazyFrame[Any] = nw.from_native(frame.to_native().cache())
        return cached
    if not frame.implementation.is_duckdb():
        return frame
    sql = "WITH _braze_once AS MATERIALIZED (SELECT * FROM _braze_rows) SELECT * FROM _braze_once"
    return duckdb_query(frame, "_braze_rows", sql)


def with_lookups(
    frame: nw.LazyFrame[Any], column: str, tables: Mapping[str, tuple[Sequence[str], Sequence[int]]]
) -> nw.LazyFrame[Any]:
    """Add one Int64 column per table: the number its ``column`` value maps to, else null.

    narwhals' ``replace_strict`` everywhere, except on DuckDB, where it tests membership
    in the list before reading the map (a hash join per table over every row):
    ``list_position`` into a list literal does both at once, 40% of the pass's time.
    """
    if frame.implementation.is_duckdb():
        # Every value is a literal we wrote (metric names, numbers), quoted as SQL text.
        sql = f"SELECT *, {lookups_sql(column, tables)} FROM _braze_lookup"  # noqa: S608
        return duckdb_query(frame, "_braze_lookup", sql)
    return frame.with_columns(
        nw.col(column)
        .replace_strict(list(keys), list(values), default=None, return_dtype=nw.Int64())
        .alias(name)
        for name, (keys, values) in tables.items()
    )


def lookups_sql(column: str, tables: Mapping[str, tuple[Sequence[str], Sequence[int]]]) -> str:
    """DuckDB's select list for ``with_lookups``: ``list_position`` into list literals."""
    looked = []
    for name, (keys, values) in tables.items():
        keys_sql = "[" + ", ".join(_sql_text(k) for k in keys) + "]"
        values_sql = "([" + ", ".join(str(int(v)) for v in values) + "]::BIGINT[])"
        position = f"list_position({keys_sql}, {sql_name(column)})"
        looked.append(f"{values_sql}[{position}] AS {sql_name(name)}")
    return ", ".join(looked)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def days_from_civil(year: nw.Expr, month: nw.Expr, day: nw.Expr) -> nw.Expr:
    """Days since 1970-01-01 of integer (year, month, day) expressions; the month may be 13.

    Howard Hinnant's ``days_from_civil``: plain integer arithmetic, which every backend
    runs alike (narwhals has no date-to-integer cast they share: DuckDB subtracts dates to
    integers, polars to durations). A month of 13 is January of the next year, so the
    day after a month's last day is ``days_from_civil(y, m + 1, 1)``.
    """
    year = year + nw.when(month > 12).then(1).otherwise(0)
    month = nw.when(month > 12).then(month - 12).otherwise(month)
    year = year - nw.when(month <= 2).then(1).otherwise(0)
    era = year // 400
    year_of_era = year - era * 400
    shifted_month = nw.when(month > 2).then(month - 3).otherwise(month + 9)
    day_of_year = (153 * shifted_month + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def day_number(date: nw.Expr) -> nw.Expr:
    """Days since 1970-01-01 of a Date (or Datetime) expression; see ``days_from_civil``."""
    return days_from_civil(
        date.dt.year().cast(nw.Int64()), date.dt.month().cast(nw.Int64()), date.dt.day().cast(nw.Int64())
    )


def python_day_number(day: dt.date) -> int:
    """``day_number`` of a Python date."""
    return (day - dt.date(1970, 1, 1)).days


# -- expressions ------------------------------------------------------------------------------


def any_of(exprs: Iterable[nw.Expr]) -> nw.Expr:
    """``e1 | e2 | ...``; false when there is none."""
    found = list(exprs)
    if not found:
        return nw.lit(False)
    out = found[0]
    for e in found[1:]:
        out = out | e
    return out


def all_of(exprs: Iterable[nw.Expr]) -> nw.Expr:
    """``e1 & e2 & ...``; true when there is none."""
    found = list(exprs)
    if not found:
        return nw.lit(True)
    out = found[0]
    for e in found[1:]:
        out = out & e
    return out


def signed_sum(terms: Sequence[tuple[int, str]], value: Callable[[str], nw.Expr]) -> nw.Expr:
    """A rate's side, ``sent - bounces``, from its signed terms and each metric's expression."""
    (sign, metric), *rest = terms  # a Rate has at least one term
    expr = value(metric) if sign > 0 else -value(metric)
    for sign, metric in rest:
        expr = expr + value(metric) if sign > 0 else expr - value(metric)
    return expr.cast(nw.Float64())
