"""``bf.rates`` on Canvas frames and on workspace series frames (SPEC sections 12 and 14).

Numbers are worked out by hand in each test from the rows it builds; the sandbox frame's
table is checked against the simulated truth in ``test_canvas_rates``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pytest

import braze_frames as bf

D1, D2, D3 = dt.date(2025, 6, 1), dt.date(2025, 6, 2), dt.date(2025, 6, 3)

#: (canvas_id, canvas_name, date, variant, variant_name, step, step_name, channel, metric, value)
ROWS: list[tuple[Any, ...]] = [
    # Canvas totals: conversions over entries.
    ("cv1", "Flow", D1, None, None, None, None, "all", "entries", 100.0),
    ("cv1", "Flow", D1, None, None, None, None, "all", "conversions", 10.0),
    ("cv1", "Flow", D1, None, None, None, None, "all", "conversions_by_entry_time", 12.0),
    ("cv1", "Flow", D2, None, None, None, None, "all", "entries", 300.0),
    ("cv1", "Flow", D2, None, None, None, None, "all", "conversions", 30.0),
    # D2 has no by-entry count: the cohort rate sums D1 only.
    # Variants: the control keeps its own row.
    ("cv1", "Flow", D1, "v1", "Variant 1", None, None, "all", "entries", 60.0),
    ("cv1", "Flow", D1, "v1", "Variant 1", None, None, "all", "conversions", 9.0),
    ("cv1", "Flow", D1, "v0", "Control", None, None, "all", "entries", 40.0),
    ("cv1", "Flow", D1, "v0", "Control", None, None, "all", "conversions", 1.0),
    # A step's totals have no entries: no rate, though they carry conversions.
    ("cv1", "Flow", D1, None, None, "s1", "Email", "all", "conversions", 5.0),
    # Step messages: email rates, email#2 read as email.
    ("cv1", "Flow", D1, None, None, "s1", "Email", "email", "sent", 50.0),
    ("cv1", "Flow", D1, None, None, "s1", "Email", "email", "delivered", 40.0),
    ("cv1", "Flow", D1, None, None, "s1", "Email", "email", "unique_clicks", 4.0),
    ("cv1", "Flow", D1, None, None, "s1", "Email", "email#2", "sent", 10.0),
    ("cv1", "Flow", D1, None, None, "s1", "Email", "email#2", "delivered", 10.0),
    ("cv1", "Flow", D1, None, None, "s1", "Email", "email#2", "unique_clicks", 1.0),
    ("cv1", "Flow", D3, None, None, "s2", "Later", "email", "sent", 20.0),
    ("cv1", "Flow", D3, None, None, "s2", "Later", "email", "delivered", 20.0),
    ("cv1", "Flow", D3, None, None, "s2", "Later", "email", "unique_clicks", 5.0),
]
COLUMNS = list(bf.CANVAS_COLUMNS)


def polars_frame() -> pl.DataFrame:
    return pl.DataFrame(ROWS, schema=COLUMNS, orient="row")


def as_dict(out: Any) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    frame = pl.from_pandas(out) if isinstance(out, pd.DataFrame) else out
    keys = [c for c in ("variant", "step", "channel") if c in frame.columns]
    got = {}
    for row in frame.iter_rows(named=True):
        got[(*(row[k] for k in keys), row["metric"])] = (row["numerator"], row["denominator"], row["days"])
    return got


def test_totals_variants_and_messages_by_hand() -> None:
    got = as_dict(bf.rates(polars_frame(), period="total"))
    assert got[(None, None, "all", "conversion_rate")] == (40.0, 400.0, 2)
    assert got[(None, None, "all", "cohort_conversion_rate")] == (12.0, 100.0, 1)
    assert got[("v1", None, "all", "conversion_rate")] == (9.0, 60.0, 1)
    assert got[("v0", None, "all", "conversion_rate")] == (1.0, 40.0, 1)
    assert got[(None, "s1", "email", "unique_click_rate")] == (4.0, 40.0, 1)
    assert got[(None, "s1", "email#2", "unique_click_rate")] == (1.0, 10.0, 1)
    assert got[(None, "s1", "email", "delivery_rate")] == (40.0, 50.0, 1)
    # Steps' totals get no rate; messages get no conversion rate.
    assert not [k for k in got if k[1] is not None and k[2] == "all"]
    assert not [k for k in got if k[1] is not None and "conversion" in k[3]]


def test_columns_names_beside_ids_and_sorted() -> None:
    out = bf.rates(polars_frame(), period="day")
    assert out.columns == ["canvas_id", "canvas_name", "date", "variant", "variant_name", "step",
                           "step_name", "channel", "metric", "value", "numerator", "denominator",
                           "days", "complete"]
    keys = out.select("canvas_id", "date", "variant", "step", "channel", "metric")
    assert keys.rows() == keys.sort(keys.columns, nulls_last=False).rows()
    row = out.filter(pl.col("variant") == "v1", pl.col("metric") == "conversion_rate").row(0, named=True)
    assert (row["canvas_name"], row["variant_name"], row["value"]) == ("Flow", "Variant 1", 9 / 60)


def test_pooled_over_steps_by_channel() -> None:
    got = as_dict(bf.rates(polars_frame(), period="total", by=("canvas_id", "channel")))
    # Both steps' email messages: (4 + 5) / (40 + 20) over two distinct days.
    assert got[("email", "unique_click_rate")] == (9.0, 60.0, 2)
    # Without the variant key the Canvas's own totals give the conversion rate (no double count).
    assert got[("all", "conversion_rate")] == (40.0, 400.0, 2)


def test_weeks_say_when_they_are_partial() -> None:
    out = bf.rates(polars_frame(), period="week", start=D1, end=D3)
    # 2025-06-01 is a Sunday: its ISO week started on 2025-05-26, and the next one is cut at D3.
    assert set(out.get_column("date").to_list()) == {dt.date(2025, 5, 26), dt.date(2025, 6, 2)}
    assert not any(out.get_column("complete").to_list())


def test_pandas_polars_lazy_and_duckdb_agree() -> None:
    expected = bf.rates(polars_frame(), period="week")
    got_pandas = pl.from_pandas(bf.rates(polars_frame().to_pandas(), period="week"))
    got_lazy = bf.rates(polars_frame().lazy(), period="week")
    assert isinstance(got_lazy, pl.LazyFrame)
    frame = polars_frame()  # noqa: F841 (read by DuckDB by name)
    relation = duckdb.sql("SELECT * FROM frame")
    got_duckdb = bf.rates(relation, period="week")
    assert isinstance(got_duckdb, duckdb.DuckDBPyRelation)
    for got in (got_pandas, got_lazy.collect(), got_duckdb.pl()):
        assert got.with_columns(pl.col("date").cast(pl.Date)).rows() == expected.rows()


def test_rates_asked_by_name_and_bad_keys() -> None:
    out = bf.rates(polars_frame(), period="total", rates=["unique_click_rate", "cohort_conversion_rate"])
    assert set(out.get_column("metric")) == {"unique_click_rate", "cohort_conversion_rate"}
    with pytest.raises(ValueError, match="unknown rate 'nope'"):
        bf.rates(polars_frame(), rates=["nope"])
    with pytest.raises(ValueError, match="on a Canvas frame, by takes"):
        bf.rates(polars_frame(), by=("campaign_id",))


def test_a_series_frame_gets_the_workspace_ratios() -> None:
    days = [D1, D2]
    series = pl.DataFrame({
        "metric": ["dau", "dau", "mau", "mau"], "key": [None] * 4, "key_name": [None] * 4,
        "app_id": [None] * 4, "date": days + days, "value": [10.0, 30.0, 100.0, 100.0]})
    out = bf.rates(series, period="total", rates=["stickiness"])
    # Stickiness: mean DAU over mean MAU = 20 / 100.
    assert out.select("metric", "value").rows() == [("stickiness", 0.2)]
    assert series.braze.rates(period="total", rates=["stickiness"]).equals(out)
    with pytest.raises(ValueError, match="one key, app_id"):
        bf.rates(series, by=("campaign_id",))


# -- reconcile -------------------------------------------------------------------------------

RECONCILE_ROWS: list[tuple[Any, ...]] = [
    ("cv1", "Flow", D1, None, None, None, None, "all", "conversions", 2.0),
    ("cv1", "Flow", D1, None, None, None, None, "all", "conversions_by_entry_time", 5.0),
    ("cv1", "Flow", D2, None, None, None, None, "all", "conversions", 4.0),
    ("cv1", "Flow", D2, None, None, None, None, "all", "conversions_by_entry_time", 1.0),
    ("cv1", "Flow", D1, "v1", "Variant 1", None, None, "all", "conversions", 1.0),
    ("cv1", "Flow", D1, "v1", "Variant 1", None, None, "all", "conversions_by_entry_time", 3.0),
    ("cv1", "Flow", D2, None, None, "s1", "Email", "all", "conversions1", 7.0),
    ("cv1", "Flow", D2, None, None, "s1", "Email", "all", "conversions1_by_entry_time", 6.0),
]


def reconcile_frame() -> pl.DataFrame:
    return pl.DataFrame(RECONCILE_ROWS, schema=COLUMNS, orient="row")


def test_reconcile_pairs_conversions_with_entry_dates() -> None:
    out = bf.reconcile(reconcile_frame())
    assert out.columns == ["canvas_id", "canvas_name", "variant", "variant_name", "step", "step_name",
                           "channel", "event", "date", "by_conversion_date", "by_entry_date",
                           "difference", "cumulative_difference"]
    rows = [(r["variant"], r["step"], r["event"], r["date"], r["by_conversion_date"], r["by_entry_date"],
             r["cumulative_difference"]) for r in out.iter_rows(named=True)]
    assert rows == [
        (None, None, "conversions", D1, 2.0, 5.0, -3.0),
        (None, None, "conversions", D2, 4.0, 1.0, 0.0),
        (None, "s1", "conversions1", D2, 7.0, 6.0, 1.0),
        ("v1", None, "conversions", D1, 1.0, 3.0, -2.0),
    ]
    step = out.filter(pl.col("step") == "s1").row(0, named=True)
    assert (step["step_name"], step["variant_name"]) == ("Email", None)


def test_reconcile_summary_on_every_backend() -> None:
    expected = bf.reconcile(reconcile_frame(), summary=True, window_days=1, as_of=D3)
    totals = expected.filter(pl.col("variant").is_null(), pl.col("step").is_null()).row(0, named=True)
    # Both days present: 6 by conversion date, 6 by entry date; the first day's conversions
    # bound a positive gap, the last day's entries a negative one.
    assert (totals["by_conversion_date"], totals["by_entry_date"], totals["gap"]) == (6.0, 6.0, 0.0)
    assert totals["canvas_name"] == "Flow"
    assert "by_send_date" not in expected.columns
    pandas_out = pl.from_pandas(bf.reconcile(reconcile_frame().to_pandas(), summary=True, window_days=1,
                                             as_of=D3))
    lazy_out = bf.reconcile(reconcile_frame().lazy(), summary=True, window_days=1, as_of=D3)
    assert isinstance(lazy_out, pl.LazyFrame)
    frame = reconcile_frame()  # noqa: F841 (read by DuckDB by name)
    duckdb_out = bf.reconcile(duckdb.sql("SELECT * FROM frame"), summary=True, window_days=1, as_of=D3)
    assert isinstance(duckdb_out, duckdb.DuckDBPyRelation)
    for got in (pandas_out, lazy_out.collect(), duckdb_out.pl()):
        assert got.with_columns(pl.col("first_date", "last_date").cast(pl.Date)).rows() == expected.rows()
    assert reconcile_frame().braze.reconcile(summary=True, window_days=1, as_of=D3).equals(expected)


def test_reconcile_names_the_missing_canvas_column() -> None:
    with pytest.raises(bf.TidyFrameError, match="step_name"):
        bf.reconcile(reconcile_frame().drop("step_name"))


# -- experiment and its chart ------------------------------------------------------------------


def test_experiment_and_its_forest_plot_on_a_canvas_frame() -> None:
    pytest.importorskip("matplotlib")
    frame = polars_frame()
    readout = bf.experiment(frame, rate="conversion_rate")
    rows = {r["variant"]: r for r in readout.iter_rows(named=True)}
    # By hand: Variant 1 converts 9 of 60 entries, the control 1 of 40.
    assert (rows["v1"]["rate"], rows["v1"]["baseline_rate"]) == (9 / 60, 1 / 40)
    assert rows["v0"]["is_control"] and rows["v1"]["difference"] == pytest.approx(9 / 60 - 1 / 40)
    for figure in (bf.plot_experiment(readout), frame.braze.plot_experiment(rate="conversion_rate")):
        labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
        assert labels == ["Control (control)", "Variant 1"]
