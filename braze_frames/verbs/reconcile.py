"""Reconciling ``conversions{k}`` (by conversion date) with ``conversions{k}_by_send_time``.

Braze counts each conversion twice: on the day it happened (``conversions``) and on the
day its message was sent (``conversions_by_send_time``). Over a window of days [a, b]::

    sum(by conversion date) - sum(by send date)
        = conversions inside [a, b] from sends before a          (A >= 0)
        - conversions after b (up to now) from sends inside [a, b] (B >= 0)

so the two agree only over a campaign's whole life, once its conversion window (up to 30
days; 3 by default) has passed. ``reconcile`` lays both series side by side per day, with
their running difference, and a summary says whether the gap is what the window edges can
explain.
"""

from __future__ import annotations

from typing import Any, Final

import narwhals.stable.v2 as nw
from narwhals.typing import IntoFrameT

from .._schema import conversion_event
from ._common import distinct, finish, sorted_strings, tidy_lazy
from ._fast import reconcile_detail_sorted

__all__ = ["RECONCILE_KEYS", "reconcile"]

#: The group of one pair of curves; the detail adds ``date``.
RECONCILE_KEYS: Final = ("campaign_id", "channel", "variation", "event")


def reconcile(df: IntoFrameT, *, summary: bool = False, window_days: int = 30) -> IntoFrameT:
    """Put conversions by conversion date and by send date side by side, per day.

    Detail (the default), one row per (campaign_id, channel, variation, event, date):
    ``event`` (``"conversions"``, ``"conversions1"``, ...), ``by_conversion_date``
    (``conversions{k}``), ``by_send_date`` (``conversions{k}_by_send_time``),
    ``difference`` (= by_conversion_date - by_send_date) and ``cumulative_difference``
    (its running total over the dates, in order). A day with one side missing has a null
    ``difference`` and adds 0 to the running total. It covers the day-level ``"all"`` rows
    and every variation row that carries conversions, and every event present
    (``conversions4`` and beyond included).

    ``summary=True``, one row per (campaign_id, channel, variation, event):

    - ``first_date``, ``last_date``: the window [a, b] the data covers;
    - ``by_conversion_date``, ``by_send_date``: each side's total (null if the side has
      no data);
    - ``gap`` = by_conversion_date - by_send_date, and ``gap_share`` = gap /
      by_send_date (null when by_send_date is 0);
    - ``edge_bound``: how large a gap the window's edges can explain. From the identity
      in the module docstring, gap = A - B with 0 <= A, B, where A counts conversions in
      the window from sends before it and B conversions after it from sends in it. A
      send converts at most ``window_days`` days later, so A is at most the conversions
      *by conversion date* of the first ``window_days`` days of the window, and B at most
      the conversions *by send date* of its last ``window_days`` days. ``edge_bound`` is
      the first of these when the gap is >= 0 and the second when it is negative;
    - ``within_bound``: abs(gap) <= edge_bound (null when the gap is null). False means
      the two series disagree more than attribution timing can explain (restated data, a
      changed conversion window, missing days);
    - ``mean_lag_days``: the area between the two cumulative curves (by send date above
      by conversion date), counted per calendar day, divided by the by-send-date total.
      If every conversion came exactly L days after its send it is L. It is exact only
      over a campaign's whole life, after its conversion window has closed: inside a
      partial window, conversions of earlier sends pull it down and conversions still to
      come are missing, so treat it as an estimate. Null when the total is 0.

    Args:
        df: A tidy frame of any supported backend (eager or lazy).
        summary: Return the summary instead of the daily detail.
        window_days: The campaign's conversion window in days (``/campaigns/details``
            gives it in seconds as ``conversion_behaviors[i].window``; round up). Default
            30, Braze's maximum, so the bound is conservative.

    Returns:
        The detail or summary frame, of the caller's type, sorted by key.

    Raises:
        ValueError: A non-empty frame without any conversion metric; a bad
            ``window_days``.
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
        >>> reconcile(tidy, summary=True).select("gap", "mean_lag_days").rows()
        [(0.0, 0.6666666666666666)]
    """
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        msg = f"window_days must be a whole number of days >= 1, not {window_days!r}"
        raise ValueError(msg)
    frame, eager = tidy_lazy(df)
    metrics = distinct(frame, "metric", eager=eager)
    names = sorted(m for m in metrics if conversion_event(m) is not None)
    if metrics and not names:
        msg = (
            "the frame has no conversion metrics (conversions, conversions_by_send_time, "
            "conversions1, ...) to reconcile"
        )
        raise ValueError(msg)
    if not summary and eager and frame.implementation.is_polars():
        fast = reconcile_detail_sorted(frame, names, RECONCILE_KEYS)
        if fast is not None:
            fast_table: IntoFrameT = finish(fast, eager)
            return fast_table
    detail = _detail(frame, names)
    result = _summary(detail, window_days) if summary else detail
    keys = [*RECONCILE_KEYS] if summary else [*RECONCILE_KEYS, "date"]
    table: IntoFrameT = finish(sorted_strings(result, RECONCILE_KEYS, keys), eager)
    return table


def _detail(frame: nw.LazyFrame[Any], names: list[str]) -> nw.LazyFrame[Any]:
    events: dict[int, str] = {}
    by_send: list[str] = []
    by_conversion: list[str] = []
    for name in names:
        number, send_side = conversion_event(name) or (0, False)
        events[number] = f"conversions{number or ''}"
        (by_send if send_side else by_conversion).append(name)
    metric = nw.col("metric")
    value = nw.col("value")
    ordered = sorted(events)
    first = ordered[0] if ordered else 0
    event = nw.when(metric.is_in(_pair(first))).then(nw.lit(events.get(first, "conversions")))
    for number in ordered[1:]:
        event = event.when(metric.is_in(_pair(number))).then(nw.lit(events[number]))
    rows = frame.filter(metric.is_in(names)).with_columns(
        event.alias("event"),
        nw.when(metric.is_in(by_conversion)).then(value).alias("_conversion"),
        nw.when(metric.is_in(by_send)).then(value).alias("_send"),
    )
    day = rows.group_by("campaign_id", "channel", "variation", "event", "date").agg(
        nw.col("_conversion").sum(),
        nw.col("_conversion").count().alias("_nc"),
        nw.col("_send").sum(),
        nw.col("_send").count().alias("_ns"),
    )
    conversion = nw.when(nw.col("_nc") > 0).then(nw.col("_conversion"))
    send = nw.when(nw.col("_ns") > 0).then(nw.col("_send"))
    day = day.select(
        *RECONCILE_KEYS,
        "date",
        conversion.cast(nw.Float64()).alias("by_conversion_date"),
        send.cast(nw.Float64()).alias("by_send_date"),
    ).with_columns((nw.col("by_conversion_date") - nw.col("by_send_date")).alias("difference"))
    running = (
        nw.col("difference").fill_null(0).cum_sum().over(*RECONCILE_KEYS, order_by="date")
    )
    # Key columns stay as they come (categoricals group faster) until ``reconcile`` ends.
    detail: nw.LazyFrame[Any] = day.with_columns(running.alias("cumulative_difference"))
    return detail


def _pair(number: int) -> list[str]:
    base = f"conversions{number or ''}"
    return [base, f"{base}_by_send_time"]


def day_number(date: nw.Expr) -> nw.Expr:
    """Days since 1970-01-01 from year, month and day: plain integer arithmetic.

    narwhals has no date-to-integer cast that every backend shares (DuckDB subtracts dates
    to integers, polars to durations), so this is Howard Hinnant's ``days_from_civil``.
    """
    month = date.dt.month().cast(nw.Int64())
    year = date.dt.year().cast(nw.Int64()) - nw.when(month <= 2).then(1).otherwise(0)
    day = date.dt.day().cast(nw.Int64())
    era = year // 400
    year_of_era = year - era * 400
    shifted_month = nw.when(month > 2).then(month - 3).otherwise(month + 9)
    day_of_year = (153 * shifted_month + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _summary(detail: nw.LazyFrame[Any], window_days: int) -> nw.LazyFrame[Any]:
    keys = list(RECONCILE_KEYS)
    dn = nw.col("_day")
    conversion = nw.col("by_conversion_date")
    send = nw.col("by_send_date")
    rows = detail.with_columns(day_number(nw.col("date")).alias("_day"))
    rows = rows.with_columns(
        dn.min().over(*keys).alias("_first"), dn.max().over(*keys).alias("_last")
    )
    # Abel summation: the area sum_i cum_i * (t_{i+1} - t_i), the last day counted once,
    # equals sum_j diff_j * (t_last + 1 - t_j). This counts days without a row too.
    rows = rows.with_columns(
        nw.when(dn - nw.col("_first") < window_days).then(conversion).alias("_head"),
        nw.when(nw.col("_last") - dn < window_days).then(send).alias("_tail"),
        (nw.col("difference").fill_null(0) * (nw.col("_last") + 1 - dn)).alias("_area"),
    )
    totals = rows.group_by(*keys).agg(
        nw.col("date").min().alias("first_date"),
        nw.col("date").max().alias("last_date"),
        conversion.sum(),
        conversion.count().alias("_nc"),
        send.sum(),
        send.count().alias("_ns"),
        nw.col("_head").sum(),
        nw.col("_tail").sum(),
        nw.col("_area").sum(),
    )
    totals = totals.with_columns(
        nw.when(nw.col("_nc") > 0).then(conversion).alias("by_conversion_date"),
        nw.when(nw.col("_ns") > 0).then(send).alias("by_send_date"),
    )
    gap = nw.col("gap")
    totals = totals.with_columns((conversion - send).alias("gap"))
    totals = totals.with_columns(
        nw.when(send != 0).then(gap / send).alias("gap_share"),
        nw.when(gap >= 0).then(nw.col("_head")).otherwise(nw.col("_tail")).alias("edge_bound"),
        # 0 - area, not -area: no -0.0 when the curves coincide.
        nw.when(send != 0).then((0 - nw.col("_area")) / send).alias("mean_lag_days"),
    )
    within = nw.when(~gap.is_null()).then(gap.abs() <= nw.col("edge_bound"))
    return totals.with_columns(within.alias("within_bound")).select(
        *keys,
        "first_date",
        "last_date",
        conversion.cast(nw.Float64()),
        send.cast(nw.Float64()),
        gap.cast(nw.Float64()),
        nw.col("gap_share").cast(nw.Float64()),
        nw.col("edge_bound").cast(nw.Float64()),
        "within_bound",
        nw.col("mean_lag_days").cast(nw.Float64()),
    )
