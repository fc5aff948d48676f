"""The workspace ratios (SPEC section 14) as data, and their computation on a series frame.

``stickiness`` (DAU over MAU), ``sessions_per_dau`` and ``revenue_per_dau`` are each a ratio
of sums over the days of a period where both terms are known: a day with ``mau`` missing
adds nothing to either side of ``stickiness``. Over one day that is the day's ratio; over a
week, a month or the whole frame, sum(numerator) / sum(denominator) on the same days, which
for ``stickiness`` is mean DAU over mean MAU. The terms are the series without key (the
purchase ``revenue`` total over every product, not one product's), per ``app_id``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import narwhals.stable.v2 as nw
from narwhals.typing import IntoFrameT

from .._validate import check_choice, check_date
from ._common import fill_null_key, finish, restore_null_key, sorted_strings, string_keys, widen
from .rates import PERIODS, Period, with_period
from .series import series_lazy

__all__ = ["SERIES_RATES", "SeriesRate", "series_rates"]


@dataclass(frozen=True)
class SeriesRate:
    """One workspace ratio: ``name = numerator / denominator``, two series without key.

    Attributes:
        name: The ratio's name, in the ``metric`` column of the result.
        numerator: The metric (series kind) summed on top, e.g. ``"dau"``.
        denominator: The metric summed below, e.g. ``"mau"``.
        daily_means: Report ``numerator`` and ``denominator`` as means per day counted
            rather than sums (the ratio is the same): a mean DAU reads better than a sum.
        description: One line for people.

    Examples:
        >>> SeriesRate("arpu_proxy", "revenue", "mau").formula
        'revenue / mau'
    """

    name: str
    numerator: str
    denominator: str
    daily_means: bool = False
    description: str = ""

    @property
    def formula(self) -> str:
        """``numerator / denominator``, for people."""
        return f"{self.numerator} / {self.denominator}"


#: Braze's workspace ratios; extend with your own ``SeriesRate`` (``rates=[*SERIES_RATES, r]``).
SERIES_RATES: Final = (
    SeriesRate("stickiness", "dau", "mau", daily_means=True,
               description="mean daily active users over mean monthly active users (DAU/MAU): "
                           "the share of a month's users active on a day"),
    SeriesRate("sessions_per_dau", "sessions", "dau",
               description="sessions per daily active user"),
    SeriesRate("revenue_per_dau", "revenue", "dau",
               description="revenue (USD, the total over every product) per daily active user"),
)

_APP: Final = "app_id"


def series_rates(
    df: IntoFrameT,
    *,
    period: Period = "day",
    rates: Iterable[str | SeriesRate] | None = None,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
) -> IntoFrameT:
    """Compute the workspace ratios of a series frame per period: ratios of sums.

    Output columns: ``app_id``, ``date`` (the period's first day; absent for
    ``"total"``), ``metric`` (the ratio's name), ``value``, ``numerator``,
    ``denominator`` (sums over the days counted, or their daily means for
    ``daily_means`` ratios such as ``stickiness``), ``days`` (the days where both terms
    were known) and ``complete`` (whether the period lies wholly inside the range: the
    frame's first and last dates, or ``start``/``end``; always true for ``"day"`` and
    ``"total"``). A ratio appears when the frame holds both of its series; a period
    without a day where both are known, or with a zero denominator, gives a null value.
    Weeks start on Monday. Sorted by app_id (all apps first), date, metric.

    Args:
        df: A series frame (``fetch_series``; any backend, eager or lazy) of days.
        period: ``"day"``, ``"week"``, ``"month"`` or ``"total"``.
        rates: The ratios, by name or as ``SeriesRate``; default ``SERIES_RATES``.
        start: The range's first day, for ``complete`` (default: the frame's first date).
        end: The range's last day (default: the frame's last date).

    Returns:
        The ratios, of the caller's frame type.

    Raises:
        TidyFrameError: ``df`` is not a series frame.
        ValueError: An hourly frame (the ratios are daily), an unknown period or ratio.

    Examples:
        >>> import polars as pl, datetime as dt
        >>> days = [dt.date(2025, 6, d) for d in (1, 2, 3)]
        >>> df = pl.DataFrame({
        ...     "metric": ["dau"] * 3 + ["mau"] * 2, "key": [None] * 5, "key_name": [None] * 5,
        ...     "app_id": [None] * 5, "date": days + days[:2],
        ...     "value": [10.0, 20.0, 99.0, 100.0, 100.0]})
        >>> out = series_rates(df, period="total", rates=["stickiness"])
        >>> out.select("metric", "value", "numerator", "denominator", "days").rows()
        [('stickiness', 0.15, 15.0, 100.0, 2)]
    """
    check_choice("period", period, PERIODS)
    chosen = _select(rates)
    lazy, eager = series_lazy(df, required=("metric", "key", "app_id", "date", "value"))
    date_dtype = lazy.collect_schema()["date"]
    if date_dtype == nw.Datetime and getattr(date_dtype, "time_zone", None) is not None:
        # Hours come in UTC; days are dates (pandas: naive midnights).
        msg = ("the workspace ratios are daily, and this frame holds hours: fetch the series "
               "with unit='day' (DAU and MAU have no hours)")
        raise ValueError(msg)
    kinds = sorted({k for r in chosen for k in (r.numerator, r.denominator)})
    lazy = string_keys(lazy.select("metric", "key", _APP, "date", "value"), ["metric", _APP])
    terms = lazy.filter(nw.col("key").is_null() & nw.col("metric").is_in(kinds))
    # The one small query: which terms the frame holds, and its dates.
    seen = terms.group_by("metric").agg(nw.col("date").min().alias("lo"),
                                        nw.col("date").max().alias("hi")).collect()
    present = {str(m): (lo, hi) for m, lo, hi in seen.iter_rows()}
    chosen = [r for r in chosen if r.numerator in present and r.denominator in present]
    keys = [_APP] + (["_period"] if period != "total" else [])
    if not chosen:
        return finish(_empty(lazy, keys), eager)  # type: ignore[no-any-return]
    # One row per (app, day), a column per term; then each ratio's terms where both are known,
    # so that the periods' sums are plain sums (pandas' group_by takes nothing else).
    daily = widen(fill_null_key(terms.select(_APP, "date", "metric", "value"), _APP),
                  [_APP, "date"], kinds)
    if period != "total":
        daily = with_period(daily, period, "_period")
    masked = []
    for i, r in enumerate(chosen):
        both = ~nw.col(r.numerator).is_null() & ~nw.col(r.denominator).is_null()
        masked += [nw.when(both).then(nw.col(r.numerator)).otherwise(0.0).alias(f"_n{i}"),
                   nw.when(both).then(nw.col(r.denominator)).otherwise(0.0).alias(f"_d{i}"),
                   nw.when(both).then(nw.lit(1)).otherwise(nw.lit(0)).alias(f"_k{i}")]
    sums = [nw.col(f"_{part}{i}").sum() for i in range(len(chosen)) for part in "ndk"]
    grouped = daily.with_columns(*masked).group_by(*keys).agg(*sums)
    parts = [grouped.select(*keys, nw.lit(r.name).alias("metric"),
                            nw.col(f"_n{i}").alias("_n"), nw.col(f"_d{i}").alias("_d"),
                            nw.col(f"_k{i}").cast(nw.Int64()).alias("days"),
                            nw.lit(r.daily_means).alias("_means"))
             for i, r in enumerate(chosen)]
    long = nw.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
    counted = nw.col("days") > 0
    scale = nw.when(nw.col("_means")).then(nw.col("days").cast(nw.Float64())).otherwise(1.0)
    out = long.with_columns(
        nw.when(counted & (nw.col("_d") != 0)).then(nw.col("_n") / nw.col("_d")).alias("value"),
        nw.when(counted).then(nw.col("_n") / scale).alias("numerator"),
        nw.when(counted).then(nw.col("_d") / scale).alias("denominator"),
        _complete(period, present, start, end, date_dtype).alias("complete"),
    )
    out = restore_null_key(out, _APP)
    columns = [_APP, *(["date"] if period != "total" else []), "metric", "value", "numerator",
               "denominator", "days", "complete"]
    out = out.rename({"_period": "date"}) if period != "total" else out
    out = out.select(*columns).with_columns(nw.col("value").cast(nw.Float64()),
                                            nw.col("numerator").cast(nw.Float64()),
                                            nw.col("denominator").cast(nw.Float64()))
    out = sorted_strings(out, [_APP, "metric"], [c for c in (_APP, "date", "metric") if c in columns])
    result: IntoFrameT = finish(out, eager)
    return result


def _select(rates: Iterable[str | SeriesRate] | None) -> list[SeriesRate]:
    if rates is None:
        return list(SERIES_RATES)
    if isinstance(rates, (str, SeriesRate)):
        rates = [rates]
    known = {r.name: r for r in SERIES_RATES}
    chosen: list[SeriesRate] = []
    for item in rates:
        if isinstance(item, SeriesRate):
            chosen.append(item)
        elif isinstance(item, str) and item in known:
            chosen.append(known[item])
        else:
            msg = f"unknown workspace ratio {item!r}; choose from {list(known)} or pass a SeriesRate"
            raise ValueError(msg)
    names = [r.name for r in chosen]
    if len(set(names)) != len(names):
        msg = f"two ratios share a name in {names}; give each its own"
        raise ValueError(msg)
    return chosen


def _complete(period: str, present: dict[str, tuple[Any, Any]], start: object, end: object,
              date_dtype: Any) -> nw.Expr:
    """Whether each period lies wholly inside [start, end] (the frame's dates by default)."""
    if period in ("day", "total"):
        return nw.lit(value=True)
    lo = check_date("start", start) or min(_as_day(v[0]) for v in present.values())
    hi = check_date("end", end) or max(_as_day(v[1]) for v in present.values())
    first = nw.col("_period")
    last = first.dt.offset_by("6d") if period == "week" else first.dt.offset_by("1mo").dt.offset_by("-1d")
    if date_dtype == nw.Datetime:  # pandas' days: compare midnights with midnights
        low = nw.lit(dt.datetime(lo.year, lo.month, lo.day), date_dtype)
        high = nw.lit(dt.datetime(hi.year, hi.month, hi.day), date_dtype)
        return (first >= low) & (last <= high)
    return (first >= nw.lit(lo, nw.Date())) & (last <= nw.lit(hi, nw.Date()))


def _as_day(value: Any) -> dt.date:
    """A frame's own first or last date (pandas gives a Timestamp)."""
    day = check_date("date", value)
    assert day is not None
    return day


def _empty(lazy: nw.LazyFrame[Any], keys: Sequence[str]) -> nw.LazyFrame[Any]:
    """No ratio applies: the result's columns, without rows."""
    columns = [
        nw.col(_APP),
        *([nw.col("date")] if "_period" in keys else []),
        nw.col("metric"),
        nw.lit(None, nw.Float64()).alias("value"),
        nw.lit(None, nw.Float64()).alias("numerator"),
        nw.lit(None, nw.Float64()).alias("denominator"),
        nw.lit(0, nw.Int64()).alias("days"),
        nw.lit(value=True).alias("complete"),
    ]
    return lazy.select(*columns).head(0)
