"""Charts: a metric or a rate over time, the conversion reconciliation, the A/B readout.

matplotlib is optional (``pip install 'braze-frames[plot]'``) and imported only when a
chart is drawn. Charts are built on ``matplotlib.figure.Figure`` directly, not pyplot: no
global figure registry to leak, and a notebook shows the returned figure once.

Every chart of one frame shares its colours: ``variation_colors(df)`` gives each
variation id a colour from the frame's sorted ids, so a variation keeps its colour from
``plot`` to ``plot_experiment``. Legends are sorted and sit outside the data; names, not
ids, label lines and titles (ids when the name is unknown); dates are labelled by
matplotlib's concise date formatter, whose labels do not collide at any range.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Final

import narwhals.stable.v2 as nw

from ._schema import ALL_CHANNEL
from .verbs._common import distinct, sorted_strings, tidy_lazy
from .verbs._rate_table import by_name
from .verbs.rates import BY_KEYS, Period, Rate, rates, with_period
from .verbs.reconcile import reconcile

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot", "plot_experiment", "plot_reconcile", "variation_colors"]

_PLOT_HINT = "charts need matplotlib: pip install 'braze-frames[plot]'"
#: Tableau 10, matplotlib's default cycle, written out so that the colour map needs no
#: matplotlib and stays the same whatever the user's style sheet says.
_PALETTE: Final = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
#: The day-level totals (the ``"all"`` rows, no variation).
_TOTALS_COLOR: Final = "#333333"
#: One marker shape per channel, so that a variation sent on two channels keeps its colour.
_MARKERS: Final = ("o", "s", "^", "D", "v", "P", "X")
#: Above this many points a line has no markers (they would merge into a thick line).
_MAX_MARKED: Final = 60
#: Metrics that are not counts: a rate with one of them is not a share of anything.
_NOT_COUNTS: Final = frozenset({"revenue"})
#: The columns that make a frame an ``experiment`` readout rather than a tidy frame.
_READOUT_COLUMNS: Final = frozenset({"variation", "difference", "ci_low", "ci_high", "winner"})
_LEGEND: Final[dict[str, Any]] = {
    "loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0, "fontsize": "small",
}


def variation_colors(df: Any) -> dict[str | None, str]:
    """One colour per variation id, from the frame's sorted variation ids.

    Any frame with a ``variation`` column works: a tidy frame, a ``rates`` table, an
    ``experiment`` readout. The same frame (pandas or polars, eager or lazy) always gives
    the same map, and every chart of that frame uses it; pass it as ``colors=`` to keep
    the colours of a smaller frame (a readout) the same as its source's. ``None`` (the
    day-level totals) is dark grey. Colours repeat after ten variations.

    Args:
        df: A frame of any supported backend with a ``variation`` column.

    Returns:
        ``{variation id: "#rrggbb"}``, with ``None`` always present.

    Examples:
        >>> from braze_frames._tidy import from_records
        >>> df = from_records([("c1", "2024-07-01", "email", v, None, "sent", 1.0)
        ...                    for v in ("v2", "v1")])
        >>> variation_colors(df)
        {None: '#333333', 'v1': '#1f77b4', 'v2': '#ff7f0e'}
    """
    frame = nw.from_native(df)
    values = frame.select("variation").unique()
    ids = _as_eager(values).get_column("variation").to_list()
    present = sorted({str(v) for v in map(_key, ids) if v is not None})
    colors: dict[str | None, str] = {None: _TOTALS_COLOR}
    for i, variation in enumerate(present):
        colors[variation] = _PALETTE[i % len(_PALETTE)]
    return colors


def plot(
    df: Any,
    metric: str | None = None,
    rate: str | Rate | None = None,
    *,
    period: Period = "day",
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    colors: Mapping[str | None, str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Draw one metric or one rate over time, one line per variation.

    A metric is summed per period; a rate is ``rates(df, period, rates=[rate])`` (a ratio
    of sums, control groups on their own rows). Lines are labelled with the variation's
    name (or id), prefixed with the channel and campaign when the frame has several; the
    title names the campaign when there is one.

    - **Colours**: ``variation_colors(df)``, the same in every chart of the frame; each
      channel has its own marker shape.
    - **Axes**: a rate of counts over counts is on a percent axis (``open_rate`` 0.26
      reads 26%); ``revenue_per_recipient`` keeps a plain one. Dates are labelled by
      matplotlib's ``ConciseDateFormatter``.
    - **Partial periods**: a week or month the range covers only in part (``rates``'
      ``complete`` is false) is drawn with a hollow marker, joined by a dashed segment:
      its lower sums are not a drop.
    - **Day totals**: the ``"all"`` rows of a rate (Braze's day totals, which may include
      control users) are drawn only for a campaign with no variation line of that rate
      (email conversions, reported only there), labelled ``day totals``.

    Args:
        df: A tidy frame of any supported backend.
        metric: A metric name, e.g. ``"unique_opens"``.
        rate: A rate name from ``RATES`` (e.g. ``"open_rate"``) or a ``Rate``.
        period: ``"day"``, ``"week"`` or ``"month"``.
        start: The first day of the range the frame covers, for partial periods; default
            the frame's first date.
        end: The last day of that range; default the frame's last date.
        colors: ``{variation id: colour}`` overriding ``variation_colors(df)``.
        ax: A matplotlib Axes to draw on; by default a new figure.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: Neither or both of ``metric`` and ``rate``; an unknown metric; the
            period ``"total"`` (nothing to draw over time).
        ImportError: matplotlib is not installed.

    Examples:
        >>> from braze_frames._tidy import from_records
        >>> df = from_records([
        ...     ("c1", "2024-07-0" + str(d), "email", v, n, m, float(x * d))
        ...     for d in range(1, 8) for v, n in (("v1", "Subject A"), ("v2", None))
        ...     for m, x in (("delivered", 10), ("unique_opens", 3))])
        >>> fig = plot(df, rate="unique_open_rate")
        >>> from matplotlib.ticker import PercentFormatter
        >>> ax = fig.axes[0]
        >>> ax.get_title(), isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)
        ('c1: unique_open_rate', True)
        >>> [t.get_text() for t in ax.get_legend().get_texts()]
        ['Subject A', 'v2']
    """
    figure_cls = _figure_class()
    if (metric is None) == (rate is None):
        msg = "plot needs exactly one of metric= or rate="
        raise ValueError(msg)
    if period not in ("day", "week", "month"):
        msg = f"period must be 'day', 'week' or 'month' to draw over time, not {period!r}"
        raise ValueError(msg)
    palette = {**variation_colors(df), **(colors or {})}
    if metric is not None:
        lines = _metric_lines(df, metric, period, start, end)
        name, percent = metric, False
    else:
        assert rate is not None  # exactly one of the two, checked above
        table = _collect(rates(df, period, BY_KEYS, rates=[rate], start=start, end=end))
        points = table.select(*_LINE_KEYS, "date", "value", "complete")
        lines = _without_mixed_totals(_group(points.rows()))
        name = rate if isinstance(rate, str) else rate.name
        percent = _on_percent_axis(rate)
    if ax is None:
        fig = figure_cls(figsize=(10, 4), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    campaigns = sorted({line.campaign for line in lines.values()}, key=str)
    channels = sorted({line.channel for line in lines.values()}, key=str)
    partial = False
    for line in lines.values():
        label = line.label(several_campaigns=len(campaigns) > 1, several_channels=len(channels) > 1)
        marker = _MARKERS[channels.index(line.channel) % len(_MARKERS)]
        partial |= _draw_line(ax, line, label, palette.get(line.variation, _TOTALS_COLOR), marker)
    what = name if period == "day" else f"{name} per {period}"
    title = f"{lines[next(iter(lines))].campaign_label}: {what}" if len(campaigns) == 1 else what
    ax.set_title(title)
    ax.set_ylabel(name)
    ax.set_xlabel("date" if period == "day" else f"{period} starting")
    if percent:
        _percent_axis(ax.yaxis)
    _date_axis(ax)
    ax.grid(alpha=0.3)
    _sorted_legend(ax, partial=partial)
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
    """Draw the two cumulative conversion curves, and the gap between them on its own axis.

    The curves are the running totals of ``conversions{k}`` (by conversion date) and of
    ``conversions{k}_by_send_time`` (by send date); the gap is ``reconcile``'s
    ``cumulative_difference`` (days with one side missing add nothing to it). The gap has
    its own axis, scaled to it: a gap of a few conversions on curves of thousands would
    otherwise be a line's width. The title names the campaign and variation.

    Args:
        df: A tidy frame of any supported backend.
        event: ``"conversions"``, ``"conversions1"``, ...
        campaign_id: Which campaign; needed when the frame has several.
        channel: ``"all"`` (the day-level totals, the default) or a channel whose
            variations carry conversions.
        variation: Which variation; needed when the channel has several.
        ax: A matplotlib Axes for the curves (the gap then goes on a twin y axis, on the
            right); by default a new figure with the gap in a second panel below.

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
        "date", "by_conversion_date", "by_send_date", "cumulative_difference",
        "campaign_name", "variation_name",
    ).rows()
    dates: list[Any] = [_date(r[0]) for r in rows]
    by_conversion = _running([r[1] for r in rows])
    by_send = _running([r[2] for r in rows])
    gap = [_number(r[3]) for r in rows]
    if ax is None:
        fig = figure_cls(figsize=(10, 5), layout="constrained")
        ax, gap_ax = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    else:
        fig, gap_ax = ax.figure, ax.twinx()
    # Colour, line style and marker all differ, so the curves stay apart where they touch.
    ax.plot(dates, by_send, color=_PALETTE[0], label="by send date (cumulative)")
    ax.plot(dates, by_conversion, color=_PALETTE[1], linestyle="--",
            marker="." if len(dates) < _MAX_MARKED else None,
            label="by conversion date (cumulative)")
    ax.fill_between(dates, by_conversion, by_send, color=_PALETTE[1], alpha=0.15, label="lag area")
    campaign, ch, var = groups[0]
    campaign_label = _name_or_id(_first(r[4] for r in rows), campaign)
    variation_label = _name_or_id(_first(r[5] for r in rows), var)
    title = f"{campaign_label}: {event}"
    if ch != ALL_CHANNEL or var is not None:
        title += f" ({ch}" + (f", {variation_label})" if var is not None else ")")
    ax.set_title(title)
    ax.set_ylabel(f"{event} (cumulative)")
    ax.grid(alpha=0.3)
    gap_ax.plot(dates, gap, color="black", label="gap: by conversion - by send date")
    gap_ax.axhline(0, color="grey", linewidth=0.8)
    gap_ax.set_ylabel("gap (conversion - send)")
    gap_ax.grid(alpha=0.3)
    for axis in (ax, gap_ax):
        _date_axis(axis)
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = gap_ax.get_legend_handles_labels()
    ax.legend([*handles, *more_handles], [*labels, *more_labels], **_LEGEND)
    return fig  # type: ignore[no-any-return]


def plot_experiment(
    df: Any,
    *,
    rate: str | Rate | None = None,
    baseline: str | None = None,
    alpha: float | None = None,
    colors: Mapping[str | None, str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Draw an A/B readout as a forest plot: each variation's difference with its interval.

    One row per variation: the difference from the baseline (``rate - baseline_rate``) as
    a dot, its ``ci_low``..``ci_high`` interval as a bar, on a percent axis (percentage
    points). The baseline is the vertical line at zero; its own row is a hollow diamond
    on it. A filled dot is significant (p < alpha), a hollow one is not; the winner (at
    most one per campaign and channel) carries a star and ``(winner)``. Remember that a
    difference's interval answers "how much"; ``confidence`` only "whether".

    ``df`` is either an ``experiment`` readout (recognised by its ``difference``,
    ``ci_low``, ``ci_high`` and ``winner`` columns) or a tidy frame, for which
    ``braze_frames.experiment(df, rate=..., baseline=..., alpha=...)`` computes the
    readout first. Colours follow ``variation_colors`` of the frame passed; pass
    ``colors=variation_colors(tidy)`` with a readout to match its source's charts.

    Args:
        df: An ``experiment`` readout or a tidy frame, of any supported backend.
        rate: For a tidy frame: the rate to test (``experiment``'s default otherwise).
        baseline: For a tidy frame: ``"control"`` or a variation id or name.
        alpha: For a tidy frame: the test's level (the readout's otherwise).
        colors: ``{variation id: colour}`` overriding ``variation_colors(df)``.
        ax: A matplotlib Axes to draw on; by default a new figure sized to the rows.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: ``rate``, ``baseline`` or ``alpha`` given with a readout (it was
            computed with its own); an empty readout.
        ImportError: matplotlib is not installed, or ``braze_frames.experiment`` is not
            available for a tidy frame.

    Examples:
        >>> import polars as pl
        >>> readout = pl.DataFrame({
        ...     "campaign_id": ["c1"] * 3, "campaign_name": ["Spring sale"] * 3,
        ...     "channel": ["all"] * 3, "variation": ["cg", "v1", "v2"],
        ...     "variation_name": ["Control Group", "A", "B"],
        ...     "is_control": [True, False, False],
        ...     "difference": [None, 0.01, 0.03], "ci_low": [None, -0.005, 0.015],
        ...     "ci_high": [None, 0.025, 0.045], "significant": [None, False, True],
        ...     "winner": [False, False, True]})
        >>> ax = plot_experiment(readout).axes[0]
        >>> [t.get_text() for t in ax.get_yticklabels()]  # top to bottom
        ['Control Group (control)', 'A', 'B (winner)']
    """
    figure_cls = _figure_class()
    asked = {k: v for k, v in (("rate", rate), ("baseline", baseline), ("alpha", alpha))
             if v is not None}
    columns = set(nw.from_native(df).collect_schema().names())
    source = df
    if "variant" in columns and "variation" not in columns:
        # A Canvas frame or readout: its variants are the rows, read with the campaign keys.
        df = _campaign_keys(df)
        columns = set(nw.from_native(df).collect_schema().names())
    if columns >= _READOUT_COLUMNS:
        if asked:
            msg = (f"{sorted(asked)} apply to a tidy frame; this is an experiment readout, "
                   "already computed with its own: call bf.experiment(tidy, ...) again to change them")
            raise ValueError(msg)
        readout = df
    else:
        readout = _campaign_keys(_experiment()(source, **asked))
    # From the frame passed: a tidy frame's colours are those of its other charts.
    palette = {**variation_colors(df), **(colors or {})}
    rows = _readout_rows(readout)
    if not rows:
        msg = "plot_experiment: the readout has no rows"
        raise ValueError(msg)
    groups = sorted({(r.campaign, r.channel) for r in rows}, key=str)
    if ax is None:
        fig = figure_cls(figsize=(9, 1.4 + 0.45 * len(rows)), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    ticks: list[str] = []
    positions: list[float] = []
    drew_winner = False
    # Top to bottom: per campaign and channel, the baseline first, then the readout's order.
    order = {group: i for i, group in enumerate(dict.fromkeys((r.campaign, r.channel) for r in rows))}
    rows.sort(key=lambda r: (order[(r.campaign, r.channel)], r.role == "variant"))
    for i, row in enumerate(rows):
        y = float(len(rows) - 1 - i)
        color = palette.get(row.variation, _TOTALS_COLOR)
        ticks.append(row.tick(several=len(groups) > 1))
        positions.append(y)
        if math.isnan(row.difference):
            if row.role in ("control", "baseline"):
                ax.plot([0.0], [y], marker="D", linestyle="none", color=color,
                        markerfacecolor="white", gid="baseline")
            continue
        low, high = row.ci_low, row.ci_high
        if not (math.isnan(low) or math.isnan(high)):
            ax.plot([low, high], [y, y], color=color, linewidth=2, solid_capstyle="butt", gid="interval")
        ax.plot([row.difference], [y], marker="o", linestyle="none", color=color, markersize=7,
                markerfacecolor=color if row.significant else "white", gid="difference")
        if row.winner:
            drew_winner = True
            ax.plot([row.difference], [y], marker="*", linestyle="none", markersize=16,
                    color="gold", markeredgecolor="black", zorder=5, gid="winner")
    ax.axvline(0.0, color="black", linewidth=1.0, label="baseline (difference 0)")
    ax.set_yticks(positions, ticks)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    _percent_axis(ax.xaxis)
    ax.set_xlabel("difference from the baseline (percentage points), with its interval")
    ax.grid(axis="x", alpha=0.3)
    bases = {_name_or_id(r.variation_name, r.variation) for r in rows if r.role != "variant"}
    against = f"against {bases.pop()}" if len(bases) == 1 else "against the baseline"
    campaign = f"{rows[0].campaign_label}: " if len({g[0] for g in groups}) == 1 else ""
    ax.set_title(f"{campaign}each variation {against}")
    _forest_legend(ax, winner=drew_winner)
    return fig  # type: ignore[no-any-return]


# -- lines over time ------------------------------------------------------------------------

#: The key and name columns of a line, in the order ``_group`` reads them.
_LINE_KEYS: Final = ("campaign_id", "campaign_name", "channel", "variation", "variation_name")


@dataclass
class _Line:
    campaign: Any
    campaign_name: Any
    channel: Any
    variation: Any
    variation_name: Any
    dates: list[Any] = field(default_factory=list)  # dt.date; matplotlib's stubs want Any
    values: list[float] = field(default_factory=list)
    complete: list[bool] = field(default_factory=list)

    @property
    def campaign_label(self) -> str:
        return _name_or_id(self.campaign_name, self.campaign)

    def label(self, *, several_campaigns: bool, several_channels: bool) -> str:
        text = "day totals" if self.variation is None else _name_or_id(self.variation_name, self.variation)
        if several_channels:
            text = f"{self.channel}: {text}"
        if several_campaigns:
            text = f"{self.campaign_label}: {text}"
        return text


def _group(rows: Iterable[Sequence[Any]]) -> dict[tuple[Any, ...], _Line]:
    """(campaign, name, channel, variation, name, date, value, complete) rows -> lines."""
    lines: dict[tuple[Any, ...], _Line] = {}
    for campaign, campaign_name, channel, variation, variation_name, date, value, complete in rows:
        key = (_key(campaign), _key(channel), _key(variation))
        line = lines.get(key)
        if line is None:
            line = lines[key] = _Line(key[0], _key(campaign_name), key[1], key[2], _key(variation_name))
        line.dates.append(_date(date))
        line.values.append(_number(value))
        line.complete.append(bool(complete))
    return lines


def _without_mixed_totals(lines: dict[tuple[Any, ...], _Line]) -> dict[tuple[Any, ...], _Line]:
    """Drop a campaign's day-total line when it has variation lines of the same rate.

    Braze's day totals may include control users, so beside the variations they would
    draw control and treatment pooled; alone (email conversions) they are all there is.
    """
    with_variations = {k[0] for k in lines if k[2] is not None}
    return {k: line for k, line in lines.items() if k[2] is not None or k[0] not in with_variations}


def _metric_lines(
    df: Any, metric: str, period: str, start: str | dt.date | None, end: str | dt.date | None
) -> dict[tuple[Any, ...], _Line]:
    frame, _ = tidy_lazy(df)
    present = distinct(frame, "metric")
    if metric not in present:
        msg = f"the frame has no metric {metric!r}; it has {sorted(present)}"
        raise ValueError(msg)
    bounds = frame.select(nw.col("date").min().alias("first"), nw.col("date").max().alias("last"))
    low, high = _as_eager(bounds).row(0)
    first = _date(low if start is None else start)
    last = _date(high if end is None else end)
    keys = list(_LINE_KEYS)
    summed = (
        with_period(frame.filter(nw.col("metric") == metric), period, "date")
        .group_by(*keys, "date")
        .agg(nw.col("value").sum())
    )
    summed = sorted_strings(summed, keys, [*keys, "date"])
    rows = summed.collect().select(*keys, "date", "value").rows()
    return _group([*r, _complete(_date(r[-2]), period, first, last)] for r in rows)


def _complete(day: dt.date, period: str, first: dt.date, last: dt.date) -> bool:
    """Whether the period starting on ``day`` lies wholly inside [first, last]."""
    if period == "day":
        return True
    if period == "week":
        final = day + dt.timedelta(days=6)
    else:
        following = day.replace(year=day.year + day.month // 12, month=day.month % 12 + 1)
        final = following - dt.timedelta(days=1)
    return first <= day and final <= last


def _draw_line(ax: Axes, line: _Line, label: str, color: str, marker: str) -> bool:
    """Draw complete periods solid, partial ones hollow and dashed; say if any was partial."""
    marked = len(line.dates) < _MAX_MARKED
    solid = [v if c else math.nan for v, c in zip(line.values, line.complete, strict=True)]
    ax.plot(line.dates, solid, color=color, marker=marker if marked else None, markersize=4, label=label)
    partial = [i for i, c in enumerate(line.complete) if not c]
    if not partial:
        return False
    xs: list[Any] = []
    ys: list[float] = []
    for i in range(len(line.dates) - 1):
        if not (line.complete[i] and line.complete[i + 1]):
            # A NaN after each pair breaks the line between segments.
            xs += [line.dates[i], line.dates[i + 1], line.dates[i + 1]]
            ys += [line.values[i], line.values[i + 1], math.nan]
    if xs:
        ax.plot(xs, ys, color=color, linestyle="--", linewidth=1.0, label="_partial", gid="partial")
    ax.plot([line.dates[i] for i in partial], [line.values[i] for i in partial], color=color,
            linestyle="none", marker=marker, markersize=6, markerfacecolor="white",
            label="_partial", gid="partial")
    return True


def _sorted_legend(ax: Axes, *, partial: bool) -> None:
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    ordered = sorted(zip(labels, handles, strict=True), key=lambda pair: (pair[0].casefold(), pair[0]))
    labels = [label for label, _ in ordered]
    handles = [handle for _, handle in ordered]
    if partial:
        handles.append(Line2D([], [], color="grey", linestyle="--", marker="o", markerfacecolor="white"))
        labels.append("partial period")
    if handles:
        ax.legend(handles, labels, **_LEGEND)


def _date_axis(ax: Axes) -> None:
    # ConciseDateFormatter drops what the offset (or the neighbouring label) already says,
    # so labels stay short at every range: "Jul 08 15 22" for weeks, "2024 Apr Jul" for years.
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _percent_axis(axis: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    class StepPercent(PercentFormatter):
        """As many decimals as the tick step needs: 8%, 10%, 12%, not 8.00%."""

        def format_ticks(self, values: Any) -> list[str]:
            steps = [b - a for a, b in pairwise(values) if b > a]
            if steps:
                step = min(steps) * 100
                self.decimals = next(
                    (d for d in range(6) if abs(step * 10**d - round(step * 10**d)) < 1e-6), 6)
            return super().format_ticks(values)

    axis.set_major_formatter(StepPercent(xmax=1.0))


def _on_percent_axis(rate: str | Rate) -> bool:
    """A rate of counts over counts reads as a percent; revenue per recipient does not.

    Wider than ``Rate.proportion``: ``click_rate`` (every click per delivered email) can
    exceed 100% and is no proportion for a test, but Braze's dashboard still shows it as a
    percent, and 0.26 on an axis is what users asked not to see.
    """
    definitions = by_name(rate) if isinstance(rate, str) else [rate]
    return all(r.proportion or not (r.metrics & _NOT_COUNTS) for r in definitions)


# -- the readout ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _ReadoutRow:
    campaign: Any
    campaign_name: Any
    channel: Any
    variation: Any
    variation_name: Any
    role: str  # "control", "baseline" or "variant"
    difference: float
    ci_low: float
    ci_high: float
    significant: bool
    winner: bool

    @property
    def campaign_label(self) -> str:
        return _name_or_id(self.campaign_name, self.campaign)

    def tick(self, *, several: bool) -> str:
        text = _name_or_id(self.variation_name, self.variation)
        if self.role != "variant":
            text += f" ({self.role})"
        if self.winner:
            text += " (winner)"
        if several:
            text = f"{self.campaign_label} / {self.channel}: {text}"
        return text


def _campaign_keys(df: Any) -> Any:
    """A Canvas frame or readout with the campaign key names (variants as variations)."""
    frame = nw.from_native(df)
    names = frame.collect_schema().names()
    renames = {"canvas_id": "campaign_id", "canvas_name": "campaign_name", "variant": "variation",
               "variant_name": "variation_name"}
    return frame.rename({k: v for k, v in renames.items() if k in names}).to_native()


def _readout_rows(readout: Any) -> list[_ReadoutRow]:
    frame = _as_eager(nw.from_native(readout))
    wanted = ["campaign_id", "campaign_name", "channel", "variation", "variation_name", "is_control",
              "rate", "baseline_rate", "difference", "ci_low", "ci_high", "significant", "winner"]
    present = [c for c in wanted if c in frame.columns]
    out = []
    for record in frame.select(present).rows(named=True):
        row = {c: _key(record.get(c)) for c in wanted}
        difference = _number(row["difference"])
        if row["is_control"]:
            role = "control"
        elif math.isnan(difference) and _number(row["rate"]) == _number(row["baseline_rate"]):
            role = "baseline"
        else:
            role = "variant"
        out.append(_ReadoutRow(
            row["campaign_id"], row["campaign_name"], row["channel"], row["variation"],
            row["variation_name"], role, difference, _number(row["ci_low"]),
            _number(row["ci_high"]), bool(row["significant"]), bool(row["winner"]),
        ))
    return out


def _forest_legend(ax: Axes, *, winner: bool) -> None:
    from matplotlib.lines import Line2D

    handles: list[Any] = [
        Line2D([], [], color="grey", marker="o", linestyle="-", linewidth=2),
        Line2D([], [], color="grey", marker="o", linestyle="-", linewidth=2, markerfacecolor="white"),
        Line2D([], [], color="grey", marker="D", linestyle="none", markerfacecolor="white"),
    ]
    labels = ["significant, with its interval", "not significant", "baseline"]
    if winner:
        handles.append(Line2D([], [], color="gold", marker="*", markersize=12, markeredgecolor="black",
                              linestyle="none"))
        labels.append("winner")
    ax.legend(handles, labels, **_LEGEND)


def _experiment() -> Any:
    """``braze_frames.experiment``, looked up at call time: charts do not need it to load."""
    import braze_frames

    try:
        return braze_frames.experiment
    except (AttributeError, ImportError) as exc:
        msg = (
            "plot_experiment got a tidy frame, and braze_frames.experiment (which computes "
            "the readout) is not available in this version: pass the readout frame instead"
        )
        raise ImportError(msg) from exc


# -- small helpers --------------------------------------------------------------------------


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(_PLOT_HINT) from exc
    return Figure


def _key(value: Any) -> Any:
    """Turn pandas' NaN (and NA) for a missing value into None, so that equal keys compare equal."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value


def _name_or_id(name: Any, ident: Any) -> str:
    return str(ident if name is None or name == "" else name)


def _first(values: Iterable[Any]) -> Any:
    return next((v for v in map(_key, values) if v is not None), None)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _number(value: Any) -> float:
    value = _key(value)
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
