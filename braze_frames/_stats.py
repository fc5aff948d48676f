"""A/B readout statistics: two-proportion comparisons and Braze's winner rule (SPEC section 11).

Pure functions on counts: a variation's numerator ``x`` (users who converted, clicked...)
out of its denominator ``n``, against a baseline's ``x0`` out of ``n0``. They need only the
normal distribution, from the standard library (``statistics.NormalDist`` for the
quantile, ``math.erfc`` for the tail):

- the difference's interval is the unpooled normal (Wald) interval;
- the p-value is the two-sided pooled two-proportion z-test, which is the same number as
  Pearson's chi-squared test on the 2x2 table without continuity correction (z**2 is the
  chi-squared statistic, with one degree of freedom), the test behind Braze's
  "confidence";
- the winner follows Braze's FAQ: the best variation that beats every other at level alpha.

Nulls are NaN in the arrays (``ProportionTest.records`` gives None), never inf.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["ProportionTest", "compare_proportions", "winner"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
#: Counts: a number, or an array (or list) of numbers, broadcast against each other.
Counts = float | Sequence[float] | NDArray[Any]

_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class ProportionTest:
    """Each variation against its baseline: arrays of the inputs' broadcast shape.

    NaN means null. ``rate`` is null when ``n`` is 0 and ``baseline_rate`` when ``n0``
    is; ``lift`` also when the baseline rate is 0. The test columns (``ci_low``,
    ``ci_high``, ``p_value``, ``confidence``, ``significant``) are null when a rate is,
    and when both rates are 0 or both are 1 (there is then nothing to test: the pooled
    variance is 0). ``tested`` says where they are defined; ``significant`` is False
    where they are not.

    Attributes:
        rate: ``x / n``.
        baseline_rate: ``x0 / n0``.
        lift: ``rate / baseline_rate - 1``.
        difference: ``rate - baseline_rate``.
        ci_low: Lower end of the difference's two-sided 1 - alpha interval, unpooled
            normal standard error. When both rates are 0 or 1 but differ, that standard
            error is 0 and the interval is the single point ``difference``.
        ci_high: Its upper end.
        p_value: Two-sided pooled two-proportion z-test (Pearson's chi-squared on the
            2x2 table, no continuity correction).
        confidence: ``1 - p_value``, Braze's "confidence": evidence that the rates
            differ, not that this one is better (``difference`` gives the direction).
        significant: ``p_value < alpha``.
        tested: Where the test columns are defined.
    """

    rate: FloatArray
    baseline_rate: FloatArray
    lift: FloatArray
    difference: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    p_value: FloatArray
    confidence: FloatArray
    significant: BoolArray
    tested: BoolArray

    def records(self) -> list[dict[str, float | bool | None]]:
        """One dict per element (flattened), with None for null and plain Python values.

        Examples:
            >>> compare_proportions(0, 10, 0, 10).records()[0]["p_value"] is None
            True
        """
        columns = {f.name: getattr(self, f.name).ravel() for f in fields(self) if f.name != "tested"}
        tested = self.tested.ravel()
        out: list[dict[str, float | bool | None]] = []
        for i in range(tested.size):
            row: dict[str, float | bool | None] = {}
            for name, values in columns.items():
                if name == "significant":
                    row[name] = bool(values[i]) if tested[i] else None
                else:
                    value = float(values[i])
                    row[name] = None if math.isnan(value) else value
            out.append(row)
        return out


def compare_proportions(
    x: Counts, n: Counts, x0: Counts, n0: Counts, *, alpha: float = 0.05
) -> ProportionTest:
    """Compare proportions ``x / n`` with a baseline ``x0 / n0``: lift, interval, p-value.

    Vectorised: the four counts broadcast against each other, so one call compares every
    variation of a campaign with its control (``x0`` and ``n0`` plain numbers).

    Args:
        x: Numerators (users who converted...), non-negative.
        n: Denominators, each at least its numerator.
        x0: The baseline's numerator(s).
        n0: The baseline's denominator(s).
        alpha: The test's level; the interval covers 1 - alpha.

    Returns:
        A :class:`ProportionTest` of arrays in the broadcast shape (0-d for numbers).

    Raises:
        ValueError: A count that is negative or not finite, a numerator above its
            denominator (the message names the side and the first offending position),
            shapes that do not broadcast, or alpha outside (0, 1).

    Examples:
        6.0% of 1,000 against 5.0% of 1,000:

        >>> t = compare_proportions(60, 1000, 50, 1000)
        >>> round(float(t.lift), 4), round(float(t.difference), 4)
        (0.2, 0.01)
        >>> [round(float(v), 4) for v in (t.ci_low, t.ci_high, t.p_value)], bool(t.significant)
        ([-0.01, 0.03, 0.3267], False)

        Two variations against one control in one call:

        >>> t = compare_proportions([60, 90], [1000, 1000], 50, 1000)
        >>> t.p_value.round(4).tolist(), t.significant.tolist()
        ([0.3267, 0.0005], [False, True])
    """
    z_crit = _z_critical(alpha)
    counts = [_counts(v, name) for v, name in ((x, "x"), (n, "n"), (x0, "x0"), (n0, "n0"))]
    try:
        xs, ns, x0s, n0s = np.broadcast_arrays(*counts)
    except ValueError as exc:
        msg = f"x, n, x0 and n0 must broadcast together: {exc}"
        raise ValueError(msg) from exc
    _check_subset(xs, ns, "variation: numerator x exceeds denominator n")
    _check_subset(x0s, n0s, "baseline: numerator x0 exceeds denominator n0")

    with np.errstate(divide="ignore", invalid="ignore"):
        # Differences and complements come from the counts: from the rates, 1 - rate and
        # rate - baseline_rate would lose digits when the rates are near 1 or each other.
        both = (ns > 0) & (n0s > 0)
        cross = xs * n0s - x0s * ns
        misses = ns - xs
        misses0 = n0s - x0s
        rate = np.where(ns > 0, xs / ns, np.nan)
        base = np.where(n0s > 0, x0s / n0s, np.nan)
        difference = np.where(both, cross / (ns * n0s), np.nan)
        lift = np.where(both & (x0s > 0), cross / (x0s * ns), np.nan)
        # The pooled variance is 0 when both rates are 0 or both are 1, and only then.
        tested = both & (xs + x0s > 0) & (misses + misses0 > 0)
        pooled_var = (xs + x0s) * (misses + misses0) / (ns + n0s) ** 2 * (1.0 / ns + 1.0 / n0s)
        z = np.where(tested, difference / np.sqrt(pooled_var), np.nan)
        se = np.sqrt(xs * misses / ns**3 + x0s * misses0 / n0s**3)
    half = np.where(tested, z_crit * se, np.nan)
    p_value = _two_sided_p(z)
    return ProportionTest(
        rate=rate,
        baseline_rate=base,
        lift=lift,
        difference=difference,
        ci_low=difference - half,
        ci_high=difference + half,
        p_value=p_value,
        confidence=1.0 - p_value,
        significant=tested & (p_value < alpha),
        tested=tested,
    )


def winner(x: Counts, n: Counts, *, alpha: float = 0.05, lower_is_better: bool = False) -> int | None:
    """Braze's winner among the non-control variations: its index, or None.

    The winner is the variation with the best rate (highest, or lowest when
    ``lower_is_better``) whose pooled two-proportion test against every other variation
    has p < alpha. There is none with fewer than two variations, when the best rate is
    shared (the test between the tied ones has p = 1), or when a test is null: a
    variation with n = 0 has no rate, so nothing can be shown to beat it (leave such
    variations out first if they should not count).

    Args:
        x: The non-control variations' numerators (the control is not passed).
        n: Their denominators.
        alpha: The level each pairwise test must beat.
        lower_is_better: For rates where lower is better (bounces, unsubscribes...).

    Returns:
        The position of the winning variation in ``x`` and ``n``, or None.

    Raises:
        ValueError: As :func:`compare_proportions`, or ``x`` and ``n`` not
            one-dimensional of the same length.

    Examples:
        >>> winner([60, 95, 52], [1000, 1000, 1000])
        1
        >>> print(winner([60, 66], [1000, 1000]))
        None
        >>> winner([60, 30], [1000, 1000], lower_is_better=True)
        1
    """
    _z_critical(alpha)
    xs = _counts(x, "x")
    ns = _counts(n, "n")
    if xs.ndim != 1 or xs.shape != ns.shape:
        msg = f"winner needs one x and one n per variation, not shapes {xs.shape} and {ns.shape}"
        raise ValueError(msg)
    _check_subset(xs, ns, "variation: numerator x exceeds denominator n")
    if xs.size < 2 or not (ns > 0).all():
        return None
    rates = xs / ns
    best = int(np.argmin(rates) if lower_is_better else np.argmax(rates))
    others = np.arange(xs.size) != best
    test = compare_proportions(xs[best], ns[best], xs[others], ns[others], alpha=alpha)
    return best if bool(test.significant.all()) else None


# ---------------------------------------------------------------------------------------


def _counts(values: Counts, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if not np.isfinite(arr).all() or (arr < 0).any():
        msg = f"{name} must hold finite counts >= 0"
        raise ValueError(msg)
    return arr


def _check_subset(x: FloatArray, n: FloatArray, what: str) -> None:
    over = x > n
    if over.any():
        i = np.unravel_index(int(np.argmax(over)), over.shape) if over.ndim else ()
        where = "" if not i else f" at position {', '.join(str(int(v)) for v in i)}"
        msg = f"{what}{where}: {x[i]:g} > {n[i]:g}"
        raise ValueError(msg)


def _z_critical(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        msg = f"alpha must be between 0 and 1, not {alpha!r}"
        raise ValueError(msg)
    return _NORMAL.inv_cdf(1.0 - alpha / 2.0)


def _two_sided_p(z: FloatArray) -> FloatArray:
    # erfc(|z| / sqrt 2) is 2 * (1 - Phi(|z|)) without the cancellation: NormalDist.cdf
    # computes 1 + erf(x), which keeps only about 7 digits of a p-value near 1e-9 and
    # none beyond 1e-16.
    flat = [math.nan if math.isnan(v) else math.erfc(abs(v) / math.sqrt(2.0)) for v in z.ravel().tolist()]
    return np.asarray(flat, dtype=np.float64).reshape(z.shape)
