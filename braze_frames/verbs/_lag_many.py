"""``lag.mean_lag`` over many series at once: the same fits, as array operations across series.

A reconcile summary fits one lag per (campaign, channel, variation, event) series: thousands
of small problems, each a few 31-by-31 solves. One at a time, numpy's fixed cost per call
(tens of microseconds) outweighs the arithmetic; here each step of the fit runs once for a
whole stack of series:

- the normal equations are one stacked matrix product per chunk of series;
- Lawson and Hanson's active-set iterations run in lockstep, a series leaving the stack
  when its optimality test passes. A series' passive set differs from the next one's, so
  each solve is embedded in the full W + 1 unknowns: the others get an identity row and
  a zero right-hand side, which leaves the passive block's solution what it was.

Only the fits are stacked, and the closed-form test that shows most wide intervals
(``lag._wider_than``, which takes stacks). The interval search and the verdict are
``lag``'s own code, per series; a series without conversions or sends on its usable days,
or whose solver did not converge, is handed to ``mean_lag`` itself, and an exactly
singular system is solved as ``lag._solve`` solves it. The tests hold the two to the same
answers (engines benchmark, 3,035 series at W = 30 over 730 days: 2.1 s one at a time,
0.75 s stacked).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, Literal

import numpy as np

from .lag import (
    _END_TOL,
    _MIN_VARIANCE,
    BoolArray,
    DailyCounts,
    FloatArray,
    IntArray,
    LagFit,
    _allowed,
    _checked,
    _fit_lag,
    _solve,
    _usable_days,
    _UsableDays,
    _verdict,
    _wider_than,
    _widest,
)

__all__ = ["mean_lags"]

#: Floats in one chunk's stacked design (series x days x lags): 16 MB, whatever the sizes.
#: Larger chunks ran no faster (each step's passes over the design leave the cache).
_CHUNK_FLOATS: Final = 2_000_000

#: One series: by-conversion-date counts, by-send-date counts, W and ``exclude_tail``.
Case = tuple[DailyCounts, DailyCounts, int, int]


def mean_lags(cases: Iterable[Case], *, level: float = 0.95, max_width: float = 1.0) -> list[float | None]:
    """``lag.mean_lag`` for each case, in order; the fits of those sharing W run together.

    Raises:
        ValueError: As ``mean_lag`` does, for the first case it would refuse.

    Examples:
        >>> sends = [5, 9, 2, 7, 4, 0, 3, 8]
        >>> mean_lags([([0, *sends[:-1]], sends, 2, 0), ([100] * 20, [100] * 20, 3, 0)])
        [1.0, None]
    """
    answers: list[float | None] = []
    by_window: dict[int, list[tuple[int, FloatArray, FloatArray, int, _UsableDays]]] = {}
    for at, (by_conversion, by_send, window_days, exclude_tail) in enumerate(cases):
        c_all, b_all, w, tail = _checked(by_conversion, by_send, window_days, exclude_tail, level, max_width)
        days = _usable_days(c_all, b_all, w, tail)
        answers.append(days.mean if isinstance(days, LagFit) else None)
        if not isinstance(days, LagFit):
            by_window.setdefault(w, []).append((at, c_all, b_all, tail, days))
    for w, members in by_window.items():
        # Similar lengths side by side keep the padding small.
        members.sort(key=lambda member: member[1].size)
        fits = _stacked_fits([(c, b, days.usable) for _, c, b, _, days in members], w, level, max_width)
        for (at, c_all, b_all, tail, days), fit in zip(members, fits, strict=True):
            if isinstance(fit, str):
                answers[at] = None
            elif fit is None:
                answers[at] = _fit_lag(c_all, b_all, w, exclude_tail=tail, level=level, max_width=max_width,
                                       decide=True).mean
            else:
                answers[at] = _verdict(*fit, days_used=days.count, tail_excluded=days.tail_excluded,
                                       level=level, max_width=max_width, decide=True).mean
    return answers


Fit = tuple[FloatArray, FloatArray, float, FloatArray]
#: A series whose mean lag the stacked fit already showed to be unidentified.
Wide = Literal["wide"]


def _stacked_fits(
    members: Sequence[tuple[FloatArray, FloatArray, BoolArray]], w: int, level: float, max_width: float
) -> list[Fit | Wide | None]:
    """``lag._two_step_fit`` for each series ("wide" if decided; None: ``mean_lag`` decides)."""
    fits: list[Fit | Wide | None] = []
    for lo, hi in _chunks(members, w + 1):
        x, y, days = _stack(members[lo:hi], w)
        fits.extend(_chunk_fits(x, y, days, level, max_width))
    return fits


def _chunk_fits(
    x: FloatArray, y: FloatArray, days: IntArray, level: float, max_width: float
) -> list[Fit | Wide | None]:
    """The two-step fit of a stack of designs ``x`` and targets ``y`` (modified in place).

    Where the fit's profile interval is shown wide by ``lag._wider_than`` (what most
    fits of steady sends come to), the answer is "wide": no lag, as ``mean_lag`` says.
    """
    x_top = x.max(axis=(1, 2))
    y_top = y.max(axis=1)
    # No conversion or no send on the usable days: mean_lag's "no_conversions".
    fine = (x_top > 0.0) & (y_top > 0.0)
    # One common unit per series keeps its normal equations near 1 (lag._two_step_fit);
    # the products are scaled after, by its square, rather than the design before.
    unit = np.where(fine, np.maximum(x_top, y_top), 1.0)
    square = (unit * unit)[:, None]
    q, c = _gram(x, y)
    q /= square[:, :, None]
    c /= square
    norm = np.sqrt(np.einsum("ij,ij->i", y, y)) / unit
    start = (_masked_solve(q, c, np.ones(c.shape, dtype=bool)) > 0.0) & fine[:, None]
    p, converged = _nnls_many(q, c, norm, start)
    fine &= converged
    fitted = np.matmul(x, p[:, :, None])[:, :, 0] / unit[:, None]
    root_weight = 1.0 / np.sqrt(np.maximum(fitted, _MIN_VARIANCE / unit[:, None]))
    x *= root_weight[:, :, None]
    y *= root_weight
    q, c = _gram(x, y)
    q /= square[:, :, None]
    c /= square
    yy = np.einsum("ij,ij->i", y, y) / square[:, 0]
    p, converged = _nnls_many(q, c, np.sqrt(yy), (p > 0.0) & fine[:, None])
    fine &= converged & (p.sum(axis=1) > 0.0)
    # lag._verdict's first steps, for the whole stack: the least RSS and the level above it.
    rss_min = np.maximum(0.0, yy - 2.0 * np.einsum("ij,ij->i", c, p)
                         + np.einsum("ij,ij->i", p, np.matmul(q, p[:, :, None])[:, :, 0]))
    df = days - np.count_nonzero(p, axis=1)
    allowed = np.array([_allowed(float(r), float(s), int(d), level) if ok else 0.0
                        for r, s, d, ok in zip(rss_min, yy, df, fine, strict=True)])
    wide = fine & _wider_than(q, c, yy, p, rss_min + allowed, _widest(max_width, c.shape[1]) + _END_TOL)
    return ["wide" if wide[i] else (q[i], c[i], float(yy[i]), p[i]) if fine[i] else None
            for i in range(fine.size)]


def _chunks(members: Sequence[tuple[FloatArray, FloatArray, BoolArray]], k: int) -> Iterable[tuple[int, int]]:
    """Consecutive runs of members whose stacked design stays within :data:`_CHUNK_FLOATS`."""
    lo = 0
    while lo < len(members):
        hi = lo + 1
        # Members are sorted by length, so the run's last member sets its padded size.
        while hi < len(members) and (hi + 1 - lo) * members[hi][0].size * k <= _CHUNK_FLOATS:
            hi += 1
        yield lo, hi
        lo = hi


def _stack(
    members: Sequence[tuple[FloatArray, FloatArray, BoolArray]], w: int
) -> tuple[FloatArray, FloatArray, IntArray]:
    """The designs and targets of several series, padded at the front with unused days.

    Unused days (missing, too early, the growing tail, the padding) are rows of zeros:
    they add nothing to ``x'x``, ``x'y`` or ``y'y``, and nothing to the weighted fit.
    """
    days = max(conversions.size for conversions, _, _ in members)
    sends = np.zeros((len(members), days))
    target = np.zeros((len(members), days - w))
    usable = np.zeros((len(members), days - w), dtype=bool)
    for row, (conversions, by_send, use) in enumerate(members):
        pad = days - conversions.size
        sends[row, pad:] = by_send
        target[row, pad:] = conversions[w:]
        usable[row, pad:] = use
    sends[~np.isfinite(sends)] = 0.0
    # Row i, column l: B_{i + W - l}, the sends l days before day i + W.
    windows = np.lib.stride_tricks.sliding_window_view(sends, w + 1, axis=1)[:, :, ::-1]
    x = np.array(windows)
    x[~usable] = 0.0
    y = np.where(usable, target, 0.0)
    return x, y, usable.sum(axis=1)


def _gram(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    xt = x.transpose(0, 2, 1)
    return np.matmul(xt, x), np.matmul(xt, y[:, :, None])[:, :, 0]


def _nnls_many(
    q: FloatArray, c: FloatArray, norm: FloatArray, start: BoolArray
) -> tuple[FloatArray, BoolArray]:
    """``lag._nnls_gram`` for a stack of problems: the solutions and which converged."""
    k = c.shape[1]
    d = np.sqrt(np.clip(np.diagonal(q, axis1=1, axis2=2), 0.0, None))
    keep = d > 0.0
    # A zero column's row of q is zero too: scaled by 1 it stays zero, and its gradient
    # (0) never passes the test to enter, as if it were left out.
    scale = np.where(keep, d, 1.0)
    qs = q / (scale[:, :, None] * scale[:, None, :])
    cs = c / scale
    xs, converged = _lawson_hanson_many(qs, cs, 1e-10 * norm, 3 * k, start & keep)
    return xs / scale, converged


def _lawson_hanson_many(
    q: FloatArray, c: FloatArray, tol: FloatArray, max_iter: int, start: BoolArray
) -> tuple[FloatArray, BoolArray]:
    """``lag._lawson_hanson`` in lockstep over a stack of problems; see it for the method."""
    size, k = c.shape
    x = np.zeros((size, k))
    passive = start.copy()
    rows = np.flatnonzero(passive.any(axis=1))
    while rows.size:
        s = _masked_solve(q[rows], c[rows], passive[rows])
        feasible = ((s > 0.0) | ~passive[rows]).all(axis=1)
        x[rows[feasible]] = s[feasible]
        rows, s = rows[~feasible], s[~feasible]
        passive[rows] &= s > 0.0
        rows = rows[passive[rows].any(axis=1)]
    blocked = np.zeros((size, k), dtype=bool)
    converged = np.zeros(size, dtype=bool)
    active = np.arange(size)
    for _ in range(max_iter):
        if not active.size:
            break
        grad = c[active] - np.matmul(q[active], x[active, :, None])[:, :, 0]
        free = np.where(passive[active] | blocked[active], -np.inf, grad)
        j = np.argmax(free, axis=1)
        done = free[np.arange(active.size), j] <= tol[active]
        converged[active[done]] = True
        active, j = active[~done], j[~done]
        passive[active, j] = True
        _inner_steps(q, c, x, passive, blocked, active, j)
        # A variable that moved x frees the blocked ones (their gradients are new).
        moved = ~blocked[active, j]
        blocked[active[moved]] = False
    return x, converged


def _inner_steps(
    q: FloatArray, c: FloatArray, x: FloatArray, passive: BoolArray, blocked: BoolArray,
    rows: np.ndarray, j: np.ndarray,
) -> None:
    """The inner loop of Lawson and Hanson for the series ``rows``, ``j`` just made passive."""
    first = True
    while rows.size:
        mask = passive[rows]
        s = _masked_solve(q[rows], c[rows], mask)
        feasible = ((s > 0.0) | ~mask).all(axis=1)
        x[rows[feasible]] = s[feasible]
        rest = ~feasible
        if first:
            # In exact arithmetic the newest variable is positive here; when it is not,
            # its gradient was noise, and stepping from it would cycle.
            noise = rest & (s[np.arange(rows.size), j] <= 0.0)
            passive[rows[noise], j[noise]] = False
            blocked[rows[noise], j[noise]] = True
            rest &= ~noise
            first = False
        rows, j, s, mask = rows[rest], j[rest], s[rest], mask[rest]
        xp = x[rows]
        bad = mask & (s <= 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(bad, xp / (xp - s), np.inf)
        leaving = np.argmin(ratios, axis=1)
        at = np.arange(rows.size)
        step = xp + ratios[at, leaving][:, None] * (s - xp)
        step[at, leaving] = 0.0
        x[rows] = step
        passive[rows] &= step > 0.0


def _masked_solve(q: FloatArray, c: FloatArray, passive: BoolArray) -> FloatArray:
    """Each problem's solve on its passive variables, zero elsewhere, as one stacked solve."""
    k = c.shape[1]
    both = passive[:, :, None] & passive[:, None, :]
    system = np.where(both, q, 0.0)
    diagonal = np.arange(k)
    system[:, diagonal, diagonal] += ~passive
    rhs = np.where(passive, c, 0.0)
    try:
        return np.asarray(np.linalg.solve(system, rhs[:, :, None])[:, :, 0], dtype=np.float64)
    except np.linalg.LinAlgError:
        # Some system is exactly singular: lag._solve's least squares, one at a time.
        out = np.zeros_like(c)
        for row in range(c.shape[0]):
            idx = np.flatnonzero(passive[row])
            if idx.size:
                out[row, idx] = _solve(q[row][np.ix_(idx, idx)], c[row, idx])
        return out
