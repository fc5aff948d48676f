"""Canvas rates as data (SPEC section 12), and a hand-checked table of what they give.

The table below was worked out by hand from the sandbox's simulated truth (Canvas "Cart
Recovery Flow", seed 0, the 28 days ending 2025-06-20), then checked three ways:

1. against the truth again, in plain Python (so a change of the simulation shows here);
2. against the definitions (``CANVAS_RATES``, ``base_channel``, SPEC 5's channel rates)
   applied to the fetched frame by a plain evaluator written in this file;
3. against ``bf.rates`` on the Canvas frame, once the verbs are wired to the Canvas table
   (``xfail`` until then, strictly: the day it passes, remove the marker).

Numerators and denominators are exact integers: each rate is sum(numerator) / sum(denominator)
over the days where both are present.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

import braze_frames as bf
from braze_frames._errors import DataRepairWarning
from braze_frames._tables import (
    CANVAS_RATES,
    base_channel,
    canvas_row_kind,
    is_control_variant,
)
from braze_frames.endpoints.canvas import canvas_names_of
from braze_frames.sandbox import Sandbox

TODAY = dt.date(2025, 6, 30)
FIRST, LAST = dt.date(2025, 5, 24), dt.date(2025, 6, 20)
CANVAS = "Cart Recovery Flow"

#: (variant name, step name, channel, rate, numerator, denominator). Totals: no variant, no
#: step, channel "all"; variants: their name, no step; step messages: the step, its channel.
EXPECTED: list[tuple[str | None, str | None, str, str, int, int]] = [
    (None, None, "all", "conversion_rate", 4041, 77817),
    (None, None, "all", "cohort_conversion_rate", 4040, 77817),
    (None, None, "all", "conversion_rate1", 1625, 77817),
    (None, None, "all", "cohort_conversion_rate1", 1626, 77817),
    ("Variant 1", None, "all", "conversion_rate", 1939, 34875),
    ("Variant 1", None, "all", "cohort_conversion_rate", 1937, 34875),
    ("Variant 1", None, "all", "conversion_rate1", 779, 34875),
    ("Variant 1", None, "all", "cohort_conversion_rate1", 779, 34875),
    ("Variant 2", None, "all", "conversion_rate", 1737, 35161),
    ("Variant 2", None, "all", "cohort_conversion_rate", 1738, 35161),
    ("Variant 2", None, "all", "conversion_rate1", 695, 35161),
    ("Variant 2", None, "all", "cohort_conversion_rate1", 696, 35161),
    ("Control Group", None, "all", "conversion_rate", 365, 7781),
    ("Control Group", None, "all", "cohort_conversion_rate", 365, 7781),
    ("Control Group", None, "all", "conversion_rate1", 151, 7781),
    ("Control Group", None, "all", "cohort_conversion_rate1", 151, 7781),
    (None, "Reminder Email", "email", "delivery_rate", 34612, 35161),
    (None, "Reminder Email", "email", "bounce_rate", 549, 35161),
    (None, "Reminder Email", "email", "unique_open_rate", 7510, 34612),
    (None, "Reminder Email", "email", "click_rate", 1282, 34612),
    (None, "Reminder Push", "android_push", "bounce_rate", 1060, 34875),
    (None, "Reminder Push", "android_push", "direct_open_rate", 1706, 34875 - 1060),
    (None, "Reminder Push", "android_push", "total_open_rate", 2687, 34875 - 1060),
    (None, "Order Webhook", "webhook", "error_rate", 239, 24402),
    (None, "Last Chance Email", "email", "unique_open_rate", 5236, 20543),
    (None, "Last Chance Email", "email", "unique_click_rate", 681, 20543),
]

#: SPEC section 5's channel rates used above, as written there (numerator, denominator terms).
CHANNEL_RATES: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("email", "delivery_rate"): (("delivered",), ("sent",)),
    ("email", "bounce_rate"): (("bounces",), ("sent",)),
    ("email", "unique_open_rate"): (("unique_opens",), ("delivered",)),
    ("email", "click_rate"): (("clicks",), ("delivered",)),
    ("email", "unique_click_rate"): (("unique_clicks",), ("delivered",)),
    ("android_push", "bounce_rate"): (("bounces",), ("sent",)),
    ("android_push", "direct_open_rate"): (("direct_opens",), ("sent", "-bounces")),
    ("android_push", "total_open_rate"): (("total_opens",), ("sent", "-bounces")),
    ("webhook", "error_rate"): (("errors",), ("sent",)),
}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=TODAY) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def cart(sb: Sandbox) -> Any:
    return next(c for c in sb.canvases if c.name == CANVAS)


@pytest.fixture(scope="module")
def frame(sb: Sandbox, cart: Any) -> pl.DataFrame:
    with bf.BrazeClient(sb.api_key, sb.url) as client, warnings.catch_warnings():
        warnings.simplefilter("ignore", DataRepairWarning)
        got: pl.DataFrame = bf.fetch_canvas_series(cart.id, start=FIRST, end=LAST, client=client)
    return got.with_columns(pl.col(pl.Categorical).cast(pl.String))


def test_the_table_is_the_simulated_truth(sb: Sandbox, cart: Any) -> None:
    truth = sb.canvas_truth(cart.id)
    days = [d for d in truth.dates if FIRST <= d <= LAST]
    assert len(days) == 28
    variant_ids = {v.name: v.id for v in cart.variants}
    step_ids = {s.name: s.id for s in cart.steps}
    for variant, step, channel, rate, numerator, denominator in EXPECTED:
        if step is None:
            vid = None if variant is None else variant_ids[variant]
            event = int(rate[-1]) if rate[-1].isdigit() else 0
            by = "entry" if rate.startswith("cohort") else "conversion"
            assert sum(truth.conversions(event, vid, by=by).get(d, 0) for d in days) == numerator, rate
            assert sum(truth.entries(vid).get(d, 0) for d in days) == denominator, rate
            continue
        num, den = CHANNEL_RATES[(channel, rate)]

        def total(terms: tuple[str, ...], step: str = step, channel: str = channel) -> int:
            stats = [truth.days[d]["step_stats"][step_ids[step]]["messages"][channel][0] for d in days]
            return sum((-1 if t.startswith("-") else 1) * s[t.lstrip("-")] for s in stats for t in terms)

        assert (total(num), total(den)) == (numerator, denominator), (step, rate)


def evaluate(frame: pl.DataFrame) -> dict[tuple[str | None, str | None, str, str], tuple[float, float]]:
    """The rates of a Canvas frame from the definitions as data, in plain Python."""
    sums: dict[tuple[Any, ...], dict[dt.date, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in frame.iter_rows(named=True):
        kind = canvas_row_kind(row["variant"], row["step"], row["channel"])
        key = (kind, row["variant_name"], row["step_name"], row["channel"])
        sums[key][row["date"]][row["metric"]] = row["value"]
    out: dict[tuple[str | None, str | None, str, str], tuple[float, float]] = {}
    for (kind, variant, step, channel), by_day in sums.items():
        formulas: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
        for definition in CANVAS_RATES:
            if kind in definition.rows:
                events = {int(found.group(1) or 0) for day in by_day.values() for m in day
                          if (found := re.fullmatch(r"conversions(\d*)", m))}
                for k in sorted(events):
                    name, num, den = definition.for_event(k)
                    formulas.append((name, (num,), (den,)))
        if kind == "message":
            formulas += [(rate, num, den) for (ch, rate), (num, den) in CHANNEL_RATES.items()
                         if ch == base_channel(channel)]
        for name, num, den in formulas:
            used = [day for day in by_day.values()
                    if all(t.lstrip("-") in day for t in (*num, *den))]
            if not used:
                continue

            def total(terms: tuple[str, ...], used: list[dict[str, float]] = used) -> float:
                return sum((-1 if t.startswith("-") else 1) * day[t.lstrip("-")]
                           for day in used for t in terms)

            out[(variant, step, channel, name)] = (total(num), total(den))
    return out


def test_definitions_applied_to_the_frame_give_the_table(frame: pl.DataFrame) -> None:
    got = evaluate(frame)
    for variant, step, channel, rate, numerator, denominator in EXPECTED:
        assert got[(variant, step, channel, rate)] == (numerator, denominator), (variant, step, rate)
    # Steps have no entries, so no conversion rate, though they carry conversions.
    assert frame.filter(pl.col("step").is_not_null(), pl.col("metric") == "conversions").height > 0
    assert not [k for k in got if k[1] is not None and "conversion" in k[3]]


def test_the_control_variant(sb: Sandbox, cart: Any) -> None:
    with bf.BrazeClient(sb.api_key, sb.url) as client:
        details = bf.canvas_details(cart.id, client=client)
    marked = canvas_names_of(details).controls
    control = next(v for v in cart.variants if v.control)
    assert marked == {control.id}
    for variant in cart.variants:
        assert is_control_variant(variant.name, marked=variant.id in marked) == variant.control
        assert is_control_variant(variant.name) == variant.control  # "Control Group" by name too


def test_canvas_rates_are_data() -> None:
    assert [r.for_event(0) for r in CANVAS_RATES] == [
        ("conversion_rate", "conversions", "entries"),
        ("cohort_conversion_rate", "conversions_by_entry_time", "entries")]
    assert all(r.rows == {"canvas", "variant"} for r in CANVAS_RATES)
    assert [r.attribution for r in CANVAS_RATES] == ["conversion date", "entry date"]


def test_rates_on_a_canvas_frame_give_the_table(frame: pl.DataFrame) -> None:
    rates = bf.rates(frame, period="total")
    got = {(r["variant_name"], r["step_name"], r["channel"], r["metric"]): (r["numerator"], r["denominator"])
           for r in rates.iter_rows(named=True)}
    for variant, step, channel, rate, numerator, denominator in EXPECTED:
        assert got[(variant, step, channel, rate)] == (numerator, denominator)
