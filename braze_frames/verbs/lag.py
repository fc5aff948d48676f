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
    Faster when the answer is None: the profile interval's search stops as soon as one of
    its ends is known to lie too far from the estimate (the other end cannot narrow it),
    where ``fit_lag`` goes on to report the whole interval.

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
    return _fit_lag(
        by_conversion, by_send, window_days, exclude_tail=exclude_tail, level=level, max_width=max_width,
        whole_interval=False,
    ).mean


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
    present, leaving out the last ``exclude_tail`` days (all of them when at least W + 3
    usable days remain, else the latest ones down to W + 3 days: a fit on partly grown
    counts leans short, but a little data beats none).
    Counts are Poisson-like (a day's variance grows with its count), so after a first
    unweighted fit the days are weighted by 1 / fitted count (quasi-Poisson, two steps);
    otherwise a burst day's noise would set the noise level of every day. The weights are
    normalised to sum to 1 and the mean lag is ``sum_l l * p_l``.

    Identifiability: for a mean m let RSS(m) be the least residual sum of squares over the
    ``p >= 0`` whose mean is exactly m. The interval is the set of m with ``RSS(m) -
    RSS_min <= F * s**2``, where ``s**2 = RSS_min / (n - k)`` estimates the dispersion
    from the best fit's residuals (n days, k positive weights) and F is the ``level``
    quantile of F(1, n - k): the textbook profile-likelihood interval. It is one interval
    because RSS(m) is quasi-convex (the means of a convex set of distributions form an
    interval). The mean is reported only when the interval is at most ``max_width``
    days wide and covers at most half of 0..W (with W = 1, a one-day-wide interval
    would say nothing). With steady sends the shifted series are nearly the same, every mean fits
    about equally well and the interval spans most of 0..W. Noise-free data are judged
    the same way, with the noise taken as rounding: an exact lag is reported, and a lag
    that the days cannot distinguish from another is not.

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
        max_width: The widest interval, in days, for which the mean is reported (at
            most W / 2 days).

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
    return _fit_lag(
        by_conversion, by_send, window_days, exclude_tail=exclude_tail, level=level, max_width=max_width,
        whole_interval=True,
    )


def _fit_lag(
    by_conversion: DailyCounts,
    by_send: DailyCounts,
    window_days: int,
    *,
    exclude_tail: int,
    level: float,
    max_width: float,
    whole_interval: bool,
) -> LagFit:
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

    k = w + 1
    min_days = k + _EXTRA_DAYS
    if c_all.size < k:
        return LagFit(None, "too_few_days")
    # Row i is day j = i + W and column l holds B_{j-l}: a view, nothing is copied yet.
    design = np.lib.stride_tricks.sliding_window_view(b_all, k)[:, ::-1]
    target = c_all[w:]
    usable = np.isfinite(target) & np.isfinite(design).all(axis=1)
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
    x = design[usable]
    y = target[usable]
    if not (y.any() and x.any()):
        return LagFit(None, "no_conversions", days_used=n, tail_excluded=tail_excluded)
    return _fit(x, y, level=level, max_width=max_width, tail_excluded=tail_excluded,
                whole_interval=whole_interval)


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


def _fit(
    x: FloatArray, y: FloatArray, *, level: float, max_width: float, tail_excluded: int, whole_interval: bool
) -> LagFit:
    n, k = x.shape
    # One common unit keeps the normal equations near 1 whatever the campaign's size.
    unit = max(float(y.max()), float(x.max()))
    x = x / unit
    y = y / unit
    q0 = _gram(x)
    c0 = np.einsum("ij,i->j", x, y)
    p, converged = _nnls_gram(q0, c0, float(np.linalg.norm(y)), start=_positive_guess(q0, c0))
    if converged:
        root_weight = 1.0 / np.sqrt(np.maximum(np.einsum("ij,j->i", x, p), _MIN_VARIANCE / unit))
        x = x * root_weight[:, None]
        y = y * root_weight
        q = _gram(x)
        c = np.einsum("ij,i->j", x, y)
        yy = float(y @ y)
        p, converged = _nnls_gram(q, c, math.sqrt(yy), start=p)
    if not converged:
        return LagFit(None, "no_convergence", days_used=n, tail_excluded=tail_excluded)
    mass = float(p.sum())
    if mass <= 0.0:
        return LagFit(None, "no_conversions", days_used=n, tail_excluded=tail_excluded)
    distribution = p / mass
    estimate = float(np.arange(k) @ distribution)
    rss_min = _rss(q, c, yy, p)
    df = n - int(np.count_nonzero(p))
    allowed = _t_quantile((1.0 + level) / 2.0, df) ** 2 * rss_min / df + _ROUNDING * yy
    limit = min(max_width, (k - 1) / 2.0)
    interval = _profile_interval(
        q, c, yy, estimate, rss_min, allowed, None if whole_interval else limit, p
    )
    if interval is None:
        status: LagStatus = "no_convergence"
    else:
        narrow = interval[1] - interval[0] <= limit
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


def _positive_guess(q: FloatArray, c: FloatArray) -> FloatArray:
    """A start for the NNLS: least squares, dropping the variables that come out negative.

    Two or three small solves usually land on the NNLS solution's support, where the
    active-set method would take one step per variable (a third of the fit's time).
    Lawson and Hanson's method then checks it and goes on; the optimum is the same.
    """
    keep = np.diag(q) > 0.0
    guess = np.zeros(c.size)
    for _ in range(4):
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            break
        s = _solve(q[idx[:, None], idx], c[idx])
        if (s > 0.0).all():
            guess[idx] = s
            break
        keep[idx[s <= 0.0]] = False
    return guess


def _gram(x: FloatArray) -> FloatArray:
    """``x.T @ x`` in blocks of 128 days.

    One product of all the days (hundreds of rows by at most 61 lags) is big enough for
    BLAS to split over threads, which costs more than it saves and far more on a busy
    machine or beside an engine's own thread pool (measured: 1.7 ms against 0.06 ms);
    blocks this small stay on one thread.
    """
    q = np.zeros((x.shape[1], x.shape[1]))
    for start in range(0, x.shape[0], 128):
        block = x[start : start + 128]
        q += block.T @ block
    return q


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
    stop_beyond: float | None = None,
    p: FloatArray | None = None,
) -> tuple[float, float] | None:
    """The means m in [0, W] with ``RSS(m) <= rss_min + allowed``; None if a solve failed.

    With ``stop_beyond``, the search stops once a point of the interval lies more than
    that far from m_hat: the interval is then wider than ``stop_beyond`` whatever its
    other end (both ends bracket m_hat), and the part found so far is returned. The
    verdict (wider or not) is the same as from the whole search.

    Each end is a root of ``g(m) = sqrt(RSS(m) - rss_min) - sqrt(allowed)`` between
    m_hat and 0 (or W). Near its minimum the profile is about quadratic, so g is about
    linear and the Illinois variant of regula falsi takes a handful of solves; it keeps a
    bracket, so it cannot stray where the profile is not quadratic.
    """
    root = math.sqrt(allowed)
    if stop_beyond is not None:
        # Wide intervals first, one solve each: when a point just beyond stop_beyond on one
        # side is inside, the whole search would find that end there or further out (its
        # ends are within _END_TOL of the roots), so the interval is too wide whatever.
        reach = stop_beyond + 2.0 * _END_TOL
        for point in (m_hat - reach, m_hat + reach):
            if 0.0 <= point <= c.size - 1:
                if p is not None and _within_by_a_shift(q, c, yy, p, m_hat, point, rss_min + allowed):
                    return (point, m_hat) if point < m_hat else (m_hat, point)
                rss = _profile_rss(q, c, yy, point)
                if rss is None:
                    return None
                if math.sqrt(max(rss - rss_min, 0.0)) <= root:
                    return (point, m_hat) if point < m_hat else (m_hat, point)
    ends = []
    for edge in (0.0, float(c.size - 1)):
        rss = _profile_rss(q, c, yy, edge)
        if rss is None:
            return None
        g_out = math.sqrt(max(rss - rss_min, 0.0)) - root
        inside, outside, g_in = m_hat, edge, -root
        kept = 0  # which end the last step kept: -1 inside, +1 outside
        while g_out > 0.0 and abs(outside - inside) > _END_TOL:
            if stop_beyond is not None and abs(inside - m_hat) > stop_beyond:
                break
            mid = outside - g_out * (outside - inside) / (g_out - g_in)
            rss = _profile_rss(q, c, yy, mid)
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
        ends.append(edge if g_out <= 0.0 else inside)
        if stop_beyond is not None and abs(ends[-1] - m_hat) > stop_beyond:
            return (ends[0], m_hat) if len(ends) == 1 else (ends[0], ends[1])
        if stop_beyond is not None and len(ends) == 1:
            # The low end is known: a point just past low + stop_beyond inside the interval
            # settles it as too wide, without searching for the high end.
            point = ends[0] + stop_beyond + 2.0 * _END_TOL
            if m_hat < point <= c.size - 1:
                if p is not None and _within_by_a_shift(q, c, yy, p, m_hat, point, rss_min + allowed):
                    return ends[0], point
                rss = _profile_rss(q, c, yy, point)
                if rss is None:
                    return None
                if math.sqrt(max(rss - rss_min, 0.0)) <= root:
                    return ends[0], point
    return ends[0], ends[1]


def _within_by_a_shift(
    q: FloatArray, c: FloatArray, yy: float, p: FloatArray, m_hat: float, m: float, bound: float
) -> bool:
    """A cheap proof that mean m is in the interval: some p >= 0 with mean m fits well enough.

    Adding mass s at one lag l beyond m (l < m < m_hat, or m_hat < m < l) moves the fitted
    distribution's mean to exactly m; the best non-negative scale of that p then has a
    closed-form RSS. If one such candidate has RSS <= ``bound``, so has RSS(m), the
    least over every p with mean m. Each candidate costs O(1) from q @ p: for flat
    profiles (steady sends, noise) this settles "too wide" without an NNLS solve. False
    proves nothing.
    """
    mass = float(p.sum())
    if mass <= 0.0:
        return False
    qp = np.einsum("ij,j->i", q, p)
    cp = float(c @ p)
    pqp = float(p @ qp)
    lags = np.arange(c.size, dtype=np.float64)
    far = lags < m - _ON_LAG if m < m_hat else lags > m + _ON_LAG
    if not far.any():
        return False
    lag = lags[far]
    s = mass * (m_hat - m) / (m - lag)
    cv = cp + s * c[far]
    vqv = pqp + 2.0 * s * qp[far] + s * s * np.diag(q)[far]
    ok = (cv > 0.0) & (vqv > 0.0)
    if not ok.any():
        return False
    rss = yy - cv[ok] ** 2 / vqv[ok]
    return bool((rss <= bound).any())


def _profile_rss(q: FloatArray, c: FloatArray, yy: float, m: float) -> float | None:
    """The least RSS over p >= 0 whose mean is exactly m; None if the solver failed.

    The cone {p >= 0 : sum_l (l - m) p_l = 0} is spanned by e_m (when m is a lag) and, for
    each pair of lags a < m < b, the unit-mass mixture of a and b with mean m. Every point
    of the cone is a non-negative combination of those rays, so the constrained problem
    is a plain NNLS in the rays' coefficients (at most (W + 1)**2 / 4 of them).
    """
    k = c.size
    lags = np.arange(k)
    below = lags[lags < m - _ON_LAG]
    above = lags[lags > m + _ON_LAG]
    a = np.repeat(below, above.size)
    b = np.tile(above, below.size)
    on_lag = below.size + above.size < k
    # Each ray has two non-zero weights (wa at lag a, wb at lag b; the pure lag: 1 and 0),
    # so rays' @ q @ rays is four gathers of q: no matrix product, which BLAS would farm
    # out to threads at a loss for matrices this small on a busy machine.
    wa = np.append((b - m) / (b - a), 1.0) if on_lag else (b - m) / (b - a)
    wb = np.append((m - a) / (b - a), 0.0) if on_lag else (m - a) / (b - a)
    if on_lag:
        a = np.append(a, below.size)
        b = np.append(b, below.size)
    gram = (
        np.outer(wa, wa) * q[np.ix_(a, a)]
        + np.outer(wa, wb) * q[np.ix_(a, b)]
        + np.outer(wb, wa) * q[np.ix_(b, a)]
        + np.outer(wb, wb) * q[np.ix_(b, b)]
    )
    weights, converged = _nnls_gram(gram, wa * c[a] + wb * c[b], math.sqrt(yy))
    if not converged:
        return None
    p = np.zeros(k)
    np.add.at(p, a, wa * weights)
    np.add.at(p, b, wb * weights)
    return _rss(q, c, yy, p)


# -- non-negative least squares -----------------------------------------------------------


def _nnls_gram(
    q: FloatArray,
    c: FloatArray,
    norm: float,
    max_iter: int | None = None,
    start: FloatArray | None = None,
) -> tuple[FloatArray, bool]:
    """Minimise ``x'qx - 2c'x`` over ``x >= 0`` (``q = A'A``, ``c = A'b``).

    ``norm`` is ``||b||``, the scale of the gradients, for the stopping tolerance.
    ``start``: a guess whose positive entries are the likely solution's (a warm start:
    the fit's second, weighted solve starts from the first's, which usually is its
    answer already). Returns the solution and whether it converged.
    """
    k = c.size
    x = np.zeros(k)
    d = np.sqrt(np.clip(np.diag(q), 0.0, None))
    # Unit-norm columns let one relative tolerance serve every column; a zero column
    # cannot help the fit and keeps x = 0.
    keep = d > 0.0
    if not keep.any():
        return x, True
    dk = d[keep]
    qs = q[np.ix_(keep, keep)] / np.outer(dk, dk)
    cs = c[keep] / dk
    guess = None if start is None else start[keep] > 0.0
    xs, converged = _lawson_hanson(
        qs, cs, 1e-10 * norm, 3 * k if max_iter is None else max_iter, guess
    )
    x[keep] = xs / dk
    return x, converged


def _lawson_hanson(
    q: FloatArray, c: FloatArray, tol: float, max_iter: int, guess: NDArray[np.bool_] | None = None
) -> tuple[FloatArray, bool]:
    """Lawson and Hanson's NNLS (Solving Least Squares Problems, 1974, ch. 23) on ``q, c``.

    ``guess``: variables to start passive. When the least squares on them alone is
    positive, the method goes on from there (the usual optimality test comes first);
    otherwise it starts cold. The optimum is the same either way (unique where q is
    positive definite); only the number of steps changes.
    """
    k = c.size
    x = np.zeros(k)
    passive = np.zeros(k, dtype=bool)
    # Variables whose positive gradient proved to be rounding noise, until x next moves.
    blocked = np.zeros(k, dtype=bool)
    grad = c.copy()
    if guess is not None and guess.any():
        idx = np.flatnonzero(guess)
        s = _solve(q[idx[:, None], idx], c[idx])
        if (s > 0.0).all():
            x[idx] = s
            passive[idx] = True
            grad = c - np.einsum("ij,j->i", q, x)
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
            grad = c - np.einsum("ij,j->i", q, x)  # no BLAS threads for a small matrix (_gram)
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
