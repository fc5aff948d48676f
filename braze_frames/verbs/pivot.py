"""``pivot`` and ``unpivot``: the tidy table spread wide, one column per metric, and back."""

from __future__ import annotations

from typing import Any, Final, Literal

import narwhals.stable.v2 as nw
from narwhals.typing import IntoFrameT

from .._schema import ALL_CHANNEL, metric_order
from .._tables import CAMPAIGN_TABLE, CANVAS_TABLE, table_of
from .._validate import check_choice
from ._common import (
    channel_metrics,
    distinct,
    finish,
    order_channels,
    present_metrics,
    sorted_strings,
    table_of_frame,
    tidy_lazy,
    wide_columns,
    widen,
    with_schema,
    wrap,
)
from ._fast import polars_wide_sorted
from .series import SERIES_INDEX, is_series, pivot_series

__all__ = ["CHANNEL_SEPARATOR", "WIDE_INDEX", "Layout", "pivot", "unpivot"]

Layout = Literal["metrics", "channels"]

_LAYOUTS: Final = ("metrics", "channels")

#: The row key of ``pivot(layout="metrics")`` on a campaign frame; every other column is a
#: metric. A Canvas frame's is ``CANVAS_TABLE.wide_index`` (canvas_id, canvas_name, date,
#: variant, variant_name, step, step_name, channel).
WIDE_INDEX: Final = CAMPAIGN_TABLE.wide_index

#: ``layout="channels"`` names its columns ``<channel>__<metric>``.
CHANNEL_SEPARATOR: Final = "__"


def pivot(df: IntoFrameT, *, layout: Layout = "metrics") -> IntoFrameT:
    """Spread the tidy table wide, one column per metric.

    ``layout="metrics"`` (the default): one row per (campaign_id, date, channel,
    variation), with ``campaign_name`` and ``variation_name`` kept beside their ids, then
    one column per metric. Columns follow
    the channels' schemas (Braze's order; channels in ``CHANNEL_SCHEMAS`` order), then the
    extras, then conversion events by number, then unknown metrics by name
    (``metric_order``). Every schema metric of the channels present gets a column, null
    where the channel has no value. ``unpivot`` inverts this layout.

    ``layout="channels"``: one row per (campaign_id, date), with ``campaign_name``, and one
    column per
    ``<channel>__<metric>`` (e.g. ``email__opens``, ``all__conversions``), summed over
    variations; null where no variation had the metric that day. Channels come in the
    order ``all``, the documented ones, then unknown ones by name. This is the
    "one line per day" table notebooks like to plot.

    Canvas frames (``CANVAS_COLUMNS``) pivot the same way with their own keys:
    ``layout="metrics"`` gives one row per (canvas_id, date, variant, step, channel), with
    ``canvas_name``, ``variant_name`` and ``step_name``; ``layout="channels"`` one row per
    (canvas_id, date): ``all__<metric>`` from the Canvas's totals, and each channel's
    message metrics summed over steps (``email#2`` counted as ``email``). The variants'
    and steps' own totals are left out there: they count the same entries and conversions
    again.

    Keys must be unique (see ``validate``). Rows are sorted by their key, nulls first.
    Works on lazy frames too (polars ``LazyFrame``, DuckDB relations, PySpark DataFrames):
    one small query reads the (channel, metric) pairs that name the columns, and the
    result is a plan that runs when the caller collects it.

    A workspace series frame (``fetch_series``) pivots to one row per (app_id, date) and
    one column per series, ``dau`` or ``events:signup`` (``verbs.series.pivot_series``).
    A frame of sends (``fetch_send_series``) keeps ``send_id`` in the row key, after
    ``campaign_name``: one row per send, never two sends in one.

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
        ['campaign_id', 'campaign_name', 'date', 'channel', 'variation', 'variation_name', 'sent', 'errors']
        >>> pivot(tidy, layout="channels").columns
        ['campaign_id', 'campaign_name', 'date', 'webhook__sent', 'webhook__errors']
    """
    check_choice("layout", layout, _LAYOUTS)
    if is_series(df):
        if layout != "metrics":
            msg = "a series frame has no channels: pivot it with layout='metrics'"
            raise ValueError(msg)
        return pivot_series(df)
    table = table_of_frame(df)
    frame, eager = tidy_lazy(df, table=table)
    if layout == "metrics":
        index = list(table.wide_index)
        if eager:
            channels, metrics = distinct(frame, "channel", eager=True), distinct(frame, "metric", eager=True)
        else:
            # One small query on a lazy frame: the (channel, metric) pairs give both.
            pairs = channel_metrics(frame)
            channels, metrics = list(pairs), sorted(present_metrics(pairs))
        names = wide_columns(channels, metrics)
        polars = eager and frame.implementation.is_polars()
        fast = polars_wide_sorted(frame, index, names) if polars else None
        if fast is not None:
            result_fast: IntoFrameT = finish(fast, eager)
            return result_fast
        wide = widen(frame, index, names)
    else:
        # The row key up to the date: the object's id and name (and a send's id).
        index = [*table.wide_index[: table.wide_index.index("date")], "date"]
        if table is CANVAS_TABLE:
            frame = _canvas_channels(frame)
        summed = (
            frame.group_by(*index, "channel", "metric")
            .agg(nw.col("value").sum(), nw.col("value").count().alias("_n"))
            .with_columns(nw.when(nw.col("_n") > 0).then(nw.col("value")).alias("value"))
            .drop("_n")
        )
        if eager:
            summed = summed.collect().lazy()
        # On a lazy frame the pairs come from the source (one small query), not from the
        # sums, which would run the whole aggregation just to name the columns.
        pairs = channel_metrics(summed if eager else frame)
        per_channel = {ch: metric_order(ch, with_schema(ch, ms)) for ch, ms in pairs.items()}
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


def _canvas_channels(frame: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """A Canvas frame's totals and step messages, each message on its channel's base name."""
    channel = nw.col("channel").cast(nw.String())
    totals = nw.col("variant").is_null() & nw.col("step").is_null() & (channel == ALL_CHANNEL)
    return frame.filter(totals | (channel != ALL_CHANNEL)).with_columns(
        channel.str.replace(r"#\d+$", "").alias("channel")
    )


def unpivot(wide: IntoFrameT) -> IntoFrameT:
    """Turn a ``pivot(layout="metrics")`` frame back into the tidy table.

    Every column other than ``WIDE_INDEX`` (campaign_id, campaign_name, date, channel,
    variation, variation_name) is a metric; null cells give no row. ``unpivot(pivot(df))``
    equals ``df`` after sorting (key columns come back as strings). A pivoted Canvas frame
    (told by its ``canvas_id``) comes back as a Canvas frame (``CANVAS_COLUMNS``).

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
        [('c1', None, datetime.date(2024, 7, 1), 'webhook', 'v1', 'A', 'sent', 10.0)]
    """
    frame = wrap(wide)
    eager = isinstance(frame, nw.DataFrame)
    lazy = frame.lazy()
    schema = lazy.collect_schema()
    table = table_of(schema.names())
    index = table.wide_index
    if "campaign_name" not in schema and "campaign_id" in schema:  # pivoted before names
        lazy = lazy.with_columns(nw.lit(None, nw.String()).alias("campaign_name"))
        schema = lazy.collect_schema()
    missing = [c for c in index if c not in schema]
    if missing and "campaign_id" not in schema and set(SERIES_INDEX) <= set(schema):
        msg = ("this is a pivoted series frame: its columns name each series by metric and key "
               "and drop key_name, so it cannot be turned back; keep fetch_series' long frame")
        raise ValueError(msg)
    if missing:
        msg = (
            f"unpivot needs the columns {list(index)} of pivot(layout='metrics'); "
            f"missing: {missing}. A layout='channels' frame sums over variations and "
            "cannot be turned back into the tidy table."
        )
        raise ValueError(msg)
    metrics = [c for c in schema if c not in index]
    bad = [c for c, dtype in schema.items() if c in metrics and not dtype.is_numeric()]
    if bad:
        msg = f"metric columns must be numeric; not numeric: {bad}"
        raise ValueError(msg)
    if metrics:
        long = lazy.unpivot(
            on=metrics, index=list(index), variable_name="metric", value_name="value"
        ).filter(~nw.col("value").is_null())
    else:
        long = lazy.with_columns(
            nw.lit(None, nw.String()).alias("metric"), nw.lit(None, nw.Float64()).alias("value")
        ).head(0)
    long = long.with_columns(nw.col("value").cast(nw.Float64())).select(*table.columns)
    long = sorted_strings(long, table.string_columns, table.key_columns)
    result: IntoFrameT = finish(long, eager)
    return result
