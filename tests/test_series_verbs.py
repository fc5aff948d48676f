"""The verbs on series frames: workspace ratios (checked by hand), pivot, validate, Parquet.

The ratios' expected values are written out by hand below from the small frame's numbers;
against the sandbox they are checked with plain sums of its simulated truth.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import duckdb
import narwhals.stable.v2 as nw
import polars as pl
import pytest

import braze_frames as bf
from braze_frames.sandbox import Sandbox
from braze_frames.series import fetch_series
from braze_frames.verbs.series import SERIES_KEY_SEPARATOR, is_series, pivot_series
from braze_frames.verbs.series_rates import SERIES_RATES, SeriesRate, series_rates

JUNE = [dt.date(2025, 6, d) for d in range(1, 11)]  # Sunday 1 June .. Tuesday 10 June
A1 = "app-a1"


def hand_frame() -> pl.DataFrame:
    """dau 10*d on June d; mau 1000 except June 3 and 5; sessions 3*dau on June 1..8;
    revenue 2.5 a day (and a product's, which the ratios ignore); app a1 a little."""
    rows: list[tuple[str, str | None, str | None, str | None, dt.date, float | None]] = []
    for i, day in enumerate(JUNE, start=1):
        rows.append(("dau", None, None, None, day, 10.0 * i))
        if day.day not in (3, 5):
            rows.append(("mau", None, None, None, day, 1000.0))
        if day.day <= 8:
            rows.append(("sessions", None, None, None, day, 30.0 * i))
        rows.append(("revenue", None, None, None, day, 2.5))
        rows.append(("revenue", "p1", "p1", None, day, 1000.0))
        rows.append(("events", "signup", "signup", None, day, 7.0))
    rows += [("dau", None, None, A1, JUNE[0], 5.0), ("dau", None, None, A1, JUNE[1], 5.0),
             ("mau", None, None, A1, JUNE[0], 50.0)]
    cat = pl.Categorical()
    return pl.DataFrame(rows, orient="row", schema={
        "metric": cat, "key": cat, "key_name": cat, "app_id": cat, "date": pl.Date(),
        "value": pl.Float64()})


def as_native(frame: pl.DataFrame, backend: str) -> Any:
    if backend == "pandas":
        return frame.to_pandas()
    if backend == "polars-lazy":
        return frame.lazy()
    if backend == "duckdb":
        plain = frame.with_columns(pl.col("metric", "key", "key_name", "app_id").cast(pl.String))
        return duckdb.from_arrow(plain.to_arrow())
    return frame


def rows_of(result: Any) -> list[dict[str, Any]]:
    frame = nw.from_native(result)
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    out = []
    for row in frame.rows(named=True):
        clean = {}
        for k, v in row.items():
            if isinstance(v, float) and math.isnan(v):
                v = None
            if hasattr(v, "to_pydatetime"):  # pandas Timestamp
                v = v.to_pydatetime().date()
            clean[k] = v
        out.append(clean)
    return out


BACKENDS = ["polars", "pandas", "polars-lazy", "duckdb"]

# By hand: stickiness counts June 1, 2, 4, 6, 7, 8, 9, 10 (mau missing on 3 and 5):
# dau 10+20+40+60+70+80+90+100 = 470 over 8 x 1000; sessions_per_dau June 1..8: 3 * 360 / 360;
# revenue_per_dau every day: 25 / 550. App a1: stickiness June 1 only, 5 / 50; no sessions
# nor revenue, so those ratios are null with 0 days.
TOTAL = [
    {"app_id": None, "metric": "revenue_per_dau", "value": 25 / 550, "numerator": 25.0,
     "denominator": 550.0, "days": 10, "complete": True},
    {"app_id": None, "metric": "sessions_per_dau", "value": 3.0, "numerator": 1080.0,
     "denominator": 360.0, "days": 8, "complete": True},
    {"app_id": None, "metric": "stickiness", "value": 470 / 8000, "numerator": 58.75,
     "denominator": 1000.0, "days": 8, "complete": True},
    {"app_id": A1, "metric": "revenue_per_dau", "value": None, "numerator": None,
     "denominator": None, "days": 0, "complete": True},
    {"app_id": A1, "metric": "sessions_per_dau", "value": None, "numerator": None,
     "denominator": None, "days": 0, "complete": True},
    {"app_id": A1, "metric": "stickiness", "value": 0.1, "numerator": 5.0, "denominator": 50.0,
     "days": 1, "complete": True},
]


def same(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert set(g) == set(e)
        for k, v in e.items():
            assert g[k] == (pytest.approx(v) if isinstance(v, float) else v), (k, g, e)


@pytest.mark.parametrize("backend", BACKENDS)
def test_total_ratios_by_hand(backend: str) -> None:
    result = series_rates(as_native(hand_frame(), backend), period="total")
    same(rows_of(result), TOTAL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weekly_stickiness_and_completeness_by_hand(backend: str) -> None:
    result = series_rates(as_native(hand_frame(), backend), period="week",
                          rates=["stickiness", "revenue_per_dau"])
    got = [r for r in rows_of(result) if r["app_id"] is None]
    may26, jun2, jun9 = dt.date(2025, 5, 26), dt.date(2025, 6, 2), dt.date(2025, 6, 9)
    expected = [  # weeks from Monday; only June 2..8 lies inside June 1..10
        {"date": may26, "metric": "revenue_per_dau", "value": 0.25, "days": 1, "complete": False},
        {"date": may26, "metric": "stickiness", "value": 0.01, "days": 1, "complete": False},
        {"date": jun2, "metric": "revenue_per_dau", "value": 17.5 / 350, "days": 7, "complete": True},
        {"date": jun2, "metric": "stickiness", "value": 270 / 5000, "days": 5, "complete": True},
        {"date": jun9, "metric": "revenue_per_dau", "value": 5 / 190, "days": 2, "complete": False},
        {"date": jun9, "metric": "stickiness", "value": 190 / 2000, "days": 2, "complete": False},
    ]
    same([{k: r[k] for k in expected[0]} for r in got], expected)
    assert next(r for r in got if r["date"] == jun2 and r["metric"] == "stickiness")["numerator"] == 54.0


@pytest.mark.parametrize("backend", ["polars", "pandas"])
def test_days_months_and_ranges(backend: str) -> None:
    frame = as_native(hand_frame(), backend)
    daily = [r for r in rows_of(series_rates(frame, rates=["stickiness"])) if r["app_id"] is None]
    assert [r["date"] for r in daily] == JUNE
    june3 = daily[2]
    assert (june3["value"], june3["days"], june3["numerator"]) == (None, 0, None)  # mau missing
    assert daily[0]["value"] == pytest.approx(0.01)
    assert all(r["complete"] for r in daily)
    month = rows_of(series_rates(frame, period="month", rates=["stickiness"]))
    assert [(r["app_id"], r["date"], r["complete"]) for r in month] == [
        (None, dt.date(2025, 6, 1), False), (A1, dt.date(2025, 6, 1), False)]
    whole = rows_of(series_rates(frame, period="month", rates=["stickiness"], start="2025-06-01",
                                 end=dt.date(2025, 6, 30)))
    assert [r["complete"] for r in whole] == [True, True]
    assert whole[0]["value"] == pytest.approx(470 / 8000)


def test_ratio_definitions_are_data() -> None:
    assert [(r.name, r.numerator, r.denominator) for r in SERIES_RATES] == [
        ("stickiness", "dau", "mau"), ("sessions_per_dau", "sessions", "dau"),
        ("revenue_per_dau", "revenue", "dau")]
    custom = SeriesRate("revenue_per_session", "revenue", "sessions")
    out = series_rates(hand_frame(), period="total", rates=[custom])
    assert out.rows() == [(None, "revenue_per_session", 20 / 1080, 20.0, 1080.0, 8, True)]
    with pytest.raises(ValueError, match="unknown workspace ratio"):
        series_rates(hand_frame(), rates=["nope"])
    with pytest.raises(ValueError, match="period"):
        series_rates(hand_frame(), period="year")  # type: ignore[arg-type]


def test_a_frame_without_the_terms_gives_no_rows_and_hours_are_refused() -> None:
    events = hand_frame().filter(pl.col("metric") == "events")
    out = series_rates(events, period="total")
    assert out.is_empty()
    assert out.columns == ["app_id", "metric", "value", "numerator", "denominator", "days", "complete"]
    hourly = events.with_columns(pl.col("date").cast(pl.Datetime("us", "UTC")))
    with pytest.raises(ValueError, match="daily"):
        series_rates(hourly)


def test_stickiness_against_the_sandbox_truth() -> None:
    today = dt.date(2025, 6, 30)
    with Sandbox(seed=0, today=today) as sb, bf.BrazeClient(sb.api_key, sb.url) as client:
        df = fetch_series(["dau", "mau", "sessions", "revenue"], start="2025-05-01",
                          end="2025-05-31", client=client)
    ws = sb.workspace
    may = [dt.date(2025, 5, d) for d in range(1, 32)]
    dau, mau = ws.daily("dau"), ws.daily("mau")
    sessions, revenue = ws.daily("sessions"), ws.daily("revenue")
    got = {r["metric"]: r for r in rows_of(series_rates(df, period="month"))}
    assert got["stickiness"]["value"] == pytest.approx(sum(dau[d] for d in may) / sum(mau[d] for d in may))
    assert got["stickiness"]["numerator"] == pytest.approx(sum(dau[d] for d in may) / 31)
    assert got["sessions_per_dau"]["value"] == pytest.approx(
        sum(sessions[d] for d in may) / sum(dau[d] for d in may))
    assert got["revenue_per_dau"]["value"] == pytest.approx(
        sum(revenue[d] for d in may) / 100 / sum(dau[d] for d in may))
    assert all(r["complete"] and r["days"] == 31 for r in got.values())


# ---- pivot and validate ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_pivot_one_column_per_series(backend: str) -> None:
    wide = rows_of(bf.pivot(as_native(hand_frame(), backend)))
    assert list(wide[0]) == ["app_id", "date", "dau", "mau", "sessions", "events:signup", "revenue",
                             "revenue:p1"]
    assert [(r["app_id"], r["date"]) for r in wide] == [(None, d) for d in JUNE] + [
        (A1, JUNE[0]), (A1, JUNE[1])]
    june3 = wide[2]
    assert (june3["dau"], june3["mau"], june3["sessions"], june3["revenue"], june3["revenue:p1"],
            june3["events:signup"]) == (30.0, None, 90.0, 2.5, 1000.0, 7.0)
    assert wide[-1] == {"app_id": A1, "date": JUNE[1], "dau": 5.0, "mau": None, "sessions": None,
                        "events:signup": None, "revenue": None, "revenue:p1": None}


def test_pivot_names_split_back_on_the_first_separator() -> None:
    frame = hand_frame().head(1).with_columns(pl.lit("a:b").cast(pl.Categorical).alias("key"),
                                               pl.lit("events").cast(pl.Categorical).alias("metric"))
    (column,) = [c for c in pivot_series(frame).columns if c not in ("app_id", "date")]
    assert column == "events:a:b"
    assert column.split(SERIES_KEY_SEPARATOR, 1) == ["events", "a:b"]
    with pytest.raises(ValueError, match="no channels"):
        bf.pivot(frame, layout="channels")


@pytest.mark.parametrize("backend", ["polars", "pandas", "polars-lazy"])
def test_validate_knows_the_series_table(backend: str) -> None:
    frame = hand_frame()
    assert is_series(as_native(frame, backend))
    assert bf.validate(as_native(frame, backend)) is not None
    doubled = pl.concat([frame, frame.head(2)])
    with pytest.raises(bf.TidyFrameError, match="2 duplicated keys") as raised:
        bf.validate(as_native(doubled, backend))
    assert raised.value.n_failure_cases == 2
    with pytest.raises(bf.TidyFrameError, match="value has dtype"):
        bf.validate(as_native(frame.with_columns(pl.col("value").cast(pl.Int64)), backend))
    with pytest.raises(bf.TidyFrameError, match="columns out of order"):
        bf.validate(as_native(frame.select("key", "metric", "key_name", "app_id", "date", "value"),
                              backend))


# ---- Parquet ---------------------------------------------------------------------------------


@pytest.mark.parametrize("hourly", [False, True])
def test_parquet_gives_back_series_frames_with_their_dtypes(tmp_path: Path, hourly: bool) -> None:
    frame = hand_frame()
    if hourly:
        frame = frame.with_columns(pl.col("date").cast(pl.Datetime("us", "UTC"))
                                   + pl.duration(hours=pl.col("value").cast(pl.Int64) % 24))
    written = []
    for backend in ("polars", "pandas"):
        path = bf.write_parquet(as_native(frame, backend), tmp_path / f"{backend}.parquet")
        assert bf.parquet_metadata(path)["kind"] == "series"
        back = bf.read_parquet(path)
        assert back.schema == frame.schema
        assert back.equals(frame)
        written.append(pl.read_parquet(path))
    assert written[0].equals(written[1])  # the same rows and types whichever backend wrote them
    pdf = bf.read_parquet(tmp_path / "polars.parquet", backend="pandas")
    assert str(pdf["date"].dtype) == ("datetime64[us, UTC]" if hourly else "datetime64[ms]")


def test_unpivot_of_a_pivoted_series_frame_says_why_not() -> None:
    with pytest.raises(ValueError, match="series frame"):
        bf.unpivot(bf.pivot(hand_frame()))
