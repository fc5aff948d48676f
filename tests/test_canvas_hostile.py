"""Hostile ``/canvas/data_series`` bodies: the right rows (repairs warned) or a BrazeError.

The Canvas half of ``test_hostile``: random and malformed bodies (stats as objects, lists,
``{}``, ``null`` or the wrong type; entries without ids, repeated ids; several entries in one
channel; numbers as strings, huge and non-finite numbers, nested values; ``data`` as a list;
bad times) never crash, never lose a number, and give exactly what the policy of
``braze_frames.endpoints.canvas`` says, read independently by ``_support_canvas``: rows, or
``UnexpectedResponseError`` with context. Two levels: the pure parser, and end to end through
``fetch_canvas_series`` against a local server.
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
from _support_canvas import RejectedError, canvas_object, expect_canvas
from _support_http import RecordedRequest, Reply, ScriptedServer
from _support_reference import date_of, number
from hypothesis import given
from hypothesis import strategies as st
from test_hostile import CRASHES, e2e_settings, hostile_settings, metric_values, nested, numbers

import braze_frames as bf
from braze_frames._errors import DataRepairWarning, UnexpectedResponseError, UnknownFieldWarning
from braze_frames._tidy import canvas_frame_from_parsed
from braze_frames.endpoints.canvas import CanvasColumns, collect_canvas_days, parse_canvas_days
from braze_frames.fetch import FetchResult, NoDataWarning

CID = "k1"
FIRST = dt.date(2024, 7, 1)
LAST = dt.date(2024, 7, 6)
KEEP = (FIRST, LAST)
KEYS = ["canvas_id", "date", "variant", "step", "channel", "metric"]


# ---- strategies ------------------------------------------------------------------------

names_ = st.one_of(st.none(), st.text(max_size=3), st.integers(0, 2), st.booleans())
entry_ids = st.one_of(st.none(), st.sampled_from(["v1", "v2", "", "#1", "v1#2"]), st.integers(0, 3),
                      st.booleans(), st.just({"x": 1}), st.just(1.5))
total_metrics = st.sampled_from(["entries", "revenue", "conversions", "conversions1_by_entry_time",
                                 "conversions_by_send_time", "mystery", "name", "sent"])
message_metrics = st.sampled_from(["sent", "opens", "unique_opens", "delivered", "errors",
                                   "revenue", "carousel_slide_1_X_click", "mystery", "id"])
stats = st.dictionaries(total_metrics, metric_values, max_size=4)
identity = st.fixed_dictionaries({}, optional={"api_id": entry_ids, "id": entry_ids, "name": names_})
entry = st.builds(lambda head, body: {**head, **body}, identity, stats)
message = st.dictionaries(message_metrics, metric_values, min_size=1, max_size=4)
junk = st.one_of(st.integers(), st.text(max_size=2), st.lists(st.integers(), max_size=2))
channel_value = st.one_of(st.lists(st.one_of(message, message, st.none()), max_size=3), st.none(),
                          message, junk)
channels = st.sampled_from(["email", "ios_push", "webhook", "all", "email#2", "hologram"])
messages = st.one_of(st.dictionaries(channels, channel_value, max_size=3),
                     st.dictionaries(channels, channel_value, max_size=3), st.none(), junk)
step = st.builds(lambda e, m, has: {**e, "messages": m} if has else e, entry, messages, st.booleans())


def keyed_or_listed(item: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.dictionaries(st.sampled_from(["v1", "v2", "s1", "#1"]), st.one_of(item, item, st.none()),
                        max_size=3),
        st.lists(st.one_of(item, item, st.none()), max_size=3),
        st.none(), st.just({}), st.just([]), junk,
    )


times = st.one_of(
    st.integers(-1, 6).map(lambda d: (FIRST + dt.timedelta(days=d)).isoformat()),
    st.integers(-1, 6).map(lambda d: (FIRST + dt.timedelta(days=d)).isoformat() + "T00:00:00Z"),
    st.integers(-1, 6).map(lambda d: (FIRST + dt.timedelta(days=d)).isoformat()),
    st.sampled_from([None, 20240701, "2024-13-01", "soon"]),
)
day = st.fixed_dictionaries({"time": times}, optional={
    "total_stats": st.one_of(stats, stats, st.just({}), st.none(), junk),
    "variant_stats": keyed_or_listed(entry),
    "step_stats": keyed_or_listed(step),
})
canvas = st.fixed_dictionaries({}, optional={
    "name": names_,
    "stats": st.one_of(st.lists(st.one_of(day, day, day, junk), max_size=4), st.none(), junk),
    "id": st.sampled_from([CID, "k2"]),
})
data = st.one_of(canvas, canvas, st.lists(st.one_of(canvas, st.none()), max_size=2), junk, st.none())
bodies = st.builds(lambda d, extra: {"message": "success", "data": d, **extra}, data,
                   st.dictionaries(st.sampled_from(["errors", "meta"]), nested, max_size=1))


# ---- running a body --------------------------------------------------------------------


@dataclass
class Outcome:
    frame: pl.DataFrame | None = None
    error: bf.BrazeError | None = None
    covered: set[dt.date] | None = None
    repaired: bool = False
    messages: list[str] = field(default_factory=list)


def run_parser(body: Any, keep: tuple[dt.date, dt.date] = KEEP) -> Outcome:
    parsed = CanvasColumns()
    try:
        days, name = collect_canvas_days(body, CID, keep=keep, parsed=parsed)
        parse_canvas_days(CID, days, into=parsed, canvas_name=name)
    except bf.BrazeError as exc:
        return Outcome(error=exc)
    return Outcome(frame=canvas_frame_from_parsed(parsed), repaired=parsed.repair_count > 0,
                   messages=list(parsed.repairs))


def rows_of(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    assert frame.columns == list(bf.CANVAS_COLUMNS)
    assert frame.select(KEYS).is_duplicated().sum() == 0
    text = frame.with_columns(pl.col(pl.Categorical).cast(pl.String))
    assert all(math.isfinite(v) for v in text["value"])
    return sorted(text.drop("canvas_id", "canvas_name").rows(), key=repr)


def check(outcome: Outcome, body: Any, keep: tuple[dt.date, dt.date] = KEEP) -> None:
    """The outcome is exactly what the independent reading predicts."""
    try:
        expected = expect_canvas(body, CID, keep)
    except RejectedError:
        assert outcome.error is not None, "an unusable body gave a frame"
        assert isinstance(outcome.error, UnexpectedResponseError), repr(outcome.error)
        assert len(str(outcome.error)) < 2_000
        if outcome.covered is not None and outcome.frame is not None:
            window = {keep[0] + dt.timedelta(days=i) for i in range((keep[1] - keep[0]).days + 1)}
            if window <= outcome.covered:  # the whole response failed
                assert outcome.frame.height == 0
            else:  # some days failed: the others are exactly right
                data = canvas_object(body, CID)
                rest = [d for d in data["stats"] if date_of(d.get("time")) not in outcome.covered]
                kept = expect_canvas({"data": {**data, "stats": rest}}, CID, keep)
                assert rows_of(outcome.frame) == sorted(kept.rows, key=repr)
        return
    assert outcome.error is None, f"a usable body was rejected: {outcome.error!r}"
    assert outcome.frame is not None
    assert rows_of(outcome.frame) == sorted(expected.rows, key=repr)
    assert outcome.repaired == expected.repaired, outcome.messages


@hostile_settings
@given(bodies)
def test_parser_follows_the_policy_on_random_hostile_bodies(body: dict[str, Any]) -> None:
    check(run_parser(body), body)


@hostile_settings
@given(bodies)
def test_parser_policy_holds_after_a_json_round_trip(body: dict[str, Any]) -> None:
    decoded = json.loads(json.dumps(body, allow_nan=True))
    check(run_parser(decoded), decoded)


@hostile_settings
@given(st.lists(st.one_of(numbers, st.sampled_from(["12", "NaN", "1e400", True, None])), min_size=1,
                max_size=4))
def test_every_number_is_kept_or_its_repair_noted(values: list[Any]) -> None:
    """What comes out is every number that went in, each a row; anything else a repair."""
    totals = {f"m{i}": v for i, v in enumerate(values)}
    emails = [{"sent": v} for v in values]
    body = {"data": {"stats": [{"time": "2024-07-02", "total_stats": totals,
                                "step_stats": [{"id": "s1", "messages": {"email": emails}}]}]}}
    outcome = run_parser(body)
    check(outcome, body)
    assert outcome.frame is not None
    read = [number(v) for v in values]
    kept = outcome.frame.filter(pl.col("channel") == "all", pl.col("step").is_null())["value"]
    assert sorted(kept) == sorted(n for n, _ in read if n is not None)
    assert outcome.repaired == (any(r for _, r in read) or len(values) > 1)


@pytest.mark.parametrize("body", [
    None, [], "data", {"message": "success"}, {"data": 3}, {"data": "x"},
    {"data": [{"name": "a"}, {"name": "b"}]},
    {"data": [{"id": "k1", "stats": []}, {"id": "k1", "stats": []}]},
    {"data": {"stats": {"time": "2024-07-02"}}},
    {"data": {"stats": [7]}},
    {"data": {"stats": [{"time": "yesterday"}]}},
    {"data": {"stats": [{"time": "2024-07-02", "total_stats": [1, 2]}]}},
    {"data": {"stats": [{"time": "2024-07-02", "variant_stats": "v1"}]}},
    {"data": {"stats": [{"time": "2024-07-02", "step_stats": [3]}]}},
    {"data": {"stats": [{"time": "2024-07-02", "step_stats": {"s1": {"messages": [1]}}}]}},
    {"data": {"stats": [{"time": "2024-07-02", "step_stats": {"s1": {"messages": {"email": 5}}}}]}},
    {"data": {"stats": [{"time": "2024-07-02", "step_stats": {"s1": {"messages": {"email": ["x"]}}}}]}},
], ids=repr)
def test_malformed_bodies_are_rejected_with_context(body: Any) -> None:
    outcome = run_parser(body)
    check(outcome, body)
    assert isinstance(outcome.error, UnexpectedResponseError)


def test_deep_nesting_is_an_error_never_recursion() -> None:
    deep: Any = 1
    for _ in range(5_000):
        deep = {"a": deep}
    body = {"data": {"stats": [{"time": "2024-07-02", "total_stats": {"entries": 1, "deep": deep}}]}}
    outcome = run_parser(body)
    assert isinstance(outcome.error, UnexpectedResponseError)
    assert "nested" in str(outcome.error)


def test_data_list_picks_the_canvas_by_id() -> None:
    ours = {"id": CID, "name": "Ours", "stats": [{"time": "2024-07-02", "total_stats": {"entries": 1}}]}
    other = {"id": "k2", "name": "Other", "stats": [{"time": "2024-07-02", "total_stats": {"entries": 9}}]}
    body = {"data": [other, ours]}
    outcome = run_parser(body)
    check(outcome, body)
    assert outcome.frame is not None
    assert outcome.frame["value"].to_list() == [1.0]
    assert outcome.frame["canvas_name"].cast(pl.String).to_list() == ["Ours"]


# ---- end to end ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def fetch_end_to_end(server: ScriptedServer, body: Any, on_error: str) -> Outcome:
    server.handler = lambda request: Reply.json(body)
    with bf.BrazeClient(api_key="hostile-canvas-key", rest_endpoint=server.url,
                        sleep=lambda s: None) as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = bf.fetch_canvas_series(CID, start=FIRST, end=LAST, client=client, names=False,
                                            on_error=on_error)  # type: ignore[arg-type]
        except bf.BrazeError as exc:
            return Outcome(error=exc)
        except CRASHES as exc:  # pragma: no cover - the point of the test
            pytest.fail(f"{type(exc).__name__} escaped: {exc}")
    repaired = any(issubclass(w.category, DataRepairWarning) for w in caught)
    assert all(w.category in (DataRepairWarning, UnknownFieldWarning, NoDataWarning) for w in caught), \
        [str(w.message) for w in caught]
    assert sum(issubclass(w.category, UnknownFieldWarning) for w in caught) <= 1
    if isinstance(result, FetchResult):
        covered = {f.first + dt.timedelta(days=i) for f in result.failures
                   for i in range((f.last - f.first).days + 1)}
        error = result.failures[0].error if result.failures else None
        return Outcome(frame=result.frame, error=error, covered=covered if error else None,
                       repaired=repaired)
    return Outcome(frame=result, repaired=repaired)


@e2e_settings
@given(bodies)
def test_end_to_end_random_hostile_bodies(server: ScriptedServer, body: dict[str, Any]) -> None:
    outcome = fetch_end_to_end(server, body, "raise")
    check(outcome, body)


@e2e_settings
@given(bodies)
def test_end_to_end_collect_mode_never_raises(server: ScriptedServer, body: dict[str, Any]) -> None:
    outcome = fetch_end_to_end(server, body, "collect")
    try:
        expect_canvas(body, CID, KEEP)
    except RejectedError:
        assert outcome.frame is not None and outcome.covered, "collect mode raised or lost the failure"
    check(outcome, body)


def test_end_to_end_a_bad_day_costs_that_day_only(server: ScriptedServer) -> None:
    good = {"time": "2024-07-02", "total_stats": {"entries": 4}}
    bad = {"time": "2024-07-03", "variant_stats": {"v1": 12}}
    outcome = fetch_end_to_end(server, {"data": {"stats": [good, bad]}, "message": "success"}, "collect")
    assert outcome.covered == {dt.date(2024, 7, 3)}
    assert outcome.frame is not None
    assert outcome.frame["value"].to_list() == [4.0]


def test_requests_name_what_failed(server: ScriptedServer) -> None:
    body = {"data": {"stats": [{"time": "2024-07-02", "step_stats": {"s1": []}}]}, "message": "success"}
    server.handler = lambda request: Reply.json(body)
    with bf.BrazeClient(api_key="hostile-canvas-key", rest_endpoint=server.url) as client, \
            pytest.raises(UnexpectedResponseError, match=r"Canvas k1 day 2024-07-02: step_stats 's1'"):
        bf.fetch_canvas_series(CID, length=1, ending_at="2024-07-02", client=client, names=False)
    assert isinstance(server.requests[-1], RecordedRequest)
