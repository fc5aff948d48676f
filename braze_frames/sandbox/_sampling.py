"""Seeded sampling helpers shared by the campaign, Canvas and workspace simulations.

Everything draws from a :class:`random.Random` passed in, so results depend only on how
that generator was seeded. Two binomial samplers exist on purpose: :func:`binom` is fast
and close (exact for small ``n``, Poisson or normal above), which is all the shapes and
funnels need; :func:`binom_exact` is exact, for the experiment campaigns whose tests rely
on the cohort counts being Binomial(recipients, p).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from statistics import NormalDist
from typing import Final

__all__ = [
    "allocate",
    "binom",
    "binom_exact",
    "cumulative",
    "lag_probabilities",
    "normal",
    "split",
    "truncate",
]

#: Standard normal quantiles at the midpoints of 4096 equal-probability cells: one
#: ``random()`` and an index replace ``gauss()``, which dominated the simulation's time.
_NORMAL: Final = tuple(NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096))


def normal(rng: random.Random) -> float:
    """A standard normal draw (discretised to 4096 equal-probability cells)."""
    return _NORMAL[int(rng.random() * 4096)]


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method; only called with lam < 15, where it takes a handful of draws.
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def binom(rng: random.Random, n: int, p: float) -> int:
    """Draw Binomial(n, p), exactly for small n, by Poisson or normal approximation above."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if n <= 24:
        r = rng.random
        return sum(r() < p for _ in range(n))
    mean = n * p
    if mean < 15.0:
        return min(n, _poisson(rng, mean))
    if n - mean < 15.0:
        return n - min(n, _poisson(rng, n - mean))
    x = round(mean + math.sqrt(mean * (1.0 - p)) * _NORMAL[int(rng.random() * 4096)])
    return min(n, max(0, x))


def binom_exact(rng: random.Random, n: int, p: float) -> int:
    """Draw Binomial(n, p) exactly, by inversion of its distribution function.

    The outcomes are visited from the mode outwards (mode, mode-1, mode+1, ...), so a draw
    costs a few standard deviations of steps, whatever ``n`` is. Any fixed visiting order
    gives exact inversion; this one is merely short.

    Examples:
        >>> rng = random.Random(0)
        >>> draws = [binom_exact(rng, 1000, 0.03) for _ in range(2000)]
        >>> abs(sum(draws) / len(draws) - 30) < 0.5
        True
    """
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - binom_exact(rng, n, 1.0 - p)
    if n <= 24:
        r = rng.random
        return sum(r() < p for _ in range(n))
    q = 1.0 - p
    ratio = p / q
    mode = min(n, int((n + 1) * p))
    log_pmf = (math.lgamma(n + 1) - math.lgamma(mode + 1) - math.lgamma(n - mode + 1)
               + mode * math.log(p) + (n - mode) * math.log(q))
    u = rng.random() - math.exp(log_pmf)
    if u <= 0.0:
        return mode
    lo = hi = mode
    p_lo = p_hi = math.exp(log_pmf)
    while lo > 0 or hi < n:
        if lo > 0:
            p_lo *= lo / ((n - lo + 1) * ratio)  # pmf(lo - 1) from pmf(lo)
            lo -= 1
            u -= p_lo
            if u <= 0.0:
                return lo
        if hi < n:
            p_hi *= (n - hi) / (hi + 1) * ratio  # pmf(hi + 1) from pmf(hi)
            hi += 1
            u -= p_hi
            if u <= 0.0:
                return hi
    return mode  # rounding left a sliver of probability unassigned: give it to the mode


def cumulative(probs: tuple[float, ...]) -> list[float]:
    """Cumulative weights for :func:`random.Random.choices`."""
    out: list[float] = []
    total = 0.0
    for p in probs:
        total += p
        out.append(total)
    return out


def allocate(rng: random.Random, n: int, probs: tuple[float, ...], cum: list[float]) -> list[int]:
    """Spread n items over the cells 0..len(probs)-1; unbiased: E[count_j] = n * probs[j]."""
    counts = [0] * len(probs)
    if n <= 0:
        return counts
    if len(probs) == 1:
        counts[0] = n
        return counts
    if n <= 24:
        # What rng.choices(cum_weights=cum, k=n) does, without its per-call set-up.
        r = rng.random
        total = cum[-1]
        hi = len(cum) - 1
        for _ in range(n):
            counts[bisect_right(cum, r() * total, 0, hi)] += 1
        return counts
    exact = [n * p for p in probs]
    for j, x in enumerate(exact):
        counts[j] = int(x)
    rest = n - sum(counts)
    if rest > 0:
        # The remainders go by the fractional parts (rng.choices' draws, without its set-up).
        cum_fractions = cumulative(tuple(x - c for x, c in zip(exact, counts, strict=True)))
        total = cum_fractions[-1]
        hi = len(cum_fractions) - 1
        r = rng.random
        for _ in range(rest):
            counts[bisect_right(cum_fractions, r() * total, 0, hi)] += 1
    return counts


def split(rng: random.Random, n: int, weights: tuple[float, ...]) -> list[int]:
    """Split n into parts that sum to n exactly, each about n * its share of the weights.

    Sequential conditional binomials, so the parts always add up to the whole (the
    workspace's apps sum to its all-apps series this way).
    """
    parts = [0] * len(weights)
    left = n
    weight_left = sum(weights)
    for i, w in enumerate(weights):
        if left <= 0:
            break
        if i == len(weights) - 1 or weight_left <= w:
            parts[i] = left
            break
        parts[i] = binom(rng, left, w / weight_left)
        left -= parts[i]
        weight_left -= w
    return parts


def lag_probabilities(scale_days: float, window_days: int) -> tuple[float, ...]:
    """A discretised exponential lag distribution truncated to the window (0..window days).

    Examples:
        >>> p = lag_probabilities(1.0, 3)
        >>> len(p), round(sum(p), 12)
        (4, 1.0)
    """
    weights = [math.exp(-j / scale_days) for j in range(window_days + 1)]
    total = sum(weights)
    return tuple(w / total for w in weights)


def truncate(probs: tuple[float, ...], last: int) -> tuple[float, ...]:
    """Keep the cells 0..last of a distribution and renormalise.

    Examples:
        >>> [round(p, 3) for p in truncate((0.5, 0.3, 0.2), 1)]
        [0.625, 0.375]
    """
    kept = probs[: max(0, last) + 1]
    total = sum(kept)
    return tuple(p / total for p in kept)
