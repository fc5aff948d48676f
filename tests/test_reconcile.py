"""reconcile: the daily detail, the running difference, the summary and the mean lag."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

import narwhals.stable.v2 as nw
import polars as pl
import pytest
from _support_frames import assert_same, one, records, tidy, tidy_rows
from hypothesis import example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

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
    # SPEC 6 (version 2): the names sit beside their ids.
    assert list(out.columns) == [
        "campaign_id", "campaign_name", "channel", "variation", "variation_name", "event", "date",
        "by_conversion_date", "by_send_date", "difference", "cumulative_difference",
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
    # SPEC 6 (version 2): names, the event's name and window, and days_missing_a_side.
    assert list(row) == [
        "campaign_id", "campaign_name", "channel", "variation", "variation_name", "event",
        "event_name", "window_days", "first_date", "last_date", "by_conversion_date",
        "by_send_date", "gap", "gap_share", "edge_bound", "within_bound", "days_missing_a_side",
        "mean_lag_days",
    ]
    assert (row["window_days"], row["event_name"], row["days_missing_a_side"]) == (3, None, 0)
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


def bursts(lag: int, n_days: int = 40, *, skip_quiet: bool = False) -> list[tuple[object, ...]]:
    """Bursty sends (a blast every 6 days, sizes varying), each converting ``lag`` days later."""
    sent = {i: float(20 + 7 * (i % 5)) for i in range(0, n_days - 10, 6)}
    rows = []
    for i in range(n_days):
        s, c = sent.get(i, 0.0), sent.get(i - lag, 0.0)
        if skip_quiet and s == c == 0.0:
            continue  # a day without any row: the fit reads zeros there
        rows.append(("c1", day(i), "all", None, None, "conversions_by_send_time", s))
        rows.append(("c1", day(i), "all", None, None, "conversions", c))
    return rows


@pytest.mark.parametrize("lag", [0, 1, 2, 5])
def test_mean_lag_recovers_the_true_lag(backend: str, lag: int) -> None:
    # SPEC 6 (version 2): a deconvolution fit over 0..window_days, no longer the area
    # between the curves (which needed the whole life); exact data give the exact lag.
    row = records(reconcile(tidy(bursts(lag), backend), summary=True, window_days=7))[0]
    assert row["gap"] == 0.0
    assert row["mean_lag_days"] == pytest.approx(lag, abs=1e-6)


def test_mean_lag_of_each_series_from_shuffled_rows(backend: str) -> None:
    # Each series' days are gathered by key (a hash group-by, not a sort): a lag must
    # come from its own series and each count from its own day, in whatever row order.
    lags = {("c1", "conversions"): 1, ("c2", "conversions"): 4, ("c2", "conversions1"): 2}
    rows = []
    for (campaign, event), lag in lags.items():
        for r in bursts(lag):
            metric = str(r[5]).replace("conversions", event, 1)
            rows.append((campaign, *r[1:5], metric, r[6]))
    random.Random(615).shuffle(rows)
    summary = records(reconcile(tidy(rows, backend), summary=True, window_days=7))
    assert {(r["campaign_id"], r["event"]): r["mean_lag_days"] for r in summary} == pytest.approx(lags)


def test_mean_lag_reads_days_without_rows_as_zeros() -> None:
    rows = bursts(3, skip_quiet=True)
    assert len(rows) < 2 * 40
    row = records(reconcile(tidy(rows), summary=True, window_days=5))[0]
    assert row["mean_lag_days"] == pytest.approx(3, abs=1e-6)


def test_summary_nulls() -> None:
    rows = [("c1", day(0), "all", None, None, "conversions2", 3.0)]
    row = records(reconcile(tidy(rows), summary=True))[0]
    # SPEC 6 (version 2): totals over the days with both sides, so neither side has one.
    assert row["by_conversion_date"] is None
    assert row["by_send_date"] is None
    assert row["gap"] is None
    assert row["within_bound"] is None
    assert row["days_missing_a_side"] == 1
    assert row["mean_lag_days"] is None
    zero = [("c1", day(0), "all", None, None, "conversions_by_send_time", 0.0),
            ("c1", day(0), "all", None, None, "conversions", 0.0)]
    row = records(reconcile(tidy(zero), summary=True))[0]
    assert (row["gap"], row["gap_share"], row["mean_lag_days"]) == (0.0, None, None)


def test_a_nan_gap_has_no_bound_to_read() -> None:
    # A NaN count makes the gap NaN: its sign is unknown, so which edge could explain it
    # is too. No bound, and no verdict (not False, which would read as a disagreement).
    rows = [("c1", day(0), "all", None, None, "conversions", math.nan),
            ("c1", day(0), "all", None, None, "conversions_by_send_time", 2.0),
            ("c1", day(1), "all", None, None, "conversions", 1.0),
            ("c1", day(1), "all", None, None, "conversions_by_send_time", 1.0)]
    # (pandas reads NaN as missing: there the day has one side.)
    frame = tidy(rows, "polars")
    for source in (frame, frame.lazy()):
        for window in (1, 5):  # the NaN day inside the head, and not
            out = reconcile(source, summary=True, window_days=window)
            row = (out.collect() if isinstance(out, pl.LazyFrame) else out).row(0, named=True)
            assert math.isnan(row["gap"])
            assert (row["edge_bound"], row["within_bound"]) == (None, None), (type(source), window)


def test_errors() -> None:
    with pytest.raises(ValueError, match="no conversion metrics"):
        reconcile(tidy([("c1", day(0), "email", "e", None, "sent", 1.0)]))
    for bad in (0, -1, 2.5, True, 61, {"sent": 3}, {"conversions_by_send_time": 3}, {"conversions": 0}):
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


_ANY_FLOAT = st.one_of(st.none(), st.floats(allow_infinity=False), st.sampled_from([0.1, 0.2, -0.0]))
#: Counts as Braze gives them, and the odd NaN: sums that do not depend on their order
#: beyond rounding.
_COUNTS = st.one_of(
    st.none(), st.just(math.nan), st.integers(0, 10_000).map(float), st.sampled_from([0.1, 0.2])
)


@st.composite
def conversion_frames(draw: st.DrawFn, values: st.SearchStrategy[float | None] = _ANY_FLOAT) -> pl.DataFrame:
    """Polars tidy frames with any floats (NaN, fractions, nulls) and repeated keys."""
    row = st.tuples(
        st.sampled_from(["c2", "c1", None]),
        st.sampled_from([DAY0, DAY0 + dt.timedelta(days=3), DAY0 - dt.timedelta(days=400)]),
        st.sampled_from(["email", "all"]),
        st.sampled_from(["v1", None, "a-variation"]),
        st.just(None),
        st.sampled_from(_CONVERSION_NAMES),
        values,
    )
    rows = draw(st.lists(row, min_size=1, max_size=40))
    return tidy(rows, "polars")


@st.composite
def conversion_series(draw: st.DrawFn) -> pl.DataFrame:
    """Dense series: two campaigns x two events x eight days, each side a count, a null
    or no row (no NaN: one spoils a whole series' sums, and conversion_frames brings them)."""
    side = st.one_of(st.integers(0, 10_000).map(float), st.sampled_from([0.1, 0.2]), st.none(),
                     st.just("no row"))
    rows = []
    for campaign in ("c1", "c2"):
        for event in ("conversions", "conversions1"):
            for i in range(8):
                for metric in (event, f"{event}_by_send_time"):
                    value = draw(side)
                    if value != "no row":
                        rows.append((campaign, DAY0 + dt.timedelta(days=i), "all", None, None, metric, value))
    if not rows:
        rows.append(("c1", DAY0, "all", None, None, "conversions", 1.0))
    return tidy(rows, "polars")


@given(df=st.one_of(conversion_series(), conversion_frames(_COUNTS)), window=st.integers(1, 5))
def test_summary_totals_are_the_plain_reading_of_the_detail(df: pl.DataFrame, window: int) -> None:
    # SPEC 6 read by hand from the detail's own rows, per series: totals over the days
    # with both sides, the others counted, and the edge sums of the first/last W days.
    if not df.get_column("metric").cast(pl.String).str.starts_with("conversions").any():
        return
    detail = reconcile(df).to_dicts()
    summary = reconcile(df, summary=True, window_days=window).to_dicts()
    keys = ("campaign_id", "channel", "variation", "event")
    by_series: dict[tuple[object, ...], list[dict[str, Any]]] = {}
    for row in detail:
        by_series.setdefault(tuple(row[k] for k in keys), []).append(row)
    assert len(summary) == len(by_series)
    for got in summary:
        days = by_series[tuple(got[k] for k in keys)]
        both = [d for d in days if d["by_conversion_date"] is not None and d["by_send_date"] is not None]
        first, last = min(d["date"] for d in days), max(d["date"] for d in days)
        expected_conversion = sum(d["by_conversion_date"] for d in both) if both else None
        expected_send = sum(d["by_send_date"] for d in both) if both else None
        head = sum(d["by_conversion_date"] for d in both if (d["date"] - first).days < window)
        tail = sum(d["by_send_date"] for d in both if (last - d["date"]).days < window)
        assert (got["first_date"], got["last_date"]) == (first, last)
        assert got["days_missing_a_side"] == len(days) - len(both) - sum(
            d["by_conversion_date"] is None and d["by_send_date"] is None for d in days
        )
        for name, value in (("by_conversion_date", expected_conversion), ("by_send_date", expected_send)):
            assert _same_float(got[name], value), (name, got[name], value)
        gap = got["gap"]
        if gap is not None and math.isnan(gap):  # a NaN count leaves no sign, so no bound to read
            assert (got["edge_bound"], got["within_bound"]) == (None, None)
        elif gap is not None:
            edge = head if gap >= 0 else tail
            assert _same_float(got["edge_bound"], edge), (got["edge_bound"], head, tail)
            assert got["within_bound"] == (abs(gap) <= edge)


def _same_float(got: object, expected: float | None) -> bool:
    if expected is None or got is None:
        return got is expected
    assert isinstance(got, float)
    if math.isnan(expected) or math.isnan(got):
        return math.isnan(expected) and math.isnan(got)
    return got == pytest.approx(expected, rel=1e-9, abs=1e-300)


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


# ------------------------------------------------------ issue 10 item 6: one side missing


def test_the_summary_gap_is_the_detail_s_final_running_total(backend: str) -> None:
    # By-send-date null on day 2: the detail ends at -2, and the summary must say so.
    rows = [
        ("c1", day(0), "all", None, None, "conversions", 3.0),
        ("c1", day(0), "all", None, None, "conversions_by_send_time", 5.0),
        ("c1", day(1), "all", None, None, "conversions", 2.0),
        ("c1", day(1), "all", None, None, "conversions_by_send_time", None),
        ("c1", day(2), "all", None, None, "conversions", 0.0),
        ("c1", day(2), "all", None, None, "conversions_by_send_time", 0.0),
    ]
    detail = records(reconcile(tidy(rows, backend)))
    assert detail[-1]["cumulative_difference"] == -2.0
    row = records(reconcile(tidy(rows, backend), summary=True, window_days=1))[0]
    assert (row["by_conversion_date"], row["by_send_date"], row["gap"]) == (3.0, 5.0, -2.0)
    assert row["days_missing_a_side"] == 1
    assert row["gap_share"] == pytest.approx(-0.4)
    # The last day's by-send conversions (0) cannot explain -2.
    assert (row["edge_bound"], row["within_bound"]) == (0.0, False)


# ------------------------------------------------------ names, windows, event names

DETAILS = {
    "name": "Cart Abandonment",
    "conversion_behaviors": [
        {"type": "Makes Any Purchase", "window": 3 * 86_400},
        {"type": "Performs Custom Event", "custom_event_name": "signup", "window": 7 * 86_400 - 60},
        {"type": "Makes Specific Purchase", "product": "gift card", "window": 86_400 + 1},
    ],
}


def events_frame(campaigns: tuple[str, ...] = ("c1",)) -> list[tuple[object, ...]]:
    rows = []
    for cid in campaigns:
        for i in range(30):
            for event, lag in (("conversions", 1), ("conversions1", 2), ("conversions2", 0)):
                sent = float(10 + 9 * (i % 7 == 0) * 10 + i % 3)
                rows.append((cid, f"Campaign {cid}", day(i), "all", None, None, f"{event}_by_send_time",
                             sent))
                back = float(10 + 9 * ((i - lag) % 7 == 0) * 10 + (i - lag) % 3) if i >= lag else 0.0
                rows.append((cid, f"Campaign {cid}", day(i), "all", None, None, event, back))
    return rows


def test_details_give_each_event_its_window_and_name(backend: str) -> None:
    out = reconcile(tidy(events_frame(), backend), summary=True, details=DETAILS)
    got = {r["event"]: (r["event_name"], r["window_days"]) for r in records(out)}
    assert got == {
        "conversions": ("Makes Any Purchase", 3),
        "conversions1": ("Performs Custom Event: signup", 7),  # seconds rounded up to days
        "conversions2": ("Makes Specific Purchase: gift card", 2),
    }
    assert {r["campaign_name"] for r in records(out)} == {"Campaign c1"}
    mapping = reconcile(tidy(events_frame(("c1", "c2"))), summary=True,
                        details={"c1": DETAILS}, window_days={"conversions1": 5})
    windows = {(r["campaign_id"], r["event"]): r["window_days"] for r in records(mapping)}
    assert windows[("c1", "conversions")] == 3
    assert windows[("c1", "conversions1")] == 5  # window_days overrides the details
    assert windows[("c2", "conversions")] == 30  # nothing said: Braze's maximum
    assert one(mapping, campaign_id="c2", event="conversions")["event_name"] is None


def test_edge_bound_uses_each_event_s_own_window() -> None:
    # A window cut after the first send: the positive gaps are bounded by each event's
    # first W days of conversions by conversion date, W being that event's window.
    rows = [r for r in events_frame() if str(r[2]) >= day(10)]
    out = reconcile(tidy(rows), summary=True, details=DETAILS)
    frame = tidy(rows).to_pandas()
    for r in records(out):
        conv = frame[(frame.metric == r["event"])].sort_values("date")["value"].to_numpy()
        w = r["window_days"]
        expected = conv[:w].sum() if r["gap"] >= 0 else None
        if expected is not None:
            assert r["edge_bound"] == pytest.approx(expected), r["event"]


def test_details_are_checked() -> None:
    with pytest.raises(ValueError, match="details describe one campaign"):
        reconcile(tidy(events_frame(("c1", "c2"))), summary=True, details=DETAILS)
    with pytest.raises(TypeError, match="details must be"):
        reconcile(tidy(events_frame()), summary=True, details=[DETAILS])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapping"):
        reconcile(tidy(events_frame()), summary=True, details={"c1": 3})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="as_of"):
        reconcile(tidy(events_frame()), summary=True, as_of="yesterday")


# ------------------------------------------------------ issue 10 item 1: the mean lag


def one_day_lag(n_days: int = 60, *, cut: int = 0, through: int = 60) -> list[tuple[object, ...]]:
    """The issue's reproducer: 100 sends a day for ``n_days`` days, each converting one day later."""
    rows = []
    for i in range(cut, through + 1):
        sent = 100.0 if i < n_days else 0.0
        rows.append(("c1", day(i), "all", None, None, "conversions_by_send_time", sent))
        rows.append(("c1", day(i), "all", None, None, "conversions", 100.0 if 1 <= i <= n_days else 0.0))
    return rows


def test_the_issue_reproducer_gives_one_day_on_the_cut_frame(backend: str) -> None:
    # Before: 1.0 over the whole life and -0.017 on the frame cut to start on day 1.
    for cut in (0, 1):
        exact = records(reconcile(tidy(one_day_lag(cut=cut), backend), summary=True, window_days=1))
        assert exact[0]["mean_lag_days"] == pytest.approx(1.0, abs=1e-9)
        # A frame that runs on past the last conversion pins the lag with a wider window too.
        longer = records(reconcile(tidy(one_day_lag(cut=cut, through=75), backend), summary=True,
                                   window_days=3))
        assert longer[0]["mean_lag_days"] == pytest.approx(1.0, abs=1e-9)


def test_steady_sends_give_no_lag_rather_than_a_wrong_one() -> None:
    # Cut on day 1 and ending with the sends: every lag 1..30 fits these steady days.
    row = records(reconcile(tidy(one_day_lag(cut=1)), summary=True))[0]
    assert row["window_days"] == 30
    assert row["mean_lag_days"] is None


def test_the_last_days_before_today_are_left_out() -> None:
    # Half the conversions come 1 day after the send, half 3 days after (mean 2). The data
    # run to yesterday, so the by-send-date counts of the last sends miss the conversions
    # still to come: the fit must leave the last window_days days out.
    sends = {i: float(40 + 13 * (i % 4)) for i in (*range(0, 45, 5), 43)}
    last = 44
    rows = []
    for i in range(last + 1):
        happened = sum(0.5 * s for j, s in sends.items() if i - j in (1, 3))
        counted = sends.get(i, 0.0) * sum(0.5 for lag in (1, 3) if i + lag <= last)
        rows.append(("c1", day(i), "all", None, None, "conversions", happened))
        rows.append(("c1", day(i), "all", None, None, "conversions_by_send_time", counted))
    today = DAY0 + dt.timedelta(days=last + 1)
    row = records(reconcile(tidy(rows), summary=True, window_days=3, as_of=today))[0]
    assert row["mean_lag_days"] == pytest.approx(2.0, abs=1e-6)
    # As if the series had ended long ago: the growing days enter, and the answer moves.
    stale = records(reconcile(tidy(rows), summary=True, window_days=3, as_of="2030-01-01"))[0]
    assert stale["mean_lag_days"] is None or abs(stale["mean_lag_days"] - 2.0) > 1e-3


# ------------------------------------------------------ engines agree


def test_lazy_detail_and_summary_equal_eager(backend: str) -> None:
    import duckdb

    frame = tidy(events_frame(("c1", "c2")))
    plain = frame.with_columns(pl.col(pl.Categorical).cast(pl.String))
    for summary in (False, True):
        expected = reconcile(tidy(events_frame(("c1", "c2")), backend), summary=summary,
                             details={"c1": DETAILS})
        lazy = reconcile(plain.lazy(), summary=summary, details={"c1": DETAILS})
        assert isinstance(lazy, pl.LazyFrame)
        assert_same(lazy, expected)
        con = duckdb.connect()
        try:
            relation = reconcile(con.from_arrow(plain.to_arrow()), summary=summary, details={"c1": DETAILS})
            assert isinstance(relation, duckdb.DuckDBPyRelation)
            assert_same(relation, expected)
        finally:
            con.close()


@settings(max_examples=15)
@given(rows=tidy_rows(null_values=True), summary=st.booleans(), window=st.integers(1, 5))
def test_pandas_polars_lazy_and_duckdb_agree(
    rows: list[tuple[object, ...]], summary: bool, window: int
) -> None:
    import duckdb

    try:
        expected = reconcile(tidy(rows), summary=summary, window_days=window, as_of="2024-07-20")
    except ValueError:
        return
    assert_same(reconcile(tidy(rows, "pandas"), summary=summary, window_days=window, as_of="2024-07-20"),
                expected)
    plain = tidy(rows).with_columns(pl.col(pl.Categorical).cast(pl.String))
    assert_same(reconcile(plain.lazy(), summary=summary, window_days=window, as_of="2024-07-20"), expected)
    con = duckdb.connect()
    try:
        got = reconcile(con.from_arrow(plain.to_arrow()), summary=summary, window_days=window,
                        as_of="2024-07-20")
        assert_same(got, expected)
    finally:
        con.close()


conversion_metrics = st.sampled_from(
    ["conversions", "conversions_by_send_time", "conversions1", "conversions1_by_send_time",
     # not conversion metrics, two of them with the prefix
     "conversions_x", "conversions_by_send_time_by_send_time", "sent"]
)
messy_value = st.one_of(st.none(), st.just(math.nan), st.integers(0, 40).map(float))


@settings(max_examples=40)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["c1", "c2"]),
            st.sampled_from(["Spring", "Spring (renamed)"]),
            st.integers(0, 12),
            st.sampled_from(["email", "ios_push"]),
            conversion_metrics,
            messy_value,
        ),
        max_size=80,
    ),
    window=st.integers(1, 6),
)
@example(
    rows=[("c1", "Spring", 0, "email", "conversions", math.nan),
          ("c1", "Spring", 0, "email", "conversions_by_send_time", 2.0),
          ("c1", "Spring", 1, "email", "conversions", 1.0),
          ("c1", "Spring (renamed)", 1, "email", "conversions", 4.0),
          ("c1", "Spring", 1, "email", "conversions_by_send_time", None),
          ("c1", "Spring", 3, "email", "conversions_by_send_time", 3.0),
          ("c1", "Spring", 2, "email", "conversions_x", 5.0),
          ("c1", "Spring", 3, "email", "conversions_by_send_time_by_send_time", 7.0)],
    window=2,
)
def test_duckdb_summary_adds_up_days_as_polars_does(
    rows: list[tuple[str, str, int, str, str, float | None]], window: int
) -> None:
    # DuckDB gathers each series' rows and numpy adds up their days (reconcile._daily_sums);
    # polars adds up the days first. Repeated rows on a day (a campaign renamed mid-day),
    # NaN and null values and one-sided days must come out the same, NaN kept apart from null.
    import duckdb

    frame = pl.DataFrame(
        [(cid, name, DAY0 + dt.timedelta(days=i), channel, "v1", "A", metric, value)
         for cid, name, i, channel, metric, value in rows],
        schema={"campaign_id": pl.String, "campaign_name": pl.String, "date": pl.Date, "channel": pl.String,
                "variation": pl.String, "variation_name": pl.String, "metric": pl.String,
                "value": pl.Float64},
        orient="row",
    )
    expected = reconcile(frame.lazy(), summary=True, window_days=window, as_of="2024-09-01").collect()
    con = duckdb.connect()
    try:
        got = reconcile(con.from_arrow(frame.to_arrow()), summary=True, window_days=window,
                        as_of="2024-09-01").pl()
    finally:
        con.close()
    assert got.columns == expected.columns
    assert got.height == expected.height
    assert_frame_equal(got, expected, check_exact=False)
