"""Charts, checked by structure: formatters, label overlap, colours, legends, partial periods.

Every chart is rendered with Agg, and the tests read what a viewer would see: which
formatter an axis has, where tick labels and legends land, which line is dashed or hollow,
which colour each variation gets. Not only "it returns a figure".
"""

from __future__ import annotations

import datetime as dt
import io
import sys
from collections.abc import Iterator
from itertools import combinations
from typing import Any

import matplotlib as mpl
import pandas as pd
import polars as pl
import pytest
from _support_frames import tidy
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

import braze_frames as bf
from braze_frames.charts import plot, plot_experiment, plot_reconcile, variation_colors

mpl.use("Agg")  # no display in tests; the charts never touch pyplot anyway

ROWS = [
    (c, f"2024-07-0{d}", ch, v, n, m, float(d * k))
    for c in ("c1",)
    for d in (1, 2, 3)
    for ch, v, n in (("email", "e1", "Subject A"), ("email", "e2", None))
    for k, m in enumerate(("sent", "delivered", "opens"), start=3)
] + [
    ("c1", f"2024-07-0{d}", "all", None, None, m, v)
    for d in (1, 2, 3)
    for m, v in (("conversions", float(d)), ("conversions_by_send_time", 2.0))
]


def days(n: int, first: dt.date = dt.date(2024, 7, 3)) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(n)]


def email_rows(dates: list[dt.date], *, name: str | None = "Spring sale") -> list[tuple[Any, ...]]:
    """Three email variations with names (one unnamed), and revenue on the day totals."""
    out: list[tuple[Any, ...]] = []
    for i, day in enumerate(dates):
        for v, vname, opens in (("v2", "Variant B", 30.0), ("v1", "Variant A", 25.0), ("v3", None, 20.0)):
            out += [("c1", name, day, "email", v, vname, m, x) for m, x in
                    (("sent", 110.0), ("delivered", 100.0), ("opens", opens + i % 3),
                     ("unique_opens", opens), ("unique_clicks", opens / 5))]
        out += [("c1", name, day, "all", None, None, m, x) for m, x in
                (("unique_recipients", 300.0), ("revenue", 40.0), ("conversions", 6.0),
                 ("conversions_by_send_time", 6.0))]
    return out


def frame(rows: list[tuple[Any, ...]], backend: str = "polars") -> Any:
    return tidy(rows, backend)


def render(fig: Figure) -> Any:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def visible_labels(ax: Axes, renderer: Any) -> list[Any]:
    return [t.get_window_extent(renderer) for t in ax.get_xticklabels()
            if t.get_visible() and t.get_text()]


def data_lines(ax: Axes) -> Iterator[Line2D]:
    return (line for line in ax.get_lines() if not str(line.get_label()).startswith("_"))


# -- percent axis ---------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "percent"), [
    ("unique_open_rate", True),  # a proportion
    ("open_rate", True),  # every open per delivered: no proportion, still a share
    ("revenue_per_recipient", False),  # money per person
])
def test_rates_of_counts_are_on_a_percent_axis(rate: str, percent: bool) -> None:
    fig = plot(frame(email_rows(days(5))), rate=rate)
    formatter = fig.axes[0].yaxis.get_major_formatter()
    assert isinstance(formatter, PercentFormatter) is percent
    render(fig)
    if percent:
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
        assert all(label.endswith("%") for label in labels)
        assert not any(label.endswith("0%") and "." in label for label in labels), labels  # 8.00%


def test_a_metric_keeps_a_plain_axis() -> None:
    fig = plot(frame(email_rows(days(5))), metric="opens")
    assert not isinstance(fig.axes[0].yaxis.get_major_formatter(), PercentFormatter)


# -- date labels ----------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "period"), [(7, "day"), (90, "day"), (730, "day"), (730, "week")])
def test_date_labels_never_overlap(n: int, period: str) -> None:
    rows = [("c1", d, "email", "v1", "A", m, 10.0) for d in days(n) for m in ("delivered", "opens")]
    fig = plot(frame(rows), rate="open_rate", period=period)  # type: ignore[arg-type]
    ax = fig.axes[0]
    assert isinstance(ax.xaxis.get_major_formatter(), ConciseDateFormatter)
    boxes = visible_labels(ax, render(fig))
    assert len(boxes) >= 3
    for a, b in combinations(boxes, 2):
        assert not a.overlaps(b), (n, [t.get_text() for t in ax.get_xticklabels()])


def test_reconcile_date_labels_never_overlap() -> None:
    rows = [("c1", d, "all", None, None, m, 5.0) for d in days(400)
            for m in ("conversions", "conversions_by_send_time")]
    fig = plot_reconcile(frame(rows))
    renderer = render(fig)
    for ax in fig.axes:
        for a, b in combinations(visible_labels(ax, renderer), 2):
            assert not a.overlaps(b)


# -- partial periods ------------------------------------------------------------------------


def test_partial_weeks_are_hollow_and_dashed(backend: str) -> None:
    # Wednesday 2024-07-03 to Tuesday 2024-07-30: first and last weeks are partial.
    fig = plot(frame(email_rows(days(28)), backend), rate="unique_open_rate", period="week")
    ax = fig.axes[0]
    solid = {line.get_label(): line for line in data_lines(ax)}
    assert sorted(solid) == ["Variant A", "Variant B", "v3"]
    for line in solid.values():
        ys = list(line.get_ydata())
        assert pd.isna(ys[0]) and pd.isna(ys[-1])  # partial weeks are off the solid line
        assert not any(pd.isna(y) for y in ys[1:-1])
    partial = [line for line in ax.get_lines() if line.get_gid() == "partial"]
    dashed = [line for line in partial if line.get_linestyle() == "--"]
    hollow = [line for line in partial if line.get_markerfacecolor() in ("white", (1.0, 1.0, 1.0, 1.0))]
    assert len(dashed) == len(hollow) == 3
    assert all(len(line.get_xdata()) == 2 for line in hollow)  # the first week and the last
    assert "partial period" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_start_and_end_make_edge_periods_whole() -> None:
    df = frame(email_rows(days(28)))
    fig = plot(df, rate="unique_open_rate", period="week", start="2024-07-01", end="2024-08-04")
    assert not [line for line in fig.axes[0].get_lines() if line.get_gid() == "partial"]


def test_partial_months_of_a_metric() -> None:
    fig = plot(frame(email_rows(days(70))), metric="opens", period="month")
    ax = fig.axes[0]
    hollow = [line for line in ax.get_lines()
              if line.get_gid() == "partial" and line.get_linestyle() == "None"]
    assert {x.month for line in hollow for x in line.get_xdata()} == {7, 9}


def test_days_are_never_partial() -> None:
    fig = plot(frame(email_rows(days(10))), rate="open_rate")
    assert not [line for line in fig.axes[0].get_lines() if line.get_gid() == "partial"]


# -- colours and legends --------------------------------------------------------------------


def test_colour_map_comes_from_the_sorted_ids() -> None:
    colors = variation_colors(frame(email_rows(days(3))))
    assert list(colors) == [None, "v1", "v2", "v3"]
    assert len(set(colors.values())) == 4


def line_colors(fig: Figure) -> dict[str, Any]:
    return {str(line.get_label()): line.get_color() for line in data_lines(fig.axes[0])}


def test_same_colours_in_every_chart_and_backend() -> None:
    rows = email_rows(days(14))
    by_backend = [frame(rows, b) for b in ("polars", "pandas")]
    first = line_colors(plot(by_backend[0], rate="unique_open_rate"))
    assert first == line_colors(plot(by_backend[0], metric="opens", period="week"))
    assert first == line_colors(plot(by_backend[1], rate="open_rate", period="week"))
    assert variation_colors(by_backend[0]) == variation_colors(by_backend[1])
    assert variation_colors(by_backend[0]) == variation_colors(by_backend[0].lazy())
    colors = variation_colors(by_backend[0])
    assert first == {"Variant A": colors["v1"], "Variant B": colors["v2"], "v3": colors["v3"]}


def test_legend_is_sorted_and_outside_the_axes() -> None:
    fig = plot(frame(email_rows(days(10))), rate="unique_open_rate")
    ax = fig.axes[0]
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == sorted(texts, key=str.casefold)
    renderer = render(fig)
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    assert fig.bbox.contains(*legend.get_window_extent(renderer).p1)  # and inside the figure


def test_names_not_ids_in_titles_and_legends(backend: str) -> None:
    fig = plot(frame(email_rows(days(3)), backend), rate="unique_click_rate")
    ax = fig.axes[0]
    assert ax.get_title() == "Spring sale: unique_click_rate"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["v3", "Variant A", "Variant B"]
    unnamed = plot(frame(email_rows(days(3), name=None), backend), rate="unique_click_rate")
    assert unnamed.axes[0].get_title() == "c1: unique_click_rate"  # the id when no name


def test_day_totals_drawn_only_without_variation_lines() -> None:
    df = frame(email_rows(days(5)))
    # conversion rates exist only on the "all" rows of an email campaign: one line.
    fig = plot(df, rate="conversion_rate")
    assert [line.get_label() for line in data_lines(fig.axes[0])] == ["day totals"]
    # A campaign whose variations carry the rate: the day totals (control included) go.
    rows = [("c1", None, d, "ios_push", v, n, m, x) for d in days(5)
            for v, n, m, x in (("v1", "A", "unique_recipients", 100.0), ("v1", "A", "conversions", 5.0),
                               ("cg", "Control", "enrolled", 50.0), ("cg", "Control", "conversions", 1.0),
                               ("v1", "A", "sent", 100.0))]
    rows += [("c1", None, d, "all", None, None, m, x) for d in days(5)
             for m, x in (("unique_recipients", 100.0), ("conversions", 6.0))]
    fig = plot(frame(rows), rate="conversion_rate")
    lines = {line.get_label(): list(line.get_ydata()) for line in data_lines(fig.axes[0])}
    assert lines == {"A": [0.05] * 5, "Control": [0.02] * 5}


def test_several_campaigns_and_channels_are_named_in_labels() -> None:
    rows = [*ROWS, ("c2", "2024-07-01", "email", "e9", "Other", "opens", 1.0)]
    fig = plot(frame(rows), metric="opens")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "c1: e2", "c1: Subject A", "c2: Other"]
    assert fig.axes[0].get_title() == "opens"


# -- the existing behaviour -----------------------------------------------------------------


def test_metric_over_time_one_line_per_variation(backend: str) -> None:
    fig = plot(tidy(ROWS, backend), metric="opens")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    labels = sorted(str(line.get_label()) for line in data_lines(ax))
    assert labels == ["Subject A", "e2"]  # name when known, else the variation id
    assert [len(line.get_xdata()) for line in data_lines(ax)] == [3, 3]
    fig.savefig(io.BytesIO(), format="png")


def test_rate_per_week_on_a_given_axes(backend: str) -> None:
    fig = Figure()
    ax = fig.subplots()
    out = plot(tidy(ROWS, backend), rate="open_rate", period="week", ax=ax)
    assert out is fig
    assert ax.get_title() == "c1: open_rate per week"
    assert len(list(data_lines(ax))) == 2


def test_plot_errors() -> None:
    df = tidy(ROWS)
    with pytest.raises(ValueError, match="exactly one of"):
        plot(df)
    with pytest.raises(ValueError, match="exactly one of"):
        plot(df, metric="opens", rate="open_rate")
    with pytest.raises(ValueError, match="no metric 'clicks'"):
        plot(df, metric="clicks")
    with pytest.raises(ValueError, match="over time"):
        plot(df, metric="opens", period="total")  # type: ignore[arg-type]


# -- reconcile ------------------------------------------------------------------------------


def test_plot_reconcile(backend: str) -> None:
    fig = plot_reconcile(tidy(ROWS, backend))
    top, bottom = fig.axes
    assert len(top.get_lines()) == 2
    by_send, by_conversion = top.get_lines()
    assert list(by_send.get_ydata()) == [2.0, 4.0, 6.0]
    assert by_conversion.get_linestyle() != by_send.get_linestyle()  # apart where they touch
    assert by_conversion.get_color() != by_send.get_color()
    assert list(bottom.get_lines()[0].get_ydata()) == [-1.0, -1.0, 0.0]
    fig.savefig(io.BytesIO(), format="png")


def test_a_small_gap_gets_its_own_scale(backend: str) -> None:
    rows = [("c1", "Welcome", d, "all", None, None, m, x) for d in days(20)
            for m, x in (("conversions", 1000.0), ("conversions_by_send_time", 1001.0))]
    fig = plot_reconcile(tidy(rows, backend))
    top, gap = fig.axes
    assert top.get_title() == "Welcome: conversions"
    assert gap.get_ylim()[1] - gap.get_ylim()[0] < 50  # the gap of 20 fills its panel
    assert top.get_ylim()[1] - top.get_ylim()[0] > 10_000
    renderer = render(fig)
    assert not top.get_legend().get_window_extent(renderer).overlaps(top.get_window_extent(renderer))


def test_plot_reconcile_on_a_given_axes_puts_the_gap_on_a_twin() -> None:
    fig = Figure()
    ax = fig.subplots()
    assert plot_reconcile(tidy(ROWS), ax=ax) is fig
    assert len(fig.axes) == 2
    assert list(fig.axes[1].get_lines()[0].get_ydata()) == [-1.0, -1.0, 0.0]


def test_plot_reconcile_names_the_variation() -> None:
    rows = [("c1", "Welcome", d, "ios_push", "v1", "Variant A", m, 2.0) for d in days(3)
            for m in ("conversions", "conversions_by_send_time")]
    fig = plot_reconcile(tidy(rows), channel="ios_push")
    assert fig.axes[0].get_title() == "Welcome: conversions (ios_push, Variant A)"


def test_plot_reconcile_needs_one_series() -> None:
    rows = [*ROWS, ("c2", "2024-07-01", "all", None, None, "conversions", 1.0)]
    with pytest.raises(ValueError, match="pass campaign_id="):
        plot_reconcile(tidy(rows))
    fig = plot_reconcile(tidy(rows), campaign_id="c2")
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="matched nothing"):
        plot_reconcile(tidy(rows), event="conversions3")


# -- the experiment readout -----------------------------------------------------------------

READOUT = {
    "campaign_id": ["c1"] * 4,
    "campaign_name": ["Spring sale"] * 4,
    "channel": ["all"] * 4,
    "variation": ["cg", "v1", "v2", "v3"],
    "variation_name": ["Control Group", "Variant A", "Variant B", None],
    "is_control": [True, False, False, False],
    "numerator": [100.0, 120.0, 150.0, 95.0],
    "denominator": [1000.0] * 4,
    "rate": [0.10, 0.12, 0.15, 0.095],
    "baseline_rate": [0.10] * 4,
    "lift": [None, 0.2, 0.5, -0.05],
    "difference": [None, 0.02, 0.05, -0.005],
    "ci_low": [None, -0.008, 0.02, -0.031],
    "ci_high": [None, 0.048, 0.08, 0.021],
    "p_value": [None, 0.16, 0.0007, 0.70],
    "confidence": [None, 0.84, 0.9993, 0.30],
    "significant": [None, False, True, False],
    "winner": [False, False, True, False],
    "approximate": [True] * 4,
}


def readout(backend: str) -> Any:
    polars = pl.DataFrame(READOUT)
    return polars if backend == "polars" else polars.to_pandas()


def test_forest_plot_one_row_per_variation(backend: str) -> None:
    fig = plot_experiment(readout(backend))
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == ["Control Group (control)", "Variant A", "Variant B (winner)", "v3"]
    assert ax.get_title() == "Spring sale: each variation against Control Group"
    intervals = {tuple(line.get_xdata()) for line in ax.get_lines() if line.get_gid() == "interval"}
    assert intervals == {(-0.008, 0.048), (0.02, 0.08), (-0.031, 0.021)}
    (winner,) = [line for line in ax.get_lines() if line.get_gid() == "winner"]
    assert list(winner.get_xdata()) == [0.05]
    assert ticks[int(len(ticks) - 1 - winner.get_ydata()[0])] == "Variant B (winner)"
    (baseline,) = [line for line in ax.get_lines() if line.get_gid() == "baseline"]
    assert list(baseline.get_xdata()) == [0.0]
    zero = [line for line in ax.get_lines() if list(line.get_xdata()) == [0, 0]]
    assert zero  # the vertical line at zero
    assert isinstance(ax.xaxis.get_major_formatter(), PercentFormatter)
    dots = {line.get_ydata()[0]: line for line in ax.get_lines() if line.get_gid() == "difference"}
    assert dots[1.0].get_markerfacecolor() != "white"  # Variant B: significant, filled
    assert dots[2.0].get_markerfacecolor() == "white"  # Variant A: not significant, hollow
    renderer = render(fig)
    assert not ax.get_legend().get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))


def test_forest_plot_colours_match_the_source_frame() -> None:
    tidy_frame = frame(email_rows(days(5)))
    colors = variation_colors(tidy_frame)
    fig = plot_experiment(readout("polars"), colors=colors)
    dots = {line.get_ydata()[0]: line.get_color() for line in fig.axes[0].get_lines()
            if line.get_gid() == "difference"}
    assert dots == {2.0: colors["v1"], 1.0: colors["v2"], 0.0: colors["v3"]}
    assert variation_colors(readout("polars")) == variation_colors(readout("pandas"))


def test_forest_plot_of_several_campaigns_names_each_row() -> None:
    two = pl.concat([pl.DataFrame(READOUT), pl.DataFrame(READOUT).with_columns(
        pl.lit("c2").alias("campaign_id"), pl.lit(None, pl.String).alias("campaign_name"))])
    ax = plot_experiment(two).axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ticks) == 8
    assert ticks[0] == "Spring sale / all: Control Group (control)"
    assert ticks[4] == "c2 / all: Control Group (control)"
    assert ax.get_title() == "each variation against Control Group"


def test_accessor_plot_experiment_takes_a_readout_or_a_tidy_frame(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fig = readout(backend).braze.plot_experiment()
    assert len(fig.axes[0].get_yticklabels()) == 4
    calls: list[dict[str, Any]] = []

    def fake(df: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return readout(backend)

    monkeypatch.setattr(bf, "experiment", fake, raising=False)
    df = frame(email_rows(days(5)), backend)
    fig = df.braze.plot_experiment(rate="unique_click_rate", baseline="v1")
    assert calls == [{"rate": "unique_click_rate", "baseline": "v1"}]
    dots = {line.get_ydata()[0]: line.get_color() for line in fig.axes[0].get_lines()
            if line.get_gid() == "difference"}
    colors = variation_colors(df)  # the tidy frame's, as in its other charts
    assert dots == {2.0: colors["v1"], 1.0: colors["v2"], 0.0: colors["v3"]}
    assert [line for line in fig.axes[0].get_lines() if line.get_gid() == "winner"]
    with pytest.raises(ValueError, match="already computed"):
        readout(backend).braze.plot_experiment(rate="unique_click_rate")


def test_plot_experiment_without_experiment_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(bf, "experiment", raising=False)
    monkeypatch.delitem(bf._LAZY, "experiment", raising=False)
    with pytest.raises(ImportError, match="pass the readout frame"):
        plot_experiment(frame(ROWS))


# -- the accessor and the extra -------------------------------------------------------------


def test_accessor_plots() -> None:
    df = tidy(ROWS)
    assert isinstance(df.braze.plot(metric="sent"), Figure)
    assert isinstance(df.braze.plot_reconcile(), Figure)


def test_missing_matplotlib_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'braze-frames\[plot\]'"):
        plot(tidy(ROWS), metric="opens")
    with pytest.raises(ImportError, match=r"pip install 'braze-frames\[plot\]'"):
        plot_experiment(readout("polars"))


def test_lazy_frames_draw_the_same() -> None:
    df = frame(email_rows(days(14)))
    assert line_colors(plot(df.lazy(), rate="unique_open_rate")) == line_colors(
        plot(df, rate="unique_open_rate"))
    ax = pl.DataFrame(READOUT).lazy().braze.plot_experiment().axes[0]
    assert [line for line in ax.get_lines() if line.get_gid() == "winner"]
