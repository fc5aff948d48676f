"""fetch_series against the sandbox: exact values from its simulated truth, both readings.

Every number is checked against ``sb.workspace.daily(...)``/``hourly(...)``, the sandbox's
own simulation (revenue there is in cents), never against an earlier output of the code.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from test_client import FakeClock

import braze_frames as bf
from braze_frames.fetch import FetchResult, NamesUnavailableWarning, NoDataWarning
from braze_frames.sandbox import SERIES_ODDITIES, Sandbox
from braze_frames.series import (
    UntrackedSegmentsWarning,
    fetch_series,
    list_events,
    list_products,
    list_segments,
)

TODAY = dt.date(2025, 6, 30)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
UTC = dt.timezone.utc
KINDS = ["dau", "mau", "new_users", "uninstalls", "sessions", "revenue", "purchase_quantity"]


@pytest.fixture(scope="module", params=[False, True], ids=["exclusive", "inclusive"])
def sb(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=TODAY, ending_at_inclusive=request.param) as sandbox:
        yield sandbox


@pytest.fixture
def client(sb: Sandbox) -> Iterator[bf.BrazeClient]:
    with bf.BrazeClient(sb.api_key, sb.url) as c:
        yield c


def truth(sb: Sandbox, kind: str, key: str | None = None, **filters: Any) -> dict[dt.date, float]:
    """The sandbox's served values, in the library's units (revenue in dollars)."""
    scale = 100 if kind == "revenue" else 1
    return {d: v / scale for d, v in sb.workspace.daily(kind, key, **filters).items()}


def values(df: pl.DataFrame, metric: str, key: str | None = None) -> dict[Any, float]:
    rows = df.filter(pl.col("metric") == metric)
    rows = rows.filter(pl.col("key").is_null() if key is None else pl.col("key") == key)
    assert rows["date"].n_unique() == len(rows), "a date twice"
    return dict(zip(rows["date"].to_list(), rows["value"].to_list(), strict=True))


def test_every_unkeyed_kind_is_exact_over_any_range(sb: Sandbox, client: bf.BrazeClient) -> None:
    first, last = TODAY - dt.timedelta(days=250), TODAY - DAY  # three windows, none aligned
    df = fetch_series(KINDS, start=first, end=last, client=client)
    assert df.columns == list(bf.SERIES_COLUMNS)
    assert df.schema == pl.Schema({"metric": pl.Categorical(), "key": pl.Categorical(),
                                   "key_name": pl.Categorical(), "app_id": pl.Categorical(),
                                   "date": pl.Date(), "value": pl.Float64()})
    days = [first + DAY * i for i in range((last - first).days + 1)]
    for kind in KINDS:
        expected = {d: v for d, v in truth(sb, kind).items() if first <= d <= last}
        odd = SERIES_ODDITIES.get(kind)
        if odd is not None:  # a null, and a day left out: no row either way, never a zero
            expected.pop(TODAY - dt.timedelta(days=odd[0]))
        assert values(df, kind) == expected, kind
        assert len(expected) == len(days) - (odd is not None)
    assert df["key"].null_count() == df["key_name"].null_count() == df["app_id"].null_count() == len(df)
    assert client.window_readings["/kpi/dau/data_series"] == (
        "inclusive" if sb.ending_at_inclusive else "exclusive")


def test_every_event_by_default_with_its_name(sb: Sandbox, client: bf.BrazeClient) -> None:
    df = fetch_series("events", length=30, ending_at=TODAY - DAY, client=client)
    events = sb.workspace.events
    assert df["key"].unique(maintain_order=True).to_list() == list(events)
    assert (df["key"].cast(pl.String) == df["key_name"].cast(pl.String)).all()
    for event in ("signup", events[0], events[-1]):
        expected = {d: v for d, v in truth(sb, "events", event).items()
                    if TODAY - dt.timedelta(days=30) <= d < TODAY}
        assert values(df, "events", event) == expected, event


def test_keys_names_and_names_false(sb: Sandbox, client: bf.BrazeClient) -> None:
    sb.reset_stats()
    named = fetch_series("events", ["signup", "purchase"], length=3, ending_at=TODAY - DAY,
                         client=client)
    bare = fetch_series("events", "signup", length=3, ending_at=TODAY - DAY, client=client,
                        names=False)
    listed = fetch_series("events", length=3, ending_at=TODAY - DAY, client=client, names=False)
    assert named["key_name"].unique().sort().to_list() == ["purchase", "signup"]
    assert bare["key_name"].null_count() == len(bare) == 3
    assert listed["key_name"].null_count() == 0  # the list was read anyway
    assert sb.stats.by_path.get("/events/list") == 1


def test_segments_tracked_named_untracked_warned(sb: Sandbox, client: bf.BrazeClient) -> None:
    segments = sb.workspace.segments
    with pytest.warns(UntrackedSegmentsWarning) as caught:
        df = fetch_series("segment_size", length=5, ending_at=TODAY - DAY, client=client)
    untracked = [s for s in segments if not s.analytics_tracking_enabled]
    assert len(caught) == 1 and len(untracked) == 2
    assert all(s.name in str(caught[0].message) and s.id in str(caught[0].message) for s in untracked)
    tracked = [s for s in segments if s.analytics_tracking_enabled]
    assert df["key"].unique(maintain_order=True).to_list() == [s.id for s in tracked]
    for s in tracked:
        rows = df.filter(pl.col("key") == s.id)
        assert set(rows["key_name"].to_list()) == {s.name}
        expected = {d: v for d, v in truth(sb, "size", s.id).items()
                    if TODAY - 5 * DAY <= d < TODAY}
        assert values(df, "segment_size", s.id) == expected
    # Keys given: names from /segments/list, or none with names=False (and no list read).
    one = tracked[2]
    sb.reset_stats()
    assert fetch_series("segment_size", one.id, length=2, ending_at=TODAY, client=client,
                        names=False)["key_name"].null_count() == 2
    assert "/segments/list" not in sb.stats.by_path
    named = fetch_series("segment_size", one.id, length=2, ending_at=TODAY, client=client)
    assert set(named["key_name"].to_list()) == {one.name}


def test_a_key_without_segments_list_keeps_its_rows(sb: Sandbox) -> None:
    key = sb.key_with("segments.data_series")
    one = sb.workspace.segments[0]
    with bf.BrazeClient(key, sb.url) as c, pytest.warns(NamesUnavailableWarning, match="segments.list"):
        df = fetch_series("segment_size", one.id, length=3, ending_at=TODAY, client=c)
    assert len(df) == 3
    assert df["key_name"].null_count() == 3


def test_products_one_by_one_and_the_total(sb: Sandbox, client: bf.BrazeClient) -> None:
    products = list_products(client=client)
    assert products == list(sb.workspace.products)
    start, end = TODAY - 40 * DAY, TODAY - DAY
    per = fetch_series(["revenue", "purchase_quantity"], products[:2], start=start, end=end,
                       client=client)
    total = fetch_series("revenue", start=start, end=end, client=client)
    for p in products[:2]:
        for kind in ("revenue", "purchase_quantity"):
            expected = {d: v for d, v in truth(sb, kind, p).items() if start <= d <= end}
            assert values(per, kind, p) == pytest.approx(expected), (kind, p)
    expected = {d: v for d, v in truth(sb, "revenue").items() if start <= d <= end}
    assert values(total, "revenue") == pytest.approx(expected)


def test_app_and_segment_filters(sb: Sandbox, client: bf.BrazeClient) -> None:
    app = sb.workspace.apps[1]
    segment = next(s for s in sb.workspace.segments if s.analytics_tracking_enabled and s.share < 1)
    start, end = TODAY - 120 * DAY, TODAY - DAY
    df = fetch_series(["dau", "sessions", "events"], ["signup"], start=start, end=end,
                      app_id=app.id, client=client)
    assert df["app_id"].unique().to_list() == [app.id]
    for kind, key in (("dau", None), ("sessions", None), ("events", "signup")):
        expected = {d: v for d, v in truth(sb, kind, key, app_id=app.id).items() if start <= d <= end}
        assert values(df, kind, key) == expected, kind
    seg = fetch_series("sessions", start=start, end=end, segment_id=segment.id, client=client)
    expected = {d: v for d, v in truth(sb, "sessions", segment_id=segment.id).items()
                if start <= d <= end}
    assert values(seg, "sessions") == expected
    assert expected != {d: v for d, v in truth(sb, "sessions").items() if start <= d <= end}


def test_hours_are_exact_and_learn_their_own_reading(sb: Sandbox, client: bf.BrazeClient) -> None:
    start = dt.datetime(2025, 6, 20, 5, tzinfo=UTC)
    end = start + 149 * HOUR  # 150 hours: two windows, across seven days
    df = fetch_series(["sessions", "events"], ["signup"], start=start, end=end, unit="hour",
                      client=client, app_id=sb.workspace.apps[0].id)
    assert df.schema["date"] == pl.Datetime("us", "UTC")
    app = sb.workspace.apps[0].id
    for kind, key in (("sessions", None), ("events", "signup")):
        expected = {}
        day = start.date()
        while day <= end.date():
            for h, x in enumerate(sb.workspace.hourly(kind, day, key, app_id=app)):
                moment = dt.datetime(day.year, day.month, day.day, h, tzinfo=UTC)
                if start <= moment <= end:
                    expected[moment] = float(x)
            day += DAY
        assert len(expected) == 150
        assert values(df, kind, key) == expected, kind
    reading = "inclusive" if sb.ending_at_inclusive else "exclusive"
    assert client.window_readings["/sessions/data_series?unit=hour"] == reading
    # The hours of a day add up to the day.
    daily = fetch_series("sessions", length=1, ending_at="2025-06-22", client=client, app_id=app)
    hourly = fetch_series("sessions", length=24, ending_at="2025-06-22", unit="hour", client=client,
                          app_id=app)
    assert daily["value"].sum() == hourly["value"].sum() == sum(
        sb.workspace.hourly("sessions", dt.date(2025, 6, 22), app_id=app))


def test_pandas_backend(sb: Sandbox, client: bf.BrazeClient) -> None:
    pdf = fetch_series("dau", length=3, ending_at=TODAY - DAY, client=client, backend="pandas")
    assert list(pdf.columns) == list(bf.SERIES_COLUMNS)
    assert str(pdf["metric"].dtype) == "category"
    assert pdf["value"].tolist() == [truth(sb, "dau")[TODAY - DAY * i] for i in (3, 2, 1)]


def test_no_data_before_the_history(client: bf.BrazeClient) -> None:
    with pytest.warns(NoDataWarning, match="no data for dau"):
        df = fetch_series("dau", start="2015-01-01", end="2015-02-01", client=client)
    assert df.is_empty()
    assert df.columns == list(bf.SERIES_COLUMNS)


def test_lists(sb: Sandbox, client: bf.BrazeClient) -> None:
    assert list_events(client=client) == list(sb.workspace.events)
    segments = list_segments(client=client)
    assert [s["id"] for s in segments] == [s.id for s in sb.workspace.segments]
    frame = list_segments(client=client, backend="polars")
    assert frame.columns[:3] == ["id", "name", "analytics_tracking_enabled"]
    assert list_events(client=client, backend="pandas")["event"].tolist() == list(sb.workspace.events)


def test_lists_page_through_every_page() -> None:
    with Sandbox(seed=1, today=TODAY, n_events=620, n_segments=230) as sb, \
            bf.BrazeClient(sb.api_key, sb.url) as client:
        assert list_events(client=client) == list(sb.workspace.events)
        assert len(list_segments(client=client)) == 230
        assert sb.stats.by_path["/events/list"] == 3  # 250 + 250 + 120: stops on the short page
        assert sb.stats.by_path["/segments/list"] == 3


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "needle"),
    [
        (("hau",), {}, ValueError, "unknown series kind"),
        ((["events", "segment_size"], ["x"]), {}, ValueError, "two kinds"),
        ((["events", "revenue"], ["x"]), {}, ValueError, "two kinds"),
        (("dau", "x"), {}, ValueError, "take no key"),
        (("segment_size",), {"app_id": "a"}, ValueError, "app_id= does not apply to segment_size"),
        (("revenue",), {"segment_id": "s"}, ValueError, "segment_id= does not apply to revenue"),
        (("dau",), {"unit": "hour"}, ValueError, "unit='hour' does not apply to dau"),
        (("dau",), {"unit": "minute"}, ValueError, "unit"),
        (("dau",), {"app_id": ""}, ValueError, "app_id is empty"),
        ((3,), {}, TypeError, "kind must be"),
        (("events", [1]), {}, TypeError, "key ids must be strings"),
        (("dau",), {"length": 0}, ValueError, "1 or more"),
        (("sessions",), {"unit": "hour", "start": "2025-06-02", "end": "2025-06-01"}, ValueError,
         "after end"),
    ],
)
def test_bad_arguments_refused_before_any_request(args: tuple[Any, ...], kwargs: dict[str, Any],
                                                  exc: type[Exception], needle: str) -> None:
    kwargs.setdefault("length", 3)
    if "start" in kwargs:
        kwargs.pop("length")
    with bf.BrazeClient("unused-key-0000", "http://127.0.0.1:9") as client, pytest.raises(exc, match=needle):
        fetch_series(*args, client=client, **kwargs)


def test_collect_returns_what_succeeded(sb: Sandbox, client: bf.BrazeClient) -> None:
    result = fetch_series(["dau", "events"], ["signup", "no such event"], length=3,
                          ending_at=TODAY - DAY, client=client, on_error="collect")
    assert isinstance(result, FetchResult) and result.ok
    assert values(result.frame, "events", "no such event") == dict.fromkeys(
        [TODAY - 3 * DAY, TODAY - 2 * DAY, TODAY - DAY], 0.0)  # Braze counts zero, not nothing
    untracked = next(s for s in sb.workspace.segments if not s.analytics_tracking_enabled)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        failed = fetch_series("segment_size", [untracked.id], length=3, client=client,
                              on_error="collect")
    assert [f.campaign_id for f in failed.failures] == [f"segment_size:{untracked.id}"]
    assert "Analytics Tracking" in str(failed.failures[0].error)
    with pytest.raises(bf.BrazeAPIError, match="Analytics Tracking"):
        fetch_series("segment_size", [untracked.id], length=3, client=client)


# ---- the 1,000-an-hour budget: paced within max_wait, else RateLimitError -----------------

HOUR_START = 1_749_999_600.0  # a multiple of 3600
# test_client's FakeClock serves the sandbox and the client alike: sleeping moves time on.


def test_the_small_budget_is_paced_across_a_reset_within_max_wait() -> None:
    clock = FakeClock(HOUR_START + 3600 - 40)  # forty seconds before the hour turns
    with Sandbox(seed=0, today=TODAY, small_hourly_limit=6, clock=clock.time) as sb, \
            bf.BrazeClient(sb.api_key, sb.url, clock=clock.time, sleep=clock.sleep, max_wait=60,
                           max_concurrency=1) as client:
        start = TODAY - 500 * DAY
        df = fetch_series(["revenue", "purchase_quantity"], start=start, end=TODAY - DAY,
                          client=client)
        requests = sb.stats.by_path
    assert requests["/purchases/revenue_series"] == requests["/purchases/quantity_series"] == 6
    assert sb.stats.rate_limited == 0  # paced, never refused
    # Six requests in the old hour (the last ones spread over its last forty seconds), the
    # other six after the reset: it waited for the reset it needed, no longer.
    assert sum(clock.sleeps) == pytest.approx(40)
    for kind in ("revenue", "purchase_quantity"):
        expected = {d: v for d, v in truth(sb, kind).items() if start <= d < TODAY}
        assert values(df, kind) == pytest.approx(expected)


def test_the_small_budget_beyond_max_wait_is_a_rate_limit_error() -> None:
    clock = FakeClock(HOUR_START + 600)  # fifty minutes before the reset
    with Sandbox(seed=0, today=TODAY, small_hourly_limit=3, clock=clock.time) as sb, \
            bf.BrazeClient(sb.api_key, sb.url, clock=clock.time, sleep=clock.sleep, max_wait=60,
                           max_concurrency=1) as client:
        with pytest.raises(bf.RateLimitError, match="maximum wait") as raised:
            fetch_series("purchase_quantity", start=TODAY - 500 * DAY, end=TODAY - DAY,
                         client=client)
        assert sb.stats.by_path["/purchases/quantity_series"] == 4  # three served, one refused
    assert raised.value.retry_after == pytest.approx(3000)
    assert sum(clock.sleeps) < 60
