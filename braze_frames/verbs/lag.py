"""The mean conversion lag, estimated by deconvolving the two conversion attributions.

Braze counts each conversion twice: ``C_j`` on the day j it happened and ``B_j`` on the day
j its message was sent (SPEC section 6). If a conversion comes l days after its send with
probability ``p_l`` (l = 0..W, W the conversion window in days), then

    E[C_j | B] = sum_l p_l * B_{j-l}

so the lag distribution is the non-negative mixture of shifted by-send-date counts that
best explains the by-conversion-date counts. The first estimator, the area between the
two cumulative curves, is exact only over a campaign's whole life; in a window that starts
after the first send it collapses towards zero or below (issue 10, item 1). The fit here
uses only days whose W preceding by-send-date counts are inside the window, so the window's
start does not bias it.

When the data cannot pin the lag down the answer is None, never a misleading number.
Daily totals identify the lag only through changes in the number of sends: a burst of
sends comes back as a burst of conversions spread the way the lag is, while perfectly
steady sends give steady conversions whatever the lag. The rule that decides (see
:func:`fit_lag`) is a profile-likelihood interval for the mean lag, the range of means
whose best fit is not significantly worse than the best fit overall given the noise in
the residuals: wider than a day, and the mean is not identified.

Only numpy and the standard library. The non-negative least squares solver is Lawson and
Hanson's active-set method, here on the normal equations, which are tiny (W + 1 <= 31
unknowns) whatever the number of days.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["MAX_WINDOW_DAYS", "LagFit", "LagStatus", "fit_lag", "mean_lag", "nnls"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]
#: One count per consecutive day; None (or NaN) where that side is missing.
DailyCounts = Sequence[float | None] | NDArray[Any]

#: Why :attr:`LagFit.mean` is what it is.
LagStatus = Literal["ok", "too_few_days", "no_conversions", "not_identifiable", "no_convergence"]

#: The longest conversion window accepted, in days. Braze allows 30; the profile's work
#: grows with the square of the window, so an absurd value is refused rather than slow.
MAX_WINDOW_DAYS: Final = 60
#: Usable days needed beyond the W + 1 unknowns: the noise is estimated from the residuals,
#: and with 2 degrees of freedom Student's t is finite and still usable.
_EXTRA_DAYS: Final = 2
#: The interval's ends are located to this many days.
_END_TOL: Final = 1e-2
#: Relative residual below which a fit is exact up to rounding, so that noiseless data
#: (an exact lag) gets a tiny interval rather than an empty one.
_ROUNDING: Final = 1e-12
#: A mean this close to a whole lag is that lag (the profile's rays then include it).
_ON_LAG: Final = 1e-9
#: A fitted count below one conversion is floored there when it becomes a variance.
_MIN_VARIANCE: Final = 1.0


@dataclass(frozen=True, slots=True)
class LagFit:
    """The fitted lag distribution and whether it identifies the mean lag.

    Attributes:
        mean: The mean lag in days, or None when the data cannot pin it down.
        status: Why: ``"ok"``; ``"too_few_days"`` (fewer than W + 3 usable days);
            ``"no_conversions"`` (either side sums to 0 over the usable days, or no
            shifted sends explain any conversion); ``"not_identifiable"`` (the interval
            is too wide: typically steady sends); ``"no_convergence"``
            (the solver's iteration cap was reached; it should not happen).
        estimate: The fitted distribution's mean, also when ``mean`` is None (then it is
            one of many about equally good answers: do not show it as the lag).
        interval: The profile interval for the mean lag, ``(low, high)`` days.
        distribution: The fitted ``p_0..p_W``, normalised to sum to 1.
        mass: The fitted weights' sum before normalising: the share of the by-send-date
            conversions that reappear by conversion date. Near 1 when the model holds;
            below 1 when some conversions come more than W days after their send.
        days_used: The conversion days the fit used.
        tail_excluded: How many of the ``exclude_tail`` days were left out: all of them
            when W + 3 usable days remain without them, otherwise as many as that
            allows (latest first).

    Examples:
        >>> fit = fit_lag([100] * 20, [100] * 20, 3)
        >>> fit.mean, fit.status, fit.interval
        (None, 'not_identifiable', (0.0, 3.0))
    """

    mean: float | None
    status: LagStatus
    estimate: float | None = None
    interval: tuple[float, float] | None = None
    distribution: tuple[float, ...] | None = None
    mass: float | None = None
    days_used: int = 0
    tail_excluded: int = 0


def mean_lag(
    by_conversion: DailyCounts,
    by_send: DailyCounts,
    window_days: int,
    *,
    exclude_tail: int = 0,
    level: float = 0.95,
    max_width: float = 1.0,
) -> float | None:
    """Estimate the mean days from send to conversion; None when the data cannot tell.

    The same as ``fit_lag(...).mean``: see :func:`fit_lag` for the arguments and method.

    Examples:
        Every conversion comes one day after its send, and the sends vary:

        >>> sends = [5, 9, 2, 7, 4, 0, 3, 8]
        >>> conversions = [0, *sends[:-1]]
        >>> mean_lag(conversions, sends, 2)
        1.0

        Steady sends give the same conversions whatever the lag:

        >>> print(mean_lag([100] * 20, [100] * 20, 3))
        None
    """
    # Only the mean is wanted: an interval known to be too wide need not be searched further.
    return _fit_lag(by_conversion, by_send, window_days, exclude_tail=exclude_tail, level=level,
                    max_width=max_width, decide=True).mean


def fit_lag(
    by_conversion: DailyCounts,
    by_send: DailyCounts,
    window_days: int,
    *,
    exclude_tail: int = 0,
    level: float = 0.95,
    max_width: float = 1.0,
) -> LagFit:
    """Fit the lag distribution ``p_0..p_W`` and say whether it identifies the mean lag.

    The fit: ``C_j ~ sum_l p_l B_{j-l}`` with ``p_l >= 0``, by least squares over the days
    j from the series' start + W to its end where ``C_j`` and ``B_{j-W..j}`` are all
    present. The last ``exclude_tail`` days are left out: all of them when at least W + 3
    usable days remain, otherwise the latest ones down to W + 3 days (partly grown counts
    pull the lag short, but a little of them beats no answer). Counts are Poisson-like, a
    day's variance growing with its count, so after a first unweighted fit the days are
    weighted by 1 / fitted count (quasi-Poisson, two steps); unweighted, a burst day's
    noise would set the noise level of every day. The weights are normalised to sum to
    1 and the mean lag is ``sum_l l * p_l``.

    Identifiability: for a mean m let RSS(m) be the least residual sum of squares over the
    ``p >= 0`` whose mean is exactly m. The interval is the set of m with ``RSS(m) -
    RSS_min <= F * s**2``, where ``s**2 = RSS_min / (n - k)`` estimates the dispersion
    from the best fit's residuals (n days, k positive weights) and F is the ``level``
    quantile of F(1, n - k): the textbook profile-likelihood interval. It is one interval
    because RSS(m) is quasi-convex (the means of a convex set of distributions form an
    interval). The mean is reported only when the interval is at most ``max_width`` days
    wide and covers at most half of 0..W (for W = 1 a one-day interval says nothing).
    With steady sends the shifted series are nearly the same, every mean fits about
    equally well and the interval spans most of 0..W. Noise-free data are judged the
    same way, with rounding as the noise: an exact lag is reported, and a lag that the
    days cannot tell from another is not.

    Args:
        by_conversion: ``C``, conversions counted on the day they happened, one value per
            consecutive day; None or NaN where that side is missing.
        by_send: ``B``, conversions counted on their message's send day, aligned with
            ``by_conversion``. A day without any row is a day of zeros on both sides.
        window_days: W, the conversion window in whole days: lags 0..W are fitted. At
            most :data:`MAX_WINDOW_DAYS`.
        exclude_tail: How many trailing days have by-send-date counts that may still
            grow. When the series' last day is g >= 1 days before today, that is
            ``max(0, window_days + 1 - g)`` (``window_days`` when it ends yesterday);
            0 for a series that ended long ago.
        level: The interval's confidence level.
        max_width: The widest interval, in days, for which the mean is reported (W / 2
            when that is less).

    Returns:
        A :class:`LagFit`; its ``mean`` is the answer.

    Raises:
        ValueError: Series of different lengths or not one-dimensional, negative or
            infinite counts, or a bad ``window_days``, ``exclude_tail``, ``level`` or
            ``max_width``.

    Examples:
        Two bursts of sends; a third of the conversions on the send day, two thirds two
        days later:

        >>> sends = [0, 30, 0, 0, 0, 0, 90, 0, 0, 0, 0, 0]
        >>> conv = [0, 10, 0, 20, 0, 0, 30, 0, 60, 0, 0, 0]
        >>> fit = fit_lag(conv, sends, 3)
        >>> round(fit.mean, 6), [round(p, 6) for p in fit.distribution], fit.days_used
        (1.333333, [0.333333, 0.0, 0.666667, 0.0], 9)
    """
    return _fit_lag(by_conversion, by_send, window_days, exclude_tail=exclude_tail, level=level,
                    max_width=max_width, decide=False)


def _fit_lag(
    by_conversion: DailyCounts,
    by_send: DailyCounts,
    window_days: int,
    *,
    exclude_tail: int,
    level: float,
    max_width: float,
    decide: bool,
) -> LagFit:
    """``fit_lag``; with ``decide``, a wide interval is not searched to its ends (``mean_lag``)."""
    c_all, b_all, w, tail = _checked(by_conversion, by_send, window_days, exclude_tail, level, max_width)
    days = _usable_days(c_all, b_all, w, tail)
    if isinstance(days, LagFit):
        return days
    x = _design(b_all, w)[days.usable]
    y = c_all[w:][days.usable]
    if not (y.any() and x.any()):
        return LagFit(None, "no_conversions", days_used=days.count, tail_excluded=days.tail_excluded)
    fitted = _two_step_fit(x, y)
    if fitted is None:
        return LagFit(None, "no_convergence", days_used=days.count, tail_excluded=days.tail_excluded)
    return _verdict(*fitted, days_used=days.count, tail_excluded=days.tail_excluded, level=level,
                    max_width=max_width, decide=decide)


def _checked(
    by_conversion: DailyCounts, by_send: DailyCounts, window_days: int, exclude_tail: int, level: float,
    max_width: float,
) -> tuple[FloatArray, FloatArray, int, int]:
    """The two series as arrays, W and the tail, after every argument check ``fit_lag`` makes."""
    c_all = _series(by_conversion, "by_conversion")
    b_all = _series(by_send, "by_send")
    if c_all.shape != b_all.shape:
        msg = f"by_conversion and by_send must be aligned: {c_all.size} days against {b_all.size}"
        raise ValueError(msg)
    w = _days(window_days, "window_days")
    if w > MAX_WINDOW_DAYS:
        msg = f"window_days must be at most {MAX_WINDOW_DAYS} (Braze allows 30), not {w}"
        raise ValueError(msg)
    tail = _days(exclude_tail, "exclude_tail")
    if not 0.0 < level < 1.0:
        msg = f"level must be between 0 and 1, not {level!r}"
        raise ValueError(msg)
    if not max_width > 0.0:
        msg = f"max_width must be positive, not {max_width!r}"
        raise ValueError(msg)
    return c_all, b_all, w, tail


@dataclass(frozen=True, slots=True)
class _UsableDays:
    """Which days the fit uses: ``usable[i]`` for day ``i + W``."""

    usable: BoolArray
    count: int
    tail_excluded: int


def _design(b_all: FloatArray, w: int) -> FloatArray:
    # Row i is day j = i + W and column l holds B_{j-l}: a read-only view that steps back a
    # day per column, nothing is copied yet (sliding_window_view costs 4x as much to set up).
    step = b_all.strides[0]
    return np.lib.stride_tricks.as_strided(b_all[w:], shape=(b_all.size - w, w + 1), strides=(step, -step),
                                           writeable=False)


def _usable_days(c_all: FloatArray, b_all: FloatArray, w: int, tail: int) -> _UsableDays | LagFit:
    """The days with C and all W + 1 sends present, less the growing tail; a LagFit if too few."""
    k = w + 1
    min_days = k + _EXTRA_DAYS
    if c_all.size < k:
        return LagFit(None, "too_few_days")
    target = c_all[w:]
    missing = ~np.isfinite(b_all)
    if missing.any():
        # A day is usable when none of its W + 1 sends is missing: a running count of the
        # missing ones, differenced, reads that in one pass over the days.
        seen = np.concatenate([[0], np.cumsum(missing)])
        usable = np.isfinite(target) & (seen[k:] == seen[:-k])
    else:
        usable = np.isfinite(target)
    tail_excluded = 0
    if tail:
        # The tail's by-send-date counts are still growing (SPEC section 6): leave those
        # days out, latest (least complete) first, as far as the rest suffice.
        first = max(0, usable.size - tail)
        in_tail = first + np.flatnonzero(usable[first:])
        tail_excluded = min(in_tail.size, max(0, int(usable.sum()) - min_days))
        usable[in_tail[in_tail.size - tail_excluded :]] = False
    n = int(usable.sum())
    if n < min_days:
        return LagFit(None, "too_few_days", days_used=n, tail_excluded=tail_excluded)
    return _UsableDays(usable, n, tail_excluded)


def nnls(a: ArrayLike, b: ArrayLike, *, max_iter: int | None = None) -> tuple[FloatArray, float]:
    """Solve ``min ||a @ x - b||`` subject to ``x >= 0`` (Lawson and Hanson's active set).

    The contract of ``scipy.optimize.nnls``, without scipy. The iterations work on the
    normal equations ``a.T @ a`` with columns scaled to unit norm, fast for this module's
    small problems (tens of columns, any number of rows); a final least squares solve on
    the chosen columns restores the digits a poorly conditioned ``a`` loses there. Near
    dependent columns (condition number beyond about 1e6) can still end it short of the
    optimum: this is no general-purpose replacement for a QR-based solver. A column of
    zeros (or one so tiny that its squared norm underflows) gets 0.

    Args:
        a: The m-by-n matrix.
        b: The m right-hand sides.
        max_iter: Cap on the active-set iterations; default ``3 * n``.

    Returns:
        The solution x and the residual norm ``||a @ x - b||``.

    Raises:
        ValueError: Shapes that do not match, or values that are not finite.
        RuntimeError: The iteration cap was reached.

    Examples:
        >>> x, rnorm = nnls([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [2.0, -1.0, 1.0])
        >>> x.round(6).tolist(), round(rnorm, 6)
        ([1.5, 0.0], 1.224745)
    """
    a_ = np.asarray(a, dtype=np.float64)
    b_ = np.asarray(b, dtype=np.float64)
    if a_.ndim != 2 or b_.ndim != 1 or a_.shape[0] != b_.shape[0]:
        msg = f"nnls needs an m-by-n matrix and m values, not shapes {a_.shape} and {b_.shape}"
        raise ValueError(msg)
    if not (np.isfinite(a_).all() and np.isfinite(b_).all()):
        msg = "nnls needs finite values"
        raise ValueError(msg)
    cap = 3 * a_.shape[1] if max_iter is None else max_iter
    x, converged = _nnls_gram(a_.T @ a_, a_.T @ b_, float(np.linalg.norm(b_)), cap)
    if not converged:
        msg = f"nnls did not converge in {cap} iterations"
        raise RuntimeError(msg)
    # The normal equations chose the active set; the digits they lost on an ill
    # conditioned matrix are recovered by one least squares solve on the chosen columns.
    chosen = x > 0.0
    if chosen.any():
        polished = np.linalg.lstsq(a_[:, chosen], b_, rcond=None)[0]
        if (polished > 0.0).all():
            x[chosen] = polished
    return x, float(np.linalg.norm(a_ @ x - b_))


# -- the fit ------------------------------------------------------------------------------


def _series(values: DailyCounts, name: str) -> FloatArray:
    # dtype=float64 turns None into NaN, so both spellings of "missing" work.
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        msg = f"{name} must hold one value per day, not an array of shape {arr.shape}"
        raise ValueError(msg)
    if np.isinf(arr).any() or (arr < 0).any():
        msg = f"{name} holds a negative or infinite count"
        raise ValueError(msg)
    return arr


def _days(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        msg = f"{name} must be a whole number of days >= 0, not {value!r}"
        raise ValueError(msg)
    return int(value)


def _two_step_fit(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray, float, FloatArray] | None:
    """The quasi-Poisson fit: ``q, c, y'y`` of the weighted problem and its weights; None if unsolved."""
    # One common unit keeps the normal equations near 1 whatever the campaign's size.
    unit = max(float(y.max()), float(x.max()))
    x = x / unit
    y = y / unit
    q, c = _normal_equations(x, y)
    # The unconstrained solution's positive weights guess the active set, which saves
    # most of the one-at-a-time steps from an empty set (1.0 ms to 0.13 at W = 30). The
    # solver's stopping test makes any guess reach the optimum; only where columns are
    # exactly dependent may it reach another of the equally good solutions.
    p, converged = _nnls_gram(q, c, float(np.linalg.norm(y)), start=_solve(q, c) > 0.0)
    if not converged:
        return None
    fitted = np.einsum("ij,j->i", x, p)
    root_weight = 1.0 / np.sqrt(np.maximum(fitted, _MIN_VARIANCE / unit))
    x = x * root_weight[:, None]
    y = y * root_weight
    q, c = _normal_equations(x, y)
    yy = float(y @ y)
    p, converged = _nnls_gram(q, c, math.sqrt(yy), start=p > 0.0)
    return (q, c, yy, p) if converged else None


def _verdict(
    q: FloatArray, c: FloatArray, yy: float, p: FloatArray, *, days_used: int, tail_excluded: int,
    level: float, max_width: float, decide: bool,
) -> LagFit:
    """The LagFit of the weighted fit ``p``: its mean, and whether its profile interval is narrow."""
    n, k = days_used, c.size
    mass = float(p.sum())
    if mass <= 0.0:
        return LagFit(None, "no_conversions", days_used=n, tail_excluded=tail_excluded)
    distribution = p / mass
    estimate = float(np.arange(k) @ distribution)
    rss_min = _rss(q, c, yy, p)
    allowed = _allowed(rss_min, yy, n - int(np.count_nonzero(p)), level)
    widest = _widest(max_width, k)
    probe = widest + _END_TOL
    if decide and _wider_than(q[None], c[None], np.array([yy]), p[None], np.array([rss_min + allowed]),
                              probe)[0]:
        interval: tuple[float, float] | None = (estimate - probe, estimate + probe)
    else:
        interval = _profile_interval(q, c, yy, estimate, rss_min, allowed, probe=probe,
                                     stop_if_wider=decide)
    if interval is None:
        status: LagStatus = "no_convergence"
    else:
        narrow = interval[1] - interval[0] <= widest
        status = "ok" if narrow else "not_identifiable"
    return LagFit(
        estimate if status == "ok" else None,
        status,
        estimate=estimate,
        interval=interval,
        distribution=tuple(distribution.tolist()),
        mass=mass,
        days_used=n,
        tail_excluded=tail_excluded,
    )


def _allowed(rss_min: float, yy: float, df: int, level: float) -> float:
    """How far above ``rss_min`` the profile interval reaches: ``F * s**2``, plus rounding."""
    return _t_quantile((1.0 + level) / 2.0, df) ** 2 * rss_min / df + _ROUNDING * yy


def _widest(max_width: float, k: int) -> float:
    # Probes go _END_TOL past this, leaving the borderline cases (an end within the
    # search's tolerance of it) to the full search, as fit_lag decides them.
    return min(max_width, (k - 1) / 2.0)


def _normal_equations(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``x'x`` and ``x'y``, summed over blocks of rows.

    OpenBLAS hands a product to several threads above a size (about 262,144
    multiply-adds for a matrix product, 9,216 for a matrix-vector one), and on a busy
    machine waking them costs far more than these products: a few thousand days at W =
    30 took 200 ms instead of 10 now and then. Blocks below both sizes keep it on one.
    """
    n, k = x.shape
    rows = max(1, min(8192 // k, 250_000 // (k * k)))
    q = np.zeros((k, k))
    c = np.zeros(k)
    for start in range(0, n, rows):
        block = x[start : start + rows]
        q += block.T @ block
        c += block.T @ y[start : start + rows]
    return q, c


def _rss(q: FloatArray, c: FloatArray, yy: float, p: FloatArray) -> float:
    # ||y - Xp||^2 from the normal equations: O(k^2) rather than O(n k).
    return max(0.0, yy - 2.0 * float(c @ p) + float(p @ q @ p))


def _profile_interval(
    q: FloatArray,
    c: FloatArray,
    yy: float,
    m_hat: float,
    rss_min: float,
    allowed: float,
    *,
    probe: float,
    stop_if_wider: bool = False,
) -> tuple[float, float] | None:
    """The means m in [0, W] with ``RSS(m) <= rss_min + allowed``; None if a solve failed.

    Each end is a root of ``g(m) = sqrt(RSS(m) - rss_min) - sqrt(allowed)`` between
    m_hat and 0 (or W). Near its minimum the profile is about quadratic, so g is about
    linear and the Illinois variant of regula falsi takes a handful of solves; it keeps a
    bracket, so it cannot stray where the profile is not quadratic.

    The search starts ``probe`` days from m_hat on each side: where that point is outside
    the interval, the end lies between it and m_hat (the sublevel sets of a quasi-convex
    profile are intervals), a bracket far tighter than the window's edge. Where it is
    inside, the interval is at least ``probe`` wide; with ``stop_if_wider`` the search
    stops there and returns ``(m_hat - probe, m_hat + probe)``, twice as wide, which is all
    that deciding "wider than ``probe``" needs (``mean_lag``: one or two solves for the steady
    sends that make most intervals wide).
    """
    profile = _Profile(q, c, yy)
    root = math.sqrt(allowed)
    top = float(c.size - 1)
    ends = []
    for edge in (0.0, top):
        start = m_hat - probe if edge == 0.0 else m_hat + probe
        if not 0.0 < start < top:
            start = edge
        rss_start = profile.rss(start)
        if rss_start is None:
            return None
        g_start = math.sqrt(max(rss_start - rss_min, 0.0)) - root
        if g_start <= 0.0 and start != edge:
            if stop_if_wider:
                # Not the interval: a stand-in twice ``probe`` wide, which says "too wide".
                return m_hat - probe, m_hat + probe
            rss_edge = profile.rss(edge)
            if rss_edge is None:
                return None
            g_out = math.sqrt(max(rss_edge - rss_min, 0.0)) - root
            inside, outside, g_in = start, edge, g_start
        else:
            g_out = g_start
            inside, outside, g_in = m_hat, start, -root
        kept = 0  # which end the last step kept: -1 inside, +1 outside
        while g_out > 0.0 and abs(outside - inside) > _END_TOL:
            mid = outside - g_out * (outside - inside) / (g_out - g_in)
            rss = profile.rss(mid)
            if rss is None:
                return None
            g_mid = math.sqrt(max(rss - rss_min, 0.0)) - root
            # Illinois: when one end survives twice running, halve its value so that
            # the next guess moves past the root instead of creeping up on it.
            if g_mid <= 0.0:
                inside, g_in = mid, g_mid
                if kept == 1:
                    g_out /= 2.0
                kept = 1
            else:
                outside, g_out = mid, g_mid
                if kept == -1:
                    g_in /= 2.0
                kept = -1
        ends.append(outside if g_out <= 0.0 else inside)
    return ends[0], ends[1]


def _wider_than(
    q: FloatArray, c: FloatArray, yy: FloatArray, p: FloatArray, level: FloatArray, probe: float
) -> BoolArray:
    """Whether a mean ``probe`` days either side of ``p``'s has RSS within ``level``, without a solve.

    Any p' >= 0 with mean m bounds RSS(m) from above, so a p' within ``level`` proves m
    inside the profile interval, which is then wider than ``probe``: the answer
    :func:`_profile_interval` gives with ``stop_if_wider``, for a fraction of its cost
    (its solve over the rays took 1.6 ms at W = 30). The p' tried are ``p`` plus mass at one
    lag j beyond m, as much as moves the mean to m, each scaled to fit best: a closed
    form for every j at once. They decide most wide intervals (88% of the probes on the
    engines benchmark); the others are left to the solve.

    The arguments are stacks, one problem per row (``q`` is S x k x k, ``yy`` and
    ``level`` hold S values), so that many series are decided in one go.
    """
    k = c.shape[1]
    lags = np.arange(k, dtype=np.float64)
    mass = p.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        m_hat = (p @ lags) / mass
    qp = np.matmul(q, p[:, :, None])[:, :, 0]
    pqp = np.einsum("ij,ij->i", p, qp)[:, None]
    cp = np.einsum("ij,ij->i", c, p)[:, None]
    q_jj = np.diagonal(q, axis1=1, axis2=2)
    wide = np.zeros(c.shape[0], dtype=bool)
    for side in (-1.0, 1.0):
        m = (m_hat + side * probe)[:, None]
        beyond = (lags < m) if side < 0 else (lags > m)
        beyond &= (m > 0.0) & (m < k - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = np.where(beyond, mass[:, None] * (m_hat[:, None] - m) / (m - lags), 0.0)
            dqd = pqp + 2.0 * beta * qp + beta * beta * q_jj
            cd = cp + beta * c
            # min over a >= 0 of ||y - a X d||^2; a direction that does not help leaves ||y||^2.
            fits = beyond & (cd > 0.0) & (dqd > 0.0)
            gain = np.where(fits, cd * cd / dqd, -np.inf).max(axis=1)
        wide |= fits.any(axis=1) & (yy - gain <= level)
    return wide


class _Profile:
    """RSS(m): the least residual sum of squares over the p >= 0 whose mean is exactly m.

    The cone {p >= 0 : sum_l (l - m) p_l = 0} is spanned by e_m (when m is a lag) and, for
    each pair of lags a < m < b, the unit-mass mixture of a and b with mean m. Every point
    of the cone is a non-negative combination of those rays, so the constrained problem
    is a plain NNLS in the rays' coefficients (at most (W + 1)**2 / 4 of them). Nearby
    means have nearly the same optimal rays, so each solve starts from the pairs the
    last one used: a few active-set steps instead of one per ray.
    """

    def __init__(self, q: FloatArray, c: FloatArray, yy: float) -> None:
        self.q = q
        self.c = c
        self.yy = yy
        #: The last solution's rays, flagged by key a * (W + 1) + b (a = b for e_m).
        self.support = np.zeros(c.size * c.size, dtype=bool)
        self._pairs: dict[tuple[int, bool], tuple[IntArray, IntArray, IntArray]] = {}

    def rss(self, m: float) -> float | None:
        """RSS(m), or None if the solver did not converge."""
        k = self.c.size
        # Ray i puts weight wa[i] on lag a[i] and wb[i] on lag b[i]; e_m is (m, m, 1, 0).
        a, b, keys = self._rays(m)
        span = np.maximum(b - a, 1)
        wa = np.where(a == b, 1.0, (b - m) / span)
        wb = np.where(a == b, 0.0, (m - a) / span)
        # R'QR and R'c by gathering rather than by matrix products: the rays have two
        # entries each, and a product of this size would wake OpenBLAS's threads, whose
        # start-up costs more than the product on a busy machine.
        qr = self.q[:, a] * wa + self.q[:, b] * wb
        gram = qr[a] * wa[:, None] + qr[b] * wb[:, None]
        weights, converged = _nnls_gram(
            gram, self.c[a] * wa + self.c[b] * wb, math.sqrt(self.yy), start=self.support[keys]
        )
        if not converged:
            return None
        if a.size > 1:
            self.support[:] = False
            self.support[keys[weights > 0.0]] = True
        p = np.bincount(a, wa * weights, minlength=k) + np.bincount(b, wb * weights, minlength=k)
        return _rss(self.q, self.c, self.yy, p.astype(np.float64))

    def _rays(self, m: float) -> tuple[IntArray, IntArray, IntArray]:
        """The lag pairs (a, b) of the rays for m and their keys; the same between lags."""
        low = math.ceil(m - _ON_LAG)  # lags below m: 0..low-1
        on_lag = abs(m - round(m)) <= _ON_LAG
        cached = self._pairs.get((low, on_lag))
        if cached is None:
            k = self.c.size
            below = np.arange(low)
            above = np.arange(low + on_lag, k)
            a = np.repeat(below, above.size)
            b = np.tile(above, below.size)
            if on_lag:
                a = np.append(a, low)
                b = np.append(b, low)
            cached = self._pairs[low, on_lag] = (a, b, a * k + b)
        return cached


# -- non-negative least squares -----------------------------------------------------------


def _nnls_gram(
    q: FloatArray, c: FloatArray, norm: float, max_iter: int | None = None, start: BoolArray | None = None
) -> tuple[FloatArray, bool]:
    """Minimise ``x'qx - 2c'x`` over ``x >= 0`` (``q = A'A``, ``c = A'b``).

    ``norm`` is ``||b||``, the scale of the gradients, for the stopping tolerance;
    ``start`` is a guess of the variables that end up positive. Returns the solution and
    whether it converged.
    """
    k = c.size
    x = np.zeros(k)
    d = np.sqrt(np.clip(np.diag(q), 0.0, None))
    # Unit-norm columns let one relative tolerance serve every column; a zero column
    # cannot help the fit and keeps x = 0.
    keep = d > 0.0
    if not keep.any():
        return x, True
    cap = 3 * k if max_iter is None else max_iter
    if keep.all():  # the usual case, without the copies that selecting columns makes
        guess = np.zeros(k, dtype=bool) if start is None else start
        xs, converged = _lawson_hanson(q / np.outer(d, d), c / d, 1e-10 * norm, cap, guess)
        return xs / d, converged
    dk = d[keep]
    qs = q[np.ix_(keep, keep)] / np.outer(dk, dk)
    cs = c[keep] / dk
    guess = np.zeros(dk.size, dtype=bool) if start is None else start[keep]
    xs, converged = _lawson_hanson(qs, cs, 1e-10 * norm, cap, guess)
    x[keep] = xs / dk
    return x, converged


def _lawson_hanson(
    q: FloatArray, c: FloatArray, tol: float, max_iter: int, start: BoolArray
) -> tuple[FloatArray, bool]:
    """Lawson and Hanson's NNLS (Solving Least Squares Problems, 1974, ch. 23) on ``q, c``.

    Warm-started from the variables in ``start``: their least squares solution, less
    those that come out non-positive, is a feasible point whose free variables are
    optimal, which is all the main loop needs; its stopping test (the KKT conditions)
    makes the answer right whatever the guess.
    """
    k = c.size
    x = np.zeros(k)
    passive = start.copy()
    while passive.any():
        idx = np.flatnonzero(passive)
        s = _solve(q[idx[:, None], idx], c[idx])
        if (s > 0.0).all():
            x[idx] = s
            break
        passive[idx[s <= 0.0]] = False
    # Variables whose positive gradient proved to be rounding noise, until x next moves.
    blocked = np.zeros(k, dtype=bool)
    idx = np.flatnonzero(passive)
    grad = c - q[:, idx] @ x[idx]
    for _ in range(max_iter):
        free = np.where(passive | blocked, -np.inf, grad)
        j = int(np.argmax(free))
        if free[j] <= tol:
            return x, True
        passive[j] = True
        first = True
        while True:
            idx = np.flatnonzero(passive)
            s = _solve(q[idx[:, None], idx], c[idx])
            if (s > 0.0).all():
                x[:] = 0.0
                x[idx] = s
                break
            if first and s[idx == j][0] <= 0.0:
                # In exact arithmetic the newest variable is positive here; when it is
                # not, its gradient was noise, and stepping from it would cycle.
                passive[j] = False
                blocked[j] = True
                break
            first = False
            xp = x[idx]
            bad = s <= 0.0
            ratios = xp[bad] / (xp[bad] - s[bad])
            x[idx] = xp + float(ratios.min()) * (s - xp)
            # The variable that reached its bound leaves (at least that one, so the inner
            # loop ends), with any that rounding left at zero.
            x[idx[bad][int(np.argmin(ratios))]] = 0.0
            passive &= x > 0.0
        if not blocked[j]:
            blocked[:] = False
            # Only the positive variables count: a narrow product stays single-threaded.
            idx = np.flatnonzero(passive)
            grad = c - q[:, idx] @ x[idx]
    return x, False


def _solve(a: FloatArray, b: FloatArray) -> FloatArray:
    try:
        solution = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        # Exactly dependent columns (identical send series); any solution will do.
        solution = np.linalg.lstsq(a, b, rcond=None)[0]
    return np.asarray(solution, dtype=np.float64)


def _t_quantile(prob: float, df: int) -> float:
    """Student's t quantile: exact for 1 and 2 degrees of freedom, Cornish-Fisher beyond.

    The four-term expansion (Abramowitz and Stegun 26.7.5) is within 0.2% of the exact
    value from 3 degrees of freedom on for two-sided levels up to 95% (1% at 99%):
    plenty for an interval's end.
    """
    if df == 1:
        return math.tan(math.pi * (prob - 0.5))
    if df == 2:
        return (2.0 * prob - 1.0) / math.sqrt(2.0 * prob * (1.0 - prob))
    z = NormalDist().inv_cdf(prob)
    z2 = z * z
    g1 = (z2 + 1.0) * z / 4.0
    g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0
    g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0
    g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0
    v = float(df)
    return z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4
