"""Charts: a metric or a rate over time, and the conversion reconciliation.

matplotlib is optional (``pip install 'braze-frames[plot]'``) and imported only when a
chart is drawn. Charts are built on ``matplotlib.figure.Figure`` directly, not pyplot: no
global figure registry to leak, and a notebook shows the returned figure once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import narwhals.stable.v2 as nw

from ._schema import ALL_CHANNEL
from .verbs._common import distinct, sorted_strings, tidy_lazy
from .verbs.rates import BY_KEYS, Period, Rate, rates, with_period
from .verbs.reconcile import reconcile

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot", "plot_reconcile"]

_PLOT_HINT = "charts need matplotlib: pip install 'braze-frames[plot]'"
_Series = dict[tuple[Any, ...], tuple[list[Any], list[float]]]


def plot(
    df: Any,
    metric: str | None = None,
    rate: str | Rate | None = None,
    *,
    period: Period = "day",
    ax: Axes | None = None,
) -> Figure:
    """Draw one metric or one rate over time, one line per variation.

    A metric is summed per period; a rate is ``rates(df, period, rates=[rate])`` (a ratio
    of sums). Lines are labelled with the variation's name (or id), prefixed with the
    channel and campaign when the frame has several.

    Args:
        df: A tidy frame of any supported backend.
        metric: A metric name, e.g. ``"unique_opens"``.
        rate: A rate name from ``RATES`` (e.g. ``"open_rate"``) or a ``Rate``.
        period: ``"day"``, ``"week"`` or ``"month"``.
        ax: A matplotlib Axes to draw on; by default a new figure.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: Neither or both of ``metric`` and ``rate``; an unknown metric; the
            period ``"total"`` (nothing to draw over time).
        ImportError: matplotlib is not installed.
    """
    figure_cls = _figure_class()
    if (metric is None) == (rate is None):
        msg = "plot needs exactly one of metric= or rate="
        raise ValueError(msg)
    if period not in ("day", "week", "month"):
        msg = f"period must be 'day', 'week' or 'month' to draw over time, not {period!r}"
        raise ValueError(msg)
    if metric is not None:
        lines = _metric_lines(df, metric, period)
        title = metric if period == "day" else f"{metric} per {period}"
    else:
        assert rate is not None  # exactly one of the two, checked above
        table = _collect(rates(df, period, BY_KEYS, rates=[rate]))
        points = table.select("campaign_id", "channel", "variation", "variation_name", "date", "value")
        lines = _group(points.rows())
        name = rate if isinstance(rate, str) else rate.name
        title = name if period == "day" else f"{name} per {period}"
    if ax is None:
        fig = figure_cls(figsize=(9, 4), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    labels = _labels(list(lines))
    for key, (dates, values) in lines.items():
        ax.plot(dates, values, marker="." if len(dates) < 60 else None, label=labels[key])
    ax.set_title(title)
    ax.set_xlabel("date" if period == "day" else f"{period} starting")
    if len(lines) > 1:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig  # type: ignore[no-any-return]


def plot_reconcile(
    df: Any,
    *,
    event: str = "conversions",
    campaign_id: str | None = None,
    channel: str = ALL_CHANNEL,
    variation: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Draw the two cumulative conversion curves and the gap between them.

    The curves are the running totals of ``conversions{k}`` (by conversion date) and of
    ``conversions{k}_by_send_time`` (by send date); the gap is ``reconcile``'s
    ``cumulative_difference`` (days with one side missing add nothing to it). The area
    between the curves, divided by the total, is the mean conversion lag.

    Args:
        df: A tidy frame of any supported backend.
        event: ``"conversions"``, ``"conversions1"``, ...
        campaign_id: Which campaign; needed when the frame has several.
        channel: ``"all"`` (the day-level totals, the default) or a channel whose
            variations carry conversions.
        variation: Which variation; needed when the channel has several.
        ax: A matplotlib Axes for the curves (the gap is drawn dashed on it); by
            default a new figure with the gap in a second panel.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: The selection matches no series, or several (name the one you want).
        ImportError: matplotlib is not installed.
    """
    figure_cls = _figure_class()
    detail = nw.from_native(reconcile(df))
    keep = (nw.col("event") == event) & (nw.col("channel") == channel)
    if campaign_id is not None:
        keep = keep & (nw.col("campaign_id") == campaign_id)
    if variation is not None:
        keep = keep & (nw.col("variation") == variation)
    chosen = _as_eager(detail.filter(keep))
    keys = chosen.select("campaign_id", "channel", "variation").rows()
    groups = sorted({tuple(_key(v) for v in r) for r in keys}, key=str)
    if len(groups) != 1:
        found = "nothing" if not groups else ", ".join(map(str, groups))
        msg = (
            f"plot_reconcile draws one series; (campaign_id, channel, variation) for "
            f"event={event!r}, channel={channel!r} matched {found}: pass campaign_id=, "
            "channel= or variation= to pick one"
        )
        raise ValueError(msg)
    rows = chosen.select(
        "date", "by_conversion_date", "by_send_date", "cumulative_difference"
    ).rows()
    dates = [r[0] for r in rows]
    by_conversion = _running([r[1] for r in rows])
    by_send = _running([r[2] for r in rows])
    gap = [_number(r[3]) for r in rows]
    if ax is None:
        fig = figure_cls(figsize=(9, 5), layout="constrained")
        ax, gap_ax = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    else:
        fig, gap_ax = ax.figure, None
    ax.plot(dates, by_send, label="by send date (cumulative)")
    ax.plot(dates, by_conversion, label="by conversion date (cumulative)")
    ax.fill_between(dates, by_conversion, by_send, alpha=0.2, label="lag area")
    campaign, ch, var = groups[0]
    ax.set_title(f"{event}: {campaign} / {ch}" + (f" / {var}" if var is not None else ""))
    ax.grid(alpha=0.3)
    target = gap_ax if gap_ax is not None else ax
    target.plot(dates, gap, linestyle="--", color="black", label="cumulative difference")
    target.axhline(0, color="grey", linewidth=0.8)
    ax.legend(fontsize="small")
    if gap_ax is not None:
        gap_ax.set_ylabel("conversion - send")
        gap_ax.grid(alpha=0.3)
    return fig  # type: ignore[no-any-return]


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(_PLOT_HINT) from exc
    return Figure


def _metric_lines(df: Any, metric: str, period: str) -> _Series:
    frame, _ = tidy_lazy(df)
    present = distinct(frame, "metric")
    if metric not in present:
        msg = f"the frame has no metric {metric!r}; it has {sorted(present)}"
        raise ValueError(msg)
    keys = ["campaign_id", "channel", "variation", "variation_name"]
    summed = (
        with_period(frame.filter(nw.col("metric") == metric), period, "date")
        .group_by(*keys, "date")
        .agg(nw.col("value").sum())
    )
    summed = sorted_strings(summed, keys, [*keys, "date"])
    return _group(summed.collect().select(*keys, "date", "value").rows())


def _group(rows: Sequence[Sequence[Any]]) -> _Series:
    """(campaign, channel, variation, name, date, value) rows -> one (dates, values) per line."""
    lines: _Series = {}
    for *key, date, value in rows:
        dates, values = lines.setdefault(tuple(_key(v) for v in key), ([], []))
        dates.append(date)
        values.append(_number(value))
    return lines


def _labels(keys: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], str]:
    campaigns = {k[0] for k in keys}
    channels = {k[1] for k in keys}
    labels = {}
    for campaign, channel, variation, name in keys:
        text = _text(name) or _text(variation) or "day totals"
        if len(channels) > 1:
            text = f"{channel}: {text}"
        if len(campaigns) > 1:
            text = f"{campaign} {text}"
        labels[(campaign, channel, variation, name)] = text
    return labels


def _key(value: Any) -> Any:
    """Turn pandas' NaN for a missing string into None, so that equal keys compare equal."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _running(values: Sequence[Any]) -> list[float]:
    total = 0.0
    out = []
    for value in values:
        number = _number(value)
        total += 0.0 if math.isnan(number) else number
        out.append(total)
    return out


def _collect(native: Any) -> nw.DataFrame[Any]:
    return _as_eager(nw.from_native(native))


def _as_eager(frame: Any) -> nw.DataFrame[Any]:
    return frame.collect() if isinstance(frame, nw.LazyFrame) else frame
