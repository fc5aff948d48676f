"""reconcile: the daily detail, the running difference, the summary and the mean lag."""

from __future__ import annotations

import datetime as dt

import narwhals.stable.v2 as nw
import polars as pl
import pytest
from _support_frames import assert_same, one, records, tidy, tidy_rows
from hypothesis import given
from hypothesis import strategies as st

from braze_frames import TidyFrameError
from braze_frames.verbs.reconcile import day_number, reconcile

DAY0 = dt.date(2024, 7, 1)


def day(i: int) -> str:
    return (DAY0 + dt.timedelta(days=i)).isoformat()


def lagged(n_days: int, lag: int, per_day: float = 5.0, *, channel: str = "all",
           variation: str | None = None, event: str = "conversions") -> list[tuple[object, ...]]:
    """Sends on days 0..n_days-1, each converting exactly ``lag`` days later; zeros reported."""
    rows = []
    for i in range(n_days + lag):
        sent = per_day if i < n_days else 0.0
        converted = per_day if lag <= i < n_days + lag else 0.0
        rows.append(("c1", day(i), channel, variation, None, f"{event}_by_send_time", sent))
        rows.append(("c1", day(i), channel, variation, None, event, converted))
    return rows


def test_detail_columns_and_running_difference(backend: str) -> None:
    out = reconcile(tidy(lagged(3, 1), backend))
    assert list(out.columns) == [
        "campaign_id", "channel", "variation", "event", "date", "by_conversion_date",
        "by_send_date", "difference", "cumulative_difference",
    ]
    got = [(r["date"], r["by_conversion_date"], r["by_send_date"], r["difference"],
            r["cumulative_difference"]) for r in records(out)]
    assert got == [
        (DAY0, 0.0, 5.0, -5.0, -5.0),
        (DAY0 + dt.timedelta(1), 5.0, 5.0, 0.0, -5.0),
        (DAY0 + dt.timedelta(2), 5.0, 5.0, 0.0, -5.0),
        (DAY0 + dt.timedelta(3), 5.0, 0.0, 5.0, 0.0),
    ]


def test_one_side_missing_is_null_and_adds_nothing(backend: str) -> None:
    rows = [
        ("c1", day(0), "all", None, None, "conversions", 2.0),
        ("c1", day(0), "all", None, None, "conversions_by_send_time", 3.0),
        ("c1", day(1), "all", None, None, "conversions", 4.0),  # no by-send value
        ("c1", day(2), "all", None, None, "conversions_by_send_time", 1.0),  # no by-conversion
        ("c1", day(3), "all", None, None, "conversions", 1.0),
        ("c1", day(3), "all", None, None, "conversions_by_send_time", 0.0),
    ]
    out = records(reconcile(tidy(rows, backend)))
    assert [r["difference"] for r in out] == [-1.0, None, None, 1.0]
    assert [r["cumulative_difference"] for r in out] == [-1.0, -1.0, -1.0, 0.0]
    assert out[1]["by_send_date"] is None
    assert out[2]["by_conversion_date"] is None


def test_every_event_and_variation_rows(backend: str) -> None:
    rows = [
        *lagged(2, 0),
        *lagged(2, 1, event="conversions1"),
        *lagged(2, 0, event="conversions4", channel="ios_push", variation="v1"),
        ("c1", day(0), "ios_push", "v1", None, "sent", 100.0),  # not a conversion: ignored
        ("c1", day(0), "all", None, None, "conversions9", 1.0),  # one side only
    ]
    out = reconcile(tidy(rows, backend))
    groups = sorted({(r["channel"], r["variation"], r["event"]) for r in records(out)}, key=str)
    assert groups == [
        ("all", None, "conversions"),
        ("all", None, "conversions1"),
        ("all", None, "conversions9"),
        ("ios_push", "v1", "conversions4"),
    ]
    nine = one(out, event="conversions9")
    assert (nine["by_conversion_date"], nine["by_send_date"], nine["difference"]) == (1.0, None, None)


def test_summary_fields(backend: str) -> None:
    # 10 days of sends, 5 a day, each converting 2 days later; the data stop on day 9,
    # so the last 10 conversions (from the sends of days 8 and 9) are not in the window.
    rows = [r for r in lagged(10, 2) if r[1] <= day(9)]
    s = records(reconcile(tidy(rows, backend), summary=True, window_days=3))
    assert len(s) == 1
    row = s[0]
    assert list(row) == [
        "campaign_id", "channel", "variation", "event", "first_date", "last_date",
        "by_conversion_date", "by_send_date", "gap", "gap_share", "edge_bound",
        "within_bound", "mean_lag_days",
    ]
    assert (row["first_date"], row["last_date"]) == (DAY0, DAY0 + dt.timedelta(9))
    assert (row["by_conversion_date"], row["by_send_date"]) == (40.0, 50.0)
    assert row["gap"] == -10.0
    assert row["gap_share"] == pytest.approx(-0.2)
    # Negative gap: bounded by by-send conversions of the last 3 days (days 7, 8, 9).
    assert row["edge_bound"] == 15.0
    assert row["within_bound"] is True
    tight = records(reconcile(tidy(rows, backend), summary=True, window_days=1))[0]
    assert tight["edge_bound"] == 5.0
    assert tight["within_bound"] is False


def test_positive_gap_is_bounded_by_the_first_days() -> None:
    # The window starts after sends began: days 0-1 convert sends from before the window.
    rows = [r for r in lagged(10, 2) if r[1] >= day(2)]
    row = records(reconcile(tidy(rows), summary=True, window_days=2))[0]
    assert row["gap"] == 10.0
    assert row["edge_bound"] == 10.0  # by-conversion conversions of days 2 and 3
    assert row["within_bound"] is True


@pytest.mark.parametrize("lag", [0, 1, 2, 5])
def test_mean_lag_recovers_the_true_lag(backend: str, lag: int) -> None:
    row = records(reconcile(tidy(lagged(8, lag), backend), summary=True))[0]
    assert row["gap"] == 0.0
    assert row["mean_lag_days"] == pytest.approx(lag)


def test_mean_lag_counts_days_without_rows() -> None:
    # Sends on day 0, conversions on day 4, nothing reported in between.
    rows = [
        ("c1", day(0), "all", None, None, "conversions_by_send_time", 6.0),
        ("c1", day(0), "all", None, None, "conversions", 0.0),
        ("c1", day(4), "all", None, None, "conversions_by_send_time", 0.0),
        ("c1", day(4), "all", None, None, "conversions", 6.0),
    ]
    assert records(reconcile(tidy(rows), summary=True))[0]["mean_lag_days"] == pytest.approx(4)


def test_summary_nulls() -> None:
    rows = [("c1", day(0), "all", None, None, "conversions2", 3.0)]
    row = records(reconcile(tidy(rows), summary=True))[0]
    assert row["by_send_date"] is None
    assert row["gap"] is None
    assert row["within_bound"] is None
    assert row["mean_lag_days"] is None
    zero = [("c1", day(0), "all", None, None, "conversions_by_send_time", 0.0),
            ("c1", day(0), "all", None, None, "conversions", 0.0)]
    row = records(reconcile(tidy(zero), summary=True))[0]
    assert (row["gap"], row["gap_share"], row["mean_lag_days"]) == (0.0, None, None)


def test_errors() -> None:
    with pytest.raises(ValueError, match="no conversion metrics"):
        reconcile(tidy([("c1", day(0), "email", "e", None, "sent", 1.0)]))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="window_days"):
            reconcile(tidy(lagged(2, 0)), window_days=bad)  # type: ignore[arg-type]
    with pytest.raises(TidyFrameError, match="missing column: metric"):
        reconcile(tidy(lagged(2, 0)).drop("metric"))
    empty = reconcile(tidy([]), summary=True)
    assert len(empty) == 0


def test_day_number_is_days_since_epoch() -> None:
    dates = [dt.date(1970, 1, 1), dt.date(2000, 2, 29), dt.date(2024, 3, 1), dt.date(2100, 12, 31)]
    frame = nw.from_native(pl.DataFrame({"date": dates}))
    got = frame.select(day_number(nw.col("date")).alias("n"))["n"].to_list()
    assert got == [(d - dt.date(1970, 1, 1)).days for d in dates]


@given(rows=tidy_rows(null_values=True), summary=st.booleans(), window=st.integers(1, 5))
def test_pandas_equals_polars(rows: list[tuple[object, ...]], summary: bool, window: int) -> None:
    try:
        expected = reconcile(tidy(rows, "polars"), summary=summary, window_days=window)
    except ValueError:
        with pytest.raises(ValueError, match="no conversion metrics"):
            reconcile(tidy(rows, "pandas"), summary=summary, window_days=window)
        return
    got = reconcile(tidy(rows, "pandas"), summary=summary, window_days=window)
    assert_same(got, expected)


_CONVERSION_NAMES = ["conversions", "conversions_by_send_time", "conversions2",
                     "conversions2_by_send_time", "conversions10_by_send_time", "sent"]


@st.composite
def conversion_frames(draw: st.DrawFn) -> pl.DataFrame:
    """Polars tidy frames with any floats (NaN, fractions, nulls) and repeated keys."""
    row = st.tuples(
        st.sampled_from(["c2", "c1", None]),
        st.sampled_from([DAY0, DAY0 + dt.timedelta(days=3), DAY0 - dt.timedelta(days=400)]),
        st.sampled_from(["email", "all"]),
        st.sampled_from(["v1", None, "a-variation"]),
        st.just(None),
        st.sampled_from(_CONVERSION_NAMES),
        st.one_of(st.none(), st.floats(allow_infinity=False), st.sampled_from([0.1, 0.2, -0.0])),
    )
    rows = draw(st.lists(row, min_size=1, max_size=40))
    return tidy(rows, "polars")


@given(df=conversion_frames())
def test_eager_polars_fast_path_equals_the_generic_path(df: pl.DataFrame) -> None:
    # The eager polars detail takes a numpy path; lazy frames take the narwhals one.
    from polars.testing import assert_frame_equal

    if not df.get_column("metric").cast(pl.String).str.starts_with("conversions").any():
        return
    assert_frame_equal(reconcile(df), reconcile(df.lazy()).collect(), check_exact=True)


def test_fast_path_sums_repeated_keys_like_the_generic_path() -> None:
    rows = [("c1", day(0), "all", None, None, "conversions", 1.0)] * 2
    rows.append(("c1", day(0), "all", None, None, "conversions_by_send_time", 0.5))
    got = reconcile(tidy(rows, "polars"))
    assert got.select("by_conversion_date", "difference").rows() == [(2.0, 1.5)]
