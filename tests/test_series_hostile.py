"""Hostile series bodies: the right rows (repairs warned) or a BrazeError, never a crash.

The hostile-input suite of ``test_hostile.py`` (its value strategies and its reading of a
leaf, the policy of SPEC section 2) applied to the workspace series' bodies
(``{"data": [{"time", <field>}]}``), at two levels: the pure parser (``series_days`` +
``parse_series`` + ``series_frame``) and end to end through ``fetch_series`` against a
local server. Both are checked against one oracle written from the policy table of
``braze_frames.endpoints.series``, not from the parser's code.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pytest
from _support_http import RecordedRequest, Reply, ScriptedServer
from hypothesis import given
from hypothesis import strategies as st
from test_hostile import (
    CRASHES,
    RejectedError,
    days_of,
    e2e_settings,
    good_times,
    hostile_settings,
    leaves,
    nested,
    number,
    numbers,
    scalars,
    times,
)

import braze_frames as bf
from braze_frames._errors import DataRepairWarning, UnexpectedResponseError, UnknownFieldWarning
from braze_frames._tidy import series_frame
from braze_frames.endpoints.parse import MAX_NESTING
from braze_frames.endpoints.series import SERIES_KINDS, SeriesColumns, parse_series, series_days
from braze_frames.fetch import FetchResult, NoDataWarning, OnError
from braze_frames.series import fetch_series

KEY = "hostile-series-key-0001"
FIRST = dt.date(2024, 7, 1)
LAST = dt.date(2024, 7, 6)
KEEP = (FIRST, LAST)
EVENTS = SERIES_KINDS["events"]


@dataclass
class Expected:
    rows: list[tuple[dt.date, str, float]] = field(default_factory=list)
    repaired: bool = False
    unknown: set[str] = field(default_factory=set)


def expect(body: Any, keep: tuple[dt.date, dt.date] = KEEP) -> Expected:
    """The rows an events body gives under the policy table; RejectedError if unusable."""
    points, repeated = days_of(body, keep)  # the campaign oracle's reading of days
    out = Expected(repaired=repeated)
    for date in sorted(points):
        used: set[str] = set()
        for name, leaf in leaves(points[date], ("time",)):
            value, repaired = number(leaf)
            out.repaired |= repaired
            if value is None:
                continue
            metric = "events" if name == "count" else f"events.{name}"
            if metric in used:
                n = 2
                while f"{metric}#{n}" in used:
                    n += 1
                metric = f"{metric}#{n}"
                out.repaired = True
            used.add(metric)
            if metric != "events":
                out.unknown.add(metric)
            out.rows.append((date, metric, value))
    return out


@dataclass
class Outcome:
    frame: pl.DataFrame | None = None
    error: bf.BrazeError | None = None
    covered: set[dt.date] | None = None
    repaired: bool = False
    unknown: set[str] = field(default_factory=set)


def run_parser(body: Any) -> Outcome:
    cols = SeriesColumns()
    try:
        days = series_days(body, keep=KEEP, unit="day", notes=cols.notes)
        parse_series(cols, EVENTS, "signup", "signup", days)
    except bf.BrazeError as exc:
        return Outcome(error=exc)
    return Outcome(frame=series_frame(cols, app_id=None), repaired=cols.notes.repair_count > 0,
                   unknown=set(cols.notes.unknown_metrics))


def check(outcome: Outcome, body: Any) -> None:
    try:
        expected = expect(body)
    except RejectedError:
        assert outcome.error is not None, "an unusable body gave a frame"
        assert isinstance(outcome.error, UnexpectedResponseError), repr(outcome.error)
        return
    assert outcome.error is None, f"a usable body was rejected: {outcome.error!r}"
    assert outcome.frame is not None
    same_rows(outcome.frame, expected)
    assert outcome.repaired == expected.repaired
    assert outcome.unknown == expected.unknown


def same_rows(frame: pl.DataFrame, expected: Expected) -> None:
    assert frame.columns == list(bf.SERIES_COLUMNS)
    assert frame.select("metric", "key", "app_id", "date").is_duplicated().sum() == 0
    got = sorted(zip(frame["date"].to_list(), frame["metric"].cast(pl.String).to_list(),
                     frame["value"].to_list(), strict=True))
    assert got == sorted(expected.rows)
    assert all(math.isfinite(v) for v in frame["value"].to_list())
    assert set(frame["key"].to_list()) <= {"signup"}


field_names = st.sampled_from(["count", "count", "count", "unique", "dau", "count.a"])
point_values = st.one_of(numbers, numbers, numbers, scalars, nested)
points_ok = st.builds(lambda t, fields: {"time": t, **fields}, good_times,
                      st.dictionaries(field_names, point_values, max_size=3))
points_any = st.one_of(
    points_ok,
    st.builds(lambda t, fields: {"time": t, **fields}, times,
              st.dictionaries(field_names, point_values, max_size=3)),
    st.integers(), st.none(), st.text(max_size=3), st.lists(st.integers(), max_size=2),
)
bodies = st.builds(
    lambda data, extra: {"message": "success", "data": data, **extra},
    st.one_of(st.lists(points_ok, max_size=8), st.lists(points_any, max_size=6)),
    st.dictionaries(st.sampled_from(["errors", "next_page", "meta"]), nested, max_size=2),
)


# ---- level 1: the pure parser -------------------------------------------------------------


@hostile_settings
@given(bodies)
def test_parser_follows_the_policy_on_random_hostile_bodies(body: dict[str, Any]) -> None:
    check(run_parser(body), body)


@pytest.mark.parametrize(
    ("value", "expected", "repaired"),
    [
        (12, 12.0, False), (1.5, 1.5, False), (-3, -3.0, False), (10**30, 1e30, False),
        ("12", 12.0, True), (" 7 ", 7.0, True), ("12abc", None, True), (True, None, True),
        (None, None, False), (math.nan, None, True), (math.inf, None, True),
        (10**400, None, True), ("1e400", None, True), ("NaN", None, True),
    ],
)
def test_one_value_of_each_kind(value: Any, expected: float | None, repaired: bool) -> None:
    body = {"message": "success", "data": [{"time": "2024-07-02", "count": value}]}
    outcome = run_parser(body)
    assert outcome.frame is not None
    assert outcome.frame["value"].to_list() == ([] if expected is None else [expected])
    assert outcome.repaired == repaired


def test_missing_days_and_nulls_are_no_rows_never_zeros() -> None:
    body = {"message": "success", "data": [
        {"time": "2024-07-01", "count": 3}, {"time": "2024-07-02", "count": None},
        {"time": "2024-07-03"}, {"time": "2024-07-05", "count": 0},
    ]}
    outcome = run_parser(body)
    assert outcome.frame is not None
    assert outcome.frame["date"].to_list() == [dt.date(2024, 7, 1), dt.date(2024, 7, 5)]
    assert outcome.frame["value"].to_list() == [3.0, 0.0]
    assert not outcome.repaired


def test_unknown_fields_are_kept_under_their_kind() -> None:
    body = {"message": "success", "data": [
        {"time": "2024-07-01", "count": 3, "unique_count": 2, "by_app": {"ios": 1, "web": [4, None]}},
    ]}
    outcome = run_parser(body)
    assert outcome.frame is not None
    rows = dict(zip(outcome.frame["metric"].cast(pl.String), outcome.frame["value"], strict=True))
    assert rows == {"events": 3.0, "events.unique_count": 2.0, "events.by_app.ios": 1.0,
                    "events.by_app.web.0": 4.0}
    assert outcome.unknown == {"events.unique_count", "events.by_app.ios", "events.by_app.web.0"}


@pytest.mark.parametrize("depth", [MAX_NESTING - 1, MAX_NESTING + 1, 5000])
def test_deep_nesting_gives_rows_or_an_error_never_recursion(depth: int) -> None:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    body = {"message": "success", "data": [{"time": "2024-07-02", "count": 1, "x": value}]}
    outcome = run_parser(body)
    if depth < MAX_NESTING:
        assert outcome.frame is not None and len(outcome.frame) == 2
    else:
        assert isinstance(outcome.error, UnexpectedResponseError)


@pytest.mark.parametrize(
    "body",
    [[], "x", {"message": "success"}, {"data": None}, {"data": {"time": "2024-07-01"}},
     {"data": [{"count": 1}]}, {"data": [{"time": "2024-13-01", "count": 1}]}, {"data": [3]}],
)
def test_missing_or_mistyped_data_is_rejected(body: Any) -> None:
    assert isinstance(run_parser(body).error, UnexpectedResponseError)


def test_duplicate_time_keeps_the_last_and_hours_read_offsets() -> None:
    cols = SeriesColumns()
    body = {"data": [{"time": "2025-06-29T13:00:00+02:00", "count": 1},
                     {"time": "2025-06-29T11:00:00Z", "count": 2},
                     {"time": "2025-06-29T12:00:00", "count": 3}]}
    days = series_days(body, keep=None, unit="hour", notes=cols.notes)
    parse_series(cols, EVENTS, "e", "e", days, unit="hour")
    frame = series_frame(cols, app_id=None, hourly=True)
    assert [d.hour for d in frame["date"].to_list()] == [11, 12]
    assert frame["value"].to_list() == [2.0, 3.0]
    assert cols.notes.repair_count == 1
    with pytest.raises(UnexpectedResponseError, match="not an ISO datetime"):
        series_days({"data": [{"time": "2025-06-29", "count": 1}]}, keep=None, unit="hour")


# ---- level 2: end to end through fetch_series ---------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def serve(server: ScriptedServer, payload: bytes) -> None:
    def handler(request: RecordedRequest) -> Reply:
        del request
        return Reply.raw(payload, content_type="application/json")

    server.handler = handler


def fetch(server: ScriptedServer, on_error: OnError = "raise") -> Outcome:
    with bf.BrazeClient(KEY, server.url, sleep=lambda s: None, max_retries=2) as client, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fetch_series("events", "signup", start=FIRST, end=LAST, client=client,
                                  on_error=on_error)
        except bf.BrazeError as exc:
            return Outcome(error=exc)
        except CRASHES as exc:  # a bug, whatever the body
            pytest.fail(f"{type(exc).__name__} escaped: {exc}")
    categories = [w.category for w in caught]
    assert set(categories) <= {DataRepairWarning, UnknownFieldWarning, NoDataWarning,
                               bf.FetchFailedWarning}, caught
    assert categories.count(UnknownFieldWarning) <= 1
    assert categories.count(DataRepairWarning) <= 1
    unknown: set[str] = set()
    for w in caught:
        if w.category is UnknownFieldWarning:
            unknown = set(str(w.message).split("metrics ", 1)[1].split(", "))
    if isinstance(result, FetchResult):
        if result.failures:
            covered = {f.first + dt.timedelta(days=i) for f in result.failures
                       for i in range((f.last - f.first).days + 1)}
            assert not covered & set(result.frame["date"].to_list())
            return Outcome(frame=result.frame, error=result.failures[0].error, covered=covered)
        result = result.frame
    return Outcome(frame=result, repaired=DataRepairWarning in categories, unknown=unknown)


@e2e_settings
@given(bodies)
def test_end_to_end_random_hostile_bodies(server: ScriptedServer, body: dict[str, Any]) -> None:
    serve(server, json.dumps(body, allow_nan=True).encode())
    check(fetch(server), body)


@e2e_settings
@given(bodies)
def test_end_to_end_collect_mode_never_raises(server: ScriptedServer, body: dict[str, Any]) -> None:
    serve(server, json.dumps(body, allow_nan=True).encode())
    outcome = fetch(server, on_error="collect")
    if outcome.covered is not None:  # the one window failed whole: nothing kept
        assert outcome.frame is not None and outcome.frame.is_empty()
        assert isinstance(outcome.error, UnexpectedResponseError)
        return
    check(outcome, body)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"message":"success","data":[{"time":"2024-07-02","count":NaN}]}', []),
        (b'{"message":"success","data":[{"time":"2024-07-02","count":1e400}]}', []),
        (b'{"message":"success","data":[{"time":"2024-07-02","count":' + b"9" * 400 + b"}]}", []),
        (b'{"message":"success","data":[{"time":"2024-07-02","count":"12"}]}', [12.0]),
        (b'{"message":"success","data":[{"time":"2024-07-02","count":-1e30}]}', [-1e30]),
    ],
)
def test_end_to_end_non_finite_and_huge_numbers(server: ScriptedServer, payload: bytes,
                                                expected: list[float]) -> None:
    serve(server, payload)
    outcome = fetch(server)
    assert outcome.frame is not None, outcome.error
    assert outcome.frame["value"].to_list() == expected


def test_a_deeply_nested_point_fails_its_day_alone_in_collect_mode(server: ScriptedServer) -> None:
    deep: Any = 1
    for _ in range(MAX_NESTING + 5):
        deep = [deep]
    body = {"message": "success", "data": [
        {"time": "2024-07-02", "count": 5}, {"time": "2024-07-03", "count": 6, "x": deep},
        {"time": "2024-07-04", "count": 7},
    ]}
    serve(server, json.dumps(body).encode())
    outcome = fetch(server, on_error="collect")
    assert outcome.covered == {dt.date(2024, 7, 3)}
    assert outcome.frame is not None
    assert outcome.frame["value"].to_list() == [5.0, 7.0]
    assert isinstance(fetch(server).error, UnexpectedResponseError)


def test_an_html_page_is_an_error_after_retries(server: ScriptedServer) -> None:
    def handler(request: RecordedRequest) -> Reply:
        del request
        return Reply.raw(b"<html>maintenance</html>", content_type="text/html")

    server.handler = handler
    assert isinstance(fetch(server).error, UnexpectedResponseError)
