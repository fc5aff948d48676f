"""The sandbox's Canvases: list, details, data_series, the oddities of real bodies, the truth."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from braze_frames.sandbox import CANVAS_ODDITIES, Canvas, CanvasTruth, Sandbox

TODAY = dt.date(2025, 6, 30)
CS = "/canvas/data_series"
ALL = {"include_variant_breakdown": "true", "include_step_breakdown": "true",
       "include_deleted_step_data": "true"}


@pytest.fixture(scope="module")
def sb() -> Sandbox:
    return Sandbox(seed=0, today=TODAY)


@pytest.fixture(scope="module")
def truths(sb: Sandbox) -> dict[str, CanvasTruth]:
    return {cid: sb.canvas_truth(cid) for cid in sb.canvas_ids}


def by_name(sb: Sandbox, name: str) -> Canvas:
    return next(c for c in sb.canvases if c.name == name)


def call(sb: Sandbox, path: str, **params: Any) -> dict[str, Any]:
    status, body = sb.handle_request(path, params)
    assert status == 200, body
    return body


def stats_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    data = body["data"]
    if isinstance(data, list):  # the "data_list" oddity
        (data,) = data
    stats: list[dict[str, Any]] = data["stats"]
    return stats


def window(sb: Sandbox, canvas: Canvas, last: dt.date, length: int = 14,
           **flags: str) -> list[dict[str, Any]]:
    end = last + dt.timedelta(days=1)  # exclusive reading: the days up to `last`
    return stats_of(call(sb, CS, canvas_id=canvas.id, length=length, ending_at=end.isoformat(),
                         **flags))


def life(sb: Sandbox, canvas: Canvas, truth: CanvasTruth, **flags: str) -> list[dict[str, Any]]:
    """Every served day of a Canvas, through 14-day requests."""
    days: list[dict[str, Any]] = []
    last = truth.dates[-1]
    while last >= truth.dates[0]:
        days = window(sb, canvas, last, **flags) + days
        last -= dt.timedelta(days=14)
    return days


def items(stats: Any, id_keys: tuple[str, ...] = ("id", "api_id")) -> Iterator[tuple[str | None, Any]]:
    """(id, value) of a stats object or list, whatever its shape."""
    if isinstance(stats, dict):
        yield from stats.items()
        return
    for entry in stats:
        found = next((entry[k] for k in id_keys if entry is not None and k in entry), None)
        yield found, entry


def day_of(time: str) -> dt.date:
    return dt.date.fromisoformat(time[:10])


# --------------------------------------------------------------------------- catalogue


def test_catalogue_has_canvases_with_variants_controls_steps_and_channels(sb: Sandbox) -> None:
    assert len(sb.canvases) >= 6
    assert len(set(sb.canvas_ids)) == len(sb.canvases)
    channels = {ch for c in sb.canvases for s in c.steps for ch in s.channels}
    assert {"email", "ios_push", "android_push", "web_push", "sms", "in_app_message", "webhook",
            "content_cards", "whats_app"} <= channels
    with_control = [c for c in sb.canvases if any(v.control for v in c.variants)]
    assert len(with_control) >= 3
    for canvas in with_control:
        assert sum(v.control for v in canvas.variants) == 1
    for oddity, positions in CANVAS_ODDITIES.items():
        for i in positions:
            assert oddity in sb.canvases[i].oddities
    assert sb.canvas(sb.canvas_ids[0]).name == "Welcome Journey"
    with pytest.raises(KeyError, match="no Canvas"):
        sb.canvas("nope")


def test_canvas_list(sb: Sandbox) -> None:
    listed = call(sb, "/canvas/list")["canvases"]
    everything = call(sb, "/canvas/list", include_archived="true")["canvases"]
    assert set(listed[0]) == {"id", "last_edited", "name", "tags"}
    archived = {c.id for c in sb.canvases if c.archived}
    assert archived
    assert {c["id"] for c in everything} - {c["id"] for c in listed} == archived
    assert {c["id"] for c in everything} == set(sb.canvas_ids)
    desc = call(sb, "/canvas/list", include_archived="true", sort_direction="desc")["canvases"]
    assert [c["id"] for c in desc] == [c["id"] for c in reversed(everything)]
    assert call(sb, "/canvas/list", page=1)["canvases"] == []
    edited = sorted(c["last_edited"] for c in everything)
    recent = call(sb, "/canvas/list", include_archived="true",
                  **{"last_edit.time[gt]": edited[3]})["canvases"]
    assert len(recent) == sum(t > edited[3] for t in edited)
    for params in ({"page": "x"}, {"include_archived": "maybe"}, {"sort_direction": "up"},
                   {"last_edit.time[gt]": "soon"}):
        assert sb.handle_request("/canvas/list", params)[0] == 400, params


def test_canvas_details(sb: Sandbox) -> None:
    canvas = by_name(sb, "Welcome Journey")
    body = call(sb, "/canvas/details", canvas_id=canvas.id)
    for key in ("name", "description", "archived", "draft", "enabled", "schedule_type",
                "first_entry", "last_entry", "channels", "variants", "tags", "steps",
                "conversion_behaviors", "created_at", "updated_at"):
        assert key in body
    assert body["name"] == "Welcome Journey"
    assert dt.datetime.fromisoformat(body["first_entry"]).date() == canvas.first_entry
    assert [v["name"] for v in body["variants"]] == ["Variant 1", "Variant 2", "Control Group"]
    control = body["variants"][-1]
    assert control["type"] == "control"
    assert control["first_step_ids"] == []
    assert all("type" not in v for v in body["variants"][:-1])
    assert body["variants"][0]["first_step_ids"] == [canvas.variants[0].steps[0].id]
    steps = {s["id"]: s for s in body["steps"]}
    assert set(steps) == {s.id for s in canvas.steps}
    assert steps[canvas.variants[0].steps[1].id]["channels"] == ["ios_push", "android_push"]
    assert steps[canvas.variants[0].steps[0].id]["next_step_ids"] == [canvas.variants[0].steps[1].id]
    assert body["conversion_behaviors"] == [
        {"type": "Makes Any Purchase", "window": 7 * 86_400},
        {"type": "Performs Custom Event", "window": 3 * 86_400, "custom_event_name": "signup"}]
    assert body["enabled"] is True

    upsell = call(sb, "/canvas/details", canvas_id=by_name(sb, "Subscription Upsell").id)
    assert upsell["archived"] is True
    assert "Old SMS Reminder" not in {s["name"] for s in upsell["steps"]}  # deleted
    draft = call(sb, "/canvas/details", canvas_id=by_name(sb, "Birthday Canvas (draft)").id)
    assert draft["draft"] is True
    assert draft["first_entry"] is None
    assert sb.handle_request("/canvas/details")[0] == 400
    assert sb.handle_request("/canvas/details", {"canvas_id": "nope"})[0] == 400


# ------------------------------------------------------------------------ data_series


def test_data_series_shape_and_breakdowns(sb: Sandbox) -> None:
    canvas = by_name(sb, "Welcome Journey")
    plain = window(sb, canvas, TODAY - dt.timedelta(days=3), 5)
    assert len(plain) == 5
    assert set(plain[0]) == {"time", "total_stats"}
    assert set(plain[0]["total_stats"]) == {"revenue", "conversions", "conversions_by_entry_time",
                                            "conversions1", "conversions1_by_entry_time", "entries"}
    full = window(sb, canvas, TODAY - dt.timedelta(days=3), 5, **ALL)
    day = full[-1]
    assert set(day) == {"time", "total_stats", "variant_stats", "step_stats"}
    assert set(day["variant_stats"]) == {v.id for v in canvas.variants}
    for v in canvas.variants:
        stats = day["variant_stats"][v.id]
        assert stats["name"] == v.name
        assert {"revenue", "conversions", "conversions_by_entry_time", "entries"} <= set(stats)
    step = day["step_stats"][canvas.variants[0].steps[1].id]
    assert step["name"] == "Day 2 Push"
    assert set(step["messages"]) == {"ios_push", "android_push"}
    assert {"sent", "direct_opens", "total_opens", "bounces", "body_clicks"} <= set(
        step["messages"]["ios_push"][0])
    assert "entries" not in step
    variants_only = window(sb, canvas, TODAY - dt.timedelta(days=3), 2,
                           include_variant_breakdown="true")
    assert set(variants_only[0]) == {"time", "total_stats", "variant_stats"}


@pytest.mark.parametrize("inclusive", [False, True])
def test_windows_length_and_starting_at(inclusive: bool) -> None:
    sb = Sandbox(seed=0, today=TODAY, ending_at_inclusive=inclusive)
    canvas = by_name(sb, "Welcome Journey")
    last = dt.date(2025, 6, 20) if inclusive else dt.date(2025, 6, 19)
    times = [s["time"] for s in stats_of(call(sb, CS, canvas_id=canvas.id, length=14,
                                              ending_at="2025-06-20T23:59:59-05:00"))]
    assert times == [(last - dt.timedelta(days=13 - i)).isoformat() for i in range(14)]
    started = stats_of(call(sb, CS, canvas_id=canvas.id, starting_at="2025-06-10",
                            ending_at="2025-06-20"))
    assert started[0]["time"] == "2025-06-10"
    assert started[-1]["time"] == last.isoformat()
    # Both: the later start wins.
    both = stats_of(call(sb, CS, canvas_id=canvas.id, starting_at="2025-06-01", length=3,
                         ending_at="2025-06-20"))
    assert len(both) == 3
    recent = stats_of(call(sb, CS, canvas_id=canvas.id, length=14))
    assert recent[-1]["time"] == (TODAY if inclusive else TODAY - dt.timedelta(days=1)).isoformat()


@pytest.mark.parametrize(("params", "fragment"), [
    ({"length": 7}, "canvas_id"),
    ({"canvas_id": "nope", "length": 7}, "canvas_id"),
    ({"canvas_id": "{cid}"}, "length or starting_at"),
    ({"canvas_id": "{cid}", "length": 15}, "length"),
    ({"canvas_id": "{cid}", "length": 0}, "length"),
    ({"canvas_id": "{cid}", "length": "two"}, "length"),
    ({"canvas_id": "{cid}", "starting_at": "2025-01-01", "ending_at": "2025-06-01"}, "14"),
    ({"canvas_id": "{cid}", "starting_at": "2025-06-10", "ending_at": "2025-06-01"}, "starting_at"),
    ({"canvas_id": "{cid}", "starting_at": "soon"}, "starting_at"),
    ({"canvas_id": "{cid}", "length": 3, "ending_at": "2025-13-01"}, "ending_at"),
    ({"canvas_id": "{cid}", "length": 3, "include_step_breakdown": "yes"}, "include_step_breakdown"),
    ({"canvas_id": "{cid}", "length": 3, "include_variant_breakdown": "1"},
     "include_variant_breakdown"),
    ({"canvas_id": "{cid}", "length": 3, "include_deleted_step_data": "x"},
     "include_deleted_step_data"),
])
def test_400_for_bad_parameters(sb: Sandbox, params: dict[str, Any], fragment: str) -> None:
    params = {k: (v.format(cid=sb.canvas_ids[0]) if isinstance(v, str) else v)
              for k, v in params.items()}
    status, body = sb.handle_request(CS, params)
    assert status == 400
    assert fragment in body["message"] + " ".join(body.get("errors", []))


def test_canvas_permissions_and_budget(sb: Sandbox) -> None:
    key = sb.key_with("canvas.list", "canvas.details")
    status, body = sb.handle_request(CS, {"canvas_id": sb.canvas_ids[0], "length": 3}, key=key)
    assert status == 403
    assert "canvas.data_series" in body["message"]
    assert sb.handle_request("/canvas/list", key=key)[0] == 200
    only_series = sb.key_with("canvas.data_series")
    assert sb.handle_request("/canvas/details", {"canvas_id": sb.canvas_ids[0]},
                             key=only_series)[0] == 403
    with Sandbox(seed=0, today=TODAY) as served:
        r = requests.get(f"{served.url}{CS}", params={"canvas_id": served.canvas_ids[0], "length": 1},
                         headers={"Authorization": f"Bearer {served.api_key}"}, timeout=10)
        assert r.status_code == 200
        assert r.headers["X-RateLimit-Limit"] == "250000"
        assert int(r.headers["X-RateLimit-Reset"]) % 3600 == 0


# ---------------------------------------------------------------------------- oddities


def test_oddity_several_entries_in_one_step_channel_list(sb: Sandbox) -> None:
    canvas = sb.canvases[CANVAS_ODDITIES["multi_entry_channel"][0]]
    step = next(s for s in canvas.steps if s.entries_per_channel > 1)
    day = window(sb, canvas, TODAY - dt.timedelta(days=2), 1, include_step_breakdown="true")[0]
    first, second = day["step_stats"][step.id]["messages"]["email"]
    assert first["sent"] > 0
    assert second["sent"] > 0
    assert set(first) == set(second)


def test_oddity_stats_as_lists_with_ids_under_api_id_or_id(sb: Sandbox) -> None:
    cart, reactivation = (sb.canvases[i] for i in CANVAS_ODDITIES["list_stats"])
    day = window(sb, cart, TODAY - dt.timedelta(days=10), 1, **ALL)[0]
    assert isinstance(day["variant_stats"], list)
    assert isinstance(day["step_stats"], list)
    assert {e["api_id"] for e in day["variant_stats"]} == {v.id for v in cart.variants}
    assert all("id" not in e for e in day["variant_stats"])
    assert {e["id"] for e in day["step_stats"]} == {s.id for s in cart.steps}

    day = window(sb, reactivation, TODAY - dt.timedelta(days=40), 1, **ALL)[0]
    assert {e["id"] for e in day["variant_stats"]} == {v.id for v in reactivation.variants}
    anonymous = [e for e in day["step_stats"] if "id" not in e and "api_id" not in e]
    assert [e["name"] for e in anonymous] == ["Push Nudge"]  # the "anonymous_entry" oddity
    assert CANVAS_ODDITIES["anonymous_entry"] == (2,)
    named = {e["api_id"] for e in day["step_stats"] if "api_id" in e}
    assert named == {s.id for s in reactivation.steps if s.name != "Push Nudge"}


def test_oddity_time_suffix(sb: Sandbox) -> None:
    canvas = sb.canvases[CANVAS_ODDITIES["time_suffix"][0]]
    times = [s["time"] for s in window(sb, canvas, TODAY - dt.timedelta(days=40), 3)]
    assert times == [f"{(TODAY - dt.timedelta(days=42 - i)).isoformat()}T00:00:00Z" for i in range(3)]
    other = [s["time"] for s in window(sb, sb.canvases[0], TODAY - dt.timedelta(days=2), 1)]
    assert other == [(TODAY - dt.timedelta(days=2)).isoformat()]


def test_oddity_empty_total_stats(sb: Sandbox, truths: dict[str, CanvasTruth]) -> None:
    canvas = sb.canvases[CANVAS_ODDITIES["empty_totals"][0]]
    truth = truths[canvas.id]
    days = life(sb, canvas, truth)
    empty = [day_of(d["time"]) for d in days if d["total_stats"] == {}]
    assert len(empty) > 60
    assert all(not any(truth.days[d]["total_stats"].values()) for d in empty)
    full = [d for d in days if d["total_stats"]]
    assert all(d["total_stats"] == truth.days[day_of(d["time"])]["total_stats"] for d in full)
    assert all(d["total_stats"]["entries"] > 0 or d["total_stats"]["conversions"] > 0 for d in full)


def test_oddity_deleted_step(sb: Sandbox, truths: dict[str, CanvasTruth]) -> None:
    canvas = sb.canvases[CANVAS_ODDITIES["deleted_step"][0]]
    step = next(s for s in canvas.steps if s.deleted_on is not None)
    assert step.deleted_on is not None
    before = window(sb, canvas, step.deleted_on - dt.timedelta(days=1), 3, **ALL)
    assert all(d["step_stats"][step.id]["name"] == "Old SMS Reminder" for d in before)
    assert sum(d["step_stats"][step.id]["messages"]["sms"][0]["sent"] for d in before) > 0
    after = window(sb, canvas, step.deleted_on + dt.timedelta(days=3), 4, **ALL)
    assert [d["step_stats"][step.id] for d in after] == [None] * 4
    hidden = window(sb, canvas, step.deleted_on + dt.timedelta(days=3), 10,
                    include_step_breakdown="true")
    assert all(step.id not in d["step_stats"] for d in hidden)
    assert all(len(d["step_stats"]) == len(canvas.steps) - 1 for d in hidden)
    # Nothing is sent by a deleted step.
    truth = truths[canvas.id]
    late = [truth.days[d]["step_stats"][step.id]["messages"]["sms"][0]["sent"]
            for d in truth.dates if d >= step.deleted_on]
    assert late
    assert set(late) == {0}


def test_oddity_data_as_a_list(sb: Sandbox) -> None:
    canvas = sb.canvases[CANVAS_ODDITIES["data_list"][0]]
    body = call(sb, CS, canvas_id=canvas.id, length=3)
    assert isinstance(body["data"], list)
    assert len(body["data"]) == 1
    assert body["data"][0]["name"] == canvas.name
    assert len(body["data"][0]["stats"]) == 3
    assert isinstance(call(sb, CS, canvas_id=sb.canvas_ids[0], length=1)["data"], dict)


# --------------------------------------------------------------------------- the truth


def test_totals_variants_and_steps_add_up(sb: Sandbox, truths: dict[str, CanvasTruth]) -> None:
    for canvas in sb.canvases:
        truth = truths[canvas.id]
        for day in truth.days.values():
            total = day["total_stats"]
            variants = day["variant_stats"]
            for metric, value in total.items():
                parts = sum(v[metric] for v in variants.values())
                assert parts == pytest.approx(value), (canvas.name, metric)
            for v in canvas.variants:
                if v.control:
                    continue
                for metric in variants[v.id]:
                    if metric in ("name", "entries"):
                        continue
                    steps = sum(day["step_stats"][s.id][metric] for s in v.steps)
                    assert steps == pytest.approx(variants[v.id][metric]), (canvas.name, metric)


def test_both_attributions_come_from_the_same_conversions(
        sb: Sandbox, truths: dict[str, CanvasTruth]) -> None:
    for canvas in sb.canvases:
        truth = truths[canvas.id]
        windows = [b.window_days for b in canvas.conversion_behaviors]
        for batch in truth.batches:
            assert 0 <= (batch.conversion_date - batch.entry_date).days <= windows[batch.event]
        for k in range(len(windows)):
            name = f"conversions{k or ''}"
            by_conversion = sum(d["total_stats"][name] for d in truth.days.values())
            by_entry = sum(d["total_stats"][f"{name}_by_entry_time"] for d in truth.days.values())
            assert by_conversion == by_entry == truth.total(k)
            assert truth.conversions(k, by="entry") == {
                d: truth.days[d]["total_stats"][f"{name}_by_entry_time"] for d in truth.dates
                if truth.days[d]["total_stats"][f"{name}_by_entry_time"]}


def test_served_days_equal_the_truth(sb: Sandbox, truths: dict[str, CanvasTruth]) -> None:
    canvas = by_name(sb, "Welcome Journey")
    truth = truths[canvas.id]
    served = life(sb, canvas, truth, **ALL)
    assert [day_of(d["time"]) for d in served] == list(truth.dates)
    assert all(d == truth.days[day_of(d["time"])] for d in served)
    entries = truth.entries()
    assert all(d["total_stats"]["entries"] == entries[day_of(d["time"])] for d in served)
    control = next(v for v in canvas.variants if v.control)
    assert truth.conversion_probability(control.id) > 0
    by_entry = truth.conversions(0, control.id, by="entry")
    assert sum(by_entry.values()) == sum(
        d["variant_stats"][control.id]["conversions_by_entry_time"] for d in served)
    draft = truths[by_name(sb, "Birthday Canvas (draft)").id]
    assert draft.dates == ()
    assert call(sb, CS, canvas_id=draft.canvas.id, length=14)["data"]["stats"] == []


def test_step_funnels_hold(sb: Sandbox, truths: dict[str, CanvasTruth]) -> None:
    for canvas in sb.canvases:
        totals: dict[tuple[str, str, int, str], int] = {}
        for day in truths[canvas.id].days.values():
            for sid, step in day["step_stats"].items():
                for channel, messages in step["messages"].items():
                    for n, m in enumerate(messages):
                        for metric, value in m.items():
                            key = (sid, channel, n, metric)
                            totals[key] = totals.get(key, 0) + value
                        if channel == "email":
                            assert m["unique_opens"] <= m["opens"]
                        if channel == "sms":
                            assert m["sent"] - m["sent_to_carrier"] == m["delivery_failed"]
        for (sid, channel, n, metric), value in totals.items():
            if channel == "email" and metric == "unique_opens":
                assert value <= totals[sid, channel, n, "delivered"]
            if channel.endswith("_push") and metric == "total_opens":
                assert value <= totals[sid, channel, n, "sent"] - totals[sid, channel, n, "bounces"]
