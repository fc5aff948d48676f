"""Every numpy fast path of the verbs, behind one contract: the result, or ``None``.

Eager polars frames are large and in memory, where a few numpy passes beat the generic
narwhals plan by 2-4x (bench/README.md). Each function here returns exactly what the
generic plan returns, or ``None`` when it cannot promise that (numpy missing, NaN values,
repeated keys, an unsupported dtype); the caller then runs the plan. Tests check each one
against the plan bit for bit (tests/test_perf_equivalence.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals.stable.v2 as nw

from .._schema import conversion_event, event_name

__all__ = [
    "all_categories",
    "category_codes",
    "dense_numbers",
    "lexical_ranks",
    "polars_groups",
    "polars_wide_sorted",
    "rates_long_sorted",
    "reconcile_detail_sorted",
    "table_limit",
]


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
    # A name column that its id determines (campaign_name by campaign_id...) orders and
    # groups nothing the id does not: leave it out of the group numbers, whose range it
    # would multiply (150 names made the renumbering sort instead of look up: 0.3 s).
    grouping = [
        c for c in index
        if not (c in _NAMED_BY and _NAMED_BY[c] in index and determined(native, _NAMED_BY[c], c))
    ]
    grouped = polars_groups(native, grouping)
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


#: Name columns and the id column that names them.
_NAMED_BY = {"campaign_name": "campaign_id", "variation_name": "variation"}


def determined(native: Any, by: str, column: str) -> bool:
    """Whether each value of ``by`` comes with one value of ``column`` (nulls count as values).

    Read from categorical codes with a lookup table; False when the codes are not small
    (not categoricals, or too many) rather than spend a sort on it.
    """
    import numpy as np
    import polars as pl

    a, b = native.get_column(by), native.get_column(column)
    if b.null_count() == len(b):
        return True
    if not all(isinstance(s.dtype, (pl.Categorical, pl.Enum)) for s in (a, b)):
        return False
    codes_a = a.to_physical().fill_null(int(a.to_physical().max() or 0) + 1).to_numpy().astype(np.int64)
    codes_b = b.to_physical().fill_null(int(b.to_physical().max() or 0) + 1).to_numpy().astype(np.int64)
    width = int(codes_b.max()) + 1
    size = (int(codes_a.max()) + 1) * width
    if size > table_limit(len(codes_a)):
        return False
    seen = np.zeros(size, dtype=bool)
    seen[codes_a * width + codes_b] = True
    pairs = int(np.count_nonzero(seen))
    ids = np.zeros(int(codes_a.max()) + 1, dtype=bool)
    ids[codes_a] = True
    return pairs == int(np.count_nonzero(ids))


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


def reconcile_detail_sorted(
    frame: nw.LazyFrame[Any], names: list[str], key_columns: Sequence[str]
) -> nw.LazyFrame[Any] | None:
    """``reconcile``'s detail for eager polars: the generic plan then the final sort, in one go.

    As in ``pivot``'s fast path: each key becomes its lexical rank, the ranks combine into
    one group number per row already in sort order, and the two sides are scattered into
    place with numpy. The running total is one ``cum_sum`` over the sorted result. The
    names (``campaign_name``, ``variation_name``) are each group's, read from one of its
    rows once every row of the group is known to carry the same.

    Returns:
        The sorted detail (String keys, the detail's columns), or None where this path
        does not apply (numpy missing, no conversion rows, a key with two values on one
        side, a name that differs within a group): the generic path then gives the
        documented result.
    """
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with pandas and pyarrow here
        return None
    import polars as pl

    native = frame.collect().to_native()
    if not isinstance(native, pl.DataFrame):
        return None
    rows = native.filter(pl.col("metric").is_in(names))
    m = len(rows)
    if m == 0:
        return None
    grouped = polars_groups(rows, ["campaign_id", "channel", "variation"])
    dated = lexical_ranks(rows.get_column("date"), table_limit(m))
    if grouped is None or dated is None:
        return None
    prefix, _ = grouped
    day, n_days = dated

    # Per metric name: its event's rank among the events (sorted by name) and its side.
    events = sorted({event_name(name) for name in names})
    codes, distinct_metrics = category_codes(rows.get_column("metric"))
    found = distinct_metrics.to_physical().to_numpy()
    rank_of = np.zeros(int(codes.max()) + 1, dtype=np.int64)
    send_of = np.zeros(len(rank_of), dtype=bool)
    for code, name in zip(found, distinct_metrics.cast(pl.String).to_list(), strict=True):
        rank_of[code] = events.index(event_name(name))
        send_of[code] = bool((conversion_event(name) or (0, False))[1])
    send = send_of[codes].astype(np.int64)
    event = rank_of[codes]
    del codes
    # The (campaign, channel, variation) series, in order; then the day within it.
    series = prefix * len(events) + event
    del prefix
    group, n_groups = dense_numbers(np, series * n_days + day, (int(series.max()) + 1) * n_days)

    # Both sides of a day in one array: [2 * group] by conversion date, [2 * group + 1] by
    # send date.
    cell = group * 2 + send
    written = np.zeros(2 * n_groups, dtype=bool)
    written[cell] = True
    if int(np.count_nonzero(written)) != m:
        return None  # a repeated key: the generic path sums it, as documented
    first = np.empty(n_groups, dtype=np.int64)
    first[group] = np.arange(m, dtype=np.int64)
    for column in ("campaign_name", "variation_name"):
        # Every row of a group must carry the group's name (the generic path takes the max).
        names_here = rows.get_column(column)
        if names_here.null_count() == m:
            continue
        if not isinstance(names_here.dtype, (pl.Categorical, pl.Enum)):
            names_here = names_here.cast(pl.String).cast(pl.Categorical())
        physical = names_here.to_physical()
        top = physical.max()
        codes_here = physical.fill_null(int(top) + 1 if isinstance(top, int) else 0).to_numpy()
        if not np.array_equal(codes_here, codes_here[first[group]]):
            return None
    value = rows.get_column("value").cast(pl.Float64)
    both_sides = np.zeros(2 * n_groups)
    both_sides[cell] = value.to_numpy()  # nulls read as NaN; ``written`` marks them below
    if value.null_count():
        written[cell[value.is_null().to_numpy()]] = False
    del cell
    conversion, by_send = both_sides[0::2], both_sides[1::2]
    has_conversion, has_send = written[0::2], written[1::2]
    both = has_conversion & has_send
    difference = np.where(both, conversion - by_send, 0.0)

    labels = pl.Series(events, dtype=pl.String)
    keys = rows.select(
        "campaign_id", "campaign_name", "channel", "variation", "variation_name", "date"
    )[pl.Series(first)]
    detail = pl.DataFrame(
        [
            *(keys.get_column(c).cast(pl.String)
              for c in ("campaign_id", "campaign_name", "channel", "variation", "variation_name")),
            labels.gather(pl.Series(event[first])).alias("event"),
            keys.get_column("date"),
            pl.Series("by_conversion_date", conversion),
            pl.Series("by_send_date", by_send),
            pl.Series("difference", difference),
            pl.Series("_series", series[first]),
            pl.Series("_has_conversion", has_conversion),
            pl.Series("_has_send", has_send),
            pl.Series("_both", both),
        ]
    )
    result = detail.select(
        *key_columns[:1],
        "campaign_name",
        *key_columns[1:3],
        "variation_name",
        *key_columns[3:],
        "date",
        pl.when("_has_conversion").then("by_conversion_date").alias("by_conversion_date"),
        pl.when("_has_send").then("by_send_date").alias("by_send_date"),
        pl.when("_both").then("difference").alias("difference"),
        # Sequential within each series, in date order: the same sums as the generic path.
        pl.col("difference").cum_sum().over("_series").alias("cumulative_difference"),
    )
    lazy: nw.LazyFrame[Any] = nw.from_native(result, eager_only=True).lazy()
    return lazy


def rates_long_sorted(
    wide: nw.LazyFrame[Any],
    keys: Sequence[str],
    name_columns: Sequence[str],
    names: Sequence[str],
    has: int,
    columns: Sequence[str],
) -> nw.LazyFrame[Any] | None:
    """``rates``' last stage for a table in memory: one select per rate, no unpivot.

    The plan turns the wide table (one row per group, three columns per rate) long with an
    unpivot and gathers each rate's parts back with a group-by, which a lazy engine runs in
    one pass. In memory, when each group is one row, selecting each rate's rows and
    concatenating them is 2-3x faster; the rows are ordered by (group in key order, rate
    name), which is the plan's sort by (keys, metric). A group on several rows (its days
    in several presence patterns) is added up first.

    Args:
        wide: The plan's wide table (polars), with ``keys``, ``name_columns``,
            ``_complete`` and ``_rn{i}``/``_rd{i}``/``_ry{i}`` for the i-th of ``names``.
        keys: The group's key columns (``_period`` for the date).
        name_columns: ``_cn``/``_vn`` as kept.
        names: The rate names, in column order.
        has: The factor packing days and appearance in ``_ry{i}`` (days * has + rows).
        columns: The output's columns, in order.

    Returns:
        The rate table, or None where this path does not apply (not polars): the plan's
        last stage then gives the documented result.
    """
    import polars as pl

    native = wide.collect().to_native()
    if not isinstance(native, pl.DataFrame):
        return None
    text = [c for c in (*keys, *name_columns) if c != "_period"]
    native = native.with_columns(pl.col(c).cast(pl.String) for c in text)
    if native.select(keys).is_duplicated().any():
        # A group's days came in several presence patterns: add its rows up first, as the
        # plan's gathering does.
        parts = [f"{p}{i}" for i in range(len(names)) for p in ("_rn", "_rd", "_ry")]
        native = native.group_by(list(keys)).agg(
            *(pl.col(c).max() for c in (*name_columns, "_complete")),
            *(pl.col(c).sum() for c in parts),
        )
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with pandas and pyarrow here
        return None
    native = native.sort(list(keys), nulls_last=False)
    # Each rate's rows, then one gather in (row, rate name) order: no per-rate frames.
    rank = {name: i for i, name in enumerate(sorted(names))}
    rows, rates, numerators, denominators, packed = [], [], [], [], []
    for i, name in enumerate(names):
        yh = native.get_column(f"_ry{i}").cast(pl.Float64).to_numpy()
        where = np.flatnonzero(np.mod(yh, has) > 0)
        rows.append(where)
        rates.append(np.full(len(where), rank[name], dtype=np.int64))
        numerators.append(native.get_column(f"_rn{i}").cast(pl.Float64).to_numpy()[where])
        denominators.append(native.get_column(f"_rd{i}").cast(pl.Float64).to_numpy()[where])
        packed.append(yh[where])
    row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    rate = np.concatenate(rates) if rates else np.zeros(0, dtype=np.int64)
    order = np.argsort(row * max(len(names), 1) + rate, kind="stable")
    row, rate = row[order], rate[order]
    days = (np.concatenate(packed)[order] // has).astype(np.int64)
    entered = pl.Series(days > 0)
    numerator = pl.Series("numerator", np.concatenate(numerators)[order])
    denominator = pl.Series("denominator", np.concatenate(denominators)[order])
    labels = pl.Series(sorted(names), dtype=pl.String)
    table = native.select(*keys, *name_columns, pl.col("_complete").cast(pl.Boolean))[pl.Series(row)]
    table = table.with_columns(
        labels.gather(pl.Series(rate)).alias("metric"),
        pl.when(entered).then(numerator).alias("numerator"),
        pl.when(entered).then(denominator).alias("denominator"),
        pl.Series("days", days),
    )
    renamed = {"_period": "date", "_cn": "campaign_name", "_vn": "variation_name", "_complete": "complete"}
    ratio = pl.when(pl.col("denominator") != 0).then(pl.col("numerator") / pl.col("denominator"))
    result = table.with_columns(ratio.alias("value")).rename(
        {k: v for k, v in renamed.items() if k in table.columns}
    ).select(*columns)
    lazy: nw.LazyFrame[Any] = nw.from_native(result, eager_only=True).lazy()
    return lazy
