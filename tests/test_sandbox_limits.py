"""The sandbox's rate limits: one budget per key and endpoint family, with an injected clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from braze_frames.sandbox import DEFAULT_LIMITS, Sandbox, family_of

TODAY = dt.date(2025, 6, 30)
HOUR = 1_749_999_600  # a multiple of 3600 (and so of 60)


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(HOUR + 600.0)  # ten minutes into an hour


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=TODAY, rate_limit=3, hourly_limit=4, small_hourly_limit=2,
                 clock=clock) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(http: requests.Session, sb: Sandbox, path: str, key: str | None = None,
        **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {key or sb.api_key}"}
    return http.get(sb.url + path, params=params, headers=headers, timeout=10)


def test_families_and_defaults() -> None:
    assert DEFAULT_LIMITS == {"data_series": (50_000, 60), "default": (250_000, 3600),
                              "small": (1_000, 3600)}
    assert family_of("/campaigns/data_series") == "data_series"
    for path in ("/campaigns/list", "/campaigns/details", "/canvas/data_series", "/canvas/list",
                 "/canvas/details", "/kpi/dau/data_series", "/sessions/data_series",
                 "/events/data_series", "/segments/list", "/segments/data_series",
                 "/sends/data_series", "/no/such/path"):
        assert family_of(path) == "default", path
    for path in ("/events/list", "/purchases/product_list", "/purchases/revenue_series",
                 "/purchases/quantity_series"):
        assert family_of(path) == "small", path
    sb = Sandbox(today=TODAY)
    assert sb.rate_limits == {"data_series": (50_000, 60), "default": (250_000, 3600),
                              "small": (1_000, 3600)}
    for name in ("rate_limit", "hourly_limit", "small_hourly_limit"):
        with pytest.raises(ValueError, match=name):
            Sandbox(**{name: 0})


def test_the_small_hourly_budget_is_shared_and_apart(http: requests.Session, sb: Sandbox,
                                                     clock: FakeClock) -> None:
    first = get(http, sb, "/events/list")
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert first.headers["X-RateLimit-Reset"] == str(HOUR + 3600)
    assert get(http, sb, "/purchases/product_list").status_code == 200
    for path in ("/purchases/quantity_series", "/purchases/revenue_series", "/events/list"):
        r = get(http, sb, path, length=1)
        assert r.status_code == 429, path
        assert r.headers["Retry-After"] == "3000"  # fifty minutes to the hour
        assert r.headers["X-RateLimit-Remaining"] == "0"
    # Other families are untouched.
    kpi = get(http, sb, "/kpi/new_users/data_series", length=1)
    assert kpi.status_code == 200
    assert kpi.headers["X-RateLimit-Limit"] == "4"
    assert kpi.headers["X-RateLimit-Remaining"] == "3"
    series = get(http, sb, "/campaigns/data_series", campaign_id=sb.campaign_ids[2], length=1)
    assert series.headers["X-RateLimit-Limit"] == "3"
    assert series.headers["X-RateLimit-Reset"] == str(HOUR + 660)
    # Budgets are per key.
    other = sb.key_with("events.list")
    assert get(http, sb, "/events/list", key=other).status_code == 200
    clock.now = HOUR + 3600.0
    assert get(http, sb, "/events/list").status_code == 200
    assert sb.stats.rate_limited == 3


def test_the_default_hourly_budget_is_shared_by_its_endpoints(http: requests.Session, sb: Sandbox,
                                                             clock: FakeClock) -> None:
    canvas = sb.canvas_ids[0]
    statuses = [
        get(http, sb, "/campaigns/list").status_code,
        get(http, sb, "/canvas/data_series", canvas_id=canvas, length=1).status_code,
        get(http, sb, "/segments/list").status_code,
        get(http, sb, "/no/such/path").status_code,  # Braze's default limit covers the rest
        get(http, sb, "/campaigns/details", campaign_id=sb.campaign_ids[0]).status_code,
    ]
    assert statuses == [200, 200, 200, 404, 429]
    clock.now += 45 * 60  # the minute family would have reset long ago; the hour has not
    assert get(http, sb, "/canvas/list").status_code == 429
    clock.now = HOUR + 3600.0 + 1
    r = get(http, sb, "/canvas/list")
    assert r.status_code == 200
    assert r.headers["X-RateLimit-Remaining"] == "3"
    assert r.headers["X-RateLimit-Reset"] == str(HOUR + 7200)


def test_the_data_series_budget_is_per_minute(http: requests.Session, sb: Sandbox,
                                              clock: FakeClock) -> None:
    cid = sb.campaign_ids[2]
    remaining = [get(http, sb, "/campaigns/data_series", campaign_id=cid, length=1).headers[
        "X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    blocked = get(http, sb, "/campaigns/data_series", campaign_id=cid, length=1)
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "60"
    assert get(http, sb, "/campaigns/list").status_code == 200  # another family
    clock.now += 60
    assert get(http, sb, "/campaigns/data_series", campaign_id=cid,
               length=1).headers["X-RateLimit-Remaining"] == "2"


def test_requests_without_a_valid_key_show_their_family_and_spend_nothing(
        http: requests.Session, sb: Sandbox) -> None:
    for path, limit in (("/events/list", "2"), ("/canvas/list", "4"),
                        ("/campaigns/data_series", "3")):
        r = http.get(sb.url + path, headers={"Authorization": "Bearer wrong-key-0000"}, timeout=10)
        assert r.status_code == 401
        assert r.headers["X-RateLimit-Limit"] == limit
        assert r.headers["X-RateLimit-Remaining"] == limit
    assert get(http, sb, "/events/list").headers["X-RateLimit-Remaining"] == "1"


def test_in_process_requests_spend_the_same_budgets(clock: FakeClock) -> None:
    sb = Sandbox(seed=0, today=TODAY, small_hourly_limit=1, clock=clock)
    assert sb.handle_request("/events/list")[0] == 200
    status, body = sb.handle_request("/purchases/product_list")
    assert status == 429
    assert "rate limit" in body["message"]
