"""The rate rules of SPEC section 5 (version 2), one test per issue 10 item, by hand.

Every expected number is worked out in the test from the rows it builds; a hypothesis test
then holds the library to a plain-Python reading of the SPEC (``_support_rates``) on random
frames with control groups, missing terms and partial periods, and keeps pandas, polars
eager, polars lazy and DuckDB equal.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import duckdb
import polars as pl
import pytest
from _support_frames import assert_same, one, records, tidy, tidy_rows, to_polars
from _support_rates import reference_rates
from hypothesis import given, settings
from hypothesis import strategies as st

import braze_frames as bf
from braze_frames.verbs.rates import BY_KEYS, PERIODS, RATES, Rate, rates

D1, D2, D3 = "2024-07-01", "2024-07-02", "2024-07-03"


def rows_of(channel: str, variation: str | None, metrics: dict[str, float | None], day: str = D1,
            name: str | None = None, campaign: str = "c1") -> list[tuple[object, ...]]:
    return [(campaign, day, channel, variation, name, m, v) for m, v in metrics.items()]


# ----------------------------------------------------------- item 4: per-day presence


def test_a_day_without_a_term_adds_nothing_to_either_side(backend: str) -> None:
    # Issue 10 item 4: day 2 has no `delivered`, so its 20 opens stay out of open_rate.
    rows = [
        *rows_of("email", "e1", {"sent": 100.0, "delivered": 90.0, "opens": 30.0}, day=D1),
        *rows_of("email", "e1", {"sent": 100.0, "opens": 20.0}, day=D2),
    ]
    out = rates(tidy(rows, backend), "total")
    opened = one(out, metric="open_rate")
    assert (opened["numerator"], opened["denominator"], opened["days"]) == (30.0, 90.0, 1)
    assert opened["value"] == pytest.approx(30 / 90)
    delivered = one(out, metric="delivery_rate")
    assert (delivered["numerator"], delivered["denominator"], delivered["days"]) == (90.0, 100.0, 1)


def test_a_null_value_is_a_missing_term(backend: str) -> None:
    rows = [
        *rows_of("email", "e1", {"sent": 100.0, "delivered": 90.0, "opens": 30.0}, day=D1),
        *rows_of("email", "e1", {"sent": 100.0, "delivered": None, "opens": 20.0}, day=D2),
    ]
    opened = one(rates(tidy(rows, backend), "week"), metric="open_rate")
    assert (opened["numerator"], opened["denominator"], opened["days"]) == (30.0, 90.0, 1)


def test_compound_terms_need_every_part_on_the_same_day(backend: str) -> None:
    # (sent - bounces) / sent: day 2 reports no bounces, so only day 1 enters.
    rows = [
        *rows_of("ios_push", "p1", {"sent": 100.0, "bounces": 4.0, "direct_opens": 10.0}, day=D1),
        *rows_of("ios_push", "p1", {"sent": 50.0, "direct_opens": 8.0}, day=D2),
    ]
    out = rates(tidy(rows, backend), "total")
    delivered = one(out, metric="delivery_rate")
    assert (delivered["numerator"], delivered["denominator"], delivered["days"]) == (96.0, 100.0, 1)
    direct = one(out, metric="direct_open_rate")
    assert (direct["numerator"], direct["denominator"]) == (10.0, 96.0)


def test_a_group_without_a_complete_day_is_null_with_zero_days(backend: str) -> None:
    rows = rows_of("ios_push", "p1", {"sent": 10.0, "total_opens": 4.0})  # never any bounces
    total_open = one(rates(tidy(rows, backend), "total"), metric="total_open_rate")
    assert (total_open["numerator"], total_open["denominator"], total_open["value"]) == (None, None, None)
    assert total_open["days"] == 0


def test_pooled_days_count_distinct_days(backend: str) -> None:
    rows = [
        *rows_of("email", "e1", {"sent": 10.0, "delivered": 9.0}, day=D1),
        *rows_of("email", "e2", {"sent": 20.0, "delivered": 18.0}, day=D1),
        *rows_of("email", "e2", {"sent": 20.0, "delivered": 16.0}, day=D2),
    ]
    pooled = one(rates(tidy(rows, backend), "total", by=("channel",)), metric="delivery_rate")
    assert (pooled["numerator"], pooled["denominator"], pooled["days"]) == (43.0, 50.0, 2)


# ------------------------------------------------------ item 5: who is a control group

TREATED = {"sent": 200.0, "unique_recipients": 150.0, "conversions": 15.0, "enrolled": 0.0,
           "conversions_by_send_time": 12.0, "revenue": 300.0}
CONTROL = {"enrolled": 50.0, "conversions": 4.0, "conversions_by_send_time": 3.0, "revenue": 20.0}


def test_a_treated_entry_carrying_enrolled_zero_stays_treated(backend: str) -> None:
    # Issue 10 item 5: "enrolled": 0 beside `sent` is not a control group.
    rows = [*rows_of("ios_push", "v1", TREATED), *rows_of("ios_push", "cg", CONTROL, name="Control Group")]
    out = rates(tidy(rows, backend), "total")
    treated = one(out, variation="v1", metric="conversion_rate")
    assert (treated["numerator"], treated["denominator"]) == (15.0, 150.0)
    assert one(out, variation="v1", metric="cohort_conversion_rate")["denominator"] == 150.0
    control = one(out, variation="cg", metric="conversion_rate")
    assert (control["numerator"], control["denominator"], control["value"]) == (4.0, 50.0, 0.08)
    assert one(out, variation="cg", metric="cohort_conversion_rate")["value"] == pytest.approx(3 / 50)
    assert one(out, variation="cg", metric="revenue_per_recipient")["value"] == pytest.approx(20 / 50)


def test_in_app_entries_are_treated_by_their_impressions(backend: str) -> None:
    rows = [
        *rows_of("in_app_message", "v1", {"impressions": 80.0, "unique_recipients": 60.0,
                                          "conversions": 6.0, "enrolled": 0.0}),
        *rows_of("in_app_message", "cg", {"enrolled": 20.0, "conversions": 1.0}),
    ]
    out = rates(tidy(rows, backend), "total")
    assert one(out, variation="v1", metric="conversion_rate")["value"] == pytest.approx(6 / 60)
    assert one(out, variation="cg", metric="conversion_rate")["value"] == pytest.approx(1 / 20)


def test_control_is_decided_over_the_whole_frame(backend: str) -> None:
    # v1 reports `sent` on day 1 only; on day 2 it carries enrolled and conversions, and it
    # is still a treated variation there.
    rows = [
        *rows_of("webhook", "v1", {"sent": 10.0, "enrolled": 0.0}, day=D1),
        *rows_of("webhook", "v1", {"enrolled": 0.0, "unique_recipients": 40.0, "conversions": 2.0}, day=D2),
    ]
    conversion = one(rates(tidy(rows, backend), "total"), variation="v1", metric="conversion_rate")
    assert (conversion["numerator"], conversion["denominator"]) == (2.0, 40.0)


# -------------------------------------------- items 2 and 3: control never pooled

CART = [
    *rows_of("all", None, {"unique_recipients": 1000.0, "conversions": 40.0,
                           "conversions_by_send_time": 38.0}),
    *rows_of("ios_push", "v1", {"sent": 900.0, "unique_recipients": 900.0, "conversions": 36.0,
                                "conversions_by_send_time": 34.0}, name="Variant 1"),
    *rows_of("ios_push", "cg", {"enrolled": 100.0, "conversions": 3.0,
                                "conversions_by_send_time": 3.0}, name="Control Group"),
]


def test_keeping_variation_keeps_each_variation_s_conversion_rate(backend: str) -> None:
    # Issue 10 item 2: by=("campaign_id", "variation") gave one null-variation row.
    out = rates(tidy(CART, backend), "total", by=("campaign_id", "variation"), rates=["conversion_rate"])
    got = {r["variation"]: (r["variation_name"], r["numerator"], r["denominator"]) for r in records(out)}
    assert got == {
        None: (None, 40.0, 1000.0),  # Braze's day totals
        "v1": ("Variant 1", 36.0, 900.0),
        "cg": ("Control Group", 3.0, 100.0),  # per enrolled user
    }


def test_control_stays_out_of_a_channel_s_pooled_conversion_rate(backend: str) -> None:
    # Issue 10 item 3: ios_push's conversion_rate was (36 + 3) / (900 + 100).
    out = rates(tidy(CART, backend), "total", by=("campaign_id", "channel"))
    push = one(out, channel="ios_push", metric="conversion_rate")
    assert (push["numerator"], push["denominator"]) == (36.0, 900.0)
    cohort = one(out, channel="ios_push", metric="cohort_conversion_rate")
    assert (cohort["numerator"], cohort["denominator"]) == (34.0, 900.0)
    totals = one(out, channel="all", metric="conversion_rate")
    assert (totals["numerator"], totals["denominator"]) == (40.0, 1000.0)


def test_pooled_over_channels_conversions_come_from_the_day_totals(backend: str) -> None:
    for by in (("campaign_id",), ()):
        conversion = one(rates(tidy(CART, backend), "total", by=by), metric="conversion_rate")
        assert (conversion["numerator"], conversion["denominator"]) == (40.0, 1000.0)


# ------------------------------------------------------------- item 7: cohort rates

WEEKLY_NEWSLETTER = [
    # A send on Monday and on Wednesday; conversions come the next day.
    *rows_of("all", None, {"unique_recipients": 100.0, "conversions": 0.0,
                           "conversions_by_send_time": 8.0}, day=D1),
    *rows_of("all", None, {"unique_recipients": 0.0, "conversions": 8.0,
                           "conversions_by_send_time": 0.0}, day=D2),
    *rows_of("all", None, {"unique_recipients": 50.0, "conversions": 0.0,
                           "conversions_by_send_time": 3.0}, day=D3),
    *rows_of("all", None, {"unique_recipients": 0.0, "conversions": 3.0,
                           "conversions_by_send_time": 0.0}, day="2024-07-04"),
]


def test_cohort_conversion_rate_puts_both_terms_on_the_send_day(backend: str) -> None:
    daily = rates(tidy(WEEKLY_NEWSLETTER, backend), "day",
                  rates=["conversion_rate", "cohort_conversion_rate"])
    got = {(r["date"], r["metric"]): r["value"] for r in records(daily)}
    monday = dt.date(2024, 7, 1)
    # By conversion date the send day shows 0 and the next day has no recipients (null);
    # by send date each send day has its own rate.
    assert got[(monday, "conversion_rate")] == 0.0
    assert got[(monday + dt.timedelta(1), "conversion_rate")] is None
    assert got[(monday, "cohort_conversion_rate")] == pytest.approx(8 / 100)
    assert got[(monday + dt.timedelta(2), "cohort_conversion_rate")] == pytest.approx(3 / 50)
    weekly = rates(tidy(WEEKLY_NEWSLETTER, backend), "week")
    assert one(weekly, metric="cohort_conversion_rate")["value"] == pytest.approx(11 / 150)
    assert one(weekly, metric="conversion_rate")["value"] == pytest.approx(11 / 150)


def test_every_conversion_event_gets_both_rates() -> None:
    rows = rows_of("all", None, {"unique_recipients": 10.0, "conversions5": 3.0,
                                 "conversions5_by_send_time": 2.0})
    got = {r["metric"]: r["value"] for r in records(rates(tidy(rows), "total"))}
    assert got == {"conversion_rate5": pytest.approx(0.3), "cohort_conversion_rate5": pytest.approx(0.2)}
    only = rates(tidy(rows), "total", rates=["cohort_conversion_rate5"])
    assert records(only)[0]["value"] == pytest.approx(0.2)


# ----------------------------------------------------------- item 9: complete periods

SPAN = [
    row
    for i in range(14)  # Wednesday 2024-07-03 to Tuesday 2024-07-16
    for row in rows_of("webhook", "w1", {"sent": 10.0, "errors": 1.0},
                       day=(dt.date(2024, 7, 3) + dt.timedelta(i)).isoformat())
]


def test_complete_says_whether_a_period_lies_inside_the_range(backend: str) -> None:
    weekly = records(rates(tidy(SPAN, backend), "week"))
    assert [(r["date"], r["days"], r["complete"]) for r in weekly] == [
        (dt.date(2024, 7, 1), 5, False),  # starts before the frame's first date
        (dt.date(2024, 7, 8), 7, True),
        (dt.date(2024, 7, 15), 2, False),  # ends after its last date
    ]
    wider = records(rates(tidy(SPAN, backend), "week", start="2024-07-01", end=dt.date(2024, 7, 21)))
    assert [r["complete"] for r in wider] == [True, True, True]
    monthly = records(rates(tidy(SPAN, backend), "month", start="2024-07-01", end="2024-07-31"))
    assert [(r["days"], r["complete"]) for r in monthly] == [(14, True)]
    assert [r["complete"] for r in records(rates(tidy(SPAN, backend), "month"))] == [False]
    for period in ("day", "total"):
        assert all(r["complete"] for r in records(rates(tidy(SPAN, backend), period)))


def test_start_and_end_are_checked() -> None:
    with pytest.raises(ValueError, match="after end"):
        rates(tidy(SPAN), "week", start="2024-07-20", end="2024-07-01")
    with pytest.raises(ValueError, match="ISO date"):
        rates(tidy(SPAN), "week", start="July 1st")
    with pytest.raises(TypeError, match="date"):
        rates(tidy(SPAN), "week", end=20240701)  # type: ignore[arg-type]


# ------------------------------------------------------------------------- names


def test_names_sit_beside_their_ids(backend: str) -> None:
    rows = [
        ("c1", "Spring Sale", D1, "webhook", "w1", "Old name", "sent", 10.0),
        ("c1", "Spring Sale", D1, "webhook", "w1", "Old name", "errors", 1.0),
        ("c1", "Spring Sale", D2, "webhook", "w1", "New name", "sent", 10.0),
        ("c1", "Spring Sale", D2, "webhook", "w1", "New name", "errors", 3.0),
    ]
    out = rates(tidy(rows, backend), "week")
    assert list(out.columns)[:6] == ["campaign_id", "campaign_name", "date", "channel", "variation",
                                     "variation_name"]
    row = one(out, metric="error_rate")
    # A variation renamed within the period: its greatest name, whatever the backend.
    assert (row["campaign_name"], row["variation_name"]) == ("Spring Sale", "Old name")
    by_campaign = rates(tidy(rows, backend), "total", by=("campaign_id",))
    assert list(by_campaign.columns)[:3] == ["campaign_id", "campaign_name", "metric"]
    assert "campaign_name" not in rates(tidy(rows, backend), "total", by=("channel",)).columns


# ------------------------------------------------------------ item 8: RATES as docs


def test_each_rate_says_what_day_its_terms_count_on() -> None:
    by_name = {r.name: r for r in RATES}
    assert "two calendars" in by_name["conversion_rate"].attribution
    assert "cohort_conversion_rate" in by_name["conversion_rate"].attribution
    assert "send" in by_name["cohort_conversion_rate"].attribution
    assert all(r.attribution for r in RATES)


def test_departures_from_braze_s_glossary_are_written_down() -> None:
    email_delivery = next(r for r in RATES if r.name == "delivery_rate" and r.channels == {"email"})
    assert "(sent - bounces) / sent" in email_delivery.glossary
    assert "unique impressions" in next(r for r in RATES if r.name == "conversion_rate").glossary
    assert "not a Braze metric" in next(r for r in RATES if r.name == "revenue_per_recipient").glossary
    for name in ("delivery_rate", "click_rate", "failure_rate", "unique_click_rate"):
        assert all("pooled over channels" in r.glossary.lower() for r in RATES if r.name == name), name
    assert next(r for r in RATES if r.name == "open_rate").glossary == ""


def test_proportion_and_lower_is_better_flags() -> None:
    flags = {(r.name, min(r.channels or {"any"})): (r.proportion, r.lower_is_better) for r in RATES}
    for name in ("unique_click_rate", "unique_open_rate", "click_to_open_rate", "conversion_rate",
                 "conversion_rate3", "cohort_conversion_rate", "direct_open_rate"):
        assert any(p for (n, _), (p, _) in flags.items() if n == name), name
    for key in (("click_rate", "email"), ("open_rate", "email"), ("revenue_per_recipient", "any"),
                ("click_rate", "content_cards"), ("dismissal_rate", "content_cards")):
        assert flags[key][0] is False, key
    lower = {n for (n, _), (_, low) in flags.items() if low}
    assert lower == {"bounce_rate", "spam_rate", "unsubscribe_rate", "error_rate", "failure_rate",
                     "rejection_rate", "opt_out_rate", "dismissal_rate", "unique_dismissal_rate"}
    with pytest.raises(TypeError, match="proportion"):
        Rate.parse("x", None, "a", "b", proportion="yes")  # type: ignore[arg-type]


def test_printing_rates_shows_a_table() -> None:
    text = str(bf.RATES)
    assert repr(bf.RATES) == text
    lines = text.splitlines()
    assert lines[0].split() == ["rate", "channels", "numerator", "/", "denominator", "proportion", "better"]
    assert "Rate(" not in text
    assert all(r.name in text for r in RATES)
    assert any(line.startswith("[1] ") for line in lines)  # attribution and glossary notes
    html = bf.RATES._repr_html_()
    assert html.startswith("<table>")
    assert html.count("<tr>") == len(RATES) + 1
    assert isinstance(bf.RATES, tuple)
    custom = Rate.parse("machine_share", {"email"}, "machine_open", "opens")
    rows = rows_of("email", "e", {"opens": 10.0, "machine_open": 4.0, "delivered": 20.0})
    out = rates(tidy(rows), "total", rates=[*bf.RATES, custom])
    assert one(out, metric="machine_share")["value"] == pytest.approx(0.4)


# ---------------------------------------------------------------- item 9: the docs


def test_docstrings_say_dates_are_company_days() -> None:
    doc = " ".join((rates.__doc__ or "").split())
    assert "company's time zone" in doc
    assert "UTC" in doc
    assert "may include control users" in doc


# ----------------------------------------------------------------- differential

BYS = [BY_KEYS, ("campaign_id", "channel"), ("campaign_id", "variation"), ("channel",), ()]


def _plain(v: Any) -> Any:
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 9)
    return v


def _comparable(native: Any) -> list[tuple[Any, ...]]:
    rows = [tuple((k, _plain(v)) for k, v in sorted(r.items())) for r in to_polars(native).to_dicts()]
    return sorted(rows, key=str)


@st.composite
def ranges(draw: st.DrawFn) -> tuple[dt.date | None, dt.date | None]:
    start = draw(st.one_of(st.none(), st.dates(dt.date(2024, 6, 20), dt.date(2024, 7, 5))))
    end = draw(st.one_of(st.none(), st.dates(dt.date(2024, 7, 5), dt.date(2024, 7, 31))))
    return start, end


@given(rows=tidy_rows(null_values=True), period=st.sampled_from(PERIODS), by=st.sampled_from(BYS),
       span=ranges())
def test_the_library_matches_a_plain_reading_of_the_spec(
    rows: list[tuple[object, ...]], period: str, by: tuple[str, ...],
    span: tuple[dt.date | None, dt.date | None],
) -> None:
    start, end = span
    expected = reference_rates(rows, period, by, start=start, end=end)
    try:
        got = rates(tidy(rows), period, by, start=start, end=end)  # type: ignore[arg-type]
    except ValueError:
        # No rate at all: the reference finds none either.
        assert not expected
        return
    assert _comparable(got) == _comparable(pl.DataFrame(expected) if expected else got.head(0))


@settings(max_examples=15)
@given(rows=tidy_rows(null_values=True), period=st.sampled_from(PERIODS), by=st.sampled_from(BYS))
def test_pandas_polars_lazy_and_duckdb_agree(
    rows: list[tuple[object, ...]], period: str, by: tuple[str, ...]
) -> None:
    try:
        expected = rates(tidy(rows), period, by)  # type: ignore[arg-type]
    except ValueError:
        return
    assert_same(rates(tidy(rows, "pandas"), period, by), expected)  # type: ignore[arg-type]
    plain = tidy(rows).with_columns(pl.col(pl.Categorical).cast(pl.String))
    assert_same(rates(plain.lazy(), period, by), expected)  # type: ignore[arg-type]
    con = duckdb.connect()
    try:
        got = rates(con.from_arrow(plain.to_arrow()), period, by)  # type: ignore[arg-type]
        assert_same(got, expected)
    finally:
        con.close()


# ----------------------------------------------- lazy frames: regular periods (issue 16)

#: (channel, variation, name, metrics): whole blocks, every metric on every day.
_BLOCKS = [
    ("email", "v1", "Variant 1", ("sent", "delivered", "opens", "unique_opens", "clicks", "bounces")),
    ("ios_push", "v1", "Variant 1", ("sent", "bounces", "direct_opens", "total_opens", "unique_recipients",
                                    "conversions", "conversions_by_send_time")),
    ("ios_push", "cg", "Control Group", ("enrolled", "unique_recipients", "conversions")),
    ("all", None, None, ("unique_recipients", "conversions", "conversions_by_send_time", "revenue")),
    ("webhook", "v2", None, ("sent", "errors")),
]


@st.composite
def mostly_regular_rows(draw: st.DrawFn) -> tuple[list[tuple[object, ...]], list[str]]:
    """Whole blocks over 5-45 days from late June, then a few irregular touches.

    A touch makes one value null, drops one row, or renames one day's variation; the
    rest of each (campaign, channel, variation, period) stays regular, so that lazy
    inputs take both the per-metric path and the per-day path in one plan.
    """
    rnd = draw(st.randoms(use_true_random=False))
    first = dt.date(2024, 6, draw(st.integers(20, 30)))
    days = [first + dt.timedelta(days=i) for i in range(draw(st.integers(5, 45)))]
    rows: list[tuple[object, ...]] = []
    for campaign in ("c1", "c2"):
        for channel, variation, name, metrics in rnd.sample(_BLOCKS, k=rnd.randint(1, len(_BLOCKS))):
            for day in days:
                rows += [(campaign, day, channel, variation, name, m, float(rnd.randint(0, 40)))
                         for m in metrics]
    touches = draw(st.lists(st.sampled_from(["null", "drop", "rename"]), max_size=3))
    for touch in touches:
        i = rnd.randrange(len(rows))
        campaign, day, channel, variation, name, metric, value = rows[i]
        if touch == "null":
            rows[i] = (campaign, day, channel, variation, name, metric, None)
        elif touch == "drop":
            del rows[i]
        elif variation is not None:
            rows[i] = (campaign, day, channel, variation, "Renamed", metric, value)
    return rows, touches


@settings(max_examples=25, deadline=None)
@given(drawn=mostly_regular_rows(), period=st.sampled_from(["week", "month", "total"]))
def test_lazy_regular_periods_match_the_plain_reading(
    drawn: tuple[list[tuple[object, ...]], list[str]], period: str
) -> None:
    """polars lazy and DuckDB, whose plans read whole periods per metric, against the SPEC."""
    rows, _ = drawn
    expected = _comparable(pl.DataFrame(reference_rates(rows, period, BY_KEYS), infer_schema_length=None))
    plain = tidy(rows).with_columns(pl.col(pl.Categorical).cast(pl.String))
    assert _comparable(rates(plain.lazy(), period).collect()) == expected
    con = duckdb.connect()
    try:
        assert _comparable(rates(con.from_arrow(plain.to_arrow()), period)) == expected
    finally:
        con.close()


@pytest.mark.parametrize("period", ["week", "month", "total"])
@pytest.mark.parametrize("repeated", ["one row", "a whole day"])
def test_lazy_plans_count_repeated_rows_as_the_per_day_path_does(period: str, repeated: str) -> None:
    """Rows given twice make a period irregular: summed twice, their day once, as eager does.

    A whole day repeated keeps every metric's day set alike (the sum of its bits is
    then 2 + 2 + ...): only the count of bits tells it from an eleventh day.
    """
    rows = [("c1", dt.date(2024, 7, 1) + dt.timedelta(days=i), "email", "v1", "A", m, float(10 + i))
            for i in range(10) for m in ("sent", "delivered", "opens")]
    rows += rows[3:6] if repeated == "a whole day" else rows[5:6]  # 2024-07-02 (opens: 11)
    plain = tidy(rows).with_columns(pl.col(pl.Categorical).cast(pl.String))
    expected = rates(plain, period)
    assert_same(rates(plain.lazy(), period), expected)
    con = duckdb.connect()
    try:
        assert_same(rates(con.from_arrow(plain.to_arrow()), period), expected)
    finally:
        con.close()
    opens = expected.filter(pl.col("metric") == "open_rate")
    assert opens.get_column("days").sum() == 10
    assert opens.get_column("numerator").sum() == sum(10 + i for i in range(10)) + 11
