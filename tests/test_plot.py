"""Charts: figures come back, with one line per variation; errors say what to pass."""

from __future__ import annotations

import io
import sys

import matplotlib as mpl
import pytest
from _support_frames import tidy
from matplotlib.figure import Figure

from braze_frames.charts import plot, plot_reconcile

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


def test_metric_over_time_one_line_per_variation(backend: str) -> None:
    fig = plot(tidy(ROWS, backend), metric="opens")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    labels = sorted(line.get_label() for line in ax.get_lines())
    assert labels == ["Subject A", "e2"]  # name when known, else the variation id
    assert [len(line.get_xdata()) for line in ax.get_lines()] == [3, 3]
    fig.savefig(io.BytesIO(), format="png")


def test_rate_per_week_on_a_given_axes(backend: str) -> None:
    fig = Figure()
    ax = fig.subplots()
    out = plot(tidy(ROWS, backend), rate="open_rate", period="week", ax=ax)
    assert out is fig
    assert ax.get_title() == "open_rate per week"
    assert len(ax.get_lines()) == 2


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


def test_plot_reconcile(backend: str) -> None:
    fig = plot_reconcile(tidy(ROWS, backend))
    top, bottom = fig.axes
    assert len(top.get_lines()) == 2
    by_send = top.get_lines()[0].get_ydata()
    assert list(by_send) == [2.0, 4.0, 6.0]
    assert list(bottom.get_lines()[0].get_ydata()) == [-1.0, -1.0, 0.0]
    fig.savefig(io.BytesIO(), format="png")


def test_plot_reconcile_needs_one_series() -> None:
    rows = [*ROWS, ("c2", "2024-07-01", "all", None, None, "conversions", 1.0)]
    with pytest.raises(ValueError, match="pass campaign_id="):
        plot_reconcile(tidy(rows))
    fig = plot_reconcile(tidy(rows), campaign_id="c2")
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="matched nothing"):
        plot_reconcile(tidy(rows), event="conversions3")


def test_accessor_plots() -> None:
    df = tidy(ROWS)
    assert isinstance(df.braze.plot(metric="sent"), Figure)
    assert isinstance(df.braze.plot_reconcile(), Figure)


def test_missing_matplotlib_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'braze-frames\[plot\]'"):
        plot(tidy(ROWS), metric="opens")
