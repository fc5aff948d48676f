"""The pure parser: shapes, oddities, losslessness, unique keys. No dataframe library."""

from __future__ import annotations

import datetime as dt
import json
import math
import pathlib
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from braze_frames._errors import UnexpectedResponseError
from braze_frames._schema import CHANNEL_SCHEMAS
from braze_frames.endpoints.parse import ParsedColumns, collect_days, parse_days

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "shared" / "examples"
if not EXAMPLES.exists():  # CI copies shared/ beside the clone
    EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "shared" / "examples"
# The recorded bodies are copied into tests/data so a clone without shared/ still runs.
LOCAL = pathlib.Path(__file__).parent / "data"


def load(name: str) -> Any:
    return json.loads((LOCAL / name).read_text())


def parse(body: Any, cid: str = "c1", **kw: Any) -> ParsedColumns:
    return parse_days(cid, collect_days(body), **kw)


def rows(cols: ParsedColumns) -> list[tuple[Any, ...]]:
    out = []
    i = 0
    for seg in range(len(cols.seg_count)):
        for _ in range(cols.seg_count[seg]):
            out.append((cols.seg_campaign_id[seg], cols.seg_date[seg], cols.seg_channel[seg],
                        cols.seg_variation[seg], cols.seg_variation_name[seg],
                        cols.metric[i], cols.value[i]))
            i += 1
    assert i == len(cols.metric) == len(cols.value)
    return out


def numeric_leaves(obj: Any, key: str = "") -> float:
    if isinstance(obj, bool) or obj is None:
        return 0.0
    if isinstance(obj, (int, float)):
        return float(obj) if math.isfinite(obj) and key not in ("variation_api_id", "variation_name") else 0.0
    if isinstance(obj, dict):
        return sum(numeric_leaves(v, k) for k, v in obj.items() if k != "time")
    if isinstance(obj, list):
        return sum(numeric_leaves(v, key) for v in obj)
    return 0.0



def test_recorded_email() -> None:
    cols = parse(load("recorded_email_2022.json"))
    r = rows(cols)
    email = {m: v for (_, _, ch, var, _, m, v) in r if ch == "email"}
    assert set(email) >= set(CHANNEL_SCHEMAS["email"]) | {"machine_open", "machine_amp_open"}
    assert {x[3] for x in r if x[2] == "email"} == {"3e222e3c-c792-402e-a55b-705db18b63c4"}
    assert {x[2] for x in r} == {"all", "email"}  # "sms": [] gives no rows
    assert not cols.unknown_metrics and not cols.unknown_channels and not cols.repair_count


def test_recorded_push_with_control_group() -> None:
    r = rows(parse(load("recorded_ios_push_control_2022.json")))
    control = {m for (_, _, ch, _, name, m, _) in r if name == "Control Group"}
    assert "enrolled" in control and "sent" not in control
    assert "conversions3_by_send_time" in control
    names = {(x[3], x[4]) for x in r if x[2] == "ios_push"}
    assert ("668b8529-fcbd-4a29-9722-055942db7ab5", "Variant 1") in names


def test_webhook_nulls_are_no_rows() -> None:
    body = load("webhook_control_nulls_2024.json")
    cols = parse(body)
    r = rows(cols)
    assert {x[2] for x in r} == {"all", "webhook"}
    control = [x for x in r if x[4] == "Control Group"]
    assert {x[5] for x in control} >= {"enrolled", "revenue"}
    assert not {"sent", "errors"} & {x[5] for x in control}
    assert not cols.unknown_metrics


def day(**kw: Any) -> dict[str, Any]:
    return {"time": "2024-07-20", **kw}


def test_dynamic_push_keys_legacy_channels_conversions4_are_known() -> None:
    body = {"data": [day(conversions4=3, conversions4_by_send_time=2, messages={
        "apple_push": [{"variation_api_id": "v", "sent": 5, "carousel_slide_1_Promo_click": 1,
                        "notif_button_2_Buy_click": 2}],
    })]}
    cols = parse(body)
    assert not cols.unknown_metrics and not cols.unknown_channels
    assert sorted(cols.metric) == sorted(["conversions4", "conversions4_by_send_time", "sent",
                                          "carousel_slide_1_Promo_click", "notif_button_2_Buy_click"])


def test_unknown_channels_and_metrics_are_kept_and_named() -> None:
    body = {"data": [day(new_total=1, messages={
        "email": [{"variation_api_id": "v", "sent": 1, "shiny": 2}],
        "hologram": [{"variation_api_id": "h", "beams": 3}],
    })]}
    cols = parse(body)
    assert cols.unknown_channels == {"hologram"}
    assert cols.unknown_metrics == {"email.shiny", "all.new_total"}
    assert sum(cols.value) == 7


def test_variation_name_only_and_anonymous_and_duplicates() -> None:
    body = {"data": [day(messages={"in_app_message": [
        {"variation_name": "A", "impressions": 1},
        {"variation_name": "A", "impressions": 2},
        {"impressions": 3},
        None,
    ]})]}
    cols = parse(body)
    r = rows(cols)
    assert [(x[3], x[4], x[6]) for x in r if x[2] != "all"] == [
        ("A", "A", 1), ("A#2", "A", 2), ("#3", None, 3)]
    assert cols.repair_count == 2


def test_numbers_as_strings_booleans_and_nonfinite() -> None:
    body = {"data": [day(messages={"sms": [{"variation_api_id": "v", "sent": "12", "delivered": True,
                                            "clicks": "many", "opt_out": float("nan"), "help": 1}]})]}
    cols = parse(body)
    assert dict(zip(cols.metric, cols.value, strict=False)) == {"sent": 12.0, "help": 1}
    assert cols.repair_count == 4


def test_nested_values_are_flattened_not_lost() -> None:
    body = {"data": [day(messages={"email": [{"variation_api_id": "v", "sent": 1,
                                              "extra": {"a": 2, "b": [3, 4]}}]})]}
    cols = parse(body)
    got = dict(zip(cols.metric, cols.value, strict=True))
    assert got == {"sent": 1, "extra.a": 2, "extra.b.0": 3, "extra.b.1": 4}
    assert "email.extra.a" in cols.unknown_metrics


def test_duplicate_day_keeps_last_with_a_note() -> None:
    parsed = ParsedColumns()
    days = collect_days({"data": [day(revenue=1.0), day(revenue=2.0)]}, parsed=parsed)
    parse_days("c", days, into=parsed)
    assert parsed.value == [2.0]
    assert parsed.repair_count == 1


def test_keep_filters_days() -> None:
    body = {"data": [{"time": f"2024-07-{d:02d}", "revenue": d} for d in range(1, 11)]}
    days = collect_days(body, keep=(dt.date(2024, 7, 3), dt.date(2024, 7, 5)))
    assert sorted(days) == [dt.date(2024, 7, d) for d in (3, 4, 5)]


def test_variation_names_from_details_override() -> None:
    body = {"data": [day(messages={"webhook": [{"variation_api_id": "v1", "sent": 1}]})]}
    cols = parse(body, variation_names={"v1": "Friendly"})
    assert cols.seg_variation_name[-1] == "Friendly"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([], "not an object"),
        ({"message": "success"}, "no 'data' key"),
        ({"data": {"time": "x"}}, "'data' of type dict"),
        ({"data": [5]}, "not an object"),
        ({"data": [{"revenue": 1}]}, "time=None"),
        ({"data": [{"time": "yesterday"}]}, "time='yesterday'"),
        ({"data": [day(messages=[1])]}, "'messages' is a JSON list"),
        ({"data": [day(messages={"email": 5})]}, "holds a JSON int"),
        ({"data": [day(messages={"email": ["x"]})]}, "entry 1 is a JSON str"),
    ],
)
def test_malformed_bodies_raise_unexpected_response(body: Any, needle: str) -> None:
    with pytest.raises(UnexpectedResponseError, match=needle.replace("(", r"\(")):
        parse(body)


# ---- property: random responses stay lossless with unique keys ----------------------------

metric_names = st.sampled_from(["sent", "opens", "unique_opens", "clicks", "delivered", "bounces",
                                "direct_opens", "total_opens", "enrolled", "revenue",
                                "conversions", "conversions1_by_send_time", "conversions7",
                                "machine_open", "mystery", "carousel_slide_2_X_click"])
values = st.one_of(
    st.none(),
    st.integers(-(10**12), 10**12),
    st.floats(min_value=-1e15, max_value=1e15),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.booleans(),
    st.sampled_from(["12", "1.5", "abc", ""]),
)
entries = st.one_of(
    st.none(),
    st.builds(
        lambda vid, vname, metrics: {**({"variation_api_id": vid} if vid else {}),
                                     **({"variation_name": vname} if vname else {}), **metrics},
        st.one_of(st.none(), st.sampled_from(["v1", "v2", "v3"])),
        st.one_of(st.none(), st.sampled_from(["A", "Control Group"])),
        st.dictionaries(metric_names, values, max_size=8),
    ),
)
channels = st.sampled_from(["email", "ios_push", "webhook", "sms", "content_cards",
                            "in_app_message", "apple_push", "new_channel"])
messages = st.dictionaries(channels, st.one_of(st.none(), st.lists(entries, max_size=4)), max_size=5)
days_st = st.lists(
    st.builds(
        lambda d, totals, msgs: {"time": (dt.date(2024, 1, 1) + dt.timedelta(days=d)).isoformat(),
                                 **totals, "messages": msgs},
        st.integers(0, 5),
        st.dictionaries(st.sampled_from(["revenue", "unique_recipients", "conversions",
                                         "conversions_by_send_time", "conversions4", "odd"]),
                        values, max_size=4),
        messages,
    ),
    max_size=6,
)


def string_numbers(obj: Any, key: str = "") -> float:
    """Numeric strings the parser converts (they count as leaves too)."""
    if isinstance(obj, str) and key not in ("variation_api_id", "variation_name", "time"):
        try:
            v = float(obj)
        except ValueError:
            return 0.0
        return v if math.isfinite(v) else 0.0
    if isinstance(obj, dict):
        return sum(string_numbers(v, k) for k, v in obj.items())
    if isinstance(obj, list):
        return sum(string_numbers(v, key) for v in obj)
    return 0.0


@given(days_st)
def test_parser_is_lossless_and_keys_are_unique(data: list[dict[str, Any]]) -> None:
    body = {"message": "success", "data": data}
    cols = parse(body)
    r = rows(cols)
    keys = Counter((x[0], x[1], x[2], x[3], x[5]) for x in r)
    assert all(n == 1 for n in keys.values())
    last_per_day = {d["time"]: d for d in data}
    expected = sum(numeric_leaves(d) + string_numbers(d) for d in last_per_day.values())
    got = math.fsum(float(v) for v in cols.value)
    assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6)
    assert all(v is not None and math.isfinite(v) for v in cols.value)
    assert all(not isinstance(v, bool) for v in cols.value)


def test_campaign_name_goes_through_the_parser() -> None:
    body = {"data": [day(revenue=1.0)]}
    cols = parse(body, campaign_name="Welcome")
    assert cols.campaign_names == {"c1": "Welcome"}
    assert parse(body).campaign_names == {}


def test_push_delivery_counts_are_known_on_push_only() -> None:
    entry = {"variation_api_id": "v", "sent": 3, "delivered": 2, "undelivered": 1, "delivery_failed": 1}
    body = {"data": [day(messages={"web_push": [entry], "webhook": [dict(entry)]})]}
    cols = parse(body)
    assert cols.unknown_metrics == {"webhook.undelivered", "webhook.delivered", "webhook.delivery_failed"}
    assert sum(cols.value) == 14
