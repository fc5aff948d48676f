"""Many mean lags at once (braze_frames.verbs._lag_many) against lag.mean_lag, one at a time.

The stacked fits must give ``mean_lag``'s answers: the same null or not, and the same mean
to rounding. The recovery figures are checked against the synthetic campaigns' true lags.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_lag import _campaign, _convolve, _long_series

from braze_frames.verbs import _lag_many, lag
from braze_frames.verbs._lag_many import Case, _lawson_hanson_many, mean_lags
from braze_frames.verbs.lag import _lawson_hanson, mean_lag


def _one_at_a_time(cases: list[Case]) -> list[float | None]:
    return [mean_lag(c, b, w, exclude_tail=tail) for c, b, w, tail in cases]


def _assert_same(got: list[float | None], expected: list[float | None]) -> None:
    assert [g is None for g in got] == [e is None for e in expected]
    for g, e in zip(got, expected, strict=True):
        if e is not None:
            assert g == pytest.approx(e, rel=1e-9, abs=1e-9)


counts = st.one_of(st.none(), st.just(0.0), st.floats(0, 1e4, allow_nan=False))
case = st.integers(0, 7).flatmap(
    lambda w: st.tuples(
        st.lists(st.tuples(counts, counts), min_size=0, max_size=40), st.just(w), st.integers(0, 8)
    )
)


@given(st.lists(case, max_size=12))
def test_any_counts_give_mean_lags_answers(
    drawn: list[tuple[list[tuple[float | None, ...]], int, int]],
) -> None:
    cases: list[Case] = [([c for c, _ in days], [b for _, b in days], w, tail) for days, w, tail in drawn]
    _assert_same(mean_lags(cases), _one_at_a_time(cases))


def test_synthetic_campaigns_give_mean_lags_answers_and_recover_the_truth() -> None:
    rng = np.random.default_rng(620)
    windows = [_campaign(rng, "bursty" if i % 2 else "steady") for i in range(240)]
    cases: list[Case] = [(w.by_conversion, w.by_send, w.window_days, w.exclude_tail) for w in windows]
    got = mean_lags(cases)
    _assert_same(got, _one_at_a_time(cases))
    # Against the known truth, not only against mean_lag (test_lag measures the same
    # figures one at a time): bursts are recovered, steady sends are null or close.
    bursty = [(g, w.true_mean) for i, (g, w) in enumerate(zip(got, windows, strict=True)) if i % 2]
    steady = [(g, w.true_mean) for i, (g, w) in enumerate(zip(got, windows, strict=True)) if not i % 2]
    assert sum(g is not None and abs(g - t) <= 0.25 for g, t in bursty) / len(bursty) >= 0.98
    assert sum(g is None or abs(g - t) <= 0.5 for g, t in steady) / len(steady) >= 0.97
    assert any(g is None for g, _ in steady)


def test_known_lags_without_noise() -> None:
    # Each conversion comes exactly `lag` days after its send: the answer is that lag.
    rng = np.random.default_rng(621)
    cases: list[Case] = []
    for lag_days in (0, 1, 2, 5):
        sends = rng.integers(0, 500, 120).astype(float)
        conversions = np.concatenate([np.zeros(lag_days), sends[: sends.size - lag_days]])
        cases.append((conversions, sends, 7, 0))
    assert mean_lags(cases) == pytest.approx([0.0, 1.0, 2.0, 5.0], abs=1e-9)


@pytest.mark.parametrize("kind", ["noise", "bursts"])
def test_long_series_in_small_chunks(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two years at W = 30, 14 and 7, as the reconcile summary fits them; chunks of a few
    # series each, of different lengths, so that padding and chunk edges are exercised.
    monkeypatch.setattr(_lag_many, "_CHUNK_FLOATS", 60_000)
    rng = np.random.default_rng(622)
    cases: list[Case] = []
    for i in range(24):
        w = (30, 14, 7)[i % 3]
        by_conversion, by_send = _long_series(rng, kind, w)
        days = int(rng.integers(200, 731))
        cases.append((by_conversion[-days:], by_send[-days:], w, int(rng.integers(0, w + 2))))
    got = mean_lags(cases)
    _assert_same(got, _one_at_a_time(cases))
    if kind == "bursts":
        assert all(g is not None for g in got)
    else:
        assert all(g is None for g in got)


def test_wide_fits_are_decided_in_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    # Unrelated noise (the engines benchmark's counts): every interval is wide, and the
    # stacked closed-form bound shows it without a single one-at-a-time fit.
    calls = 0
    fit_one = lag._fit_lag

    def counted(*args: object, **kwargs: object) -> lag.LagFit:
        nonlocal calls
        calls += 1
        return fit_one(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_lag_many, "_fit_lag", counted)
    rng = np.random.default_rng(623)
    cases: list[Case] = [(*_long_series(rng, "noise", 30), 30, 0) for _ in range(12)]
    assert mean_lags(cases) == [None] * 12
    assert calls == 0


def test_corner_cases_are_mean_lags() -> None:
    steady = np.full(60, 100.0)
    gaps = np.arange(60, dtype=float)
    gaps[[5, 17, 18, 40]] = np.nan
    bursts = np.zeros(60)
    bursts[::9] = 300.0
    cases: list[Case] = [
        (steady, steady, 3, 0),  # identical columns: singular normal equations
        (np.zeros(60), bursts, 3, 0),  # no conversions
        (bursts, np.zeros(60), 3, 0),  # no sends
        (bursts[:3], bursts[:3], 3, 0),  # fewer days than lags
        (gaps, gaps, 2, 5),  # missing days and a tail
        (_convolve(np.random.default_rng(624), bursts, np.array([0.5, 0.5]))[:60], bursts, 1, 0),
        ([None] * 20, [None] * 20, 2, 0),
        ([], [], 0, 0),
    ]
    _assert_same(mean_lags(cases), _one_at_a_time(cases))
    assert mean_lags([]) == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (([1.0, 2.0], [1.0], 1, 0), "aligned"),
        (([1.0, -2.0], [1.0, 1.0], 1, 0), "negative"),
        (([1.0], [1.0], lag.MAX_WINDOW_DAYS + 1, 0), "at most"),
        (([1.0], [1.0], 1, -1), "whole number"),
    ],
)
def test_bad_cases_are_refused_as_mean_lag_refuses_them(bad: Case, message: str) -> None:
    good: Case = ([1.0] * 10, [1.0] * 10, 1, 0)
    with pytest.raises(ValueError, match=message):
        mean_lags([good, bad])


def test_lockstep_lawson_hanson_is_the_one_at_a_time_solver() -> None:
    # Random problems (dependent and zero columns included), several iteration caps: the
    # stacked solver's solutions and convergence flags are those of lag._lawson_hanson.
    rng = np.random.default_rng(625)
    k = 9
    for cap in (1, 2, 4, 3 * k):
        qs, cs, starts = [], [], []
        for i in range(60):
            a = np.abs(rng.normal(size=(30, k))) if i % 2 else rng.normal(size=(30, k))
            if i % 5 == 0:
                a[:, 1] = a[:, 0]
            b = rng.normal(size=30) + (a @ np.abs(rng.normal(size=k)) if i % 3 else 0.0)
            q = a.T @ a
            d = np.sqrt(np.diag(q))
            qs.append(q / np.outer(d, d))
            cs.append(a.T @ b / d)
            starts.append(rng.random(k) < 0.3 if i % 4 else np.zeros(k, dtype=bool))
        tol = np.full(60, 1e-10)
        x, converged = _lawson_hanson_many(np.array(qs), np.array(cs), tol, cap, np.array(starts))
        for i in range(60):
            x_one, converged_one = _lawson_hanson(qs[i], cs[i], 1e-10, cap, starts[i])
            assert converged[i] == converged_one
            np.testing.assert_allclose(x[i], x_one, rtol=1e-7, atol=1e-9)


def test_a_singular_system_in_the_stack_is_solved_as_lag_solves_it() -> None:
    # Identical columns make one system exactly singular: the stacked solve raises for the
    # whole stack, and each system is then solved as lag._solve does (least squares).
    rng = np.random.default_rng(626)
    a = np.abs(rng.normal(size=(20, 4)))
    singular = a.copy()
    singular[:, 1] = singular[:, 0]
    q = np.array([a.T @ a, singular.T @ singular])
    c = np.array([a.T @ a @ np.ones(4), singular.T @ rng.normal(size=20)])
    passive = np.array([[True, True, False, True], [True, True, True, True]])
    got = _lag_many._masked_solve(q, c, passive)
    for row in range(2):
        idx = np.flatnonzero(passive[row])
        expected = lag._solve(q[row][np.ix_(idx, idx)], c[row, idx])
        np.testing.assert_allclose(got[row, idx], expected, rtol=1e-9, atol=1e-9)
        assert (got[row, ~passive[row]] == 0.0).all()
