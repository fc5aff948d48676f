"""A/B readout statistics (braze_frames._stats) against scipy, by hand, and by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from braze_frames._stats import ProportionTest, compare_proportions, winner

TEST_COLUMNS = ("ci_low", "ci_high", "p_value", "confidence", "significant")


def arms(low: int, high: int) -> st.SearchStrategy[tuple[int, int]]:
    """(x, n) with low <= n <= high and 0 <= x <= n."""
    return st.integers(low, high).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


def _scipy_p_value(x: float, n: float, x0: float, n0: float) -> float | None:
    """Pearson's chi-squared on the 2x2 table, no continuity correction; None when undefined."""
    table = np.array([[x, n - x], [x0, n0 - x0]])
    try:
        return float(stats.chi2_contingency(table, correction=False).pvalue)
    except ValueError:  # an expected frequency of 0: an empty row or column
        return None


def _scipy_interval(x: float, n: float, x0: float, n0: float, alpha: float) -> tuple[float, float]:
    r, r0 = x / n, x0 / n0
    half = stats.norm.ppf(1 - alpha / 2) * math.sqrt(r * (1 - r) / n + r0 * (1 - r0) / n0)
    return r - r0 - half, r - r0 + half


def _check_against_scipy(x: int, n: int, x0: int, n0: int, alpha: float) -> None:
    row = compare_proportions(x, n, x0, n0, alpha=alpha).records()[0]
    if n == 0 or n0 == 0:
        assert row["difference"] is None
        assert all(row[name] is None for name in TEST_COLUMNS)
        return
    rate, base = x / n, x0 / n0
    assert row["rate"] == pytest.approx(rate, rel=1e-12)
    assert row["baseline_rate"] == pytest.approx(base, rel=1e-12)
    assert row["difference"] == pytest.approx(rate - base, rel=1e-12, abs=1e-15)
    assert row["lift"] == (None if base == 0 else pytest.approx(rate / base - 1, rel=1e-12, abs=1e-15))
    p_value = _scipy_p_value(x, n, x0, n0)
    if p_value is None:  # both rates 0 or both 1
        assert rate == base
        assert rate in (0.0, 1.0)
        for name in ("ci_low", "ci_high", "p_value", "confidence", "significant"):
            assert row[name] is None
        return
    assert row["p_value"] == pytest.approx(p_value, rel=1e-8, abs=1e-300)
    assert row["confidence"] == pytest.approx(1 - p_value, rel=1e-12, abs=1e-12)
    assert row["significant"] == (p_value < alpha)
    low, high = _scipy_interval(x, n, x0, n0, alpha)
    assert row["ci_low"] == pytest.approx(low, rel=1e-9, abs=1e-12)
    assert row["ci_high"] == pytest.approx(high, rel=1e-9, abs=1e-12)


# -- against scipy ----------------------------------------------------------------------------


def test_against_scipy_on_a_grid_of_small_counts() -> None:
    # Every table with n, n0 <= 6: all the corners (0/0, 0 of n, n of n, one each).
    for n in range(7):
        for n0 in range(7):
            for x in range(n + 1):
                for x0 in range(n0 + 1):
                    _check_against_scipy(x, n, x0, n0, 0.05)


@given(
    arms(1, 10**7),
    arms(1, 10**7),
    st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.2, 0.5]),
)
def test_against_scipy_on_random_counts(arm: tuple[int, int], base: tuple[int, int], alpha: float) -> None:
    _check_against_scipy(*arm, *base, alpha)


@given(st.lists(arms(0, 5000), min_size=1, max_size=8), arms(0, 5000))
def test_vectorised_equals_one_at_a_time(variations: list[tuple[int, int]], base: tuple[int, int]) -> None:
    together = compare_proportions([x for x, _ in variations], [n for _, n in variations], *base).records()
    alone = [compare_proportions(x, n, *base).records()[0] for x, n in variations]
    assert together == alone


# -- by hand ----------------------------------------------------------------------------------


def test_hand_checked_example() -> None:
    # 6.0% of 1,000 against 5.0% of 1,000.
    t = compare_proportions(60, 1000, 50, 1000)
    assert float(t.rate) == 0.06
    assert float(t.baseline_rate) == 0.05
    assert float(t.lift) == pytest.approx(0.2)
    assert float(t.difference) == pytest.approx(0.01)
    # Pooled 110 / 2000 = 0.055; se = sqrt(0.055 * 0.945 * (2 / 1000)) = 0.0101956;
    # z = 0.01 / 0.0101956 = 0.98082; p = 2 * (1 - Phi(0.98082)) = 0.32669.
    assert float(t.p_value) == pytest.approx(0.32669, abs=1e-5)
    assert float(t.confidence) == pytest.approx(0.67331, abs=1e-5)
    # Unpooled se = sqrt(0.06 * 0.94 / 1000 + 0.05 * 0.95 / 1000) = 0.0101931;
    # 1.959964 * 0.0101931 = 0.0199781.
    assert float(t.ci_low) == pytest.approx(-0.0099781, abs=1e-7)
    assert float(t.ci_high) == pytest.approx(0.0299781, abs=1e-7)
    assert not t.significant
    assert t.tested


def test_a_clear_difference() -> None:
    # 12% of 500 against 5% of 500: z = 0.07 / sqrt(0.085 * 0.915 * 0.004) = 3.9687.
    t = compare_proportions(60, 500, 25, 500)
    assert float(t.p_value) == pytest.approx(2 * stats.norm.sf(0.07 / math.sqrt(0.085 * 0.915 * 0.004)))
    assert float(t.p_value) == pytest.approx(7.227e-5, rel=1e-3)
    assert bool(t.significant)
    assert float(t.lift) == pytest.approx(1.4)


def test_tiny_p_values_keep_their_digits() -> None:
    # z = 6.0828: NormalDist.cdf's 1 + erf(x) would be off in the 8th digit here.
    t = compare_proportions(0, 2, 35, 35)
    assert float(t.p_value) == pytest.approx(1.1812924646610723e-09, rel=1e-13)  # mpmath
    t = compare_proportions(1000, 2000, 700, 2000)  # z = 9.55, p ~ 1e-21
    assert float(t.p_value) == pytest.approx(_scipy_p_value(1000, 2000, 700, 2000), rel=1e-10)
    assert float(t.p_value) < 1e-20
    assert float(t.confidence) == 1.0


# -- nulls and edges --------------------------------------------------------------------------


def test_zero_denominators_give_nulls() -> None:
    row = compare_proportions(0, 0, 0, 0).records()[0]
    assert set(row.values()) == {None}
    row = compare_proportions(3, 10, 0, 0).records()[0]
    assert row["rate"] == 0.3
    assert all(row[name] is None for name in ("baseline_rate", "lift", "difference", *TEST_COLUMNS))
    row = compare_proportions(0, 0, 3, 10).records()[0]
    assert row["baseline_rate"] == 0.3
    assert all(row[name] is None for name in ("rate", "lift", "difference", *TEST_COLUMNS))


def test_both_rates_zero_or_both_one_give_null_tests() -> None:
    row = compare_proportions(0, 50, 0, 80).records()[0]
    assert (row["rate"], row["baseline_rate"], row["difference"], row["lift"]) == (0.0, 0.0, 0.0, None)
    assert all(row[name] is None for name in TEST_COLUMNS)
    row = compare_proportions(50, 50, 80, 80).records()[0]
    assert (row["rate"], row["baseline_rate"], row["difference"], row["lift"]) == (1.0, 1.0, 0.0, 0.0)
    assert all(row[name] is None for name in TEST_COLUMNS)


def test_zero_against_one_is_tested_with_a_point_interval() -> None:
    # The unpooled standard error is 0, so the Wald interval is the difference itself.
    t = compare_proportions(0, 5, 5, 5)
    assert t.tested
    assert (float(t.ci_low), float(t.ci_high)) == (-1.0, -1.0)
    assert float(t.p_value) == pytest.approx(_scipy_p_value(0, 5, 5, 5))
    assert bool(t.significant)


def test_tiny_denominators() -> None:
    t = compare_proportions(1, 1, 0, 1)
    assert float(t.p_value) == pytest.approx(_scipy_p_value(1, 1, 0, 1))  # z = sqrt(2)
    assert float(t.p_value) == pytest.approx(2 * stats.norm.sf(math.sqrt(2)))
    assert not t.significant


def test_alpha_sets_the_interval_and_the_verdict() -> None:
    widths = []
    for alpha in (0.01, 0.05, 0.1, 0.32):
        t = compare_proportions(75, 1000, 50, 1000, alpha=alpha)
        widths.append(float(t.ci_high - t.ci_low))
        assert bool(t.significant) == (float(t.p_value) < alpha)
        low, high = _scipy_interval(75, 1000, 50, 1000, alpha)
        assert (float(t.ci_low), float(t.ci_high)) == pytest.approx((low, high), rel=1e-9)
    assert widths == sorted(widths, reverse=True)
    # p = 0.0198: significant at 5%, not at 1%.
    assert compare_proportions(75, 1000, 50, 1000, alpha=0.05).significant
    assert not compare_proportions(75, 1000, 50, 1000, alpha=0.01).significant


def test_arrays_with_nulls_and_float_counts() -> None:
    t = compare_proportions(np.array([0.0, 12.0, 7.5]), np.array([0.0, 40.0, 20.0]), 10, 40)
    assert isinstance(t, ProportionTest)
    assert t.tested.tolist() == [False, True, True]
    assert np.isnan(t.p_value[0])
    assert not t.significant[0]
    rows = t.records()
    assert rows[0]["significant"] is None
    assert rows[2]["rate"] == 0.375


def test_refuses_a_numerator_above_its_denominator_naming_the_side() -> None:
    with pytest.raises(ValueError, match=r"^variation: numerator x exceeds denominator n: 5 > 3$"):
        compare_proportions(5, 3, 1, 10)
    with pytest.raises(ValueError, match=r"^baseline: numerator x0 exceeds denominator n0: 11 > 10$"):
        compare_proportions(1, 3, 11, 10)
    with pytest.raises(ValueError, match=r"variation: .* at position 1: 9 > 8"):
        compare_proportions([1, 9], [8, 8], 1, 10)
    with pytest.raises(ValueError, match=r"variation: .* at position 2: 4 > 3"):
        winner([1, 2, 4], [3, 3, 3])


def test_refuses_bad_counts_and_alpha() -> None:
    with pytest.raises(ValueError, match="n0 must hold finite counts >= 0"):
        compare_proportions(1, 3, 1, -10)
    with pytest.raises(ValueError, match="x must hold finite counts"):
        compare_proportions(math.nan, 3, 1, 10)
    with pytest.raises(ValueError, match="broadcast"):
        compare_proportions([1, 2], [3, 3, 3], 1, 10)
    for alpha in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
            compare_proportions(1, 3, 1, 10, alpha=alpha)
        with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
            winner([1, 2], [3, 3], alpha=alpha)
    with pytest.raises(ValueError, match="one x and one n per variation"):
        winner([1, 2], [3, 3, 3])


# -- the winner -------------------------------------------------------------------------------


def test_winner_by_hand() -> None:
    # 9.5% beats 6.0% (p = 0.0037) and 5.2% (p = 0.0002).
    assert winner([60, 95, 52], [1000, 1000, 1000]) == 1
    # 6.6% does not beat 6.0% (p = 0.58).
    assert winner([60, 66], [1000, 1000]) is None
    # The best must beat every other, not only the worst.
    assert winner([90, 95, 52], [1000, 1000, 1000]) is None
    assert winner([60, 30], [1000, 1000], lower_is_better=True) == 1
    assert winner([60, 30], [1000, 1000]) == 0


def test_no_winner_without_two_variations_or_with_a_tie() -> None:
    assert winner([], []) is None
    assert winner([900], [1000]) is None
    assert winner([90, 90, 10], [1000, 1000, 1000]) is None
    assert winner([0, 0, 10], [1000, 1000, 1000], lower_is_better=True) is None
    # A variation without recipients has no rate, and nothing can be shown to beat it.
    assert winner([90, 10, 0], [1000, 1000, 0]) is None


def test_winner_depends_on_alpha() -> None:
    # 7.5% against 5.0%: p = 0.0198.
    assert winner([75, 50], [1000, 1000], alpha=0.05) == 0
    assert winner([75, 50], [1000, 1000], alpha=0.01) is None


@given(st.lists(arms(1, 3000), max_size=6), st.booleans(), st.sampled_from([0.01, 0.05, 0.1]))
def test_winner_is_brazes_rule_checked_with_scipy(
    variations: list[tuple[int, int]], lower: bool, alpha: float
) -> None:
    xs = [x for x, _ in variations]
    ns = [n for _, n in variations]
    rates = [x / n for x, n in variations]
    expected = None
    if len(variations) >= 2:
        best = min(rates) if lower else max(rates)
        for i, rate in enumerate(rates):
            if rate != best:
                continue
            pairwise = [_scipy_p_value(xs[i], ns[i], xs[j], ns[j]) for j in range(len(variations)) if j != i]
            if all(p is not None and p < alpha for p in pairwise):
                expected = i
    assert winner(xs, ns, alpha=alpha, lower_is_better=lower) == expected
    # At most one variation can beat every other.
    beats_all = [
        i for i in range(len(variations))
        if len(variations) >= 2 and all(
            (p := _scipy_p_value(xs[i], ns[i], xs[j], ns[j])) is not None and p < alpha
            and (rates[i] < rates[j] if lower else rates[i] > rates[j])
            for j in range(len(variations)) if j != i
        )
    ]
    assert beats_all == ([] if expected is None else [expected])


# -- by simulation ----------------------------------------------------------------------------


RUNS = 2000


def _binomial_band(share: float, runs: int = RUNS) -> float:
    """Four binomial standard errors: a false alarm once in ~16,000 runs of the suite."""
    return 4 * math.sqrt(share * (1 - share) / runs)


@pytest.mark.parametrize(
    ("n", "n0", "p", "p0", "alpha"),
    [
        (2000, 2000, 0.06, 0.05, 0.05),  # measured: coverage 0.9490
        (1000, 5000, 0.25, 0.20, 0.05),  # measured: coverage 0.9425
        (3000, 3000, 0.10, 0.10, 0.10),  # measured: coverage 0.8975
    ],
)
def test_interval_covers_the_true_difference_about_1_minus_alpha_of_runs(
    n: int, n0: int, p: float, p0: float, alpha: float
) -> None:
    rng = np.random.default_rng(1101)
    t = compare_proportions(rng.binomial(n, p, RUNS), n, rng.binomial(n0, p0, RUNS), n0, alpha=alpha)
    coverage = float(np.mean((t.ci_low <= p - p0) & (p - p0 <= t.ci_high)))
    assert abs(coverage - (1 - alpha)) <= _binomial_band(1 - alpha)


@pytest.mark.parametrize(
    ("n", "n0", "p", "alpha"),
    [
        (2000, 2000, 0.05, 0.05),  # measured: significant in 0.0470 of runs
        (1000, 5000, 0.20, 0.05),  # measured: 0.0495
        (3000, 3000, 0.10, 0.01),  # measured: 0.0110
    ],
)
def test_with_no_effect_significant_about_alpha_of_runs(n: int, n0: int, p: float, alpha: float) -> None:
    rng = np.random.default_rng(1102)
    t = compare_proportions(rng.binomial(n, p, RUNS), n, rng.binomial(n0, p, RUNS), n0, alpha=alpha)
    false_positive = float(np.mean(t.significant))
    assert abs(false_positive - alpha) <= _binomial_band(alpha)


def test_winner_false_alarms_stay_below_alpha_with_no_effect() -> None:
    # Three equal variations: a winner needs two significant tests, so false winners are
    # rarer than alpha (measured: 0.0095).
    rng = np.random.default_rng(1103)
    wins = sum(winner(rng.binomial(2000, 0.05, 3), [2000] * 3) is not None for _ in range(RUNS))
    assert wins / RUNS <= 0.05
