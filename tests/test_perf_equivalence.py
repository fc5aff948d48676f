"""The fast parser paths against a straightforward reference (differential tests).

``parse_days`` reads a campaign whose days share one structure column by column
(``_parse_uniform``), other campaigns entry by entry with per-slot caches (``_parse``), and
checks values in one pass (``_plain_numbers``). Here a plain nested loop, written from the
policy table in ``braze_frames.endpoints.parse``, is the reference: the rows (in order, see
``by_segment``), the repair
count and the unknown names must be the same, on regular multi-day campaigns (the fast
path) and on the same campaigns perturbed on some days (every fallback), with one
``ParsedColumns`` shared by several campaigns as a fetch does. No timing here: speed lives
in ``bench/``.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl
import pytest
from _support_reference import id_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from braze_frames._schema import CHANNEL_SCHEMAS, is_known_metric, schema_for
from braze_frames._tidy import POLARS_SCHEMA, frame_from_parsed
from braze_frames.endpoints import parse as _parse
from braze_frames.endpoints.parse import ParsedColumns, collect_days, parse_days

ID_KEYS = ("variation_api_id", "variation_name")
Row = tuple[str, dt.date, str, "str | None", "str | None", str, float]


# ---- the reference ---------------------------------------------------------------------------


@dataclass
class Reference:
    """Rows, repairs and unknown names, accumulated over campaigns like ``ParsedColumns``."""

    rows: list[Row] = field(default_factory=list)
    repairs: int = 0
    unknown_channels: set[str] = field(default_factory=set)
    unknown_metrics: set[str] = field(default_factory=set)
    known: dict[str, set[str]] = field(default_factory=dict)

    def check_known(self, channel: str, metric: str) -> None:
        known = self.known.setdefault(channel, set(ID_KEYS) | set(schema_for(channel)))
        if metric not in known:
            if not is_known_metric(channel, metric) and channel not in self.unknown_channels:
                self.unknown_metrics.add(f"{channel}.{metric}")
            known.add(metric)

    def number(self, value: Any) -> float | int | None:
        if value is None:
            return None
        if type(value) is int:
            try:
                float(value)
            except OverflowError:
                self.repairs += 1
                return None
            return value
        if type(value) is float:
            if math.isfinite(value):
                return value
            self.repairs += 1
            return None
        self.repairs += 1  # converted or skipped: a repair either way
        if type(value) is str:
            try:
                number = float(value)
            except ValueError:
                return None
            return number if math.isfinite(number) else None
        return None

    def segment(self, cid: str, date: dt.date, channel: str, variation: str | None, name: str | None,
                obj: Mapping[str, Any], skip: tuple[str, ...]) -> None:
        for key in obj:
            if key not in skip:
                self.check_known(channel, key)
        for key, leaf in leaves(obj, skip):
            value = self.number(leaf)
            if value is not None:
                if key not in obj:  # a name made by flattening, once it gives a row
                    self.check_known(channel, key)
                self.rows.append((cid, date, channel, variation, name, key, value))

    def parse(self, cid: str, days: Mapping[dt.date, Mapping[str, Any]],
              names: Mapping[str, str] | None = None) -> None:
        for date in sorted(days):
            day = days[date]
            self.segment(cid, date, "all", None, None, day, ("time", "messages"))
            for channel, value in (day.get("messages") or {}).items():
                if value is None or value == []:
                    continue
                if isinstance(value, dict):
                    self.repairs += 1  # one object read as a one-entry list
                    value = [value]
                if channel not in CHANNEL_SCHEMAS:
                    self.unknown_channels.add(channel)
                used: Counter[str] = Counter()
                for index, entry in enumerate(value):
                    if entry is None:
                        continue
                    api_id = id_text(entry.get("variation_api_id"))
                    name = id_text(entry.get("variation_name"))
                    if names and api_id is not None and api_id in names:
                        name = names[api_id]
                    key = api_id or name or f"#{index + 1}"
                    self.repairs += api_id is None and name is None
                    used[key] += 1
                    if used[key] > 1:
                        self.repairs += 1
                        key = f"{key}#{used[key]}"
                    self.segment(cid, date, channel, key, name, entry, ID_KEYS)


def leaves(obj: Mapping[str, Any], skip: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    for key, val in obj.items():
        if key in skip:
            continue
        if isinstance(val, dict):
            yield from leaves({f"{key}.{k}": v for k, v in val.items()}, ())
        elif isinstance(val, list):
            yield from leaves({f"{key}.{i}": v for i, v in enumerate(val)}, ())
        else:
            yield key, val


def parsed_rows(cols: ParsedColumns) -> list[Row]:
    segments = zip(cols.seg_campaign_id, cols.seg_date, cols.seg_channel, cols.seg_variation,
                   cols.seg_variation_name, cols.seg_count, strict=True)
    keys = [seg[:5] for seg in segments for _ in range(seg[5])]
    return [(*k, m, v) for k, m, v in zip(keys, cols.metric, cols.value, strict=True)]


def by_segment(rows: list[Row]) -> list[tuple[tuple[Any, ...], list[tuple[str, float]]]]:
    """Segments in order, each with its (metric, value) pairs sorted.

    Within one entry, metrics come in the key order of the first entry of that shape the
    parser saw (the fast path reads every entry of a shape with one ``itemgetter``), not
    necessarily the entry's own key order; everything else keeps the response's order.
    """
    out: list[tuple[tuple[Any, ...], list[tuple[str, float]]]] = []
    for row in rows:
        if not out or out[-1][0] != row[:5]:
            out.append((row[:5], []))
        out[-1][1].append((row[5], row[6]))
    return [(key, sorted(pairs)) for key, pairs in out]


def frame_rows(frame: pl.DataFrame) -> list[Row]:
    assert frame.get_column("campaign_name").null_count() == len(frame)  # no names given
    strings = frame.drop("campaign_name").with_columns(pl.col(pl.Categorical).cast(pl.String))
    return [tuple(r) for r in strings.iter_rows()]


def compare(campaigns: list[tuple[str, dict[dt.date, Any], Mapping[str, str] | None]]) -> ParsedColumns:
    """Parse campaigns into one ParsedColumns and into the reference; all must agree."""
    parsed = ParsedColumns()
    ref = Reference()
    for cid, days, names in campaigns:
        parse_days(cid, days, into=parsed, variation_names=names)
        ref.parse(cid, days, names)
    got = parsed_rows(parsed)
    assert by_segment(got) == by_segment(ref.rows)
    assert all(type(v) in (int, float) for v in parsed.value)
    assert parsed.repair_count == ref.repairs
    assert parsed.unknown_channels == ref.unknown_channels
    assert parsed.unknown_metrics == ref.unknown_metrics
    frame = frame_from_parsed(parsed)
    assert frame.schema == pl.Schema(POLARS_SCHEMA)
    assert frame_rows(frame) == [(*r[:6], float(r[6])) for r in got]
    return parsed


# ---- regular campaigns, then perturbed -------------------------------------------------------

FIRST = dt.date(2025, 3, 1)
METRICS = ["sent", "opens", "delivered", "revenue", "conversions", "conversions1_by_send_time",
           "enrolled", "mystery", "carousel_slide_1_X_click"]
CHANNELS = ["email", "ios_push", "webhook", "sms", "apple_push", "hologram"]


@dataclass
class Template:
    """A campaign's structure: day totals and, per channel, entries (ids, metric keys)."""

    totals: list[str]
    channels: dict[str, list[tuple[dict[str, Any], list[str], set[str]]] | None]


def draw_value(rng: random.Random, nullable: bool) -> Any:
    if nullable:
        return None
    return rng.randrange(10**6) if rng.random() < 0.8 else round(rng.random() * 1e4, 2)


@st.composite
def templates(draw: st.DrawFn) -> Template:
    totals = draw(st.lists(st.sampled_from(METRICS), unique=True, max_size=4))
    channels: dict[str, list[tuple[dict[str, Any], list[str], set[str]]] | None] = {}
    for channel in draw(st.lists(st.sampled_from(CHANNELS), unique=True, min_size=1, max_size=4)):
        if draw(st.integers(0, 5)) == 0:
            channels[channel] = None  # null or [] on every day
            continue
        entries = []
        for _ in range(draw(st.integers(1, 3))):
            head = draw(st.fixed_dictionaries({}, optional={
                "variation_api_id": st.sampled_from(["v1", "v2", "v3", "", "#2"]),
                "variation_name": st.sampled_from(["A", "B", "Control Group", None]),
            }))
            keys = draw(st.lists(st.sampled_from(METRICS), unique=True, max_size=6))
            nulls = set(draw(st.lists(st.sampled_from(keys), unique=True))) if keys else set()
            entries.append((head, keys, nulls))
        channels[channel] = entries
    return Template(totals, channels)


def realise(rng: random.Random, tpl: Template, n_days: int) -> dict[dt.date, Any]:
    days: dict[dt.date, Any] = {}
    for i in range(n_days):
        date = FIRST + dt.timedelta(days=i)
        day: dict[str, Any] = {"time": date.isoformat()}
        day |= {k: draw_value(rng, False) for k in tpl.totals}
        messages: dict[str, Any] = {}
        for channel, entries in tpl.channels.items():
            if entries is None:
                messages[channel] = rng.choice([None, []])
                continue
            messages[channel] = [{**head, **{k: draw_value(rng, k in nulls) for k in keys}}
                                 for head, keys, nulls in entries]
        day["messages"] = messages
        days[date] = day
    return days


ODD_VALUES = [None, True, False, "12", "1.5", "abc", "", math.nan, math.inf, -math.inf, 10**400, 2**70,
              {"a": 1, "b": [2, None]}, [3, "4"]]


def perturb(draw: st.DrawFn, days: dict[dt.date, Any]) -> None:
    """Change one thing on one day: a value, a key, an id, an entry, a channel."""
    date = draw(st.sampled_from(sorted(days)))
    day = days[date]
    kind = draw(st.sampled_from(["value", "total", "drop_key", "add_key", "id", "drop_entry", "null_entry",
                                 "dup_entry", "channel_null", "channel_object", "reorder", "reorder_keys",
                                 "new_channel"]))
    channels = [c for c, v in day["messages"].items() if v]
    if kind == "total":
        day[draw(st.sampled_from(["revenue", "sent", "zzz"]))] = draw(st.sampled_from([*ODD_VALUES, 7]))
        return
    if kind == "new_channel":
        day["messages"][draw(st.sampled_from(CHANNELS))] = [{"variation_api_id": "vx", "sent": 1}]
        return
    if not channels:
        return
    channel = draw(st.sampled_from(channels))
    entries = day["messages"][channel]
    if not isinstance(entries, list):
        return
    index = draw(st.integers(0, len(entries) - 1))
    entry = entries[index]
    if entry is None:
        return
    metrics = [k for k in entry if k not in ID_KEYS]
    if kind == "value" and metrics:
        entry[draw(st.sampled_from(metrics))] = draw(st.sampled_from(ODD_VALUES))
    elif kind == "drop_key" and entry:
        del entry[draw(st.sampled_from(list(entry)))]
    elif kind == "add_key":
        entry[draw(st.sampled_from([*METRICS, "brand_new"]))] = draw(st.sampled_from([0, 5, None, 2.5]))
    elif kind == "id":
        entry[draw(st.sampled_from(ID_KEYS))] = draw(st.sampled_from(["v9", "v1", None, "", 3, 2.5, True]))
    elif kind == "drop_entry":
        del entries[index]
    elif kind == "null_entry":
        entries[index] = None
    elif kind == "dup_entry":
        entries.append(dict(entry))
    elif kind == "channel_null":
        day["messages"][channel] = draw(st.sampled_from([None, []]))
    elif kind == "channel_object":
        day["messages"][channel] = entry
    elif kind == "reorder":
        entries.reverse()
    elif kind == "reorder_keys":
        entries[index] = {k: entry[k] for k in reversed(list(entry))}


@st.composite
def campaigns(draw: st.DrawFn) -> list[tuple[str, dict[dt.date, Any], Mapping[str, str] | None]]:
    out: list[tuple[str, dict[dt.date, Any], Mapping[str, str] | None]] = []
    shared = draw(templates())
    for k in range(draw(st.integers(1, 3))):
        # Campaigns often share a template (and so cached signatures and slots).
        tpl = shared if draw(st.booleans()) else draw(templates())
        days = realise(draw(st.randoms(use_true_random=False)), tpl, draw(st.integers(1, 8)))
        for _ in range(draw(st.integers(0, 2))):
            perturb(draw, days)
        names = draw(st.one_of(st.none(), st.just({"v1": "Friendly one", "v2": "Friendly two"})))
        out.append((f"c{k}", days, names))
    return out


equivalence = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@equivalence
@given(campaigns())
def test_fast_paths_give_the_reference_rows(cases: list[tuple[str, dict[dt.date, Any], Any]]) -> None:
    compare(cases)


@equivalence
@given(campaigns())
def test_same_after_a_json_round_trip(cases: list[tuple[str, dict[dt.date, Any], Any]]) -> None:
    # orjson-decoded bodies are what production parses: fresh strings, shared key objects.
    # (Non-finite floats and huge ints do not survive JSON; the rest must agree the same.)
    round_tripped = []
    for cid, days, names in cases:
        body = {"data": list(days.values())}
        try:
            blob = orjson.dumps(body)
        except orjson.JSONEncodeError:
            continue
        round_tripped.append((cid, collect_days(orjson.loads(blob)), names))
    compare(round_tripped)


# ---- the uniform path is taken where it should be ----------------------------------------------


def regular_campaign(n_days: int = 30) -> dict[dt.date, Any]:
    days = {}
    for i in range(n_days):
        date = FIRST + dt.timedelta(days=i)
        days[date] = {
            "time": date.isoformat(), "revenue": 1.5 * i, "unique_recipients": i,
            "messages": {
                "email": [{"variation_api_id": "e1", "sent": i, "opens": 2, "machine_open": None}],
                "webhook": [{"variation_name": "Variant 1", "variation_api_id": "w1", "sent": 3, "errors": 0,
                             "enrolled": None},
                            {"variation_name": "Control Group", "variation_api_id": "w2", "sent": None,
                             "errors": None, "enrolled": 4, "revenue": 0.0}],
                "sms": [], "ios_push": None,
            },
        }
    return days


def test_a_regular_campaign_takes_the_uniform_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fallback(*args: object, **kwargs: object) -> None:
        raise AssertionError("fell back to the entry-by-entry parser")

    monkeypatch.setattr(_parse, "_parse", no_fallback)
    parsed = compare([("c1", regular_campaign(), None), ("c2", regular_campaign(), {"w1": "Renamed"})])
    assert parsed.n_rows == 2 * 30 * (2 + 2 + 2 + 2)


def test_one_odd_day_falls_back_and_still_agrees() -> None:
    days = regular_campaign()
    days[FIRST + dt.timedelta(days=7)]["messages"]["email"][0]["sent"] = "12"
    parsed = compare([("c1", days, None)])
    assert parsed.repair_count == 1


def test_cached_slots_follow_a_list_that_changes_length() -> None:
    # Keys depend on the entries before them (duplicates get #2): a slot cached under one
    # list must not be reused under another.
    days = regular_campaign(6)
    lists = [["A", "A"], ["C"], ["C", "A"], ["A", "A"], ["A"], ["B", "A", "A"]]
    for date, names in zip(sorted(days), lists, strict=True):
        days[date]["messages"]["in_app_message"] = [{"variation_name": n, "impressions": 1} for n in names]
    parsed = compare([("c1", days, None)])
    assert parsed.repair_count == 3


def test_days_without_rows_between_days_with_rows() -> None:
    # A day that gives no row still counts as a day in the encoding; the frame must not
    # shift the days after it. Entry by entry (the null comes and goes) and column-wise
    # (a campaign all of whose days give nothing, between two that give rows).
    def day(date: str, sent: int | None) -> dict[str, Any]:
        return {"time": date, "messages": {"email": [{"variation_api_id": "e1", "sent": sent}]}}

    mixed = collect_days({"data": [day("2025-03-01", 5), day("2025-03-02", None), day("2025-03-03", 7)]})
    silent = collect_days({"data": [day("2025-03-01", None), day("2025-03-02", None)]})
    parsed = compare([("c1", mixed, None), ("c2", silent, None), ("c3", mixed, None)])
    frame = frame_from_parsed(parsed)
    assert frame["campaign_id"].cast(pl.String).to_list() == ["c1", "c1", "c3", "c3"]
    assert frame["date"].to_list() == [dt.date(2025, 3, 1), dt.date(2025, 3, 3)] * 2


@given(st.lists(st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.none(), st.booleans(),
                          st.sampled_from(["1", "x", ""]), st.just([1]), st.just({"a": 1})), max_size=8),
       st.integers(0, 3))
def test_plain_numbers_check_matches_a_type_by_type_check(values: list[Any], start: int) -> None:
    def plain(v: Any) -> bool:
        if type(v) is int:
            try:
                return math.isfinite(float(v))
            except OverflowError:
                return False
        return type(v) is float and math.isfinite(v)

    # orjson refuses ints beyond 64 bits even when they fit a float: a false alarm only
    # sends the campaign to the careful path, never lets a bad value through.
    expected = all(plain(v) and (type(v) is not int or -(2**63) <= v < 2**64) for v in values[start:])
    assert _parse._plain_numbers(values, start) == expected
