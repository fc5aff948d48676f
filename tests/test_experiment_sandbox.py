"""bf.experiment against the sandbox's known truth (SPEC section 11).

The sandbox's experiment campaigns draw each send day's conversions exactly
Binomial(recipients, p), with ``p`` known per variation: "Checkout Reminder Experiment"
(control 3%, Variant A 3%, Variant B 3.6%) and "Onboarding Push A/A Test" (all 4%). Over
many seeds, the interval for the difference must cover the true difference in about
1 - alpha of runs, and with no effect ``significant`` must be true in about alpha of runs.

Every seed's 30-day body is read in process (``Sandbox.handle_request``, a few ms each) and
all seeds go into one frame (each seed's campaign gets its own id), so one call reads out
every run. One test fetches through the real local HTTP server.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

import numpy as np
import polars as pl
import pytest
from scipy import stats

import braze_frames as bf
from braze_frames._tidy import POLARS_SCHEMA
from braze_frames.sandbox import Sandbox

TODAY = dt.date(2025, 6, 30)
DS = "/campaigns/data_series"
SEEDS = range(300)
ALPHA = 0.05
#: What the readout needs of each variation entry (and sent, which tells control apart).
KEPT = ("sent", "enrolled", "unique_recipients", "conversions_by_send_time", "conversions")


def body_of(sb: Sandbox, position: int) -> tuple[Any, dict[str, Any]]:
    """An experiment campaign and its body over the 30 days to its last send."""
    campaign = sb.catalogue[position]
    assert campaign.last_sent is not None
    end = campaign.last_sent + dt.timedelta(days=1)  # ending_at is exclusive by default
    status, body = sb.handle_request(DS, {"campaign_id": campaign.id, "length": 30,
                                          "ending_at": end.isoformat()})
    assert status == 200
    return campaign, body


def tidy_rows(cid: str, body: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The variation rows of a body as tidy tuples (campaign_id made unique per seed)."""
    return [
        (cid, None, dt.date.fromisoformat(day["time"][:10]), channel, e["variation_api_id"],
         e["variation_name"], metric, float(e[metric]))
        for day in body["data"]
        for channel, entries in day["messages"].items()
        for e in entries
        for metric in KEPT
        if metric in e
    ]


@pytest.fixture(scope="module")
def runs() -> dict[int, tuple[pl.DataFrame, dict[tuple[str, str], float]]]:
    """Per campaign position: one readout of every seed's run, and each (run, variation)'s truth."""
    rows: dict[int, list[tuple[Any, ...]]] = {0: [], 1: []}
    truth: dict[int, dict[tuple[str, str], float]] = {0: {}, 1: {}}
    for seed in SEEDS:
        sb = Sandbox(seed=seed, today=TODAY, catalogue="experiments")
        for position in (0, 1):
            campaign, body = body_of(sb, position)
            run = f"{campaign.id}@{seed}"
            rows[position] += tidy_rows(run, body)
            for v in campaign.variations:
                assert v.conversion_probability is not None
                truth[position][(run, v.key)] = v.conversion_probability
            if seed == SEEDS[0]:  # the catalogue's probabilities are the simulation's truth
                t = sb.truth(campaign.id)
                assert all(t.conversion_probability(v.key) == v.conversion_probability
                           for v in campaign.variations)
    out = {}
    for position in (0, 1):
        df = pl.DataFrame(rows[position], schema=POLARS_SCHEMA, orient="row")
        readout = bf.experiment(df, alpha=ALPHA)
        assert isinstance(readout, pl.DataFrame)
        out[position] = (readout, truth[position])
    return out


@pytest.fixture(scope="module")
def real_effect(runs: Any) -> tuple[pl.DataFrame, dict[tuple[str, str], float]]:
    return runs[0]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def no_effect(runs: Any) -> tuple[pl.DataFrame, dict[tuple[str, str], float]]:
    return runs[1]  # type: ignore[no-any-return]


def coverage(out: pl.DataFrame, truth: dict[tuple[str, str], float]) -> float:
    control = {r["campaign_id"]: r["variation"] for r in out.filter("is_control").iter_rows(named=True)}
    covered = []
    for r in out.filter(~pl.col("is_control")).iter_rows(named=True):
        run = r["campaign_id"]
        diff = truth[(run, r["variation"])] - truth[(run, control[run])]
        covered.append(r["ci_low"] <= diff <= r["ci_high"])
    return float(np.mean(covered))


def test_the_interval_covers_the_true_difference(real_effect: Any, no_effect: Any) -> None:
    # 300 seeds x 2 campaigns x 2 variants = 1,200 intervals: coverage's standard error is
    # 0.6 points, so 1 - alpha = 95% should land within [92.5%, 97.5%].
    rates = {name: coverage(*found) for name, found in (("real effect", real_effect),
                                                         ("no effect", no_effect))}
    both = (rates["real effect"] + rates["no effect"]) / 2
    print(f"coverage of the 95% interval: {rates} (both: {both:.4f})")
    assert 0.925 <= both <= 0.975, rates
    for value in rates.values():
        assert 0.91 <= value <= 0.985


def test_false_positives_with_no_effect(no_effect: Any) -> None:
    out, _ = no_effect
    tested = out.filter(~pl.col("is_control"))
    assert tested.height == 2 * len(SEEDS)
    rate = tested.get_column("significant").mean()
    winners = out.get_column("winner").sum() / len(SEEDS)
    print(f"A/A: significant in {rate:.4f} of {tested.height} tests; a winner in {winners:.4f} of runs")
    # 600 tests: alpha = 5% +- 0.9 point (one standard error).
    assert 0.025 <= float(rate) <= 0.08
    # A winner must beat the other variant at alpha: about alpha of runs.
    assert winners <= 0.09


def test_the_real_effect_is_found(real_effect: Any) -> None:
    out, _ = real_effect
    b = out.filter(pl.col("variation_name") == "Variant B")
    a = out.filter(pl.col("variation_name") == "Variant A")
    power = float(b.get_column("significant").mean())
    print(f"Variant B (+0.6 point) significant in {power:.3f} of runs; winner in "
          f"{b.get_column('winner').mean():.3f}")
    # 20% lift on ~65,000 recipients per arm: the test nearly always sees it.
    assert power > 0.9
    assert b.get_column("winner").mean() > 0.5
    assert not a.get_column("winner").any()
    assert b.get_column("lift").mean() == pytest.approx(0.2, abs=0.02)
    assert out.get_column("approximate").all()  # 30 days of per-day unique recipients


def test_a_readout_agrees_with_scipy_on_the_body(real_effect: Any) -> None:
    out, _ = real_effect
    sb = Sandbox(seed=7, today=TODAY, catalogue="experiments")
    campaign, body = body_of(sb, 0)
    counts: dict[str, list[int]] = {}
    for day in body["data"]:
        for e in day["messages"]["ios_push"]:
            n = e.get("enrolled", e.get("unique_recipients"))
            got = counts.setdefault(e["variation_name"], [0, 0])
            got[0] += e["conversions_by_send_time"]
            got[1] += n
    mine = out.filter(pl.col("campaign_id") == f"{campaign.id}@{sb.seed}")
    x0, n0 = counts["Control Group"]
    for r in mine.filter(~pl.col("is_control")).iter_rows(named=True):
        x, n = counts[r["variation_name"]]
        assert (r["numerator"], r["denominator"]) == (x, n)
        chi2 = stats.chi2_contingency(np.array([[x, n - x], [x0, n0 - x0]]), correction=False)
        assert r["p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)
        p, p0 = x / n, x0 / n0
        half = stats.norm.ppf(1 - ALPHA / 2) * math.sqrt(p * (1 - p) / n + p0 * (1 - p0) / n0)
        assert (r["ci_low"], r["ci_high"]) == (pytest.approx(p - p0 - half), pytest.approx(p - p0 + half))


def test_fetched_over_http_on_pandas_polars_and_lazy() -> None:
    started = time.perf_counter()
    with Sandbox(seed=5, today=TODAY) as sb, bf.BrazeClient(sb.api_key, sb.url) as client:
        cid = next(c.id for c in sb.catalogue if c.name == "Checkout Reminder Experiment")
        campaign = sb.campaign(cid)
        assert campaign.last_sent is not None
        df = bf.fetch_data_series(cid, length=30, ending_at=campaign.last_sent, client=client)
        truth = sb.truth(cid)
    out = bf.experiment(df)
    assert out.get_column("campaign_name").unique().to_list() == ["Checkout Reminder Experiment"]
    assert out.get_column("variation_name").to_list() == ["Control Group", "Variant A", "Variant B"]
    # The denominators are the simulation's own recipients over the fetched days.
    days = set(df.get_column("date").unique().to_list())
    for r in out.iter_rows(named=True):
        per_day = truth.recipients(r["variation"])
        assert r["denominator"] == sum(n for d, n in per_day.items() if d in days)
    pandas_out = bf.experiment(df.to_pandas())
    lazy_out = bf.experiment(df.lazy()).collect()
    assert pl.from_pandas(pandas_out).equals(out)
    assert lazy_out.equals(out)
    assert time.perf_counter() - started < 20
