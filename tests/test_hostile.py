"""Hostile response bodies: correct data (repairs warned) or a BrazeError, never a crash.

Every body here is something Braze does not send: wrong types, numbers as strings, huge and
non-finite numbers, deep nesting, duplicate days, days outside the window, a missing
``data``, extra keys, 20 MB bodies. The outcome must be the parser's policy (the table in
``braze_frames.endpoints.parse``'s docstring, the one source): the right numbers, with a
``DataRepairWarning``/``UnknownFieldWarning`` where something was repaired or unknown, or an
``UnexpectedResponseError``. Never ``KeyError``, ``TypeError``, ``IndexError``,
``AttributeError``, ``RecursionError``.

Two levels: the pure parser (``collect_days``/``parse_days`` + ``frame_from_parsed``) and end
to end through ``fetch_data_series`` against a local server that serves the body. Both are
checked against the same small oracle (``expect``), written from the policy table rather
than from the parser's code.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl
import pytest
from _support_http import RecordedRequest, Reply, ScriptedServer
from _support_reference import date_of, id_text, leaves, number
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import braze_frames as bf
from braze_frames._errors import DataRepairWarning, UnexpectedResponseError, UnknownFieldWarning
from braze_frames._tidy import frame_from_parsed
from braze_frames.endpoints.parse import ParsedColumns, collect_days, parse_days
from braze_frames.fetch import FetchResult, NamesUnavailableWarning, NoDataWarning, OnError

KEY = "hostile-test-key-0001"
FIRST = dt.date(2024, 7, 1)
LAST = dt.date(2024, 7, 6)
KEEP = (FIRST, LAST)
ID_KEYS = ("variation_api_id", "variation_name")
KEY_COLUMNS = ["campaign_id", "date", "channel", "variation", "metric"]
#: Exceptions that mean a bug, not a policy: none of them may escape.
CRASHES = (KeyError, TypeError, IndexError, AttributeError, RecursionError, OverflowError)


# ---- the oracle: what the policy table says a body gives ---------------------------------


class RejectedError(Exception):
    """The oracle's verdict that a body must give UnexpectedResponseError."""


@dataclass
class Expected:
    """What a body must give: rows as (date, channel, metric, value), and repair flags."""

    rows: list[tuple[dt.date, str, str, float]] = field(default_factory=list)
    repaired: bool = False


def days_of(body: Any, keep: tuple[dt.date, dt.date]) -> tuple[dict[dt.date, dict[str, Any]], bool]:
    """A body's days kept (the last of a repeated time), and whether a time repeated.

    Raises:
        RejectedError: No ``data`` list, a day that is not an object or has no valid time.
    """
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise RejectedError
    days: dict[dt.date, dict[str, Any]] = {}
    seen: set[dt.date] = set()
    repeated = False
    for day in body["data"]:
        if not isinstance(day, dict):
            raise RejectedError
        date = date_of(day.get("time"))
        if date is None:
            raise RejectedError
        repeated |= date in seen
        seen.add(date)
        if keep[0] <= date <= keep[1]:
            days[date] = day
    return days, repeated


def expect(body: Any, keep: tuple[dt.date, dt.date] = KEEP) -> Expected:
    """The rows a body gives under the policy; raises RejectedError for an unusable body."""
    days, repeated = days_of(body, keep)
    out = Expected(repaired=repeated)

    def segment(date: dt.date, channel: str, obj: dict[str, Any], skip: tuple[str, ...]) -> None:
        for name, leaf in leaves(obj, skip):
            value, repaired = number(leaf)
            out.repaired |= repaired
            if value is not None:
                out.rows.append((date, channel, name, value))

    for date in sorted(days):
        day = days[date]
        segment(date, "all", day, ("time", "messages"))
        messages = day.get("messages")
        if messages is None:
            continue
        if not isinstance(messages, dict):
            raise RejectedError
        for channel, value in messages.items():
            if value is None or value == []:
                continue
            if isinstance(value, dict):
                out.repaired = True  # one object read as a one-entry list
                value = [value]
            if not isinstance(value, list):
                raise RejectedError
            used: Counter[str] = Counter()
            for index, entry in enumerate(value):
                if entry is None:
                    continue
                if not isinstance(entry, dict):
                    raise RejectedError
                api_id, name = id_text(entry.get("variation_api_id")), id_text(entry.get("variation_name"))
                base = api_id or name or f"#{index + 1}"
                used[base] += 1
                out.repaired |= (api_id is None and name is None) or used[base] > 1
                segment(date, channel, entry, ID_KEYS)
    return out


# ---- running a body: the pure parser and end to end ---------------------------------------


@dataclass
class Outcome:
    """A frame (with repair/unknown flags) or the BrazeError the body gave."""

    frame: pl.DataFrame | None = None
    error: bf.BrazeError | None = None
    #: With on_error="collect": the days the failures cover (the frame holds the rest).
    covered: set[dt.date] | None = None
    repaired: bool = False
    unknown: bool = False
    messages: list[str] = field(default_factory=list)


def run_parser(body: Any, keep: tuple[dt.date, dt.date] = KEEP) -> Outcome:
    parsed = ParsedColumns()
    try:
        days = collect_days(body, keep=keep, parsed=parsed)
        parse_days("c1", days, into=parsed)
    except bf.BrazeError as exc:
        return Outcome(error=exc)
    return Outcome(frame=frame_from_parsed(parsed), repaired=parsed.repair_count > 0,
                   unknown=bool(parsed.unknown_channels or parsed.unknown_metrics),
                   messages=list(parsed.repairs))


def check(outcome: Outcome, body: Any, keep: tuple[dt.date, dt.date] = KEEP) -> None:
    """The outcome is exactly what the oracle predicts."""
    try:
        expected = expect(body, keep)
    except RejectedError:
        assert outcome.error is not None, "an unusable body gave a frame"
        assert isinstance(outcome.error, UnexpectedResponseError), repr(outcome.error)
        if outcome.covered is not None and outcome.frame is not None:
            window = {keep[0] + dt.timedelta(days=i) for i in range((keep[1] - keep[0]).days + 1)}
            if window <= outcome.covered:  # the whole response failed
                assert outcome.frame.height == 0
            else:  # some days failed: the others are exactly right
                rest = [d for d in body["data"] if date_of(d.get("time")) not in outcome.covered]
                same_rows(outcome.frame, expect({**body, "data": rest}, keep))
        return
    assert outcome.error is None, f"a usable body was rejected: {outcome.error!r}"
    assert outcome.frame is not None
    same_rows(outcome.frame, expected)
    assert outcome.repaired == expected.repaired


def same_rows(frame: pl.DataFrame, expected: Expected) -> None:
    assert frame.columns == list(bf.TIDY_COLUMNS)
    assert frame.select(KEY_COLUMNS).is_duplicated().sum() == 0
    got = sorted(zip(frame["date"].to_list(), frame["channel"].cast(pl.String).to_list(),
                     frame["metric"].cast(pl.String).to_list(), frame["value"].to_list(), strict=True))
    assert got == sorted(expected.rows)
    assert all(math.isfinite(v) for v in frame["value"].to_list())


# ---- hypothesis strategies ----------------------------------------------------------------

BIG_INTS = [0, -1, 10**30, -(10**30), 2**63, 2**64 + 1, -(2**63) - 1, 10**308, 17 * 10**307,
            18 * 10**307, -(18 * 10**307), 10**400, -(10**400)]
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from(BIG_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
)
number_strings = st.one_of(
    numbers.map(str),
    st.sampled_from(["NaN", "nan", "Infinity", "-Infinity", "inf", "1e400", "-1e400", " 12 ",
                     "12abc", "", "true", "null", "0x10", "1_000", "--1"]),
    st.text(max_size=6),
)
scalars = st.one_of(numbers, number_strings, st.none(), st.booleans())
nested = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "0"]), inner,
                                                                max_size=3),
    max_leaves=6,
)
metric_names = st.sampled_from(["sent", "opens", "delivered", "revenue", "unique_recipients",
                                "conversions", "conversions7_by_send_time", "enrolled", "errors",
                                "carousel_slide_1_X_click", "mystery_metric"])
metric_values = st.one_of(numbers, numbers, scalars, nested)
ids = st.one_of(st.none(), st.sampled_from(["v1", "v2", "", "#2", "A"]), st.integers(0, 3),
                st.booleans(), st.just({"x": 1}), st.just(1.5))
entry_dicts = st.builds(
    lambda head, metrics: {**head, **metrics},
    st.fixed_dictionaries({}, optional={"variation_api_id": ids, "variation_name": ids}),
    st.dictionaries(metric_names, metric_values, min_size=1, max_size=5),
)
channel_names = st.sampled_from(["email", "ios_push", "webhook", "sms", "apple_push", "hologram"])
good_times = st.integers(-1, 6).map(lambda d: (FIRST + dt.timedelta(days=d)).isoformat())
times = st.one_of(
    st.integers(-3, 9).map(lambda d: (FIRST + dt.timedelta(days=d)).isoformat()),
    st.integers(-3, 9).map(lambda d: (FIRST + dt.timedelta(days=d)).isoformat() + "T00:00:00Z"),
    st.sampled_from([None, 20240701, "2024-13-01", "yesterday", "2024-07", ["2024-07-01"]]),
)


def day_with(time: Any, totals: dict[str, Any], msgs: Any, has_messages: bool) -> dict[str, Any]:
    day: dict[str, Any] = {"time": time, **totals}
    if has_messages:
        day["messages"] = msgs
    return day


def bodies_of(day: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda data, extra: {"message": "success", "data": data, **extra},
        st.lists(day, min_size=1, max_size=4),
        st.dictionaries(st.sampled_from(["errors", "next_page", "campaign_id", "meta"]), nested,
                        max_size=2),
    )


# Well-formed structure, hostile values: mostly usable bodies, so the data path is exercised.
channel_values_ok = st.one_of(st.lists(st.one_of(entry_dicts, entry_dicts, st.none()), max_size=3),
                              st.none(), entry_dicts)
days_ok = st.builds(day_with, good_times, st.dictionaries(metric_names, metric_values, min_size=1,
                                                          max_size=4),
                    st.dictionaries(channel_names, channel_values_ok, max_size=3), st.booleans())
# Hostile structure too: wrong types for days, messages, channels and entries, bad times.
entries = st.one_of(entry_dicts, entry_dicts, entry_dicts, st.none(), st.integers(0, 2), st.text(max_size=2),
                    st.lists(st.integers(), max_size=2))
channel_values = st.one_of(st.lists(entries, max_size=3), st.lists(entries, max_size=3), st.none(),
                           entry_dicts, st.integers(), st.text(max_size=2))
messages = st.one_of(st.dictionaries(channel_names, channel_values, max_size=3),
                     st.dictionaries(channel_names, channel_values, max_size=3),
                     st.none(), st.lists(st.integers(), max_size=1), st.text(max_size=2))
days_any = st.builds(day_with, st.one_of(good_times, good_times, good_times, times),
                     st.dictionaries(metric_names, metric_values, max_size=4), messages, st.booleans())
bodies = st.one_of(
    bodies_of(days_ok),
    bodies_of(days_ok),
    bodies_of(st.one_of(days_ok, days_any)),
    bodies_of(st.one_of(days_ok, days_any, st.integers(), st.none())),
)
hostile_settings = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# End to end costs an HTTP round trip per example: half the profile's examples.
_profile_examples = settings.default.max_examples if settings.default is not None else 30
e2e_settings = settings(hostile_settings, max_examples=max(10, _profile_examples // 2))


# ---- level 1: the pure parser -------------------------------------------------------------


@hostile_settings
@given(bodies)
def test_parser_follows_the_policy_on_random_hostile_bodies(body: dict[str, Any]) -> None:
    check(run_parser(body), body)


@hostile_settings
@given(bodies)
def test_parser_policy_holds_after_a_json_round_trip(body: dict[str, Any]) -> None:
    # NaN/Infinity are not strict JSON: the stdlib writes and reads them as literals.
    decoded = json.loads(json.dumps(body, allow_nan=True))
    check(run_parser(decoded), decoded)


ONE_VALUE_CASES: list[tuple[Any, float | None, bool]] = [
        ("12", 12.0, True),
        ("-3.5", -3.5, True),
        ("NaN", None, True),
        ("Infinity", None, True),
        ("-inf", None, True),
        ("1e400", None, True),
        ("many", None, True),
        (True, None, True),
        (False, None, True),
        (-7, -7.0, False),
        (10**30, 1e30, False),
        (-(10**30), -1e30, False),
        (17 * 10**307, 1.7e308, False),
        (10**400, None, True),
        (-(10**400), None, True),
        (math.nan, None, True),
        (math.inf, None, True),
        (-math.inf, None, True),
        (None, None, False),
    ]


mostly_numbers = st.one_of(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6),
                           st.floats(-1e9, 1e9), st.none(), scalars, nested)


@st.composite
def uniform_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Days that share one structure (the parser's fast paths), with hostile values in it."""
    day_metrics = draw(st.lists(metric_names, max_size=4, unique=True))
    heads = draw(st.dictionaries(channel_names, st.lists(
        st.fixed_dictionaries({}, optional={"variation_api_id": ids, "variation_name": ids}),
        min_size=1, max_size=3), max_size=2))
    entry_metrics = draw(st.lists(metric_names, min_size=1, max_size=4, unique=True))
    data = []
    for d in range(draw(st.integers(1, 6))):
        day: dict[str, Any] = {"time": (FIRST + dt.timedelta(days=d)).isoformat()}
        day.update((m, draw(mostly_numbers)) for m in day_metrics)
        day["messages"] = {channel: [{**head, **{m: draw(mostly_numbers) for m in entry_metrics}}
                                     for head in entry_heads]
                           for channel, entry_heads in heads.items()}
        data.append(day)
    return {"message": "success", "data": data}


@hostile_settings
@given(uniform_bodies())
def test_parser_policy_holds_on_uniform_days_with_hostile_values(body: dict[str, Any]) -> None:
    check(run_parser(body), body)


@pytest.mark.parametrize(
    ("value", "expected", "repaired"), ONE_VALUE_CASES, ids=[repr(c[0])[:24] for c in ONE_VALUE_CASES]
)
@pytest.mark.parametrize("where", ["day", "entry"])
def test_one_value_of_each_kind(value: Any, expected: float | None, repaired: bool, where: str) -> None:
    if where == "day":
        body = {"data": [{"time": "2024-07-02", "revenue": value, "conversions": 2}]}
    else:
        body = {"data": [{"time": "2024-07-02", "conversions": 2, "messages": {
            "webhook": [{"variation_api_id": "v1", "sent": value, "errors": 1}]}}]}
    outcome = run_parser(body)
    check(outcome, body)
    assert outcome.frame is not None
    metric = "revenue" if where == "day" else "sent"
    got = outcome.frame.filter(pl.col("metric") == metric)["value"].to_list()
    assert got == ([] if expected is None else [expected])
    assert outcome.repaired == repaired


def nest(depth: int, kind: str, leaf: Any = 1) -> Any:
    """A value nested ``depth`` levels deep, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = {"a": value} if kind == "dict" else [value]
    return value


DEPTHS = [1, 2, 31, 32, 33, 999, 1000, 1023, 5000, 100_000]


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("kind", ["dict", "list"])
@pytest.mark.parametrize("where", ["day metric", "entry metric", "channel entry", "channel value",
                                   "messages", "data", "body"])
def test_deep_nesting_gives_data_or_an_error_never_recursion(depth: int, kind: str, where: str) -> None:
    from braze_frames.endpoints.parse import MAX_NESTING

    deep = nest(depth, kind)
    bodies_by_place: dict[str, Any] = {
        "day metric": {"data": [{"time": "2024-07-02", "revenue": 1.5, "deep": deep}]},
        "entry metric": {"data": [{"time": "2024-07-02", "messages": {
            "email": [{"variation_api_id": "v1", "sent": 3, "deep": deep}]}}]},
        "channel entry": {"data": [{"time": "2024-07-02", "messages": {"email": [deep]}}]},
        "channel value": {"data": [{"time": "2024-07-02", "messages": {"email": deep}}]},
        "messages": {"data": [{"time": "2024-07-02", "messages": deep}]},
        "data": {"data": deep},
        "body": deep,
    }
    body = bodies_by_place[where]
    outcome = run_parser(body)  # any exception but a BrazeError fails the test here
    if where in ("day metric", "entry metric"):
        if depth > MAX_NESTING:
            assert isinstance(outcome.error, UnexpectedResponseError)
            assert "nested" in str(outcome.error)
            return
        check(outcome, body)
        assert outcome.frame is not None and outcome.unknown
        names = set(outcome.frame["metric"].cast(pl.String).to_list())
        prefix = "a." if kind == "dict" else "0."
        assert f"deep.{prefix * (depth - 1)}{prefix[0]}" in names
        return
    if outcome.error is not None:
        assert isinstance(outcome.error, UnexpectedResponseError)
        return
    assert outcome.frame is not None
    assert outcome.frame["value"].sum() == 1.0  # the one leaf, flattened


def test_nesting_up_to_the_limit_is_flattened_beyond_it_rejected() -> None:
    from braze_frames.endpoints.parse import MAX_NESTING

    ok = {"data": [{"time": "2024-07-02", "deep": nest(MAX_NESTING, "dict")}]}
    check(run_parser(ok), ok)
    too_deep = {"data": [{"time": "2024-07-02", "deep": nest(MAX_NESTING + 1, "dict")}]}
    outcome = run_parser(too_deep)
    assert isinstance(outcome.error, UnexpectedResponseError)
    assert f"more than {MAX_NESTING}" in str(outcome.error)


@pytest.mark.parametrize(
    ("head", "variation", "name"),
    [
        ({"variation_api_id": ""}, "#1", None),
        ({"variation_api_id": "", "variation_name": ""}, "#1", None),
        ({"variation_api_id": "v", "variation_name": ""}, "v", None),
        ({"variation_api_id": None, "variation_name": "A"}, "A", "A"),
        ({"variation_api_id": 7}, "7", None),
        ({"variation_api_id": True}, "#1", None),
        ({"variation_api_id": {"x": 1}, "variation_name": ["A"]}, "#1", None),
    ],
)
def test_empty_or_mistyped_variation_ids(head: dict[str, Any], variation: str, name: str | None) -> None:
    body = {"data": [{"time": "2024-07-02", "messages": {"email": [{**head, "sent": 1}]}}]}
    outcome = run_parser(body)
    check(outcome, body)
    assert outcome.frame is not None
    assert outcome.frame.select("variation", "variation_name").rows() == [(variation, name)]


def test_flattened_names_that_collide_stay_unique() -> None:
    body = {"data": [{"time": "2024-07-02", "x.a": 1, "x": {"a": 2}, "messages": {
        "email": [{"variation_api_id": "v", "sent": 3, "b.0": 4, "b": [5]}]}}]}
    outcome = run_parser(body)
    assert outcome.frame is not None
    frame = outcome.frame
    assert frame.select(KEY_COLUMNS).is_duplicated().sum() == 0
    assert sorted(frame["value"].to_list()) == [1, 2, 3, 4, 5]
    assert outcome.repaired
    assert any("x.a" in m for m in outcome.messages)


@hostile_settings
@given(st.lists(st.integers(-5, 12), max_size=12), st.integers(0, 6), st.integers(0, 6))
def test_duplicate_days_and_days_outside_the_window(offsets: list[int], a: int, b: int) -> None:
    first, last = FIRST + dt.timedelta(days=min(a, b)), FIRST + dt.timedelta(days=max(a, b))
    data = [{"time": (FIRST + dt.timedelta(days=d)).isoformat(), "revenue": i, "conversions": d}
            for i, d in enumerate(offsets)]
    body = {"message": "success", "data": data}
    outcome = run_parser(body, keep=(first, last))
    check(outcome, body, keep=(first, last))
    assert outcome.frame is not None
    last_seen = {FIRST + dt.timedelta(days=d): i for i, d in enumerate(offsets)}
    wanted = {d: i for d, i in last_seen.items() if first <= d <= last}
    revenue = outcome.frame.filter(pl.col("metric") == "revenue")
    assert dict(zip(revenue["date"].to_list(), revenue["value"].to_list(), strict=True)) == wanted
    assert outcome.repaired == (len(set(offsets)) < len(offsets))


@pytest.mark.parametrize(
    "body",
    [
        {"message": "success"},
        {"message": "success", "data": None},
        {"message": "success", "data": {"time": "2024-07-02"}},
        {"message": "success", "data": "2024-07-02"},
        {"message": "success", "Data": []},
        [],
        "success",
        None,
        42,
    ],
    ids=repr,
)
def test_missing_or_mistyped_data_is_rejected(body: Any) -> None:
    outcome = run_parser(body)
    assert isinstance(outcome.error, UnexpectedResponseError)
    check(outcome, body)


def test_extra_top_level_keys_are_ignored() -> None:
    body = {"message": "success", "data": [{"time": "2024-07-02", "revenue": 1}],
            "errors": [{"x": 1}], "next_page": 99, "campaign_id": "zzz", "revenue": 1000}
    outcome = run_parser(body)
    check(outcome, body)
    assert outcome.frame is not None
    assert outcome.frame["value"].to_list() == [1.0] and not outcome.repaired


def test_repair_notes_stay_short_whatever_the_input() -> None:
    huge = "9" * 5_000_000 + "x"  # a 5 MB string where a number belongs
    body = {"data": [{"time": "2024-07-02", "revenue": huge, "messages": {
        "email": [{"variation_api_id": "v", "sent": huge}]}}]}
    outcome = run_parser(body)
    check(outcome, body)
    assert outcome.messages and all(len(m) < 500 for m in outcome.messages)
    bad_time = {"data": [{"time": "2" * 1_000_000}]}
    error = run_parser(bad_time).error
    assert isinstance(error, UnexpectedResponseError)
    assert len(str(error)) < 1000


def test_enormous_body_is_parsed_exactly() -> None:
    body = big_body(n_variations=45_000)
    encoded = orjson.dumps(body)
    assert len(encoded) > 20_000_000
    decoded = orjson.loads(encoded)
    outcome = run_parser(decoded)
    assert outcome.frame is not None and not outcome.repaired
    assert outcome.frame.height == BIG_DAYS * 45_000 * 3 + BIG_DAYS
    assert outcome.frame["value"].sum() == pytest.approx(big_sum(body))


BIG_DAYS = 6


def big_body(n_variations: int, pad: int = 0) -> dict[str, Any]:
    """Many variations a day; ``pad`` adds a long unknown string field per entry."""
    filler = {"note": "x" * pad} if pad else {}
    return {"message": "success", "data": [
        {"time": (FIRST + dt.timedelta(days=d)).isoformat(), "revenue": d + 0.5, "messages": {
            "webhook": [{"variation_api_id": f"v{v}", "sent": v * 10 + d, "errors": v % 7,
                         "unique_recipients": v, **filler} for v in range(n_variations)]}}
        for d in range(BIG_DAYS)
    ]}


def big_sum(body: dict[str, Any]) -> float:
    total = 0.0
    for day in body["data"]:
        total += day["revenue"]
        for entry in day["messages"]["webhook"]:
            total += entry["sent"] + entry["errors"] + entry["unique_recipients"]
    return total


# ---- level 2: end to end through fetch_data_series ----------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def serve(server: ScriptedServer, payload: bytes, content_type: str = "application/json") -> None:
    def handler(request: RecordedRequest) -> Reply:
        del request
        return Reply.raw(payload, content_type=content_type)

    server.handler = handler


def fetch(server: ScriptedServer, on_error: OnError = "raise") -> Outcome:
    """fetch_data_series over KEEP against the server; warnings recorded, not raised."""
    with bf.BrazeClient(KEY, server.url, sleep=lambda s: None, max_retries=2) as client, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = bf.fetch_data_series("c1", start=FIRST, end=LAST, client=client, on_error=on_error)
        except bf.BrazeError as exc:
            return Outcome(error=exc)
    categories = {w.category for w in caught}
    # The server answers /campaigns/details with the same body: names may be unavailable.
    assert categories <= {DataRepairWarning, UnknownFieldWarning, bf.FetchFailedWarning,
                          NamesUnavailableWarning, NoDataWarning}, caught
    assert sum(w.category is UnknownFieldWarning for w in caught) <= 1
    assert sum(w.category is DataRepairWarning for w in caught) <= 1
    if isinstance(result, FetchResult):
        # Exactly once: no day both in the frame and covered by a failure.
        covered = {f.first + dt.timedelta(days=i) for f in result.failures
                   for i in range((f.last - f.first).days + 1)}
        assert not covered & set(result.frame["date"].to_list())
        if result.failures:
            return Outcome(frame=result.frame, error=result.failures[0].error, covered=covered)
        result = result.frame
    return Outcome(frame=result, repaired=DataRepairWarning in categories,
                   unknown=UnknownFieldWarning in categories,
                   messages=[str(w.message) for w in caught])


@e2e_settings
@given(bodies)
def test_end_to_end_random_hostile_bodies(server: ScriptedServer, body: dict[str, Any]) -> None:
    serve(server, json.dumps(body, allow_nan=True).encode())
    check(fetch(server), body)


@e2e_settings
@given(bodies)
def test_end_to_end_collect_mode_never_raises(server: ScriptedServer, body: dict[str, Any]) -> None:
    serve(server, json.dumps(body, allow_nan=True).encode())
    check(fetch(server, on_error="collect"), body)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"message":"success","data":[{"time":"2024-07-02","revenue":NaN,"conversions":1}]}', 1.0),
        (b'{"message":"success","data":[{"time":"2024-07-02","revenue":Infinity,"conversions":1}]}', 1.0),
        (b'{"message":"success","data":[{"time":"2024-07-02","revenue":-Infinity,"conversions":1}]}', 1.0),
        (b'{"message":"success","data":[{"time":"2024-07-02","revenue":1e400,"conversions":1}]}', 1.0),
        (b'{"message":"success","data":[{"time":"2024-07-02","revenue":' + b"9" * 400
         + b',"conversions":1}]}', 1.0),
        (b'{"message":"success","data":[{"time":"2024-07-02","revenue":1e30,"conversions":-1}]}', 1e30 - 1),
        (b'{"message":"success","data":[{"time":"2024-07-02","revenue":"12","conversions":1}]}', 13.0),
    ],
)
def test_end_to_end_non_finite_and_huge_numbers(server: ScriptedServer, payload: bytes,
                                                 expected: float) -> None:
    serve(server, payload)
    outcome = fetch(server)
    assert outcome.frame is not None, outcome.error
    assert outcome.frame["value"].sum() == pytest.approx(expected)
    assert outcome.repaired == (expected != 1e30 - 1)


@pytest.mark.parametrize("depth", [10, 999, 1000, 1023, 1024, 1025, 5000, 50_000])
@pytest.mark.parametrize("where", ["metric", "entry", "body"])
@pytest.mark.parametrize("with_huge_number", [False, True])
def test_end_to_end_deep_nesting(server: ScriptedServer, depth: int, where: str,
                                 with_huge_number: bool) -> None:
    deep = b"[" * depth + b"1" + b"]" * depth
    # A number beyond float range first sends the decoder to its stdlib fallback, which
    # recurses where orjson does not.
    huge = b'"big":1e400,' if with_huge_number else b""
    payload = {
        "metric": b'{"message":"success","data":[{"time":"2024-07-02",' + huge + b'"revenue":2,"deep":'
                  + deep + b"}]}",
        "entry": b'{"message":"success","data":[{"time":"2024-07-02",' + huge
                 + b'"messages":{"email":[' + deep + b"]}}]}",
        "body": b'{"message":"success",' + huge + b'"data":' + deep + b"}",
    }[where]
    serve(server, payload)
    outcome = fetch(server)
    if outcome.error is not None:
        assert isinstance(outcome.error, UnexpectedResponseError), repr(outcome.error)
    else:
        assert outcome.frame is not None
        assert where == "metric"
        assert outcome.frame.filter(pl.col("metric") == "revenue")["value"].to_list() == [2.0]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"message":"success"}',
        b'{"message":"success","data":null}',
        b'{"message":"success","data":{}}',
        b"[]",
        b'"success"',
        b"null",
        b'{"message":"success","data":[{"time":"2024-07-02"}],"data2":1,"errors":["x"]}',
        b'{"message":"success","data":[{"time":"2024-07-02","revenue":1},{"time":"2024-07-02","revenue":2}]}',
        b'{"message":"success","data":[{"time":"2030-01-01","revenue":1},{"time":"2024-07-02","revenue":2}]}',
        b'{"message":"success","data":[{"time":"2024-07-02","messages":{"email":[{"sent":"1","x":true}]}}]}',
        b'{"message":"success","data":[{"time":"2024-07-02","messages":[]}]}',
        b'{"message":"success","data":[{"time":"2024-07-02","revenue":1},{"time":"bad"}]}',
    ],
    ids=lambda p: p.decode()[:60],
)
@pytest.mark.parametrize("on_error", ["raise", "collect"])
def test_end_to_end_shapes(server: ScriptedServer, payload: bytes, on_error: OnError) -> None:
    serve(server, payload)
    check(fetch(server, on_error=on_error), json.loads(payload))


@pytest.mark.parametrize("status", [200, 400, 500])
@pytest.mark.parametrize("field_name", ["message", "errors"])
def test_end_to_end_deep_or_huge_message_and_errors(server: ScriptedServer, status: int,
                                                     field_name: str) -> None:
    # Error bodies are quoted in errors: a hostile one must not crash the quoting.
    deep = "[" * 1000 + "1" + "]" * 1000
    for value in (deep, '"' + "m" * 2_000_000 + '"', "1e400", "NaN"):
        other = '"errors":[]' if field_name == "message" else '"message":"failed"'
        payload = f'{{"{field_name}":{value},{other}}}'.encode()
        def handler(request: RecordedRequest, payload: bytes = payload) -> Reply:
            return Reply.raw(payload, status, content_type="application/json")

        server.handler = handler
        outcome = fetch(server)
        assert isinstance(outcome.error, bf.BrazeError), outcome
        assert len(str(outcome.error)) < 5_000


def test_end_to_end_enormous_body(server: ScriptedServer) -> None:
    body = big_body(n_variations=400, pad=8_500)
    payload = orjson.dumps(body)
    assert len(payload) > 20_000_000
    serve(server, payload)
    outcome = fetch(server)
    assert outcome.frame is not None, outcome.error
    # "note" is a string: skipped and noted once per entry; the notes stay short.
    assert outcome.repaired and all(len(m) < 20_000 for m in outcome.messages)
    assert outcome.frame.height == BIG_DAYS * 400 * 3 + BIG_DAYS
    assert outcome.frame["value"].sum() == pytest.approx(big_sum(body))


def test_end_to_end_enormous_garbage_is_an_error(server: ScriptedServer) -> None:
    serve(server, b"<html>" + b"x" * 20_000_000, content_type="text/html")
    outcome = fetch(server)
    assert isinstance(outcome.error, UnexpectedResponseError)
    assert len(str(outcome.error)) < 2_000


def test_collect_mode_keeps_good_campaigns_when_one_body_is_malformed() -> None:
    good = {"message": "success", "data": [{"time": "2024-07-02", "revenue": 1.0}]}
    bad = {"message": "success", "data": [{"time": "2024-07-02", "messages": {"email": 5}},
                                          {"time": "2024-07-03", "revenue": 7.0}]}

    def handler(request: RecordedRequest) -> Reply:
        return Reply.json(bad if request.query["campaign_id"] == "bad" else good)

    with ScriptedServer(handler=handler) as srv, \
            bf.BrazeClient(KEY, srv.url, sleep=lambda s: None) as client:
        result = bf.fetch_data_series(["good", "bad"], start=FIRST, end=LAST, client=client,
                                      on_error="collect")
        with pytest.raises(UnexpectedResponseError, match="holds a JSON int"):
            bf.fetch_data_series(["good", "bad"], start=FIRST, end=LAST, client=client)
    assert isinstance(result, FetchResult)
    frame = result.frame
    assert set(frame["campaign_id"].cast(pl.String).to_list()) == {"good", "bad"}
    bad_rows = frame.filter(pl.col("campaign_id") == "bad")
    # The malformed day is a failure; the bad campaign's other day is kept.
    assert bad_rows["date"].to_list() == [dt.date(2024, 7, 3)]
    assert [(f.campaign_id, f.first, f.last) for f in result.failures] == [
        ("bad", dt.date(2024, 7, 2), dt.date(2024, 7, 2))]
    assert isinstance(result.failures[0].error, UnexpectedResponseError)


def test_a_failed_window_leaves_no_rows_behind() -> None:
    # The response's first day is fine, a later one is not: the window fails as a whole, so
    # its days are covered by the failure and absent from the frame (never both).
    body = {"message": "success", "data": [{"time": "2024-07-02", "revenue": 1.0}, {"time": "garbage"}]}
    with ScriptedServer(handler=lambda r: Reply.json(body)) as srv, \
            bf.BrazeClient(KEY, srv.url, sleep=lambda s: None) as client:
        result = bf.fetch_data_series("c1", start=FIRST, end=LAST, client=client, on_error="collect")
    assert isinstance(result, FetchResult)
    assert result.frame.height == 0
    assert [(f.first, f.last) for f in result.failures] == [(FIRST, LAST)]


def stray_day_server(stray: int) -> tuple[ScriptedServer, list[int]]:
    """An exclusive server (``D-N .. D-1``); its first response also holds a stray day.

    ``stray`` days after ``ending_at`` (0: ``ending_at`` itself). Every day's ``revenue`` is
    its ordinal, so a test can tell which days came back.
    """
    served: list[int] = []

    def handler(request: RecordedRequest) -> Reply:
        end = dt.date.fromisoformat(request.query["ending_at"])
        length = int(request.query["length"])
        days = [end - dt.timedelta(days=i) for i in range(length, 0, -1)]
        if not served:
            days.append(end + dt.timedelta(days=stray))
        served.append(len(days))
        return Reply.json({"message": "success", "data": [
            {"time": d.isoformat(), "revenue": float(d.toordinal())} for d in days]})

    return ScriptedServer(handler=handler), served


@pytest.mark.parametrize("stray", [0, 5])
def test_days_outside_the_window_teach_no_reading(stray: int) -> None:
    # The stray day says "inclusive" to a naive reader; learning that from the first response
    # would make every later request of the client miss its last day, silently.
    server, served = stray_day_server(stray)
    with server, bf.BrazeClient(KEY, server.url, sleep=lambda s: None) as client:
        first = bf.fetch_data_series("c1", start="2025-01-01", end="2025-12-31", client=client,
                                     names=False)
        again = bf.fetch_data_series("c1", start="2025-01-01", end="2025-12-31", client=client,
                                     names=False)
    wanted = pl.date_range(dt.date(2025, 1, 1), dt.date(2025, 12, 31), eager=True).to_list()
    for frame in (first, again):
        assert frame["date"].to_list() == wanted
        assert frame["value"].to_list() == [float(d.toordinal()) for d in wanted]
    assert served[0] == 101  # the probe got its stray day


def test_no_crash_exception_escapes_the_oracle_cases() -> None:
    # The tuple of crash types is what every test here guards against; keep it honest.
    assert not any(issubclass(c, bf.BrazeError) for c in CRASHES)
