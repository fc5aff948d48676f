"""bf.experiment (SPEC section 11): every rule, on pandas, polars and polars lazy.

The numbers are checked against scipy (Pearson's chi-squared without continuity correction
for the p-value, the normal quantile for the interval) and against hand calculation,
never only against the library's own output.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import pytest
from _support_frames import assert_same, records, to_polars
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import braze_frames as bf
from braze_frames._tables import CANVAS_COLUMNS
from braze_frames._tidy import CANVAS_POLARS_SCHEMA, from_records
from braze_frames.verbs.experiment import EXPERIMENT_COLUMNS

KINDS = ("polars", "pandas", "lazy")
D1 = dt.date(2024, 7, 1)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Every rule runs on polars, pandas and a polars LazyFrame."""
    return str(request.param)


def frame(rows: Sequence[tuple[Any, ...]], kind: str) -> Any:
    """A tidy campaign frame of the given kind from 7-field rows (no campaign_name)."""
    df = from_records(list(rows))
    if kind == "pandas":
        return df.to_pandas()
    if kind == "lazy":
        return df.lazy()
    return df


def arm(cid: str, channel: str, variation: str, name: str | None, n: int, x: int, *,
        day: dt.date = D1, control: bool = False, numerator: str = "conversions_by_send_time",
        ) -> list[tuple[Any, ...]]:
    """One variation's rows for one day: x conversions among n recipients (enrolled if control)."""
    rows: list[tuple[Any, ...]] = [
        (cid, day, channel, variation, name, "enrolled" if control else "unique_recipients", n),
        (cid, day, channel, variation, name, numerator, x),
    ]
    if not control:
        rows.append((cid, day, channel, variation, name, "sent", n))
    return rows


def three_arms(kind: str, counts: Sequence[tuple[int, int]] = ((1000, 50), (1000, 60), (1000, 90))) -> Any:
    (n0, x0), (na, xa), (nb, xb) = counts
    rows = [*arm("k1", "ios_push", "cg", "Control Group", n0, x0, control=True),
            *arm("k1", "ios_push", "va", "Variant A", na, xa),
            *arm("k1", "ios_push", "vb", "Variant B", nb, xb)]
    return frame(rows, kind)


def scipy_p(x: float, n: float, x0: float, n0: float) -> float:
    table = np.array([[x, n - x], [x0, n0 - x0]])
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def scipy_interval(x: float, n: float, x0: float, n0: float, alpha: float) -> tuple[float, float]:
    p, p0 = x / n, x0 / n0
    half = float(stats.norm.ppf(1 - alpha / 2)) * math.sqrt(p * (1 - p) / n + p0 * (1 - p0) / n0)
    return p - p0 - half, p - p0 + half


def by_name(out: Any) -> dict[str, dict[str, Any]]:
    return {r["variation_name"] or r["variation"]: r for r in records(out)}


# -- shape ----------------------------------------------------------------------------------------


def test_columns_types_and_order(kind: str) -> None:
    out = bf.experiment(three_arms(kind))
    native = {"polars": pl.DataFrame, "lazy": pl.LazyFrame}.get(kind)
    if native is not None:
        assert isinstance(out, native)
    else:
        import pandas as pd

        assert isinstance(out, pd.DataFrame)
    got = to_polars(out)
    assert tuple(got.columns) == EXPERIMENT_COLUMNS
    assert got.get_column("variation_name").to_list() == ["Control Group", "Variant A", "Variant B"]
    assert got.schema["is_control"] == pl.Boolean
    assert got.schema["winner"] == pl.Boolean
    assert got.schema["approximate"] == pl.Boolean
    for c in ("numerator", "denominator", "rate", "lift", "ci_low", "p_value"):
        assert got.schema[c] == pl.Float64


def test_the_accessor_gives_the_function(kind: str) -> None:
    df = three_arms(kind)
    assert to_polars(df.braze.experiment(alpha=0.01)).equals(to_polars(bf.experiment(df, alpha=0.01)))


# -- the numbers ----------------------------------------------------------------------------------


def test_numbers_match_scipy_and_hand_calculation(kind: str) -> None:
    rows = by_name(bf.experiment(three_arms(kind)))
    control = rows["Control Group"]
    assert control["is_control"] is True
    assert (control["numerator"], control["denominator"], control["rate"]) == (50, 1000, 0.05)
    assert control["baseline_rate"] == 0.05
    for column in ("lift", "difference", "ci_low", "ci_high", "p_value", "confidence", "significant"):
        assert control[column] is None, column
    for name, x in (("Variant A", 60), ("Variant B", 90)):
        r = rows[name]
        assert r["is_control"] is False
        assert r["rate"] == pytest.approx(x / 1000)
        assert r["baseline_rate"] == pytest.approx(0.05)
        # By hand: 6% against 5% is a lift of 20% and a difference of one point.
        assert r["lift"] == pytest.approx(x / 50 - 1)
        assert r["difference"] == pytest.approx((x - 50) / 1000)
        p = scipy_p(x, 1000, 50, 1000)
        assert r["p_value"] == pytest.approx(p, rel=1e-9)
        assert r["confidence"] == pytest.approx(1 - p, rel=1e-9)
        assert r["significant"] is (p < 0.05)
        low, high = scipy_interval(x, 1000, 50, 1000, 0.05)
        assert (r["ci_low"], r["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    # By hand: pooled 110/2000 = 0.055; z = 0.01 / sqrt(0.055 * 0.945 * 2/1000) = 0.9808; p = 0.3267.
    assert rows["Variant A"]["p_value"] == pytest.approx(2 * (1 - stats.norm.cdf(0.01 / math.sqrt(
        0.055 * 0.945 * 0.002))), rel=1e-9)
    assert rows["Variant A"]["p_value"] == pytest.approx(0.3267, abs=1e-4)
    assert rows["Variant B"]["significant"] is True
    assert rows["Variant B"]["winner"] is True
    assert rows["Variant A"]["winner"] is False
    assert rows["Control Group"]["winner"] is False


def test_alpha_sets_the_interval_and_the_test(kind: str) -> None:
    rows = by_name(bf.experiment(three_arms(kind, ((1000, 50), (1000, 60), (1000, 75))), alpha=0.01))
    r = rows["Variant B"]
    p = scipy_p(75, 1000, 50, 1000)
    assert 0.01 < p < 0.05
    assert r["significant"] is False
    low, high = scipy_interval(75, 1000, 50, 1000, 0.01)
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    # Variant B does not beat Variant A at 1%: no winner.
    assert not any(row["winner"] for row in rows.values())


def test_sums_over_days_and_approximate(kind: str) -> None:
    rows = []
    for i, (n0, x0, na, xa) in enumerate(((500, 20, 510, 30), (700, 25, 690, 40))):
        day = D1 + dt.timedelta(days=i)
        rows += arm("k1", "ios_push", "cg", "Control Group", n0, x0, day=day, control=True)
        rows += arm("k1", "ios_push", "va", "Variant A", na, xa, day=day)
    out = by_name(bf.experiment(frame(rows, kind)))
    assert (out["Variant A"]["numerator"], out["Variant A"]["denominator"]) == (70, 1200)
    assert (out["Control Group"]["numerator"], out["Control Group"]["denominator"]) == (45, 1200)
    assert out["Variant A"]["p_value"] == pytest.approx(scipy_p(70, 1200, 45, 1200), rel=1e-9)
    # unique_recipients and enrolled summed over two days: person-days.
    assert out["Variant A"]["approximate"] is True
    assert out["Control Group"]["approximate"] is True
    one_day = by_name(bf.experiment(three_arms(kind)))
    assert not any(r["approximate"] for r in one_day.values())


def test_approximate_from_the_baseline_alone(kind: str) -> None:
    # The variation ran one day, the control two: the row is approximate through its baseline.
    rows = [*arm("k1", "ios_push", "cg", "Control Group", 500, 20, control=True),
            *arm("k1", "ios_push", "cg", "Control Group", 500, 20, day=D1 + dt.timedelta(days=1),
                 control=True),
            *arm("k1", "ios_push", "va", "Variant A", 500, 30)]
    out = by_name(bf.experiment(frame(rows, kind)))
    assert out["Variant A"]["approximate"] is True
    assert out["Control Group"]["approximate"] is True


def test_message_denominators_are_not_approximate(kind: str) -> None:
    rows = []
    for i in range(3):
        day = D1 + dt.timedelta(days=i)
        for v, opens in (("va", 30 + i), ("vb", 45 + i)):
            rows += [("k1", day, "ios_push", v, v.upper(), "sent", 1000),
                     ("k1", day, "ios_push", v, v.upper(), "bounces", 10),
                     ("k1", day, "ios_push", v, v.upper(), "direct_opens", opens)]
    out = by_name(bf.experiment(frame(rows, kind), rate="direct_open_rate", baseline="va"))
    assert (out["VB"]["numerator"], out["VB"]["denominator"]) == (138, 2970)
    assert out["VB"]["p_value"] == pytest.approx(scipy_p(138, 2970, 93, 2970), rel=1e-9)
    assert not any(r["approximate"] for r in out.values())


def test_conversion_rate_uses_conversion_dates(kind: str) -> None:
    rows = [*arm("k1", "ios_push", "cg", "Control Group", 1000, 40, control=True, numerator="conversions"),
            *arm("k1", "ios_push", "va", "Variant A", 1000, 70, numerator="conversions"),
            *arm("k1", "ios_push", "cg", "Control Group", 1000, 41, control=True)[1:2],
            *arm("k1", "ios_push", "va", "Variant A", 1000, 69)[1:2]]
    by_conversion = by_name(bf.experiment(frame(rows, kind), rate="conversion_rate"))
    by_send = by_name(bf.experiment(frame(rows, kind)))
    assert by_conversion["Variant A"]["numerator"] == 70
    assert by_conversion["Control Group"]["numerator"] == 40
    assert by_send["Variant A"]["numerator"] == 69
    assert by_send["Control Group"]["numerator"] == 41


def test_both_rates_zero_or_one_have_null_tests(kind: str) -> None:
    for x in (0, 1000):
        out = by_name(bf.experiment(three_arms(kind, ((1000, x), (1000, x), (500, x // 2)))))
        for name in ("Variant A", "Variant B"):
            r = out[name]
            assert r["difference"] == 0
            for column in ("ci_low", "ci_high", "p_value", "confidence", "significant"):
                assert r[column] is None, (x, column)
            assert r["winner"] is False


# -- baselines ------------------------------------------------------------------------------------


def test_baseline_by_name_or_id(kind: str) -> None:
    df = three_arms(kind)
    for baseline in ("Variant A", "va"):
        out = by_name(bf.experiment(df, baseline=baseline))
        assert out["Variant A"]["p_value"] is None
        assert out["Variant A"]["baseline_rate"] == pytest.approx(0.06)
        assert out["Control Group"]["difference"] == pytest.approx(-0.01)
        assert out["Variant B"]["p_value"] == pytest.approx(scipy_p(90, 1000, 60, 1000), rel=1e-9)
        # The winner is among the variants, whatever the baseline.
        assert out["Variant B"]["winner"] is True


def test_no_control_and_no_baseline_names_the_variations(kind: str) -> None:
    rows = [*arm("k1", "email", "va", "Variant A", 1000, 50),
            *arm("k1", "email", "vb", "Variant B", 1000, 60)]
    rows = [(*r[:5], "unique_clicks" if r[5] == "conversions_by_send_time" else
             "delivered" if r[5] == "unique_recipients" else r[5], r[6]) for r in rows]
    df = frame(rows, kind)
    with pytest.raises(ValueError, match=r"no control group.*'Variant A' \(va\), 'Variant B' \(vb\)"):
        bf.experiment(df, rate="unique_click_rate")
    out = by_name(bf.experiment(df, rate="unique_click_rate", baseline="Variant A"))
    assert out["Variant B"]["p_value"] == pytest.approx(scipy_p(60, 1000, 50, 1000), rel=1e-9)


def test_unknown_baseline_is_refused(kind: str) -> None:
    with pytest.raises(ValueError, match=r"baseline 'Variant Z' is not a variation.*'Variant A' \(va\)"):
        bf.experiment(three_arms(kind), baseline="Variant Z")


def test_a_single_variation_has_null_tests(kind: str) -> None:
    rows = arm("k1", "ios_push", "va", "Variant A", 1000, 50)
    (r,) = records(bf.experiment(frame(rows, kind)))
    assert r["rate"] == 0.05
    assert r["baseline_rate"] is None
    for column in ("lift", "difference", "ci_low", "ci_high", "p_value", "confidence", "significant"):
        assert r[column] is None
    assert r["winner"] is False


def test_campaigns_and_channels_are_read_out_apart(kind: str) -> None:
    rows = [*arm("k1", "ios_push", "cg", "Control Group", 1000, 50, control=True),
            *arm("k1", "ios_push", "va", "Variant A", 1000, 80),
            *arm("k2", "android_push", "cg2", "Control Group", 400, 10, control=True),
            *arm("k2", "android_push", "va2", "Variant A", 400, 12)]
    out = records(bf.experiment(frame(rows, kind)))
    assert [(r["campaign_id"], r["variation"]) for r in out] == [
        ("k1", "cg"), ("k1", "va"), ("k2", "cg2"), ("k2", "va2")]
    assert out[1]["p_value"] == pytest.approx(scipy_p(80, 1000, 50, 1000), rel=1e-9)
    assert out[3]["p_value"] == pytest.approx(scipy_p(12, 400, 10, 400), rel=1e-9)


# -- the winner -----------------------------------------------------------------------------------


def test_winner_needs_two_variants_and_to_beat_every_one(kind: str) -> None:
    # One variant against a control: never a winner, however significant.
    rows = [*arm("k1", "ios_push", "cg", "Control Group", 1000, 10, control=True),
            *arm("k1", "ios_push", "va", "Variant A", 1000, 90)]
    (control, variant) = records(bf.experiment(frame(rows, kind)))
    assert variant["significant"] is True
    assert not control["winner"] and not variant["winner"]
    # The best must beat the runner-up too, not only the control (Braze's rule).
    out = by_name(bf.experiment(three_arms(kind, ((1000, 10), (1000, 80), (1000, 90)))))
    assert out["Variant A"]["significant"] and out["Variant B"]["significant"]
    assert scipy_p(90, 1000, 80, 1000) > 0.05
    assert not any(r["winner"] for r in out.values())


def test_lower_is_better_picks_the_lowest(kind: str) -> None:
    rows = []
    for v, bounces in (("va", 80), ("vb", 20), ("vc", 50)):
        rows += [("k1", D1, "email", v, v.upper(), "sent", 1000),
                 ("k1", D1, "email", v, v.upper(), "bounces", bounces)]
    out = by_name(bf.experiment(frame(rows, kind), rate="bounce_rate", baseline="vc"))
    assert out["VB"]["winner"] is True
    assert sum(r["winner"] for r in out.values()) == 1


# -- refusals -------------------------------------------------------------------------------------


def test_non_proportion_rates_are_refused(kind: str) -> None:
    rows = [("k1", D1, "email", v, None, m, 10) for v in ("va", "vb")
            for m in ("delivered", "clicks", "unique_clicks", "revenue", "unique_recipients")]
    df = frame(rows, kind)
    for rate in ("click_rate", "revenue_per_recipient", "open_rate"):
        with pytest.raises(ValueError, match=rf"rate '{rate}' is not a proportion.*unique_click_rate"):
            bf.experiment(df, rate=rate, baseline="va")
    with pytest.raises(ValueError, match=r"unknown rate 'ctr'.*unique_open_rate"):
        bf.experiment(df, rate="ctr", baseline="va")


def test_a_numerator_above_its_denominator_is_refused_by_name(kind: str) -> None:
    df = three_arms(kind, ((1000, 50), (100, 160), (1000, 90)))
    with pytest.raises(ValueError, match=r"variation 'Variant A' \(va\).*160 > denominator 100"):
        bf.experiment(df)


def test_bad_arguments(kind: str) -> None:
    df = three_arms(kind)
    for alpha in (0, 1, -0.1, 1.5, "0.05", True):
        with pytest.raises(ValueError, match="alpha must be a number between 0 and 1"):
            bf.experiment(df, alpha=alpha)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rate takes a rate's name"):
        bf.experiment(df, rate=bf.RATES[0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="baseline takes"):
        bf.experiment(df, baseline="")
    with pytest.raises(bf.TidyFrameError):
        bf.experiment(pl.DataFrame({"a": [1]}))


def _email_rows(cid: str) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for v, clicks in (("ea", 40), ("eb", 70)):
        rows += [(cid, D1, "email", v, v.upper(), "delivered", 1000),
                 (cid, D1, "email", v, v.upper(), "unique_clicks", clicks)]
    # Email conversions come in the day totals only.
    rows += [(cid, D1, "all", None, None, "unique_recipients", 2000),
             (cid, D1, "all", None, None, "conversions_by_send_time", 30)]
    return rows


def test_an_email_conversion_readout_says_why_and_suggests_clicks(kind: str) -> None:
    df = frame(_email_rows("mail"), kind)
    with pytest.raises(ValueError, match=r"email variations carry no conversions.*unique_click_rate"):
        bf.experiment(df, baseline="ea")
    out = by_name(bf.experiment(df, rate="unique_click_rate", baseline="ea"))
    assert out["EB"]["p_value"] == pytest.approx(scipy_p(70, 1000, 40, 1000), rel=1e-9)


def test_email_campaigns_beside_others_are_named_in_a_warning(kind: str) -> None:
    rows = [*_email_rows("mail"), *arm("k1", "ios_push", "cg", "Control Group", 1000, 50, control=True),
            *arm("k1", "ios_push", "va", "Variant A", 1000, 60)]
    with pytest.warns(UserWarning, match=r"email variations of campaign mail: use rate='unique_click_rate'"):
        out = records(bf.experiment(frame(rows, kind)))
    assert {r["campaign_id"] for r in out} == {"k1"}


# -- Canvas ---------------------------------------------------------------------------------------


def canvas(kind: str) -> Any:
    """A Canvas with a control variant and two others over two days; day 2 lacks entries for V2."""
    rows: list[tuple[Any, ...]] = []

    def add(day: dt.date, variant: str | None, name: str | None, metric: str, value: float) -> None:
        rows.append(("cv1", "Cart Flow", day, variant, name, None, None, "all", metric, value))

    d2 = D1 + dt.timedelta(days=1)
    for variant, name, per_day in (("ctl", "Control", ((500, 20, 21), (400, 15, 16))),
                                   ("v1", "Variant 1", ((1000, 60, 58), (900, 50, 55))),
                                   ("v2", "Variant 2", ((1000, 80, 79), (None, 70, 71)))):
        for day, (entries, conversions, by_entry) in zip((D1, d2), per_day, strict=True):
            if entries is not None:
                add(day, variant, name, "entries", entries)
            add(day, variant, name, "conversions", conversions)
            add(day, variant, name, "conversions_by_entry_time", by_entry)
    add(D1, None, None, "entries", 2500)
    add(D1, None, None, "conversions", 160)
    rows.append(("cv1", "Cart Flow", D1, None, None, "s1", "Step 1", "email", "sent", 900.0))
    df = pl.DataFrame(rows, schema=CANVAS_POLARS_SCHEMA, orient="row")
    assert tuple(df.columns) == CANVAS_COLUMNS
    return df.to_pandas() if kind == "pandas" else df.lazy() if kind == "lazy" else df


def test_canvas_variants_against_the_control_per_entry(kind: str) -> None:
    out = bf.experiment(canvas(kind))
    got = to_polars(out)
    assert got.columns[:5] == ["canvas_id", "canvas_name", "channel", "variant", "variant_name"]
    assert tuple(got.columns[5:]) == EXPERIMENT_COLUMNS[5:]
    rows = {r["variant_name"]: r for r in records(out)}
    assert rows["Control"]["is_control"] is True
    # Cohort (entry-date) conversions over entries, on the days with both.
    assert (rows["Control"]["numerator"], rows["Control"]["denominator"]) == (37, 900)
    assert (rows["Variant 1"]["numerator"], rows["Variant 1"]["denominator"]) == (113, 1900)
    assert (rows["Variant 2"]["numerator"], rows["Variant 2"]["denominator"]) == (79, 1000)
    assert rows["Variant 2"]["p_value"] == pytest.approx(scipy_p(79, 1000, 37, 900), rel=1e-9)
    assert not any(r["approximate"] for r in rows.values())
    by_date = {r["variant_name"]: r for r in records(bf.experiment(canvas(kind), rate="conversion_rate"))}
    assert by_date["Variant 1"]["numerator"] == 110


def test_canvas_takes_only_its_conversion_rates(kind: str) -> None:
    with pytest.raises(ValueError, match="a Canvas experiment compares conversions per entry"):
        bf.experiment(canvas(kind), rate="unique_click_rate")


def test_no_warning_on_a_plain_readout(kind: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bf.experiment(three_arms(kind))


def test_duckdb_relations_get_a_relation_back() -> None:
    duckdb = pytest.importorskip("duckdb")
    df = three_arms("polars")
    relation = duckdb.from_arrow(df.with_columns(pl.col(pl.Categorical).cast(pl.String)).to_arrow())
    out = bf.experiment(relation)
    assert isinstance(out, duckdb.DuckDBPyRelation)
    assert to_polars(out).equals(to_polars(bf.experiment(df)))


# -- differential -----------------------------------------------------------------------------------


@st.composite
def drawn_tests(draw: st.DrawFn) -> tuple[list[tuple[Any, ...]], bool]:
    """Rows of one campaign: a control group or not, two or three variants, one to three days."""
    control = draw(st.booleans())
    variants = ["cg"] * control + ["va", "vb", "vc"][: draw(st.integers(2, 3))]
    rows: list[tuple[Any, ...]] = []
    for i in range(draw(st.integers(1, 3))):
        for v in variants:
            n = draw(st.integers(0, 300))
            x = draw(st.integers(0, n))
            rows += arm("k1", "ios_push", v, v.upper(), n, x, day=D1 + dt.timedelta(days=i),
                        control=v == "cg")
    return rows, control


@given(drawn_tests(), st.sampled_from([0.01, 0.05, 0.2]))
def test_backends_agree_and_match_scipy(drawn: tuple[list[tuple[Any, ...]], bool], alpha: float) -> None:
    rows, control = drawn
    baseline = "control" if control else "va"
    outs = [to_polars(bf.experiment(frame(rows, kind), baseline=baseline, alpha=alpha)) for kind in KINDS]
    for other in outs[1:]:
        assert_same(outs[0], other)
    found = records(outs[0])
    base = next(r for r in found if r["variation"] == ("cg" if control else "va"))
    x0, n0 = base["numerator"], base["denominator"]
    for r in found:
        x, n = r["numerator"], r["denominator"]
        if r is base or r["p_value"] is None:
            continue
        assert r["p_value"] == pytest.approx(scipy_p(x, n, x0, n0), rel=1e-7, abs=1e-300)
        low, high = scipy_interval(x, n, x0, n0, alpha)
        assert (r["ci_low"], r["ci_high"]) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    assert sum(r["winner"] for r in found) <= 1
    days = len({r[1] for r in rows})
    assert all(r["approximate"] == (days > 1) for r in found)
