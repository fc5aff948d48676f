"""Rates: the definitions as data, hand-computed formulas per channel family, periods,
grouping, control groups, custom definitions, errors, and pandas == polars."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import polars as pl
import pytest
from _support_frames import assert_same, one, records, tidy, tidy_rows, to_polars
from hypothesis import given
from hypothesis import strategies as st

import braze_frames as bf
from braze_frames import TidyFrameError
from braze_frames._schema import IN_APP_CHANNELS, PUSH_CHANNELS
from braze_frames.verbs.rates import BY_KEYS, PERIODS, RATES, Rate, parse_terms, rates

D = "2024-07-01"


def rows_of(channel: str, variation: str | None, metrics: dict[str, float], day: str = D,
            name: str | None = None, campaign: str = "c1") -> list[tuple[object, ...]]:
    return [(campaign, day, channel, variation, name, m, v) for m, v in metrics.items()]


EMAIL = {"sent": 100.0, "delivered": 90.0, "bounces": 10.0, "opens": 45.0, "unique_opens": 30.0,
         "clicks": 12.0, "unique_clicks": 9.0, "unsubscribes": 2.0, "reported_spam": 1.0}
PUSH = {"sent": 100.0, "bounces": 4.0, "direct_opens": 10.0, "total_opens": 25.0}
SMS = {"sent": 200.0, "delivered": 180.0, "delivery_failed": 15.0, "rejected": 5.0,
       "clicks": 18.0, "opt_out": 3.0}
WHATS_APP = {"sent": 50.0, "delivered": 40.0, "read": 20.0, "failed": 10.0}
CARDS = {"total_clicks": 10.0, "total_impressions": 200.0, "unique_clicks": 8.0,
         "unique_impressions": 100.0, "total_dismissals": 20.0, "unique_dismissals": 15.0}
IN_APP = {"impressions": 100.0, "clicks": 10.0, "first_button_clicks": 6.0,
          "second_button_clicks": 3.0}
WEBHOOK = {"sent": 80.0, "errors": 8.0}
ALL = {"unique_recipients": 100.0, "conversions": 5.0, "conversions1": 2.0,
       "conversions4": 1.0, "revenue": 50.0, "conversions_by_send_time": 4.0}
CONTROL = {"enrolled": 40.0, "unique_recipients": 0.0, "conversions": 4.0, "revenue": 8.0}

FAMILIES = [
    *rows_of("email", "e1", EMAIL),
    *rows_of("ios_push", "p1", PUSH, name="Push"),
    *rows_of("ios_push", "cg", CONTROL, name="Control Group"),
    *rows_of("web_push", "w1", PUSH),
    *rows_of("sms", "s1", SMS),
    *rows_of("whats_app", "wa", WHATS_APP),
    *rows_of("content_cards", "cc", CARDS),
    *rows_of("trigger_in_app_message", "iam", IN_APP),
    *rows_of("webhook", "wh", WEBHOOK),
    *rows_of("all", None, ALL),
]

EXPECTED: dict[str, dict[str, tuple[float, float]]] = {
    "email": {
        "delivery_rate": (90, 100), "bounce_rate": (10, 100), "open_rate": (45, 90),
        "unique_open_rate": (30, 90), "click_rate": (12, 90), "unique_click_rate": (9, 90),
        "click_to_open_rate": (9, 30), "unsubscribe_rate": (2, 90), "spam_rate": (1, 100),
    },
    "ios_push": {
        "bounce_rate": (4, 100), "delivery_rate": (96, 100), "direct_open_rate": (10, 96),
        "total_open_rate": (25, 96), "influenced_open_rate": (15, 96),
    },
    "web_push": {
        "bounce_rate": (4, 100), "delivery_rate": (96, 100), "direct_open_rate": (10, 96),
        "total_open_rate": (25, 96),
    },
    "sms": {
        "delivery_rate": (180, 200), "failure_rate": (15, 200), "rejection_rate": (5, 200),
        "click_rate": (18, 180), "opt_out_rate": (3, 180),
    },
    "whats_app": {"delivery_rate": (40, 50), "read_rate": (20, 50), "failure_rate": (10, 50)},
    "content_cards": {
        "click_rate": (10, 200), "unique_click_rate": (8, 100), "dismissal_rate": (20, 200),
        "unique_dismissal_rate": (15, 100),
    },
    "trigger_in_app_message": {
        "click_rate": (10, 100), "first_button_click_rate": (6, 100),
        "second_button_click_rate": (3, 100),
    },
    "webhook": {"error_rate": (8, 80)},
    "all": {
        "conversion_rate": (5, 100), "conversion_rate1": (2, 100), "conversion_rate4": (1, 100),
        "revenue_per_recipient": (50, 100),
        # SPEC 5 (version 2) adds the send-date family: conversions_by_send_time / recipients.
        "cohort_conversion_rate": (4, 100),
    },
}


# ------------------------------------------------------------------------- definitions


def test_rates_table_matches_the_spec() -> None:
    names = {(r.name, r.formula) for r in RATES}
    assert ("click_to_open_rate", "unique_clicks / unique_opens") in names
    assert ("delivery_rate", "(sent - bounces) / sent") in names
    assert ("influenced_open_rate", "(total_opens - direct_opens) / (sent - bounces)") in names
    assert {r.name for r in RATES if r.name.startswith("conversion_rate")} == {
        "conversion_rate", "conversion_rate1", "conversion_rate2", "conversion_rate3"
    }
    by_name = {(r.name, frozenset(r.channels or ())): r for r in RATES}
    assert by_name[("direct_open_rate", PUSH_CHANNELS)].denominator == ((1, "sent"), (-1, "bounces"))
    assert by_name[("click_rate", IN_APP_CHANNELS)].numerator == ((1, "clicks"),)
    influenced = next(r for r in RATES if r.name == "influenced_open_rate")
    assert influenced.channels == {"ios_push", "android_push", "kindle_push", "apple_push"}
    assert all(r.description for r in RATES)


def test_rate_is_frozen_data_with_a_parser() -> None:
    r = Rate.parse("x", ["email"], "a - b + c", "d")
    assert r.numerator == ((1, "a"), (-1, "b"), (1, "c"))
    assert r.channels == frozenset({"email"})
    assert r.metrics == {"a", "b", "c", "d"}
    assert r.applies_to("email")
    assert not r.applies_to("sms")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.name = "y"  # type: ignore[misc]
    assert parse_terms("-a") == ((-1, "a"),)
    for bad in ("", "a * b", "a b", "2", "(a)"):
        with pytest.raises(ValueError, match=r"parse|at least one"):
            parse_terms(bad)
    with pytest.raises(TypeError, match="set of channel names"):
        Rate("x", "email", ((1, "a"),), ((1, "b"),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sign"):
        Rate("x", None, ((2, "a"),), ((1, "b"),))
    with pytest.raises(ValueError, match="non-empty name"):
        Rate("", None, ((1, "a"),), ((1, "b"),))


# ---------------------------------------------------------------------- hand computed


def test_every_channel_family_against_hand_computed_sums(backend: str) -> None:
    out = records(rates(tidy(FAMILIES, backend), "total"))
    found: dict[str, dict[str, tuple[float, float]]] = {}
    for r in out:
        if r["variation"] == "cg":
            continue
        found.setdefault(r["channel"], {})[r["metric"]] = (r["numerator"], r["denominator"])
        assert r["value"] == pytest.approx(r["numerator"] / r["denominator"])
        assert r["days"] == 1
    assert found == EXPECTED


def test_control_group_uses_enrolled(backend: str) -> None:
    out = rates(tidy(FAMILIES, backend), "total")
    conv = one(out, variation="cg", metric="conversion_rate")
    assert (conv["numerator"], conv["denominator"], conv["value"]) == (4.0, 40.0, 0.1)
    assert conv["variation_name"] == "Control Group"
    revenue = one(out, variation="cg", metric="revenue_per_recipient")
    assert revenue["value"] == pytest.approx(0.2)
    # The control group sends nothing: no push rates for it.
    assert {r["metric"] for r in records(out) if r["variation"] == "cg"} == {
        "conversion_rate", "revenue_per_recipient"
    }


def test_conversion_events_beyond_the_fourth() -> None:
    rows = rows_of("all", None, {"unique_recipients": 10.0, "conversions7": 3.0,
                                 "conversions7_by_send_time": 1.0})
    out = rates(tidy(rows), "total")
    # SPEC 5 (version 2): every event also gets its send-date twin, cohort_conversion_rate7.
    assert [(r["metric"], r["value"]) for r in records(out)] == [
        ("cohort_conversion_rate7", pytest.approx(0.1)), ("conversion_rate7", pytest.approx(0.3))
    ]
    only = rates(tidy(rows), "total", rates=["conversion_rate7"])
    assert len(only) == 1


def test_ratio_of_sums_not_mean_of_ratios(backend: str) -> None:
    rows = [*rows_of("webhook", "w", {"sent": 10.0, "errors": 5.0}, day="2024-07-01"),
            *rows_of("webhook", "w", {"sent": 90.0, "errors": 5.0}, day="2024-07-02")]
    total = one(rates(tidy(rows, backend), "total"), metric="error_rate")
    assert total["value"] == pytest.approx(0.1)  # not (0.5 + 0.0556) / 2
    assert total["days"] == 2


def test_zero_denominator_gives_null_never_inf(backend: str) -> None:
    rows = rows_of("email", "e", {"sent": 0.0, "delivered": 0.0, "opens": 0.0, "bounces": 0.0})
    out = records(rates(tidy(rows, backend), "total"))
    assert {r["metric"] for r in out} == {"delivery_rate", "open_rate", "bounce_rate"}
    for r in out:
        assert r["value"] is None
        assert r["denominator"] == 0.0


def test_missing_term_gives_null(backend: str) -> None:
    rows = rows_of("android_push", "p", {"sent": 10.0, "total_opens": 4.0})
    out = rates(tidy(rows, backend), "total")
    # SPEC 5 (version 2): a period sums only the days where every term is present, so a
    # term missing on every day leaves no day at all: null numerator and denominator, 0 days.
    delivery = one(out, metric="delivery_rate")  # (sent - bounces): no bounces reported
    assert (delivery["numerator"], delivery["denominator"], delivery["value"]) == (None, None, None)
    assert delivery["days"] == 0
    total_open = one(out, metric="total_open_rate")
    assert (total_open["numerator"], total_open["denominator"], total_open["value"]) == (None, None, None)


# ---------------------------------------------------------------------- periods and by

WEEKLY = [
    *rows_of("webhook", "w", {"sent": 10.0, "errors": 1.0}, day="2024-06-28"),  # Friday
    *rows_of("webhook", "w", {"sent": 10.0, "errors": 2.0}, day="2024-06-30"),  # Sunday
    *rows_of("webhook", "w", {"sent": 10.0, "errors": 3.0}, day="2024-07-01"),  # Monday
    *rows_of("webhook", "w", {"sent": 10.0}, day="2024-07-07"),                # Sunday
    *rows_of("webhook", "w", {"sent": 20.0, "errors": 4.0}, day="2024-07-08"),  # Monday
]


def test_weeks_start_on_monday_and_count_days(backend: str) -> None:
    out = records(rates(tidy(WEEKLY, backend), "week"))
    got = [(r["date"], r["numerator"], r["denominator"], r["days"]) for r in out]
    # SPEC 5 (version 2): Sunday 07-07 reports no errors, so its sends stay out of the
    # week's denominator (they entered it before) and it is not one of the week's days.
    assert got == [
        (dt.date(2024, 6, 24), 3.0, 20.0, 2),
        (dt.date(2024, 7, 1), 3.0, 10.0, 1),
        (dt.date(2024, 7, 8), 4.0, 20.0, 1),
    ]


def test_months_and_days(backend: str) -> None:
    out = records(rates(tidy(WEEKLY, backend), "month"))
    # SPEC 5 (version 2): days count the days that entered the rate (07-07 has no errors).
    assert [(r["date"], r["numerator"], r["denominator"], r["days"]) for r in out] == [
        (dt.date(2024, 6, 1), 3.0, 20.0, 2),
        (dt.date(2024, 7, 1), 7.0, 30.0, 2),
    ]
    daily = records(rates(tidy(WEEKLY, backend), "day"))
    assert [r["days"] for r in daily] == [1] * 4
    # 07-07 reports no errors at all: no error_rate that day (its sends count in the week).
    assert dt.date(2024, 7, 7) not in {r["date"] for r in daily}


def test_total_has_no_date_column(backend: str) -> None:
    out = rates(tidy(WEEKLY, backend), "total")
    # SPEC 5 (version 2): campaign_name beside campaign_id, and the boolean `complete`.
    assert list(out.columns) == [
        "campaign_id", "campaign_name", "channel", "variation", "variation_name", "metric", "value",
        "numerator", "denominator", "days", "complete",
    ]
    assert list(rates(tidy(WEEKLY, backend), "week").columns)[:3] == ["campaign_id", "campaign_name", "date"]


def test_pandas_date_column_stays_datetime() -> None:
    out = rates(tidy(WEEKLY, "pandas"), "week")
    assert isinstance(out, pd.DataFrame)
    assert pd.api.types.is_datetime64_dtype(out["date"])
    assert out.index.tolist() == list(range(len(out)))


def test_pandas_text_keys_keep_their_nulls() -> None:
    # Key columns as plain text (object, as read from CSV), not categoricals, with the
    # "all" rows' null variation: the null stays a null, never the text "None" or "nan"
    # (the floors job runs this on pandas 2, where "str" is numpy's text).
    rows = [("c1", "2024-07-01", "all", None, None, "conversions", 3.0),
            ("c1", "2024-07-01", "all", None, None, "unique_recipients", 30.0),
            ("c1", "2024-07-01", "email", "v1", "A", "sent", 10.0),
            ("c1", "2024-07-01", "email", "v1", "A", "delivered", 9.0)]
    frame = tidy(rows, "pandas")
    keys = ("campaign_id", "campaign_name", "channel", "variation", "variation_name", "metric")
    text = frame.astype(dict.fromkeys(keys, object))
    for source in (frame, text):
        out = rates(source, "total")
        assert isinstance(out, pd.DataFrame)
        rows_out = {(r["channel"], r["metric"]): r for r in records(out)}
        assert rows_out[("all", "conversion_rate")]["variation"] is None
        assert rows_out[("all", "conversion_rate")]["value"] == 0.1
        assert rows_out[("email", "delivery_rate")]["variation"] == "v1"
        assert not any(v in ("None", "nan") for v in out["variation"].tolist())


POOL = [
    *rows_of("email", "e1", {"sent": 100.0, "delivered": 90.0}, name="A"),
    *rows_of("email", "e2", {"sent": 50.0, "delivered": 50.0}, name="B"),
    *rows_of("sms", "s1", {"sent": 10.0, "delivered": 5.0}),
    *rows_of("email", "e1", {"sent": 1.0, "delivered": 1.0}, campaign="c2"),
]


def test_by_pools_numerators_and_denominators(backend: str) -> None:
    df = tidy(POOL, backend)
    per_channel = rates(df, "total", by=("campaign_id", "channel"))
    assert "variation_name" not in per_channel.columns
    email = one(per_channel, campaign_id="c1", channel="email", metric="delivery_rate")
    assert (email["numerator"], email["denominator"]) == (140.0, 150.0)
    per_campaign = rates(df, "total", by="campaign_id")
    pooled = one(per_campaign, campaign_id="c1", metric="delivery_rate")
    assert (pooled["numerator"], pooled["denominator"]) == (145.0, 160.0)
    assert list(per_campaign.columns)[:3] == ["campaign_id", "campaign_name", "metric"]
    everything = records(rates(df, "total", by=()))
    assert [(r["metric"], r["numerator"], r["denominator"]) for r in everything] == [
        ("delivery_rate", 146.0, 161.0)
    ]
    weekly = one(rates(df, "week", by=("channel",)), channel="email", metric="delivery_rate")
    assert (weekly["numerator"], weekly["days"]) == (141.0, 1)


def test_pooling_leaves_out_the_rows_missing_a_term() -> None:
    rows = [*rows_of("ios_push", "p1", {"sent": 10.0, "bounces": 1.0}),
            *rows_of("ios_push", "p2", {"sent": 10.0})]
    out = one(rates(tidy(rows), "total", by=("campaign_id",)), metric="delivery_rate")
    # SPEC 5 (version 2): p2 has no bounces, so it adds nothing to either side (the pooled
    # rate used to be null as soon as one row lacked a term).
    assert (out["numerator"], out["denominator"], out["days"]) == (9.0, 10.0, 1)


# ----------------------------------------------------------------------- custom / errors


def test_custom_rates_extend_the_table(backend: str) -> None:
    machine = Rate.parse("machine_open_share", {"email"}, "machine_open", "opens")
    rows = rows_of("email", "e", {"opens": 10.0, "machine_open": 4.0, "delivered": 20.0})
    out = rates(tidy(rows, backend), "total", rates=[*RATES, machine])
    assert one(out, metric="machine_open_share")["value"] == pytest.approx(0.4)
    assert one(out, metric="open_rate")["value"] == pytest.approx(0.5)
    only = records(rates(tidy(rows, backend), "total", rates=["open_rate", machine]))
    assert [r["metric"] for r in only] == ["machine_open_share", "open_rate"]
    assert len(rates(tidy(rows, backend), rates="open_rate")) == 1


def test_conflicting_definitions_are_refused() -> None:
    other = Rate.parse("open_rate", {"email"}, "unique_opens", "sent")
    with pytest.raises(ValueError, match="two different definitions of rate 'open_rate'"):
        rates(tidy(FAMILIES), rates=[*RATES, other])


def test_errors_name_the_problem() -> None:
    df = tidy(FAMILIES)
    with pytest.raises(ValueError, match="period must be one of"):
        rates(df, "year")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="by takes distinct names"):
        rates(df, by=("metric",))
    with pytest.raises(ValueError, match=r"unknown rate 'opne_rate'.*open_rate"):
        rates(df, rates=["opne_rate"])
    with pytest.raises(TypeError, match="rate names and Rate objects"):
        rates(df, rates=[3])  # type: ignore[list-item]
    push_only = tidy(rows_of("ios_push", "p", PUSH))
    with pytest.raises(ValueError, match=r"lacks the metrics of rate 'open_rate'.*opens / delivered"):
        rates(push_only, rates=["open_rate"])
    unknown = tidy(rows_of("brand_new", "x", {"zzz": 1.0}))
    with pytest.raises(ValueError, match="no rate can be computed"):
        rates(unknown)
    with pytest.raises(TidyFrameError, match="missing column: value"):
        rates(df.drop("value"))


def test_empty_frame_gives_an_empty_table(backend: str) -> None:
    out = rates(tidy([], backend), "week")
    assert len(out) == 0
    assert list(out.columns)[-6:] == ["metric", "value", "numerator", "denominator", "days", "complete"]


# ------------------------------------------------------------------------ differential


@given(
    rows=tidy_rows(null_values=True),
    period=st.sampled_from(PERIODS),
    by=st.sampled_from([BY_KEYS, ("campaign_id", "channel"), ("channel",), ()]),
)
def test_pandas_equals_polars(
    rows: list[tuple[object, ...]], period: str, by: tuple[str, ...]
) -> None:
    try:
        expected = rates(tidy(rows, "polars"), period, by)  # type: ignore[arg-type]
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc)[:30]):
            rates(tidy(rows, "pandas"), period, by)  # type: ignore[arg-type]
        return
    got = rates(tidy(rows, "pandas"), period, by)  # type: ignore[arg-type]
    assert isinstance(got, pd.DataFrame)
    assert isinstance(expected, pl.DataFrame)
    assert_same(got, expected)


def test_pooling_channels_does_not_count_day_totals_twice(backend: str) -> None:
    from braze_frames._tidy import from_records as records

    rows = [
        ("c1", "2024-07-01", "all", None, None, "conversions", 10.0),
        ("c1", "2024-07-01", "all", None, None, "unique_recipients", 100.0),
        ("c1", "2024-07-01", "email", "v1", "A", "conversions", 6.0),
        ("c1", "2024-07-01", "email", "v1", "A", "unique_recipients", 60.0),
        ("c1", "2024-07-01", "webhook", "w1", "B", "conversions", 4.0),
        ("c1", "2024-07-01", "webhook", "w1", "B", "unique_recipients", 40.0),
    ]
    import narwhals.stable.v2 as nw

    out = nw.from_native(bf.rates(records(rows, backend), period="total", by=("campaign_id",)),
                         eager_only=True)
    conv = out.filter(nw.col("metric") == "conversion_rate")
    assert conv["numerator"].to_list() == [10.0]
    assert conv["denominator"].to_list() == [100.0]


@given(
    rows=tidy_rows(null_values=True),
    renamed=st.lists(st.booleans(), max_size=60),
    period=st.sampled_from(PERIODS),
)
def test_eager_ordering_equals_the_lazy_path(
    rows: list[tuple[object, ...]], renamed: list[bool], period: str
) -> None:
    # Eager frames keeping every key skip the pooling and sort by row number; lazy frames
    # pool and sort by key. Renamed variations (a second name within a period) must make
    # the eager path fall back to pooling.
    from polars.testing import assert_frame_equal

    rows = [
        (*r[:4], f"{r[4]} (renamed)" if r[4] is not None and flip else r[4], *r[5:])
        for r, flip in zip(rows, [*renamed, *[False] * len(rows)], strict=False)
    ]
    df = tidy(rows, "polars")
    try:
        expected = rates(df.lazy(), period).collect()  # type: ignore[arg-type]
    except ValueError:
        return
    assert_frame_equal(rates(df, period), expected, check_exact=True)  # type: ignore[arg-type]


def test_a_renamed_variation_is_pooled_under_its_greatest_name() -> None:
    rows = rows_of("webhook", "v1", {"sent": 10.0, "errors": 1.0}, name="A")
    rows += rows_of("webhook", "v1", {"sent": 30.0, "errors": 3.0}, day="2024-07-02", name="B")
    got = rates(tidy(rows), "week")
    assert got.select("variation_name", "value", "numerator", "days").rows() == [("B", 0.1, 4.0, 2)]


def test_a_variation_renamed_within_a_day_gives_one_row() -> None:
    # Not from Braze (one entry has one name), but a hand-made frame may do it: the rows
    # of both names pool into one row per key and rate, as over longer periods, under the
    # greatest name (SPEC 5, version 2: names are pooled per row of the rate table).
    rows = rows_of("webhook", "v1", {"sent": 10.0, "errors": 1.0}, name="A")
    rows += rows_of("webhook", "v1", {"unique_recipients": 5.0}, name="B")
    for frame in (tidy(rows), tidy(rows).lazy()):
        got = to_polars(rates(frame, "day"))
        assert got.select("variation_name", "metric", "value", "days").rows() == [
            ("B", "error_rate", 0.1, 1)
        ]
