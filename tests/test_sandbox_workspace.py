"""The sandbox's workspace series: KPIs, sessions, events, purchases, segments; consistency."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from braze_frames.sandbox import PERMISSIONS, SERIES_ODDITIES, Sandbox

TODAY = dt.date(2025, 6, 30)
DAY = dt.timedelta(days=1)

SERIES = [  # (path, field, extra params)
    ("/kpi/dau/data_series", "dau", {}),
    ("/kpi/mau/data_series", "mau", {}),
    ("/kpi/new_users/data_series", "new_users", {}),
    ("/kpi/uninstalls/data_series", "uninstalls", {}),
    ("/sessions/data_series", "sessions", {}),
    ("/events/data_series", "count", {"event": "signup"}),
    ("/purchases/revenue_series", "revenue", {}),
    ("/purchases/quantity_series", "purchase_quantity", {}),
]


@pytest.fixture(scope="module")
def sb() -> Sandbox:
    return Sandbox(seed=0, today=TODAY)


@pytest.fixture(scope="module")
def campaign_days(sb: Sandbox) -> list[tuple[Any, dict[dt.date, dict[str, Any]]]]:
    """(campaign, its served days by date) for every campaign that sent, as served."""
    out = []
    for c in sb.catalogue:
        if c.first_sent is None:
            continue
        days: dict[dt.date, dict[str, Any]] = {}
        end = TODAY + DAY
        while end > c.first_sent:
            for day in call(sb, "/campaigns/data_series", campaign_id=c.id, length=100,
                            ending_at=end.isoformat())["data"]:
                days[dt.date.fromisoformat(day["time"])] = day
            end -= dt.timedelta(days=100)
        out.append((c, days))
    return out


def call(sb: Sandbox, path: str, **params: Any) -> dict[str, Any]:
    status, body = sb.handle_request(path, params)
    assert status == 200, body
    return body


def served(sb: Sandbox, path: str, field: str, *, last: dt.date = TODAY - DAY, length: int = 100,
           **params: Any) -> dict[str, Any]:
    """{time: value} of one request ending (exclusively) after `last`."""
    body = call(sb, path, length=length, ending_at=(last + DAY).isoformat(), **params)
    return {d["time"]: d[field] for d in body["data"]}


# ---------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(("path", "field", "extra"), SERIES)
def test_series_shape(sb: Sandbox, path: str, field: str, extra: dict[str, str]) -> None:
    body = call(sb, path, length=7, ending_at="2025-06-10", **extra)
    assert body["message"] == "success"
    assert [d["time"] for d in body["data"]] == [f"2025-06-0{d}" for d in range(3, 10)]
    for d in body["data"]:
        assert set(d) == {"time", field}
        value = d[field]
        assert isinstance(value, float if field == "revenue" else int)
        assert value > 0 or field == "uninstalls"


def test_lists(sb: Sandbox) -> None:
    events = call(sb, "/events/list")["events"]
    assert events == sorted(events)
    assert {"signup", "add_to_cart", "subscription_renewed", "referral_sent"} <= set(events)
    assert call(sb, "/events/list", page=1)["events"] == []
    products = call(sb, "/purchases/product_list")
    assert set(products) == {"products", "message"}
    assert products["products"] == sorted(sb.workspace.products)
    segments = call(sb, "/segments/list")["segments"]
    assert set(segments[0]) == {"id", "name", "analytics_tracking_enabled", "tags"}
    assert [s["id"] for s in segments] == [s.id for s in sb.workspace.segments]
    assert sum(not s["analytics_tracking_enabled"] for s in segments) >= 1
    desc = call(sb, "/segments/list", sort_direction="desc")["segments"]
    assert desc == list(reversed(segments))


def test_paging_of_events_and_segments() -> None:
    sb = Sandbox(seed=3, today=TODAY, n_events=300, n_segments=150)
    pages = [call(sb, "/events/list", page=p)["events"] for p in range(3)]
    assert [len(p) for p in pages] == [250, 50, 0]
    names = pages[0] + pages[1]
    assert names == sorted(names) == list(sb.workspace.events)
    assert "signup" in names
    segments = [call(sb, "/segments/list", page=p)["segments"] for p in range(3)]
    assert [len(p) for p in segments] == [100, 50, 0]
    flat = segments[0] + segments[1]
    assert len({s["id"] for s in flat}) == 150
    assert sum(not s["analytics_tracking_enabled"] for s in flat) >= 15
    few = Sandbox(seed=3, today=TODAY, n_events=6, n_segments=3)
    assert len(few.workspace.events) == 6
    assert "signup" in few.workspace.events
    assert len(call(few, "/segments/list")["segments"]) == 3


@pytest.mark.parametrize("inclusive", [False, True])
def test_hours(sb: Sandbox, inclusive: bool) -> None:
    if inclusive:  # few campaigns: the workspace simulates every campaign on first use
        sb = Sandbox(seed=0, today=TODAY, ending_at_inclusive=True, n_campaigns=2)
    body = call(sb, "/sessions/data_series", unit="hour", length=30,
                ending_at="2025-06-20T06:30:00-04:00")
    times = [d["time"] for d in body["data"]]
    last = dt.datetime(2025, 6, 20, 6 if inclusive else 5)
    assert times == [(last - dt.timedelta(hours=29 - i)).isoformat() + "+00:00" for i in range(30)]
    for path, field, extra in SERIES[4:]:
        hours = call(sb, path, unit="hour", length=24, ending_at="2025-06-11T00:00:00"
                     if not inclusive else "2025-06-10T23:00:00", **extra)["data"]
        assert [h["time"][:10] for h in hours] == ["2025-06-10"] * 24
        day = call(sb, path, length=1, ending_at="2025-06-11" if not inclusive else "2025-06-10",
                   **extra)["data"][0][field]
        assert sum(h[field] for h in hours) == pytest.approx(day)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("path", "params", "fragment"), [
    ("/kpi/dau/data_series", {}, "length"),
    ("/kpi/dau/data_series", {"length": 0}, "length"),
    ("/kpi/mau/data_series", {"length": 101}, "length"),
    ("/kpi/new_users/data_series", {"length": 3, "ending_at": "June"}, "ending_at"),
    ("/kpi/uninstalls/data_series", {"length": 3, "app_id": "nope"}, "app_id"),
    ("/sessions/data_series", {"length": 3, "unit": "minute"}, "unit"),
    ("/sessions/data_series", {"length": 3, "segment_id": "nope"}, "segment_id"),
    ("/sessions/data_series", {"length": 3, "segment_id": "{untracked}"}, "analytics tracking"),
    ("/events/data_series", {"length": 3}, "event"),
    ("/events/data_series", {"length": 3, "event": "signup", "segment_id": "{untracked}"},
     "analytics tracking"),
    ("/events/data_series", {"length": 3, "event": "signup", "unit": "week"}, "unit"),
    ("/events/list", {"page": "first"}, "page"),
    ("/purchases/product_list", {"page": "-1"}, "page"),
    ("/purchases/revenue_series", {"length": 3, "app_id": "nope"}, "app_id"),
    ("/purchases/quantity_series", {"length": 200}, "length"),
    ("/segments/list", {"sort_direction": "sideways"}, "sort_direction"),
    ("/segments/data_series", {"length": 3}, "segment_id"),
    ("/segments/data_series", {"length": 3, "segment_id": "nope"}, "segment_id"),
    ("/segments/data_series", {"length": 3, "segment_id": "{untracked}"}, "analytics tracking"),
    ("/segments/data_series", {"segment_id": "{tracked}"}, "length"),
])
def test_400_for_bad_parameters(sb: Sandbox, path: str, params: dict[str, Any],
                                fragment: str) -> None:
    untracked = next(s.id for s in sb.workspace.segments if not s.analytics_tracking_enabled)
    tracked = next(s.id for s in sb.workspace.segments if s.analytics_tracking_enabled)
    params = {k: (v.format(untracked=untracked, tracked=tracked) if isinstance(v, str) else v)
              for k, v in params.items()}
    status, body = sb.handle_request(path, params)
    assert status == 400, body
    assert fragment in body["message"] + " ".join(body.get("errors", []))


def test_every_endpoint_names_its_permission(sb: Sandbox) -> None:
    nothing = sb.key_with()
    paths = {
        "/campaigns/data_series": "campaigns.data_series", "/campaigns/list": "campaigns.list",
        "/campaigns/details": "campaigns.details", "/canvas/data_series": "canvas.data_series",
        "/canvas/list": "canvas.list", "/canvas/details": "canvas.details",
        "/kpi/dau/data_series": "kpi.dau.data_series", "/kpi/mau/data_series": "kpi.mau.data_series",
        "/kpi/new_users/data_series": "kpi.new_users.data_series",
        "/kpi/uninstalls/data_series": "kpi.uninstalls.data_series",
        "/sessions/data_series": "sessions.data_series", "/events/list": "events.list",
        "/events/data_series": "events.data_series",
        "/purchases/product_list": "purchases.product_list",
        "/purchases/revenue_series": "purchases.revenue_series",
        "/purchases/quantity_series": "purchases.quantity_series",
        "/segments/list": "segments.list", "/segments/data_series": "segments.data_series",
        "/sends/data_series": "sends.data_series",
    }
    assert sorted(paths.values()) == sorted(PERMISSIONS)
    for path, permission in paths.items():
        status, body = sb.handle_request(path, {"length": 3}, key=nothing)
        assert status == 403, path
        assert permission in body["message"]
    for permission in PERMISSIONS:
        assert sb.handle_request("/events/list", key=sb.key_with(permission))[0] == (
            200 if permission == "events.list" else 403)


def test_unknown_event_or_product_is_zero(sb: Sandbox) -> None:
    assert set(served(sb, "/events/data_series", "count", length=5, event="never_seen").values()) == {0}
    assert set(served(sb, "/purchases/quantity_series", "purchase_quantity", length=5,
                      product="Nothing").values()) == {0}


def test_history_bounds(sb: Sandbox) -> None:
    start = sb.workspace.start
    before = served(sb, "/kpi/dau/data_series", "dau", last=start - DAY, length=10)
    assert before == {}
    edge = served(sb, "/kpi/dau/data_series", "dau", last=start + dt.timedelta(days=4), length=10)
    assert list(edge) == [(start + dt.timedelta(days=i)).isoformat() for i in range(5)]
    future = served(sb, "/kpi/dau/data_series", "dau", last=TODAY + dt.timedelta(days=5), length=10)
    assert max(future) == TODAY.isoformat()
    assert (TODAY - start).days >= 3 * 365


# ---------------------------------------------------------------------------- oddities


def test_oddities_of_the_all_apps_series(sb: Sandbox) -> None:
    assert SERIES_ODDITIES == {"uninstalls": (10, "null"), "new_users": (12, "missing")}
    uninstalls = served(sb, "/kpi/uninstalls/data_series", "uninstalls", length=30)
    null_day = (TODAY - dt.timedelta(days=10)).isoformat()
    assert uninstalls[null_day] is None
    assert sum(v is None for v in uninstalls.values()) == 1
    new_users = served(sb, "/kpi/new_users/data_series", "new_users", length=30)
    missing = (TODAY - dt.timedelta(days=12)).isoformat()
    assert missing not in new_users
    assert len(new_users) == 29
    app = sb.app_ids[0]
    assert served(sb, "/kpi/uninstalls/data_series", "uninstalls", length=30, app_id=app)[null_day] > 0
    assert missing in served(sb, "/kpi/new_users/data_series", "new_users", length=30, app_id=app)


# ------------------------------------------------------------------------- consistency


def test_dau_bounds_every_days_campaign_recipients_and_mau_bounds_dau(
        sb: Sandbox, campaign_days: list[tuple[Any, dict[dt.date, dict[str, Any]]]]) -> None:
    recipients: dict[dt.date, int] = {}
    for _, days in campaign_days:
        for day, obj in days.items():
            recipients[day] = recipients.get(day, 0) + obj["unique_recipients"]
    dau = sb.workspace.daily("dau")
    mau = sb.workspace.daily("mau")
    assert all(dau[d] >= n for d, n in recipients.items())
    assert max(n / dau[d] for d, n in recipients.items()) > 0.2  # a bound that bites
    assert all(mau[d] >= dau[d] for d in dau)
    # What is served is what the truth says.
    last = TODAY - dt.timedelta(days=30)
    served_dau = served(sb, "/kpi/dau/data_series", "dau", last=last)
    assert served_dau == {d.isoformat(): v for d, v in dau.items()
                          if last - dt.timedelta(days=99) <= d <= last}


def test_events_and_purchases_count_at_least_the_conversions(
        sb: Sandbox, campaign_days: list[tuple[Any, dict[dt.date, dict[str, Any]]]]) -> None:
    conversions: dict[tuple[str, str | None], dict[dt.date, int]] = {}
    sources = [(c.conversion_behaviors, days, "") for c, days in campaign_days]
    for canvas in sb.canvases:
        truth = sb.canvas_truth(canvas.id)
        sources.append((canvas.conversion_behaviors,
                        {d: truth.days[d]["total_stats"] for d in truth.dates}, ""))
    for behaviours, days, _ in sources:
        for k, b in enumerate(behaviours):
            name = f"conversions{k or ''}"
            key = (b.type, b.custom_event_name or b.product)
            series = conversions.setdefault(key, {})
            for day, obj in days.items():
                series[day] = series.get(day, 0) + obj[name]
    checked = 0
    for (kind, detail), series in conversions.items():
        if kind == "Performs Custom Event":
            assert detail is not None
            counts = sb.workspace.daily("events", detail)
            assert all(counts[d] >= n for d, n in series.items()), detail
            checked += 1
        elif kind == "Makes Specific Purchase":
            quantity = sb.workspace.daily("purchase_quantity", detail)
            assert all(quantity[d] >= n for d, n in series.items()), detail
            checked += 1
    assert checked >= 5
    purchases: dict[dt.date, int] = {}
    for (kind, _), series in conversions.items():
        if kind in ("Makes Any Purchase", "Makes Specific Purchase"):
            for day, n in series.items():
                purchases[day] = purchases.get(day, 0) + n
    total = sb.workspace.daily("purchase_quantity")
    assert all(total[d] >= n for d, n in purchases.items())
    sessions = sb.workspace.daily("sessions")
    dau = sb.workspace.daily("dau")
    assert all(sessions[d] >= dau[d] for d in dau)
    signup = served(sb, "/events/data_series", "count", event="signup", length=30)
    assert all(signup[d.isoformat()] >= conversions["Performs Custom Event", "signup"].get(d, 0)
               for d in (TODAY - dt.timedelta(days=i) for i in range(1, 31)))


@pytest.mark.parametrize(("path", "field", "extra"), SERIES)
def test_apps_sum_to_the_all_apps_series(sb: Sandbox, path: str, field: str,
                                         extra: dict[str, str]) -> None:
    total = served(sb, path, field, **extra)
    parts = [served(sb, path, field, app_id=app, **extra) for app in sb.app_ids]
    assert len(sb.app_ids) == 3
    for day, value in total.items():
        if value is None:  # the documented null day
            continue
        assert sum(p[day] for p in parts) == pytest.approx(value), day
    assert all(p.keys() >= total.keys() for p in parts)


def test_purchases_revenue_is_quantity_times_price_and_sums_over_products(sb: Sandbox) -> None:
    total = served(sb, "/purchases/revenue_series", "revenue", length=20)
    by_product = {p: served(sb, "/purchases/revenue_series", "revenue", length=20, product=p)
                  for p in sb.workspace.products}
    quantity = {p: served(sb, "/purchases/quantity_series", "purchase_quantity", length=20, product=p)
                for p in sb.workspace.products}
    for day, value in total.items():
        assert sum(r[day] for r in by_product.values()) == pytest.approx(value)
        for product, price in sb.workspace.products.items():
            assert by_product[product][day] == pytest.approx(quantity[product][day] * price)


def test_segment_filters_and_sizes(sb: Sandbox) -> None:
    lapsed = next(s for s in sb.workspace.segments if s.name == "Lapsed Users")
    everyone = next(s for s in sb.workspace.segments if s.name == "All Users")
    sessions = served(sb, "/sessions/data_series", "sessions", length=10)
    in_segment = served(sb, "/sessions/data_series", "sessions", length=10, segment_id=lapsed.id)
    assert all(0 < in_segment[d] < sessions[d] for d in sessions)
    share = sum(in_segment.values()) / sum(sessions.values())
    assert abs(share - lapsed.share) < 0.01
    assert served(sb, "/sessions/data_series", "sessions", length=10,
                  segment_id=everyone.id) == sessions
    events = served(sb, "/events/data_series", "count", length=10, event="signup",
                    segment_id=lapsed.id, app_id=sb.app_ids[1])
    assert len(events) == 10
    sizes = served(sb, "/segments/data_series", "size", length=30, segment_id=lapsed.id)
    assert len(sizes) == 30
    assert all(v > 0 for v in sizes.values())
    assert sizes == {d.isoformat(): v for d, v in sb.workspace.daily("size", lapsed.id).items()
                     if d.isoformat() in sizes}
