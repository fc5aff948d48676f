"""Reconciling ``conversions{k}`` (by conversion date) with ``conversions{k}_by_send_time``.

Braze counts each conversion twice: on the day it happened (``conversions``) and on the
day its message was sent (``conversions_by_send_time``). Over a window of days [a, b]::

    sum(by conversion date) - sum(by send date)
        = conversions inside [a, b] from sends before a          (A >= 0)
        - conversions after b (up to now) from sends inside [a, b] (B >= 0)

so the two agree only over a campaign's whole life, once its conversion window (up to 30
days; 3 by default) has passed. ``reconcile`` lays both series side by side per day, with
their running difference, and a summary says whether the gap is what the window edges can
explain and estimates the mean conversion lag (``lag.py``).

The daily detail is one plan on every engine (nothing runs until the caller collects); the
summary collects each series' days, which are small (one row per series and day: on
polars gathered in the detail's own query, on DuckDB from its conversion rows grouped by
series and metric), because the mean lag is a fit per series that no engine runs (SPEC
section 10).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import narwhals.stable.v2 as nw
from narwhals.typing import IntoFrameT

from .._schema import conversion_event
from .._tables import CANVAS_TABLE
from .._validate import check_date
from ._common import (
    Source,
    day_number,
    distinct,
    give_back,
    plan_input,
    sort_keys,
    sql_name,
    string_keys,
    table_of_frame,
)
from ._fast import reconcile_detail_sorted
from ._lag_many import mean_lags
from .canvas_reconcile import canvas_reconcile
from .lag import MAX_WINDOW_DAYS

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "DETAIL_COLUMNS",
    "RECONCILE_KEYS",
    "SUMMARY_COLUMNS",
    "conversion_windows",
    "day_number",
    "reconcile",
]

#: The group of one pair of curves; the detail adds ``date``.
RECONCILE_KEYS: Final = ("campaign_id", "channel", "variation", "event")
#: The detail's columns, in order.
DETAIL_COLUMNS: Final = (
    "campaign_id", "campaign_name", "channel", "variation", "variation_name", "event", "date",
    "by_conversion_date", "by_send_date", "difference", "cumulative_difference",
)
#: The summary's columns, in order.
SUMMARY_COLUMNS: Final = (
    "campaign_id", "campaign_name", "channel", "variation", "variation_name", "event", "event_name",
    "window_days", "first_date", "last_date", "by_conversion_date", "by_send_date", "gap", "gap_share",
    "edge_bound", "within_bound", "days_missing_a_side", "mean_lag_days",
)
#: The conversion window when neither ``window_days`` nor ``details`` says: Braze's maximum.
DEFAULT_WINDOW_DAYS: Final = 30

_SEND_SUFFIX: Final = "_by_send_time"
_CONVERSION_REGEX: Final = r"^conversions[0-9]*(_by_send_time)?$"
# Keys of a /campaigns/details body: a mapping with any of them is one campaign's details.
_DETAILS_KEYS: Final = frozenset({"conversion_behaviors", "name", "messages", "channels", "first_sent",
                                  "last_sent", "message", "schedule_type"})

Details = Mapping[str, Any]
WindowDays = int | Mapping[str, int] | None


def reconcile(
    df: IntoFrameT,
    *,
    summary: bool = False,
    window_days: WindowDays = None,
    details: Details | Mapping[str, Details] | None = None,
    as_of: str | dt.date | None = None,
) -> IntoFrameT:
    """Put conversions by conversion date and by send date side by side, per day.

    Detail (the default), one row per (campaign_id, channel, variation, event, date), with
    ``campaign_name`` and ``variation_name`` beside their ids: ``event``
    (``"conversions"``, ``"conversions1"``, ...), ``by_conversion_date``
    (``conversions{k}``), ``by_send_date`` (``conversions{k}_by_send_time``),
    ``difference`` (= by_conversion_date - by_send_date) and ``cumulative_difference``
    (its running total over the dates, in order). A day with one side missing has a null
    ``difference`` and adds 0 to the running total. It covers the day-level ``"all"`` rows
    and every variation row that carries conversions, and every event present
    (``conversions4`` and beyond included). Dates are days in the company's time zone, as
    Braze buckets them.

    ``summary=True``, one row per (campaign_id, channel, variation, event), names beside
    the ids:

    - ``event_name``: the conversion behaviour's ``type``, plus ``": "`` and its
      ``custom_event_name`` or ``product`` when it has one ("Performs Custom Event:
      signup"); null without ``details``;
    - ``window_days``: the conversion window used (see ``window_days`` below);
    - ``first_date``, ``last_date``: the window [a, b] the data covers;
    - ``by_conversion_date``, ``by_send_date``: each side's total over the days where
      both sides are present (null when there is none), so that
    - ``gap`` = by_conversion_date - by_send_date equals the detail's final
      ``cumulative_difference``; ``gap_share`` = gap / by_send_date (null when
      by_send_date is 0);
    - ``edge_bound``: how large a gap the window's edges can explain. From the identity
      in the module docstring, gap = A - B with 0 <= A, B, where A counts conversions in
      the window from sends before it and B conversions after it from sends in it. A
      send converts at most ``window_days`` days later, so A is at most the conversions
      *by conversion date* of the first ``window_days`` days of the window, and B at most
      the conversions *by send date* of its last ``window_days`` days (both over the
      days with both sides). ``edge_bound`` is the first of these when the gap is >= 0
      and the second when it is negative; null when the gap is null or NaN (a NaN
      count: the gap has no sign);
    - ``within_bound``: abs(gap) <= edge_bound (null where edge_bound is). False means
      the two series disagree more than attribution timing can explain (restated data, a
      changed conversion window, missing days);
    - ``days_missing_a_side``: the days where one side is present and the other is not
      (left out of the totals above);
    - ``mean_lag_days``: the mean days from send to conversion, by fitting the
      by-conversion-date counts as a non-negative mixture of the by-send-date counts
      shifted by 0..``window_days`` days (``lag.mean_lag``; SPEC section 6). It holds in
      a window that starts after the first send. The last ``window_days`` days before
      ``as_of`` are left out when the series reaches that close (their by-send-date
      counts are still growing), and days without any row count as zeros on both sides.
      Null when the data cannot pin the lag down: too few days, or sends so steady that
      every lag fits about as well (daily totals identify the lag only through changes
      in the number of sends).

    Canvas frames (``fetch_canvas_series``; SPEC section 12) pair ``conversions{k}`` with
    ``conversions{k}_by_entry_time``: one series per (canvas_id, variant, step, channel,
    event), with ``canvas_name``, ``variant_name`` and ``step_name`` beside the ids, and
    ``by_entry_date`` in place of ``by_send_date`` (the identity above holds with entries
    for sends). ``details`` takes what ``bf.canvas_details`` returns.

    Lazy frames (``polars.scan_parquet``, DuckDB relations, PySpark DataFrames) get back a
    frame of their own type. The detail is a plan: nothing runs until the caller
    collects (and a frame without conversion metrics then gives no rows, where an eager
    frame raises). The summary runs one query, the detail (small: one row per series and
    day), because the mean lag is fitted in Python.

    Args:
        df: A tidy frame of any supported backend (eager or lazy).
        summary: Return the summary instead of the daily detail.
        window_days: The conversion window in days: an int for every event, or a
            mapping by event (``{"conversions": 3, "conversions1": 7}``). Overrides
            ``details``; when neither says, 30 (Braze's maximum, so the bound is
            conservative). At most ``lag.MAX_WINDOW_DAYS``.
        details: What ``bf.campaign_details`` returns for the frame's one campaign, or a
            mapping ``{campaign_id: details}``: each event's window comes from
            ``conversion_behaviors[k].window`` (seconds, rounded up to days) and its
            ``event_name`` from the behaviour's type. Read as plain data.
        as_of: Today (a date or ISO string), for leaving out the mean lag's still-growing
            last days; default today in UTC, which can be a day off the company's today.

    Returns:
        The detail or summary frame, of the caller's type, sorted by key.

    Raises:
        ValueError: A non-empty eager frame without any conversion metric; a bad
            ``window_days``, ``details`` or ``as_of``; one campaign's ``details`` for a
            frame with several campaigns.
        TidyFrameError: ``df`` lacks a tidy column or has a wrong dtype.

    Examples:
        >>> from braze_frames._tidy import from_records
        >>> tidy = from_records([
        ...     ("c1", "2024-07-01", "all", None, None, "conversions", 1.0),
        ...     ("c1", "2024-07-01", "all", None, None, "conversions_by_send_time", 3.0),
        ...     ("c1", "2024-07-02", "all", None, None, "conversions", 2.0),
        ...     ("c1", "2024-07-02", "all", None, None, "conversions_by_send_time", 0.0),
        ... ])
        >>> reconcile(tidy).select("date", "difference", "cumulative_difference").rows()
        [(datetime.date(2024, 7, 1), -2.0, -2.0), (datetime.date(2024, 7, 2), 2.0, 0.0)]
        >>> reconcile(tidy, summary=True, window_days=1).select("gap", "edge_bound", "within_bound").rows()
        [(0.0, 1.0, True)]
    """
    if table_of_frame(df) is CANVAS_TABLE:
        canvas: IntoFrameT = canvas_reconcile(df, summary=summary, window_days=window_days,
                                              details=details, as_of=as_of, reconcile=reconcile)
        return canvas
    windows = _window_override(window_days)
    behaviours = _check_details(details)
    # The default today is UTC's: a day off the company's today at times (the docstring says so).
    today = check_date("as_of", as_of) or dt.datetime.now(dt.timezone.utc).date()
    frame, source = plan_input(df)
    detail = None
    if not source.lazy:
        names = [m for m in distinct(frame, "metric", eager=True) if conversion_event(m) is not None]
        if not names and _has_rows(frame):
            msg = (
                "the frame has no conversion metrics (conversions, conversions_by_send_time, "
                "conversions1, ...) to reconcile"
            )
            raise ValueError(msg)
        detail = reconcile_detail_sorted(frame, names, RECONCILE_KEYS) if names else None
    if summary:
        # The summary sorts its own rows: the detail goes unsorted (a sort costs SQL engines
        # a pass of its own).
        out = _summary(detail, frame, windows, behaviours, today, source)
        summary_table: IntoFrameT = give_back(out, source)
        return summary_table
    table: IntoFrameT = give_back(detail if detail is not None else _sorted_detail(_detail(frame)), source)
    return table


# -- the detail -----------------------------------------------------------------------------------


def _detail(frame: nw.LazyFrame[Any], *, running: bool = True) -> nw.LazyFrame[Any]:
    """One row per (series, day): both sides, their difference, the running total. A plan.

    ``running=False`` leaves out the running total (a window the summary does not need).
    """
    metric = nw.col("metric").cast(nw.String())
    # The prefix test first: engines run the regular expression only on the rows it keeps.
    rows = frame.filter(metric.str.starts_with("conversions") & metric.str.contains(_CONVERSION_REGEX))
    send = metric.str.ends_with(_SEND_SUFFIX)
    value = nw.col("value")
    rows = rows.with_columns(
        metric.str.replace_all(_SEND_SUFFIX, "", literal=True).alias("event"),
        nw.when(~send).then(value).alias("_conversion"),
        nw.when(send).then(value).alias("_send"),
    )
    keys = ["campaign_id", "channel", "variation", "event", "date"]
    sides = [
        nw.col("_conversion").sum(),
        nw.col("_conversion").count().alias("_nc"),
        nw.col("_send").sum(),
        nw.col("_send").count().alias("_ns"),
    ]
    if rows.implementation.is_pyspark() or rows.implementation.is_pyspark_connect():
        # PySpark sorts every row for the max of a string: group by the names first (a hash
        # aggregate), then add up a day that had two names, on the small result.
        split = rows.group_by(*keys, "campaign_name", "variation_name").agg(*sides)
        day = split.group_by(*keys).agg(
            nw.col("campaign_name").max(),
            nw.col("variation_name").max(),
            *(nw.col(c).sum() for c in ("_conversion", "_nc", "_send", "_ns")),
        )
    else:
        day = rows.group_by(*keys).agg(nw.col("campaign_name").max(), nw.col("variation_name").max(), *sides)
    conversion = nw.when(nw.col("_nc") > 0).then(nw.col("_conversion"))
    by_send = nw.when(nw.col("_ns") > 0).then(nw.col("_send"))
    day = day.with_columns(
        conversion.cast(nw.Float64()).alias("by_conversion_date"),
        by_send.cast(nw.Float64()).alias("by_send_date"),
    ).with_columns((nw.col("by_conversion_date") - nw.col("by_send_date")).alias("difference"))
    if not running:
        return day.select(*DETAIL_COLUMNS[:-1])
    total = nw.col("difference").fill_null(0).cum_sum().over(*RECONCILE_KEYS, order_by="date")
    return day.with_columns(total.alias("cumulative_difference")).select(*DETAIL_COLUMNS)


def _sorted_detail(detail: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    text = ["campaign_id", "campaign_name", "channel", "variation", "variation_name", "event"]
    ordered: nw.LazyFrame[Any] = sort_keys(string_keys(detail, text), [*RECONCILE_KEYS, "date"])
    return ordered


def _has_rows(frame: nw.LazyFrame[Any]) -> bool:
    return bool(len(frame.head(1).collect()))


# -- the summary ----------------------------------------------------------------------------------


def _summary(
    detail: nw.LazyFrame[Any] | None,
    frame: nw.LazyFrame[Any],
    windows: Mapping[str, int] | int | None,
    behaviours: Mapping[str | None, Sequence[Any]] | None,
    today: dt.date,
    source: Source,
) -> nw.LazyFrame[Any]:
    """The summary, computed in memory from each series' days (polars), then as a plan again.

    ``detail`` is the eager input's detail, None for a lazy input (``frame`` then).
    """
    import polars as pl

    keys = list(RECONCILE_KEYS)
    # One hash group-by gathers each series' days; the totals and the mean lag are then read
    # from those arrays (_series_sums). A join, two windows and a group-by over every row
    # took 0.9 s at 2M rows, and sorting them for the fits another 1.6 s.
    if detail is None and frame.implementation.is_duckdb():
        series, days = _duckdb_series(frame.to_native())
    else:
        rows_plan = detail if detail is not None else _detail(frame, running=False)
        if rows_plan.implementation.is_polars():
            # polars gathers the series in the detail's own query, so the daily rows are
            # not held as a frame of their own (the same time at 2M rows, without that copy).
            rows = rows_plan.to_native()
        else:
            rows = pl.from_arrow(rows_plan.collect().to_arrow())
        assert isinstance(rows, (pl.DataFrame, pl.LazyFrame))
        text = ["campaign_id", "campaign_name", "channel", "variation", "variation_name", "event"]
        series = (
            rows.lazy()
            .with_columns(pl.col(text).cast(pl.String), pl.col("date").cast(pl.Date))
            .group_by(keys)
            .agg(
                pl.col("campaign_name").max(),
                pl.col("variation_name").max(),
                pl.col("date").min().alias("first_date"),
                pl.col("date").max().alias("last_date"),
                pl.col("date").cast(pl.Int32).alias("_day"),
                pl.col("by_conversion_date").cast(pl.Float64),
                pl.col("by_send_date").cast(pl.Float64),
            )
            .collect()
        )
        days = _listed_days(series)
        series = series.drop("_day", "by_conversion_date", "by_send_date")
    campaigns = series.get_column("campaign_id").unique().to_list()
    if behaviours is not None and None in behaviours and len(campaigns) > 1:
        msg = (
            f"details describe one campaign, but the frame has {len(campaigns)}: pass "
            "{campaign_id: details} (bf.campaign_details accepts a list of ids)"
        )
        raise ValueError(msg)
    events = series.select("campaign_id", "event").unique()
    settings = [
        (cid, event, *_event_setting(cid, event, windows, behaviours)) for cid, event in events.iter_rows()
    ]
    setting = pl.DataFrame(
        settings,
        schema={"campaign_id": pl.String, "event": pl.String, "window_days": pl.Int64,
                "event_name": pl.String},
        orient="row",
    )
    # The series keep their order: ``days`` is aligned with it.
    series = series.join(setting, on=["campaign_id", "event"], how="left", nulls_equal=True,
                         maintain_order="left")
    totals = series.with_columns(**_series_sums(series, days, today))
    has = pl.col("_n_both") > 0
    conversion = pl.when(has).then(pl.col("_conversion"))
    send = pl.when(has).then(pl.col("_send"))
    totals = totals.with_columns(conversion.alias("by_conversion_date"), send.alias("by_send_date"))
    gap = pl.col("by_conversion_date") - pl.col("by_send_date")
    totals = totals.with_columns(gap.alias("gap"))
    totals = totals.with_columns(
        pl.when(pl.col("by_send_date") != 0).then(pl.col("gap") / pl.col("by_send_date")).alias("gap_share"),
        # A NaN gap has no sign: neither edge is the one that could explain it.
        pl.when(pl.col("gap").is_null() | pl.col("gap").is_nan())
        .then(None)
        .when(pl.col("gap") >= 0)
        .then(pl.col("_head"))
        .otherwise(pl.col("_tail"))
        .cast(pl.Float64)
        .alias("edge_bound"),
    ).with_columns(
        pl.when(pl.col("edge_bound").is_not_null())
        .then(pl.col("gap").abs() <= pl.col("edge_bound"))
        .alias("within_bound")
    )
    out = totals.select(
        *SUMMARY_COLUMNS[:7],
        pl.col("window_days").cast(pl.Int64),
        "first_date",
        "last_date",
        *(pl.col(c).cast(pl.Float64) for c in ("by_conversion_date", "by_send_date", "gap", "gap_share",
                                                "edge_bound")),
        pl.col("within_bound").cast(pl.Boolean),
        pl.col("days_missing_a_side").cast(pl.Int64),
        pl.col("mean_lag_days").cast(pl.Float64),
    ).sort(keys, nulls_last=False)
    return _as_plan(out, frame, source)


@dataclass(frozen=True)
class _Days:
    """Every series' days, flattened series after series (``sizes[i]`` days for series i).

    ``conversions`` and ``sends`` are NaN where that side is missing (or NaN itself);
    ``has_conversion`` and ``has_send`` say which: a missing side and a NaN value stay
    apart, as the detail has them.
    """

    sizes: Any
    days: Any  # days since 1970
    conversions: Any
    has_conversion: Any
    sends: Any
    has_send: Any


def _listed_days(series: Any) -> _Days:
    """The days of series that hold them as lists (``_day`` and both sides)."""
    import numpy as np

    conversion = series.get_column("by_conversion_date").explode()
    send = series.get_column("by_send_date").explode()
    return _Days(
        sizes=series.get_column("_day").list.len().to_numpy().astype(np.int64),
        days=series.get_column("_day").explode().to_numpy(),
        conversions=conversion.to_numpy(),  # NaN where null: the fit reads it as no count
        has_conversion=conversion.is_not_null().to_numpy(),
        sends=send.to_numpy(),
        has_send=send.is_not_null().to_numpy(),
    )


def _duckdb_series(relation: Any) -> tuple[Any, _Days]:
    """The series gathered by DuckDB itself from the tidy rows, and their days.

    DuckDB groups the rows whose metric starts with "conversions" by campaign, channel,
    variation and metric: a ``list`` of one struct per row (its day and value), 6,070
    groups on the engines benchmark. The metric's full test, its event and its side are
    then read from those few groups, and numpy adds up each series' days
    (:func:`_daily_sums`). Grouping by day in DuckDB (2.2M groups) and running the
    metric's regular expression on every row took 0.9 s of the summary's 2.3 s; this takes
    0.5 s. Each row is one struct in one list, so its day and its value cannot come apart.
    """
    import numpy as np
    import polars as pl

    text = ("campaign_id", "campaign_name", "channel", "variation", "variation_name", "metric")
    as_text = {name: f"CAST({sql_name(name)} AS VARCHAR)" for name in text}
    day = f"CAST({sql_name('date')} AS DATE)"
    groups = ("campaign_id", "channel", "variation", "metric")
    aggregates = (
        ", ".join(f"{as_text[k]} AS {sql_name(k)}" for k in groups)
        + f", max({as_text['campaign_name']}) AS campaign_name, "
        f"max({as_text['variation_name']}) AS variation_name, "
        f"min({day}) AS first_date, max({day}) AS last_date, "
        f"list(struct_pack(d := CAST({day} - DATE '1970-01-01' AS INTEGER), "
        f"v := CAST({sql_name('value')} AS DOUBLE))) AS _rows"
    )
    table = (
        relation.filter(f"starts_with({as_text['metric']}, 'conversions')")
        .aggregate(aggregates, ", ".join(as_text[k] for k in groups))
        .to_arrow_table()
    )
    rows = table.column("_rows").combine_chunks()
    day_of, values = rows.flatten().flatten()
    found = pl.from_arrow(table.drop_columns(["_rows"]))
    assert isinstance(found, pl.DataFrame)
    metric = pl.col("metric")
    found = found.with_columns(
        pl.Series("_length", rows.value_lengths().to_numpy(zero_copy_only=False), dtype=pl.Int64),
        metric.str.contains(_CONVERSION_REGEX).alias("_kept"),
        metric.str.replace(_SEND_SUFFIX, "", literal=True).alias("event"),
        metric.str.ends_with(_SEND_SUFFIX).alias("_send"),
    )
    # A metric such as "conversions_rate" started with the prefix: its rows are left out here.
    kept_rows = np.repeat(found.get_column("_kept").to_numpy(), found.get_column("_length").to_numpy())
    found = found.filter(pl.col("_kept")).with_row_index("_group")
    keys = list(RECONCILE_KEYS)
    series = (
        found.group_by(keys, maintain_order=True)
        .agg(
            pl.col("campaign_name").max(),
            pl.col("variation_name").max(),
            pl.col("first_date").min(),
            pl.col("last_date").max(),
            pl.col("_group"),
        )
        .with_row_index("_series")
    )
    # Each kept group's series: its rows belong to it, on the group's side.
    group_series = np.zeros(found.height, dtype=np.int64)
    groups_of = series.select("_series", "_group").explode("_group")
    group_series[groups_of.get_column("_group").to_numpy()] = groups_of.get_column("_series").to_numpy()
    day_numbers = day_of.to_numpy(zero_copy_only=False)
    numbers = values.to_numpy(zero_copy_only=False)
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    if not kept_rows.all():
        day_numbers, numbers, valid = day_numbers[kept_rows], numbers[kept_rows], valid[kept_rows]
    days = _daily_sums(
        (group_series, found.get_column("_length").to_numpy(), found.get_column("_send").to_numpy()),
        (day_numbers, numbers, valid),
        (series.get_column("first_date").cast(pl.Int32).to_numpy(),
         series.get_column("last_date").cast(pl.Int32).to_numpy()),
    )
    return series.drop("_series", "_group"), days


def _daily_sums(groups: tuple[Any, Any, Any], rows: tuple[Any, Any, Any], bounds: tuple[Any, Any]) -> _Days:
    """Rows of conversion counts added up by series and day, as the detail adds them up.

    ``groups`` holds, per group of rows (one series' metric), its series, its number of
    rows and whether it counts by send date; ``rows``, group after group, each row's day,
    value and whether the value is there; ``bounds``, each series' first and last day. A
    day is there when any of its rows is; a side is missing when none of that day's rows
    has a value on it (the detail's ``count > 0``), and a NaN value makes the day's sum
    NaN, as a SQL ``sum`` does.
    """
    import numpy as np

    group_series, lengths, send = groups
    day_of, values, valid = rows
    firsts, lasts = bounds
    span = (lasts - firsts + 1).astype(np.int64)
    base = np.cumsum(span) - span
    slots = int(span.sum())
    # Every day of every series has two slots, by conversion date (0) and by send date (1),
    # so the rows' order does not matter: 2 * (the series' base + day - its first) + side.
    start = 2 * (base[group_series] - firsts[group_series]) + send
    side = np.repeat(start, lengths) + 2 * day_of.astype(np.int64)
    counted = np.bincount(side, minlength=2 * slots).reshape(slots, 2)
    present = np.flatnonzero(counted[:, 0] + counted[:, 1])
    # Usually every day of every series has a row: no need to pick them out.
    pick = slice(None) if present.size == slots else present
    if valid.all():
        seen = counted[pick] > 0
    else:
        seen = np.bincount(side, weights=valid, minlength=2 * slots).reshape(slots, 2)[pick] > 0
    total = np.bincount(side, weights=np.where(valid, values, 0.0), minlength=2 * slots).reshape(slots, 2)
    total = np.where(seen, total[pick], np.nan)
    series_of_day = np.repeat(np.arange(firsts.size), span)[pick]
    return _Days(
        sizes=np.bincount(series_of_day, minlength=firsts.size).astype(np.int64),
        days=firsts[series_of_day] + (present - base[series_of_day]),
        conversions=total[:, 0],
        has_conversion=seen[:, 0],
        sends=total[:, 1],
        has_send=seen[:, 1],
    )


def _series_sums(series: Any, flat: _Days, today: dt.date) -> dict[str, Any]:
    """Each series' totals over the days with both sides, its edge sums and its mean lag.

    ``series`` holds one row per series with its ``first_date``, ``last_date`` and
    ``window_days``; ``flat`` its days. Every sum is one ``reduceat`` over all of them.
    """
    import numpy as np
    import polars as pl

    sizes, days, conversions, sends = flat.sizes, flat.days, flat.conversions, flat.sends
    starts = np.cumsum(sizes) - sizes
    windows = series.get_column("window_days").to_numpy()
    # Each series' first and last days are the group-by's first_date and last_date.
    firsts = series.get_column("first_date").cast(pl.Int32).to_numpy()
    lasts = series.get_column("last_date").cast(pl.Int32).to_numpy()
    first = np.repeat(firsts, sizes)
    last = np.repeat(lasts, sizes)
    window = np.repeat(windows, sizes)
    both = flat.has_conversion & flat.has_send

    def total(values: Any) -> Any:
        return np.add.reduceat(values, starts) if starts.size else np.zeros(0, dtype=values.dtype)

    head = both & (days - first < window)
    tail = both & (last - days < window)
    one_side = flat.has_conversion != flat.has_send
    return {
        "_conversion": pl.Series(total(np.where(both, conversions, 0.0)), dtype=pl.Float64),
        "_send": pl.Series(total(np.where(both, sends, 0.0)), dtype=pl.Float64),
        "_n_both": pl.Series(total(both.astype(np.int64)), dtype=pl.Int64),
        "days_missing_a_side": pl.Series(total(one_side.astype(np.int64)), dtype=pl.Int64),
        "_head": pl.Series(total(np.where(head, conversions, 0.0)), dtype=pl.Float64),
        "_tail": pl.Series(total(np.where(tail, sends, 0.0)), dtype=pl.Float64),
        "mean_lag_days": pl.Series(
            _mean_lags(days, conversions, sends, (starts, starts + sizes, firsts, lasts, windows), today),
            dtype=pl.Float64,
        ),
    }


def _mean_lags(
    days: Any, conversions: Any, sends: Any, bounds: tuple[Any, ...], today: dt.date
) -> list[float | None]:
    """``mean_lag_days`` per series: the deconvolution fit on its consecutive days.

    ``bounds`` holds one array per field, one entry per series: where its rows start and
    end in the flat arrays, its first and last day, and its window.
    """
    import numpy as np

    today_number = (today - dt.date(1970, 1, 1)).days
    lags: list[float | None] = []
    cases: list[tuple[Any, Any, int, int]] = []
    fitted: list[int] = []
    for start, end, first, last, window in zip(*(b.tolist() for b in bounds), strict=True):
        here = days[start:end]
        span = last - first + 1
        # Days without any row count as zeros on both sides (lag.fit_lag's convention); each
        # day has its own slot, so the rows' order does not matter.
        conversion = np.zeros(span)
        by_send = np.zeros(span)
        conversion[here - first] = conversions[start:end]
        by_send[here - first] = sends[start:end]
        gap = today_number - last
        tail = max(0, window + 1 - gap) if gap >= 1 else window + 1
        lags.append(None)
        # Negative or infinite counts are not conversions: no lag rather than an error.
        if window <= MAX_WINDOW_DAYS and not (_not_counts(conversion) or _not_counts(by_send)):
            fitted.append(len(lags) - 1)
            cases.append((conversion, by_send, window, min(tail, span)))
    # The fits run together (thousands of small solves: one at a time, numpy's cost per
    # call would outweigh their arithmetic); the answers are mean_lag's.
    for at, lag in zip(fitted, mean_lags(cases), strict=True):
        lags[at] = lag
    return lags


def _not_counts(values: Any) -> bool:
    """Whether any value is negative or infinite (NaN, a missing side, is a count's absence)."""
    return bool((values < 0.0).any() or (values == float("inf")).any())


def _as_plan(out: Any, frame: nw.LazyFrame[Any], source: Source) -> nw.LazyFrame[Any]:
    """The (small) polars summary as a frame of the input's engine."""
    if source.kind != "lazy":
        mine: nw.LazyFrame[Any] = nw.from_native(out).lazy()
        return mine
    impl = frame.implementation
    if impl.is_duckdb():
        import duckdb

        relation: nw.LazyFrame[Any] = nw.from_native(duckdb.from_arrow(out.to_arrow()))
        return relation
    if impl.is_pyspark() or impl.is_pyspark_connect():
        session = frame.to_native().sparkSession
        spark: nw.LazyFrame[Any] = nw.from_native(out).lazy(backend=impl, session=session)
        return spark
    other: nw.LazyFrame[Any] = nw.from_native(out).lazy(backend=impl)
    return other


# -- windows and event names ---------------------------------------------------------------------


def _event_setting(
    campaign_id: str,
    event: str,
    windows: Mapping[str, int] | int | None,
    behaviours: Mapping[str | None, Sequence[Any]] | None,
) -> tuple[int, str | None]:
    """(window in days, event name) of one campaign's event: override, details, then 30."""
    number = (conversion_event(event) or (0, False))[0]
    behaviour = None
    if behaviours is not None:
        listed = behaviours.get(campaign_id, behaviours.get(None, ()))
        if number < len(listed) and isinstance(listed[number], Mapping):
            behaviour = listed[number]
    if isinstance(windows, int):
        window = windows
    elif windows is not None and event in windows:
        window = windows[event]
    elif behaviour is not None and _window_of(behaviour) is not None:
        window = _window_of(behaviour) or DEFAULT_WINDOW_DAYS
    else:
        window = DEFAULT_WINDOW_DAYS
    return window, None if behaviour is None else _event_name(behaviour)


def _window_of(behaviour: Mapping[str, Any]) -> int | None:
    seconds = behaviour.get("window")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        return None
    return min(max(1, math.ceil(seconds / 86_400)), MAX_WINDOW_DAYS)


def _event_name(behaviour: Mapping[str, Any]) -> str | None:
    kind = behaviour.get("type")
    if not isinstance(kind, str) or not kind:
        return None
    detail = behaviour.get("custom_event_name") or behaviour.get("product")
    return f"{kind}: {detail}" if isinstance(detail, str) and detail else kind


def conversion_windows(details: Details) -> dict[str, int]:
    """Each event's conversion window in days from one campaign's details (seconds rounded up).

    Examples:
        >>> conversion_windows({"conversion_behaviors": [{"type": "Makes Any Purchase", "window": 86400},
        ...                                              {"type": "Starts Session", "window": 90000}]})
        {'conversions': 1, 'conversions1': 2}
    """
    found = {}
    for k, behaviour in enumerate(details.get("conversion_behaviors") or ()):
        if isinstance(behaviour, Mapping) and (window := _window_of(behaviour)) is not None:
            found[f"conversions{k or ''}"] = window
    return found


def _window_override(window_days: object) -> Mapping[str, int] | int | None:
    if window_days is None:
        return None
    if isinstance(window_days, Mapping):
        checked = {}
        for event, days in window_days.items():
            parsed = conversion_event(event) if isinstance(event, str) else None
            if parsed is None or parsed[1]:
                msg = (
                    f"window_days is keyed by event ('conversions', 'conversions1', ...), not "
                    f"{event!r}"
                )
                raise ValueError(msg)
            checked[event] = _window_number(days)
        return checked
    return _window_number(window_days)


def _window_number(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WINDOW_DAYS:
        msg = (
            f"window_days must be a whole number of days from 1 to {MAX_WINDOW_DAYS} (Braze "
            f"allows up to 30), not {days!r}"
        )
        raise ValueError(msg)
    return days


def _check_details(details: object) -> dict[str | None, Sequence[Any]] | None:
    """Each campaign's conversion behaviours (key None: one campaign's details for any campaign)."""
    if details is None:
        return None
    if not isinstance(details, Mapping):
        msg = f"details must be what bf.campaign_details returns (a dict), not {type(details).__name__}"
        raise TypeError(msg)
    if _DETAILS_KEYS & set(details):
        return {None: _behaviours(details)}
    found: dict[str | None, Sequence[Any]] = {}
    for cid, one in details.items():
        if not isinstance(one, Mapping):
            msg = (
                "details must be one campaign's details (with conversion_behaviors) or a "
                f"mapping {{campaign_id: details}}; the value for {cid!r} is a {type(one).__name__}"
            )
            raise TypeError(msg)
        found[str(cid)] = _behaviours(one)
    return found


def _behaviours(details: Mapping[str, Any]) -> Sequence[Any]:
    behaviours = details.get("conversion_behaviors") or ()
    if not isinstance(behaviours, Sequence) or isinstance(behaviours, str):
        msg = f"details' conversion_behaviors must be a list, not {type(behaviours).__name__}"
        raise TypeError(msg)
    return behaviours
