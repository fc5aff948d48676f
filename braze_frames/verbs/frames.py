"""Narwhals transforms on the tidy table, written once: validate, pivot, unpivot.

Every public function here has the shape ``IntoFrameT -> IntoFrameT``: pandas in, pandas
out; polars in, polars out; a polars ``LazyFrame`` (or another lazy narwhals backend) in,
the same lazy type out. The private helpers at the bottom are shared with ``_rates``,
``_reconcile`` and ``_plot``.

Key columns come back as plain strings (``String`` / pandas ``str``), sorted, whatever
their input dtype (``Categorical`` / ``category`` included): category order differs
between pandas and polars, string order does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

import narwhals.stable.v2 as nw
from narwhals.typing import IntoFrameT

from .._errors import BrazeError
from .._schema import ALL_CHANNEL, CHANNEL_SCHEMAS, KEY_COLUMNS, TIDY_COLUMNS, metric_order

__all__ = ["WIDE_INDEX", "Layout", "TidyFrameError", "pivot", "unpivot", "validate"]

Layout = Literal["metrics", "channels"]
_LAYOUTS: Final = ("metrics", "channels")

#: The row key of ``pivot(layout="metrics")``; every other column is a metric.
WIDE_INDEX: Final = ("campaign_id", "date", "channel", "variation", "variation_name")
#: ``layout="channels"`` names its columns ``<channel>__<metric>``.
CHANNEL_SEPARATOR: Final = "__"

STRING_COLUMNS: Final = ("campaign_id", "channel", "variation", "variation_name", "metric")
_NULLABLE: Final = frozenset({"variation", "variation_name"})
#: Shown in ``failure_cases``; more would not help anyone read the error.
_MAX_FAILURE_CASES: Final = 100
# Joins never match null keys (polars, pandas through narwhals, SQL), so nullable join keys
# are filled with this value and restored afterwards. No Braze id contains a NUL.
_NULL_KEY: Final = "\x00null\x00"


class TidyFrameError(BrazeError, ValueError):
    """A frame is not a tidy braze frame (SPEC section 3).

    Attributes:
        problems: One line per problem found (missing or extra columns, wrong dtypes,
            duplicated keys).
        failure_cases: For duplicated keys, a small frame of the caller's backend with the
            duplicated keys and a ``count`` column (at most 100 rows); None otherwise.
        n_failure_cases: How many duplicated keys there are in all.
    """

    def __init__(
        self,
        message: str,
        *,
        problems: Sequence[str] = (),
        failure_cases: Any = None,
        n_failure_cases: int = 0,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = tuple(problems)
        self.failure_cases = failure_cases
        self.n_failure_cases = n_failure_cases


# --------------------------------------------------------------------------- public verbs


def validate(df: IntoFrameT) -> IntoFrameT:
    """Check that a frame is a tidy braze frame and return it unchanged.

    Checks, in this order: the exact columns in ``TIDY_COLUMNS`` order (naming missing
    and unexpected ones), their dtypes (the five key/name columns String or Categorical,
    ``date`` Date or Datetime, ``value`` Float64), and that no key (campaign_id, date,
    channel, variation, metric) appears twice. On a lazy frame the key check runs one
    query.

    Args:
        df: A pandas or polars DataFrame, a polars LazyFrame, or any narwhals frame.

    Returns:
        ``df`` itself, when it is valid.

    Raises:
        TidyFrameError: Naming every problem found; for duplicated keys its
            ``failure_cases`` holds them, with their ``count``.

    Examples:
        >>> from braze_frames._tidy import from_records
        >>> row = ("c1", "2024-07-01", "email", "v1", None, "sent", 10.0)
        >>> validate(from_records([row])).shape
        (1, 7)
        >>> validate(from_records([row, row]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        braze_frames.verbs.frames.TidyFrameError: not a tidy braze frame: 1 duplicated key ...
    """
    frame = wrap(df)
    problems = schema_problems(frame.collect_schema(), exact=True)
    if problems:
        raise _schema_error(problems)
    dups = (
        frame.lazy()
        .group_by(*KEY_COLUMNS)
        .agg(nw.len().alias("count"))
        .filter(nw.col("count") > 1)
        .collect()
    )
    if len(dups):
        cases = sorted_strings(dups, STRING_COLUMNS, KEY_COLUMNS)
        n = len(cases)
        keys = ", ".join(KEY_COLUMNS)
        problem = f"{n} duplicated key{'s' if n != 1 else ''} ({keys})"
        raise TidyFrameError(
            f"not a tidy braze frame: {problem}; see .failure_cases",
            problems=[problem],
            failure_cases=cases.head(_MAX_FAILURE_CASES).to_native(),
            n_failure_cases=n,
            hint=(
                "keep one row per key, e.g. df.unique(subset=KEY_COLUMNS, keep='last') in "
                "polars or df.drop_duplicates(subset=KEY_COLUMNS, keep='last') in pandas "
                "(KEY_COLUMNS from braze_frames._schema), or sum them with a group_by."
            ),
        )
    return df


def pivot(df: IntoFrameT, *, layout: Layout = "metrics") -> IntoFrameT:
    """Spread the tidy table wide, one column per metric.

    ``layout="metrics"`` (the default): one row per (campaign_id, date, channel,
    variation), with ``variation_name`` kept, then one column per metric. Columns follow
    the channels' schemas (Braze's order; channels in ``CHANNEL_SCHEMAS`` order), then the
    extras, then conversion events by number, then unknown metrics by name
    (``metric_order``). Every schema metric of the channels present gets a column, null
    where the channel has no value. ``unpivot`` inverts this layout.

    ``layout="channels"``: one row per (campaign_id, date) and one column per
    ``<channel>__<metric>`` (e.g. ``email__opens``, ``all__conversions``), summed over
    variations; null where no variation had the metric that day. Channels come in the
    order ``all``, the documented ones, then unknown ones by name. This is the
    "one line per day" table notebooks like to plot.

    Keys must be unique (see ``validate``). Rows are sorted by their key, nulls first.
    Works on lazy frames too: the metric names are read with one small query first.

    Args:
        df: A tidy frame (pandas, polars, polars lazy, or another narwhals backend).
        layout: ``"metrics"`` or ``"channels"``.

    Returns:
        The wide frame, of the caller's type.

    Raises:
        TidyFrameError: When ``df`` lacks a tidy column or has a wrong dtype.
        ValueError: For an unknown ``layout``.

    Examples:
        >>> from braze_frames._tidy import from_records
        >>> tidy = from_records([
        ...     ("c1", "2024-07-01", "webhook", "v1", "A", "sent", 10.0),
        ...     ("c1", "2024-07-01", "webhook", "v1", "A", "errors", 1.0),
        ... ])
        >>> pivot(tidy).columns
        ['campaign_id', 'date', 'channel', 'variation', 'variation_name', 'sent', 'errors']
        >>> pivot(tidy, layout="channels").columns
        ['campaign_id', 'date', 'webhook__sent', 'webhook__errors']
    """
    if layout not in _LAYOUTS:
        msg = f"layout must be one of {_LAYOUTS}, not {layout!r}"
        raise ValueError(msg)
    frame, eager = tidy_lazy(df)
    if layout == "metrics":
        index = list(WIDE_INDEX)
        names = wide_columns(
            distinct(frame, "channel", eager=eager), distinct(frame, "metric", eager=eager)
        )
        polars = eager and frame.implementation.is_polars()
        fast = polars_wide_sorted(frame, index, names) if polars else None
        if fast is not None:
            result_fast: IntoFrameT = finish(fast, eager)
            return result_fast
        wide = widen(frame, index, names)
    else:
        index = ["campaign_id", "date"]
        summed = (
            frame.group_by("campaign_id", "date", "channel", "metric")
            .agg(nw.col("value").sum(), nw.col("value").count().alias("_n"))
            .with_columns(nw.when(nw.col("_n") > 0).then(nw.col("value")).alias("value"))
            .drop("_n")
        )
        if eager:
            summed = summed.collect().lazy()
        pairs = channel_metrics(summed)
        per_channel = {ch: metric_order(ch, _with_schema(ch, ms)) for ch, ms in pairs.items()}
        names = [
            f"{ch}{CHANNEL_SEPARATOR}{m}" for ch in order_channels(pairs) for m in per_channel[ch]
        ]
        label = nw.concat_str(
            nw.col("channel").cast(nw.String()),
            nw.lit(CHANNEL_SEPARATOR),
            nw.col("metric").cast(nw.String()),
        )
        wide = widen(summed.with_columns(label.alias("metric")).drop("channel"), index, names)
    wide = sorted_strings(wide, [c for c in index if c != "date"], index)
    result: IntoFrameT = finish(wide, eager)
    return result


def unpivot(wide: IntoFrameT) -> IntoFrameT:
    """Turn a ``pivot(layout="metrics")`` frame back into the tidy table.

    Every column other than ``campaign_id, date, channel, variation, variation_name`` is a
    metric; null cells give no row. ``unpivot(pivot(df))`` equals ``df`` after sorting
    (key columns come back as strings).

    Args:
        wide: A wide frame as ``pivot`` returns it (any backend, eager or lazy).

    Returns:
        The tidy frame (``TIDY_COLUMNS``), sorted by key, of the caller's type.

    Raises:
        ValueError: When ``wide`` lacks an index column (e.g. a ``layout="channels"``
            frame, which sums over variations and cannot be inverted) or has a
            non-numeric metric column.

    Examples:
        >>> from braze_frames._tidy import from_records
        >>> tidy = from_records([("c1", "2024-07-01", "webhook", "v1", "A", "sent", 10.0)])
        >>> unpivot(pivot(tidy)).rows()
        [('c1', datetime.date(2024, 7, 1), 'webhook', 'v1', 'A', 'sent', 10.0)]
    """
    frame = wrap(wide)
    eager = isinstance(frame, nw.DataFrame)
    lazy = frame.lazy()
    schema = lazy.collect_schema()
    missing = [c for c in WIDE_INDEX if c not in schema]
    if missing:
        msg = (
            f"unpivot needs the columns {list(WIDE_INDEX)} of pivot(layout='metrics'); "
            f"missing: {missing}. A layout='channels' frame sums over variations and "
            "cannot be turned back into the tidy table."
        )
        raise ValueError(msg)
    metrics = [c for c in schema if c not in WIDE_INDEX]
    bad = [c for c, dtype in schema.items() if c in metrics and not dtype.is_numeric()]
    if bad:
        msg = f"metric columns must be numeric; not numeric: {bad}"
        raise ValueError(msg)
    if metrics:
        long = lazy.unpivot(
            on=metrics, index=list(WIDE_INDEX), variable_name="metric", value_name="value"
        ).filter(~nw.col("value").is_null())
    else:
        long = lazy.with_columns(
            nw.lit(None, nw.String()).alias("metric"), nw.lit(None, nw.Float64()).alias("value")
        ).head(0)
    long = long.with_columns(nw.col("value").cast(nw.Float64())).select(*TIDY_COLUMNS)
    long = sorted_strings(long, STRING_COLUMNS, KEY_COLUMNS)
    result: IntoFrameT = finish(long, eager)
    return result


# --------------------------------------------------------------- helpers shared by the verbs


def schema_problems(
    schema: Mapping[str, Any], *, exact: bool, required: Sequence[str] = TIDY_COLUMNS
) -> list[str]:
    """List what is wrong with a frame's columns and dtypes (empty when nothing is).

    Args:
        schema: Column name -> narwhals dtype.
        exact: Also require no other columns, in ``TIDY_COLUMNS`` order (``validate``);
            the verbs only need ``required`` and ignore the rest.
        required: The columns needed.
    """
    problems: list[str] = []
    names = list(schema)
    missing = [c for c in required if c not in schema]
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    if exact:
        extra = [c for c in names if c not in TIDY_COLUMNS]
        if extra:
            problems.append(
                f"unexpected column{'s' if len(extra) > 1 else ''}: {', '.join(extra)}"
            )
        if not missing and not extra and names != list(TIDY_COLUMNS):
            problems.append(f"columns out of order: {names}, expected {list(TIDY_COLUMNS)}")
    problems.extend(
        f"{name} has dtype {schema[name]}, expected {_EXPECTED[name]}"
        for name in required
        if name in schema and not _dtype_ok(name, schema[name])
    )
    return problems


_EXPECTED: Final = {
    **dict.fromkeys(STRING_COLUMNS, "String or Categorical (pandas: str or category)"),
    "date": "Date or Datetime (pandas: datetime64)",
    "value": "Float64 (pandas: float64)",
}


def _dtype_ok(name: str, dtype: Any) -> bool:
    if name == "value":
        return bool(dtype == nw.Float64)
    if name == "date":
        return any(dtype == kind for kind in (nw.Date, nw.Datetime))
    if any(dtype == kind for kind in (nw.String, nw.Categorical, nw.Enum)):
        return True
    # An all-null column has no dtype of its own (polars Null); fine where nulls are.
    return name in _NULLABLE and bool(dtype == nw.Unknown)


def _schema_error(problems: Sequence[str]) -> TidyFrameError:
    return TidyFrameError(
        "not a tidy braze frame: " + "; ".join(problems),
        problems=problems,
        hint=(
            f"a tidy frame has exactly the columns {list(TIDY_COLUMNS)}, as "
            "braze_frames.fetch_data_series returns it; rename, cast or select columns to "
            "match (e.g. value to Float64, date to Date)."
        ),
    )


def tidy_lazy(df: Any, required: Sequence[str] = TIDY_COLUMNS) -> tuple[nw.LazyFrame[Any], bool]:
    """Wrap a tidy frame for the verbs: check the columns they need, go lazy.

    Eager frames are made lazy so that one code path serves every backend (polars gets
    its query optimiser; pandas stays eager underneath). ``finish`` undoes it.

    Returns:
        The narwhals LazyFrame with only the ``required`` columns, and whether the caller
        passed an eager frame.

    Raises:
        TidyFrameError: A needed column is missing or has the wrong dtype.
    """
    frame = wrap(df)
    eager = isinstance(frame, nw.DataFrame)
    lazy = frame.lazy()
    schema = lazy.collect_schema()
    problems = schema_problems(schema, exact=False, required=required)
    if problems:
        raise _schema_error(problems)
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


def present_metrics(pairs: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """Every metric found on any channel."""
    return frozenset(m for ms in pairs.values() for m in ms)


def order_channels(channels: Iterable[str]) -> list[str]:
    """``"all"``, then documented channels in ``CHANNEL_SCHEMAS`` order, then others by name."""
    known = {ch: i for i, ch in enumerate(CHANNEL_SCHEMAS)}

    def key(ch: str) -> tuple[int, int, str]:
        if ch == ALL_CHANNEL:
            return (0, 0, "")
        if ch in known:
            return (1, known[ch], "")
        return (2, 0, ch)

    return sorted(set(channels), key=key)


def _with_schema(channel: str, metrics: Iterable[str]) -> set[str]:
    return set(metrics) | set(CHANNEL_SCHEMAS.get(channel, ()))


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
        columns.update(dict.fromkeys(CHANNEL_SCHEMAS.get(ch, ())))
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


def polars_wide_sorted(
    frame: nw.LazyFrame[Any], index: Sequence[str], names: Sequence[str]
) -> nw.LazyFrame[Any] | None:
    """Fast path for eager polars: ``widen`` then ``sorted_strings`` by ``index``, in one go.

    polars' conditional aggregations (one ``when(metric == name)`` pass over the big frame
    per name) and its multi-column sort of the wide result (strings, then a gather of
    every metric column) cost most of ``pivot``. Here each key column becomes its lexical
    rank (categorical codes mapped through the few distinct values), the ranks combine
    into one dense group number per row that is already in sort order, and the values
    are scattered into place with numpy: no string compared on the big frame, no sort.

    Returns:
        The sorted wide frame (String keys), or None where this path does not apply
        (numpy missing, an empty frame, NaN values, duplicated keys): the generic path
        then gives the documented result.
    """
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with pandas and pyarrow here
        return None
    import polars as pl
    import pyarrow as pa

    native = frame.collect().to_native()
    n = len(native)
    if n == 0 or not names or not isinstance(native, pl.DataFrame):
        return None
    value = native.get_column("value").cast(pl.Float64)
    if value.is_nan().any():
        return None  # NaN marks the empty cells below
    # Memory: the result (every cell, 8 bytes) is often larger than the input, so the
    # per-row arrays are kept narrow and freed early, and the result's columns are views
    # of the one array the values are scattered into (no copy to add nulls).
    codes, distinct_metrics = category_codes(native.get_column("metric"))
    slot = {name: i for i, name in enumerate(names)}
    text = distinct_metrics.cast(pl.String).to_list()
    if any(t not in slot for t in text):
        return None
    width = np.int32 if n * max(1, len(names)) < 2**31 else np.int64
    table = np.full(int(codes.max()) + 1, -1, dtype=width)
    table[distinct_metrics.to_physical().to_numpy()] = [slot[t] for t in text]
    cell = table[codes]
    del codes
    grouped = polars_groups(native, list(index))
    if grouped is None:
        return None
    group = grouped[0].astype(width, copy=False)
    n_groups = grouped[1]
    del grouped
    first = np.empty(n_groups, dtype=width)
    first[group] = np.arange(n, dtype=width)
    values = value.to_numpy()  # nulls read as NaN
    if value.null_count() or native.get_column("metric").null_count():
        keep = (cell >= 0) & ~np.isnan(values)  # a null value or metric fills no cell
        cell, group, values = cell[keep], group[keep], values[keep]
        del keep
    cell *= n_groups
    cell += group
    del group
    cells = np.full(len(names) * n_groups, np.nan)
    cells[cell] = values
    written = len(cell)
    del cell, values

    columns = []
    filled = 0
    for i, name in enumerate(names):
        data = cells[i * n_groups : (i + 1) * n_groups]
        valid = ~np.isnan(data)
        filled += int(np.count_nonzero(valid))
        bits = pa.py_buffer(np.packbits(valid, bitorder="little"))
        array = pa.Array.from_buffers(pa.float64(), n_groups, [bits, pa.py_buffer(data)])
        columns.append(pl.Series(name, array))
    if filled != written:
        return None  # duplicated keys: the generic path keeps the max, as documented
    keys = native.select(index)[pl.Series(first)]
    keys = keys.with_columns(
        pl.col(c).cast(pl.String) for c in index if not keys.schema[c].is_temporal()
    )
    result: nw.LazyFrame[Any] = nw.from_native(keys.hstack(columns), eager_only=True).lazy()
    return result


def dense_numbers(np: Any, codes: Any, size: int) -> tuple[Any, int]:
    """Renumber non-negative integer codes below ``size`` as 0, 1, ..., keeping their order.

    The numbers come as int32 when they fit (half the memory traffic): widen them before
    multiplying.
    """
    if size <= table_limit(len(codes)):
        # A lookup table beats any sort; flatnonzero beats a cumsum over it.
        present = np.zeros(size, dtype=bool)
        present[codes] = True
        used = np.flatnonzero(present)
        del present
        number = np.empty(size, dtype=np.int32 if len(used) < 2**31 else np.int64)
        number[used] = np.arange(len(used), dtype=number.dtype)
        return number[codes], len(used)
    import polars as pl

    # Too sparse for a table: polars' dense rank (a parallel sort) is 3x np.unique's.
    ranked = pl.Series(codes).rank("dense").to_numpy().astype(np.int64)
    ranked -= 1
    return ranked, int(ranked.max()) + 1 if len(ranked) else 0


def table_limit(n: int) -> int:
    """The largest range ``dense_numbers`` renumbers with a lookup table (5 bytes an entry)."""
    return 2 * n + 1024


def category_codes(s: Any) -> tuple[Any, Any]:
    """Categorical codes of a polars Series (nulls last) and its distinct non-null values."""
    import numpy as np
    import polars as pl

    if not isinstance(s.dtype, (pl.Categorical, pl.Enum)):
        s = s.cast(pl.String).cast(pl.Categorical())
    physical = s.to_physical()
    top = physical.max()
    if top is None:  # no values, or only nulls
        return np.zeros(len(s), dtype=np.int64), s.head(0)
    if physical.null_count():
        physical = physical.fill_null(int(top) + 1)
    codes = physical.to_numpy()
    # Which codes occur: a lookup table is 3x faster than Series.unique() on big frames.
    present = np.zeros(int(top) + 2, dtype=bool)
    present[codes] = True
    present[int(top) + 1] = False
    found = pl.Series(np.flatnonzero(present).astype(np.uint32))
    try:
        distinct_values = found.cast(physical.dtype).cat.to(s.dtype)
    except (AttributeError, pl.exceptions.PolarsError):  # pragma: no cover - older polars
        distinct_values = s.unique().drop_nulls()
    return codes, distinct_values


def lexical_ranks(s: Any, limit: int) -> tuple[Any, int] | None:
    """Each row's rank of its value in sort order (nulls first), and the size of the range.

    Strings and categoricals rank lexically, dates and datetimes by time; None for other
    dtypes.
    """
    import numpy as np
    import polars as pl

    if s.dtype.is_temporal():
        physical = s.to_physical()
        low = physical.min()
        if not isinstance(low, int):  # only nulls
            return np.zeros(len(s), dtype=np.int64), 1
        if physical.null_count():
            low -= 1
            physical = physical.fill_null(low)
        ticks = physical.to_numpy().astype(np.int64)
        ticks -= low
        size = int(ticks.max()) + 1
        return dense_numbers(np, ticks, size) if size > limit else (ticks, size)
    if not isinstance(s.dtype, (pl.String, pl.Categorical, pl.Enum, pl.Null)):
        return None
    every = all_categories(s)
    if every is not None and 8 * len(every) <= len(s):
        # Few categories in all: rank every one of them (ranks may skip unused ones) and
        # skip finding which occur, a pass over the column.
        physical = s.to_physical()
        if physical.null_count():
            physical = physical.fill_null(len(every))
        ranks = np.zeros(len(every) + 1, dtype=np.int64)  # the last entry: nulls, first
        ranks[every.arg_sort().to_numpy()] = np.arange(1, len(every) + 1)
        return ranks[physical.to_numpy()], len(every) + 1
    codes, distinct_values = category_codes(s)
    found = distinct_values.to_physical().to_numpy()
    order = distinct_values.cast(pl.String).arg_sort().to_numpy()
    table = np.zeros(max(int(codes.max()), int(found.max(initial=0))) + 1, dtype=np.int64)
    table[found[order]] = np.arange(1, len(order) + 1)
    return table[codes], len(order) + 1


def all_categories(s: Any) -> Any:
    """Every category of a categorical Series' dtype, indexed by code (None if unknown)."""
    import polars as pl

    if not isinstance(s.dtype, (pl.Categorical, pl.Enum)):
        return None
    try:
        categories = s.dtype.categories
        return categories if isinstance(categories, pl.Series) else categories.to_series()
    except (AttributeError, pl.exceptions.PolarsError):  # pragma: no cover - older polars
        return None


def polars_groups(native: Any, by: Sequence[str]) -> tuple[Any, int] | None:
    """One number per row of a polars DataFrame, dense, in the order of a sort by ``by``.

    Each key column becomes its rank (nulls first); the ranks combine from the last key to
    the first (mixed radix), renumbered densely only when the range would outgrow a lookup
    table. Rows with equal keys get equal numbers. None when a key has another dtype.
    """
    import numpy as np

    limit = table_limit(len(native))
    ranked = lexical_ranks(native.get_column(by[-1]), limit)
    if ranked is None:
        return None
    group, n_groups = ranked
    for column in reversed(by[:-1]):
        ranked = lexical_ranks(native.get_column(column), limit)
        if ranked is None:
            return None
        rank, size = ranked
        if n_groups * size > limit:
            group, n_groups = dense_numbers(np, group, n_groups)
        rank = rank.astype(np.int64, copy=False)
        rank *= n_groups  # in place: rank is a fresh array
        rank += group
        group = rank
        n_groups *= size
    return dense_numbers(np, group, n_groups)
