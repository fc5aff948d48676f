"""The sandbox: Braze's shapes and errors over real HTTP, and a consistent simulation."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from braze_frames._schema import CHANNEL_SCHEMAS, conversion_event
from braze_frames.sandbox import (
    ALL_FAULTS,
    FAULT_KINDS,
    PERMISSIONS,
    Campaign,
    CampaignTruth,
    Sandbox,
)
from braze_frames.sandbox._catalogue import CURATED_COUNT

TODAY = dt.date(2025, 6, 30)
DS = "/campaigns/data_series"
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=TODAY) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(http: requests.Session, sb: Sandbox, path: str, key: str | None = "default",
        **params: Any) -> requests.Response:
    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {sb.api_key if key == 'default' else key}"
    return http.get(sb.url + path, params=params, headers=headers, timeout=10)


def by_name(sb: Sandbox, name: str) -> Campaign:
    return next(c for c in sb.catalogue if c.name == name)


def series(http: requests.Session, sb: Sandbox, campaign: Campaign, length: int = 100,
           **params: Any) -> list[dict[str, Any]]:
    r = get(http, sb, DS, campaign_id=campaign.id, length=length, **params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"] == "success"
    data: list[dict[str, Any]] = body["data"]
    return data


def life_series(http: requests.Session, sb: Sandbox, campaign: Campaign
                ) -> list[dict[str, Any]]:
    """Every served day of a campaign, through 100-day requests."""
    days: dict[str, dict[str, Any]] = {}
    end = sb.today + dt.timedelta(days=1)
    assert campaign.first_sent is not None
    while end > campaign.first_sent:
        for day in series(http, sb, campaign, ending_at=end.isoformat()):
            days[day["time"]] = day
        end -= dt.timedelta(days=100)
    return [days[k] for k in sorted(days)]


def entries(day: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for channel, items in day["messages"].items():
        for entry in items or ():
            yield channel, entry


# --------------------------------------------------------------------------- auth, errors


def test_every_response_has_rate_limit_headers(sb: Sandbox, http: requests.Session) -> None:
    cid = sb.campaign_ids[0]
    responses = [
        get(http, sb, DS, campaign_id=cid, length=7),
        get(http, sb, DS, campaign_id=cid),
        get(http, sb, DS, key=None, campaign_id=cid, length=7),
        get(http, sb, DS, key=sb.key_with("campaigns.list"), campaign_id=cid, length=7),
        get(http, sb, "/campaigns/nope"),
    ]
    assert [r.status_code for r in responses] == [200, 400, 401, 403, 404]
    for r in responses:
        assert all(r.headers.get(h, "").isdigit() for h in RATE_HEADERS), r.headers
        assert int(r.headers["X-RateLimit-Reset"]) % 60 == 0
        assert r.headers["Content-Type"].startswith("application/json")
        assert isinstance(r.json()["message"], str)
    assert "simulator" in responses[0].headers["Server"]


@pytest.mark.parametrize("key", [None, "wrong-key-1234567890", '"{key}"'])
def test_401_for_missing_unknown_or_quoted_key(sb: Sandbox, http: requests.Session,
                                               key: str | None) -> None:
    sent = key.format(key=sb.api_key) if key else None
    r = get(http, sb, DS, key=sent, campaign_id=sb.campaign_ids[0], length=7)
    assert r.status_code == 401
    message = r.json()["message"]
    assert message.startswith("Invalid API key")
    assert sb.api_key not in message
    if sent:
        assert sent not in message


def test_403_names_the_missing_permission(sb: Sandbox, http: requests.Session) -> None:
    key = sb.key_with("campaigns.list", "campaigns.details")
    r = get(http, sb, DS, key=key, campaign_id=sb.campaign_ids[0], length=7)
    assert r.status_code == 403
    assert "campaigns.data_series" in r.json()["message"]
    assert get(http, sb, "/campaigns/list", key=key).status_code == 200
    only_series = sb.key_with("campaigns.data_series")
    assert get(http, sb, DS, key=only_series, campaign_id=sb.campaign_ids[0],
               length=7).status_code == 200
    for path, permission in [("/campaigns/list", "campaigns.list"),
                             ("/campaigns/details", "campaigns.details")]:
        r = get(http, sb, path, key=only_series, campaign_id=sb.campaign_ids[0])
        assert r.status_code == 403
        assert permission in r.json()["message"]


def test_key_with_rejects_unknown_permissions() -> None:
    with pytest.raises(ValueError, match=r"campaigns\.export"):
        Sandbox().key_with("campaigns.export")


@pytest.mark.parametrize(("params", "fragment"), [
    ({"length": 7}, "campaign_id"),
    ({"campaign_id": "", "length": 7}, "campaign_id"),
    ({"campaign_id": "{cid}"}, "length"),
    ({"campaign_id": "{cid}", "length": "abc"}, "length"),
    ({"campaign_id": "{cid}", "length": "1.5"}, "length"),
    ({"campaign_id": "{cid}", "length": 0}, "length"),
    ({"campaign_id": "{cid}", "length": 101}, "length"),
    ({"campaign_id": "{cid}", "length": 7, "ending_at": "yesterday"}, "ending_at"),
    ({"campaign_id": "{cid}", "length": 7, "ending_at": "2025-02-30"}, "ending_at"),
    ({"campaign_id": "{cid}", "length": 7, "ending_at": "2025-06-01T25:00:00"}, "ending_at"),
    ({"campaign_id": "not-a-campaign", "length": 7}, "campaign_id"),
])
def test_400_bodies(sb: Sandbox, http: requests.Session, params: dict[str, Any],
                    fragment: str) -> None:
    params = {k: (v.format(cid=sb.campaign_ids[0]) if isinstance(v, str) else v)
              for k, v in params.items()}
    r = get(http, sb, DS, **params)
    assert r.status_code == 400
    body = r.json()
    text = body["message"] + " ".join(body.get("errors", []))
    assert fragment in text


def test_404_and_405(sb: Sandbox, http: requests.Session) -> None:
    r = get(http, sb, "/campaigns/data_series/extra", campaign_id=sb.campaign_ids[0])
    assert r.status_code == 404
    assert "message" in r.json()
    r = http.post(sb.url + DS, headers={"Authorization": f"Bearer {sb.api_key}"}, timeout=10)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET"


def test_details_and_list_validate_parameters(sb: Sandbox, http: requests.Session) -> None:
    assert get(http, sb, "/campaigns/details").status_code == 400
    assert get(http, sb, "/campaigns/details", campaign_id="nope").status_code == 400
    for params in ({"page": "-1"}, {"page": "x"}, {"include_archived": "maybe"},
                   {"sort_direction": "up"}, {"last_edit.time[gt]": "soon"}):
        assert get(http, sb, "/campaigns/list", **params).status_code == 400, params


# ---------------------------------------------------------------------------- rate limits


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rate_limit_429_with_retry_after_then_reset(http: requests.Session) -> None:
    minute = 1_750_000_020  # a multiple of 60
    clock = FakeClock(minute + 15.0)  # 15 s into a minute
    with Sandbox(seed=0, today=TODAY, rate_limit=3, clock=clock) as sb:
        cid = sb.campaign_ids[0]
        remaining = [get(http, sb, DS, campaign_id=cid, length=1).headers[
            "X-RateLimit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        r = get(http, sb, DS, campaign_id=cid, length=1)
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "45"
        assert r.headers["X-RateLimit-Reset"] == str(minute + 60)
        assert r.headers["X-RateLimit-Remaining"] == "0"
        assert "rate limit" in r.json()["message"].lower()
        # Budgets are per key.
        assert get(http, sb, DS, key=sb.key_with(*PERMISSIONS), campaign_id=cid,
                   length=1).status_code == 200
        clock.now += 45
        r = get(http, sb, DS, campaign_id=cid, length=1)
        assert r.status_code == 200
        assert r.headers["X-RateLimit-Remaining"] == "2"
        assert sb.stats.rate_limited == 1
        assert sb.stats.by_status[429] == 1


def test_default_rate_limits_are_braze_s(sb: Sandbox, http: requests.Session) -> None:
    assert get(http, sb, "/campaigns/list").headers["X-RateLimit-Limit"] == "250000"
    r = get(http, sb, DS, campaign_id=sb.campaign_ids[0], length=1)
    assert r.headers["X-RateLimit-Limit"] == "50000"
    assert get(http, sb, "/events/list").headers["X-RateLimit-Limit"] == "1000"


# ------------------------------------------------------------------------------- windows


@pytest.mark.parametrize("ending_at", ["2025-06-20", "2025-06-20T23:59:59-5:00",
                                       "2025-06-20T00:00:00Z", "2025-06-20T12:00:00+05:30",
                                       "2025-06-20T12:00:00.250-05:00"])
@pytest.mark.parametrize("inclusive", [False, True])
def test_window_reading(http: requests.Session, ending_at: str, inclusive: bool) -> None:
    with Sandbox(seed=0, today=TODAY, ending_at_inclusive=inclusive) as sb:
        campaign = by_name(sb, "Cart Abandonment Push")  # sends every day up to today
        times = [d["time"] for d in series(http, sb, campaign, 5, ending_at=ending_at)]
    last = dt.date(2025, 6, 20) if inclusive else dt.date(2025, 6, 19)
    assert times == [(last - dt.timedelta(days=4 - i)).isoformat() for i in range(5)]


def test_default_ending_at_is_today_and_future_is_accepted(sb: Sandbox,
                                                           http: requests.Session) -> None:
    campaign = by_name(sb, "Cart Abandonment Push")
    times = [d["time"] for d in series(http, sb, campaign, 30)]
    assert len(times) == 30
    assert times[-1] == (TODAY - dt.timedelta(days=1)).isoformat()
    future = series(http, sb, campaign, 10, ending_at="2025-07-05")
    assert [d["time"] for d in future] == ["2025-06-25", "2025-06-26", "2025-06-27",
                                          "2025-06-28", "2025-06-29", "2025-06-30"]


def test_days_are_clipped_to_the_campaign_life(sb: Sandbox, http: requests.Session) -> None:
    campaign = by_name(sb, "Black Friday Multichannel")  # four send days, 7-day window
    assert campaign.first_sent is not None
    assert campaign.last_sent is not None
    data = series(http, sb, campaign, 100,
                  ending_at=(campaign.last_sent + dt.timedelta(days=50)).isoformat())
    times = [dt.date.fromisoformat(d["time"]) for d in data]
    assert times[0] == campaign.first_sent
    assert times[-1] == campaign.last_sent + dt.timedelta(days=7)
    tail = [d for d in data if dt.date.fromisoformat(d["time"]) > campaign.last_sent]
    assert all(e["sent"] == 0 for d in tail for _, e in entries(d))
    assert sum(d["conversions"] for d in tail) > 0
    never = by_name(sb, "Holiday Teaser (draft)")
    assert series(http, sb, never, 100) == []
    before = series(http, sb, campaign, 10,
                    ending_at=(campaign.first_sent - dt.timedelta(days=5)).isoformat())
    assert before == []


# ------------------------------------------------------------------------ list, details


def test_list_pages_end_on_a_short_page(http: requests.Session) -> None:
    with Sandbox(seed=2, today=TODAY, n_campaigns=250) as sb:
        seen: list[dict[str, Any]] = []
        page = 0
        while True:
            r = get(http, sb, "/campaigns/list", page=page, include_archived="true")
            chunk = r.json()["campaigns"]
            seen += chunk
            if len(chunk) < 100:
                break
            page += 1
        assert page == 2
        assert len(seen) == 250
        assert {c["id"] for c in seen} == set(sb.campaign_ids)
        assert set(seen[0]) == {"id", "last_edited", "name", "is_api_campaign", "tags"}
        edited = [c["last_edited"] for c in seen]
        assert all(dt.datetime.fromisoformat(t).tzinfo is not None for t in edited)

        active = get(http, sb, "/campaigns/list").json()["campaigns"]
        n_archived = sum(c.archived for c in sb.catalogue)
        assert n_archived > 0
        assert len(active) == min(100, 250 - n_archived)
        assert not any(sb.campaign(c["id"]).archived for c in active)

        desc = get(http, sb, "/campaigns/list", page=2, include_archived="true",
                   sort_direction="desc").json()["campaigns"]
        assert [c["id"] for c in desc] == [c["id"] for c in reversed(seen[:50])]

        cutoff = sorted(edited)[200]
        recent = get(http, sb, "/campaigns/list", include_archived="true",
                     **{"last_edit.time[gt]": cutoff}).json()["campaigns"]
        assert recent
        assert all(c["last_edited"] > cutoff for c in recent)
        assert len(recent) == sum(t > cutoff for t in edited)


def test_details_shape(sb: Sandbox, http: requests.Session) -> None:
    campaign = by_name(sb, "Onboarding Multivariate In-App")
    body = get(http, sb, "/campaigns/details", campaign_id=campaign.id).json()
    assert body["message"] == "success"
    for key in ("name", "description", "archived", "draft", "tags", "channels", "first_sent",
                "last_sent", "created_at", "updated_at", "schedule_type", "messages",
                "conversion_behaviors"):
        assert key in body
    assert body["channels"] == ["trigger_in_app_message"]
    messages = body["messages"]
    assert len(messages) == 4
    # Braze's docs: a control message is {"channel", "type": "control"}, without a name.
    controls = [m for m in messages.values() if m.get("type") == "control"]
    assert controls == [{"channel": "trigger_in_app_message", "type": "control"}]
    assert sorted(m["name"] for m in messages.values() if m.get("type") != "control") == [
        "Variant 1", "Variant 2", "Variant 3"]
    assert set(messages) == {v.api_id for v in campaign.variations}
    windows = [b["window"] for b in body["conversion_behaviors"]]
    assert windows == [b.window_days * 86_400 for b in campaign.conversion_behaviors]
    assert max(windows) == campaign.conversion_window_days * 86_400
    assert [b["type"] for b in body["conversion_behaviors"]] == list(campaign.conversion_events)
    assert dt.datetime.fromisoformat(body["first_sent"]).date() == campaign.first_sent

    loyalty = get(http, sb, "/campaigns/details",
                  campaign_id=by_name(sb, "Loyalty Journey").id).json()
    assert len(loyalty["conversion_behaviors"]) == 5
    never = get(http, sb, "/campaigns/details",
                campaign_id=by_name(sb, "Welcome Series v2").id).json()
    assert never["first_sent"] is None
    assert never["last_sent"] is None
    multi = get(http, sb, "/campaigns/details",
                campaign_id=by_name(sb, "Black Friday Multichannel").id).json()
    assert sorted(m["channel"] for m in multi["messages"].values()) == ["email", "ios_push"]


# ------------------------------------------------------------------ shapes and oddities


def test_catalogue_covers_every_channel_and_oddity(sb: Sandbox) -> None:
    channels = {v.channel for c in sb.catalogue for v in c.variations}
    documented = set(CHANNEL_SCHEMAS) - {"windows_phone8_push", "windows_universal_push"}
    assert documented <= channels
    assert len(sb.catalogue) == CURATED_COUNT == 25
    assert len(set(sb.campaign_ids)) == 25
    assert any(c.archived for c in sb.catalogue)
    assert sum(not c.sent for c in sb.catalogue) == 2
    assert any(len(c.channels) > 1 for c in sb.catalogue)
    assert any(c.empty_channels for c in sb.catalogue)
    assert any(c.null_channels for c in sb.catalogue)
    # A length=30 fetch has data for several campaigns.
    assert sum(c.sent and c.last_sent is not None and (TODAY - c.last_sent).days < 30
               for c in sb.catalogue) >= 5


def test_email_shape_like_the_recording(sb: Sandbox, http: requests.Session) -> None:
    day = series(http, sb, by_name(sb, "Weekly Newsletter"), 7)[-1]
    assert day["messages"]["sms"] == []
    (entry,) = day["messages"]["email"]
    assert "variation_name" not in entry
    assert {"variation_api_id", "machine_open", "machine_amp_open"} <= set(entry)
    assert set(CHANNEL_SCHEMAS["email"]) <= set(entry)
    for key in ("conversions", "conversions3", "conversions_by_send_time",
                "conversions3_by_send_time", "unique_recipients"):
        assert isinstance(day[key], int)
    assert isinstance(day["revenue"], float)


def test_legacy_email_opens_on_some_days(sb: Sandbox, http: requests.Session) -> None:
    days = life_series(http, sb, by_name(sb, "Spring Sale 2023 (legacy opens)"))
    legacy = [e for d in days for _, e in entries(d) if "machine_opens" in e]
    modern = [e for d in days for _, e in entries(d) if "machine_open" in e]
    assert legacy
    assert modern
    assert all(e["machine_opens"] + e["other_opens"] == e["opens"] for e in legacy)
    assert not any("machine_open" in e for e in legacy)


def test_push_control_group(sb: Sandbox, http: requests.Session) -> None:
    day = series(http, sb, by_name(sb, "Cart Abandonment Push"), 3)[-1]
    variant, control = day["messages"]["ios_push"]
    assert control["variation_name"] == "Control Group"
    assert "sent" not in control
    assert control["enrolled"] > 0
    assert control["unique_recipients"] == control["enrolled"]
    assert {"revenue", "conversions", "conversions_by_send_time"} <= set(control)
    assert variant["sent"] > 0
    assert "enrolled" not in variant
    assert isinstance(variant["revenue"], float)


def test_webhook_with_nulls_like_the_client_fixture(sb: Sandbox, http: requests.Session) -> None:
    day = series(http, sb, by_name(sb, "Order Confirmation Webhook"), 3)[-1]
    assert next(iter(day)) == "time"
    assert list(day)[-1] == "messages"
    messages = day["messages"]
    assert set(messages) == {"webhook", "ios_push", "android_push", "kindle_push", "web_push",
                             "email", "sms", "whats_app", "content_cards", "in_app_message",
                             "trigger_in_app_message"}
    assert all(v is None for k, v in messages.items() if k != "webhook")
    variant, control = messages["webhook"]
    assert control["sent"] is None
    assert control["errors"] is None
    assert control["enrolled"] > 0
    assert variant["enrolled"] is None
    assert variant["errors"] <= variant["sent"]


def test_dynamic_push_keys_legacy_channel_and_name_only(sb: Sandbox,
                                                        http: requests.Session) -> None:
    carousel = series(http, sb, by_name(sb, "Android Carousel Promo"), 100,
                      ending_at=(TODAY - dt.timedelta(days=40)).isoformat())
    entry = carousel[-1]["messages"]["android_push"][0]
    assert {"carousel_slide_1_Promo_click", "notif_button_2_Buy_click"} <= set(entry)
    assert entry["carousel_slide_1_Promo_click"] <= entry["direct_opens"]

    legacy = life_series(http, sb, by_name(sb, "Legacy iOS Launch"))
    assert legacy
    assert all(set(d["messages"]) == {"apple_push"} for d in legacy)

    alert = series(http, sb, by_name(sb, "Price Drop Alert"), 30)
    for _, e in entries(alert[-1]):
        assert "variation_api_id" not in e
        assert e["variation_name"] in ("Variant 1", "Variant 2")


def test_conversions4_multivariate_and_multichannel(sb: Sandbox, http: requests.Session) -> None:
    loyalty = series(http, sb, by_name(sb, "Loyalty Journey"), 30,
                     ending_at=(TODAY - dt.timedelta(days=60)).isoformat())
    events = {conversion_event(k) for k in loyalty[-1] if conversion_event(k)}
    assert events == {(k, b) for k in range(5) for b in (False, True)}
    assert all("conversions4" in e for _, e in entries(loyalty[-1]))

    onboarding = series(http, sb, by_name(sb, "Onboarding Multivariate In-App"), 3)[-1]
    names = [e["variation_name"] for e in onboarding["messages"]["trigger_in_app_message"]]
    assert names == ["Variant 1", "Variant 2", "Variant 3", "Control Group"]

    campaign = by_name(sb, "Black Friday Multichannel")
    assert campaign.first_sent is not None
    burst = series(http, sb, campaign, 4,
                   ending_at=(campaign.first_sent + dt.timedelta(days=4)).isoformat())
    assert all(set(d["messages"]) == {"email", "ios_push"} for d in burst)


# ------------------------------------------------------------------- simulation invariants


def check_day(day: Mapping[str, Any]) -> None:
    """Per day, within a stage: totals >= uniques, derived counts <= their source.

    Engagement (opens, clicks...) lands on the day it happens, so across stages (opens vs
    delivered) the funnel holds over a campaign's life, not per day: see check_life.
    """
    for channel, e in entries(day):
        if "enrolled" in e and e["enrolled"] is not None:
            assert e.get("sent") is None
            continue
        m = {k: v for k, v in e.items() if isinstance(v, int)}
        if channel == "email":
            assert m["delivered"] + m["bounces"] == m["sent"]
            assert m["unique_opens"] <= m["opens"]
            assert m["unique_clicks"] <= m["clicks"]
            assert m["unique_clicks"] <= m["unique_opens"]
            assert m.get("machine_open", 0) <= m["opens"]
            assert m.get("machine_amp_open", 0) <= m.get("machine_open", 0)
        elif channel.endswith("_push"):
            assert m["bounces"] <= m["sent"]
            assert m["direct_opens"] <= m["total_opens"]
            assert m["body_clicks"] <= m["direct_opens"]
        elif channel == "webhook":
            assert m["errors"] <= m["sent"]
        elif channel == "sms":
            # Braze's glossary: what never reached the carrier failed.
            assert m["sent"] - m["sent_to_carrier"] == m["delivery_failed"]
            assert m["delivered"] + m["rejected"] <= m["sent_to_carrier"]
        elif channel == "whats_app":
            assert m["delivered"] + m["failed"] == m["sent"]
        elif channel == "content_cards":
            assert m["unique_impressions"] <= m["total_impressions"]
            assert m["unique_clicks"] <= m["total_clicks"] <= m["total_impressions"]
            assert m["unique_dismissals"] <= m["total_dismissals"] <= m["total_impressions"]
            assert m["unique_clicks"] <= m["unique_impressions"]
        else:
            assert m["first_button_clicks"] + m["second_button_clicks"] <= m["clicks"]
            assert m["clicks"] <= m["impressions"]
        if "unique_recipients" in e:
            assert e["unique_recipients"] <= m.get("sent", m.get("impressions", 0))
    assert all(v >= 0 for _, e in entries(day) for v in e.values() if isinstance(v, int))


#: (channel prefix, engaged metric, the metric it never exceeds over a life)
LIFE_FUNNEL = (
    ("email", "unique_opens", "delivered"), ("email", "unsubscribes", "delivered"),
    ("email", "reported_spam", "delivered"), ("sms", "clicks", "delivered"),
    ("sms", "opt_out", "delivered"), ("whats_app", "read", "delivered"),
    ("content_cards", "unique_impressions", "sent"),
)


def check_life(days: Iterator[Mapping[str, Any]] | list[Mapping[str, Any]]) -> None:
    """Over a campaign's life, per variation: engagement never exceeds delivery."""
    sums: dict[tuple[str, str, str], int] = {}
    for day in days:
        for channel, e in entries(day):
            var = str(e.get("variation_api_id", e.get("variation_name")))
            for metric, value in e.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    sums[channel, var, metric] = sums.get((channel, var, metric), 0) + value
    for (channel, var, metric), total in sums.items():
        for prefix, engaged, source in LIFE_FUNNEL:
            if channel == prefix and metric == engaged:
                assert total <= sums[channel, var, source], (channel, metric)
        if channel.endswith("_push") and metric == "total_opens":
            assert total <= sums[channel, var, "sent"] - sums[channel, var, "bounces"]


def day_totals_match_entries(truth: CampaignTruth) -> None:
    """Entries that carry totals sum to at most the day's (other channels add the rest)."""
    carried = all(all("conversions" in e for _, e in entries(d)) for d in truth.days.values())
    for day in truth.days.values():
        for key in ("conversions", "conversions_by_send_time", "unique_recipients"):
            part = sum(e.get(key) or 0 for _, e in entries(day))
            assert part <= day[key]
            if carried:
                assert part == day[key]


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_counts_are_consistent_for_any_seed(seed: int) -> None:
    sb = Sandbox(seed=seed, today=TODAY, n_campaigns=24)
    for campaign in sb.catalogue:
        truth = sb.truth(campaign.id)
        for day in truth.days.values():
            check_day(day)
        check_life(list(truth.days.values()))
        day_totals_match_entries(truth)


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_whole_life_conversions_agree_once_the_window_has_passed(seed: int) -> None:
    sb = Sandbox(seed=seed, today=TODAY, n_campaigns=26)
    closed_campaigns = 0
    for campaign in sb.catalogue:
        if campaign.last_sent is None:
            continue
        truth = sb.truth(campaign.id)
        closed = campaign.last_sent + dt.timedelta(days=campaign.conversion_window_days) <= TODAY
        if closed:
            closed_campaigns += 1
            assert all(b.counted for b in truth.batches)
        sums: dict[tuple[str | None, str], int] = {}
        for day in truth.days.values():
            for metric, value in day.items():
                if conversion_event(metric):
                    sums[None, metric] = sums.get((None, metric), 0) + value
            for _, e in entries(day):
                var = e.get("variation_api_id", e.get("variation_name"))
                for metric, value in e.items():
                    if conversion_event(metric):
                        sums[var, metric] = sums.get((var, metric), 0) + value
        carried = {var for var, _ in sums}
        for k in range(campaign.n_conversion_keys):
            name = f"conversions{k or ''}"
            for var in carried:
                # Both attributions count the same events, all that have happened so far.
                assert sums[var, name] == sums[var, f"{name}_by_send_time"] == truth.total(k, var)
    assert closed_campaigns >= 10


def test_conversions_not_yet_happened_are_in_neither_attribution(sb: Sandbox) -> None:
    campaign = by_name(sb, "Cart Abandonment Push")  # sends up to today
    truth = sb.truth(campaign.id)
    pending = [b for b in truth.batches if not b.counted]
    assert pending
    assert all(b.conversion_date > TODAY for b in pending)
    assert all(b.send_date <= TODAY for b in pending)
    assert max(truth.dates) == TODAY
    counted = truth.conversions(0, by="send")
    assert {d: truth.days[d]["conversions_by_send_time"] for d in counted} == counted


def test_window_gap_is_explained_by_the_edges(sb: Sandbox) -> None:
    campaign = by_name(sb, "Loyalty Journey")
    truth = sb.truth(campaign.id)
    a, b = truth.dates[100], truth.dates[160]
    days = [truth.days[d] for d in truth.dates if a <= d <= b]
    for k in range(5):
        name = f"conversions{k or ''}"
        gap = sum(d[name] for d in days) - sum(d[f"{name}_by_send_time"] for d in days)
        events = [x for x in truth.batches if x.counted and x.event == k]
        inflow = sum(x.count for x in events if x.send_date < a <= x.conversion_date <= b)
        outflow = sum(x.count for x in events if a <= x.send_date <= b < x.conversion_date)
        assert gap == inflow - outflow
        assert inflow + outflow > 0


@pytest.mark.parametrize("name", ["Loyalty Journey", "Content Cards Spring Offers",
                                  "Android Carousel Promo", "Spring Sale 2023 (legacy opens)"])
def test_mean_lag_is_recovered_from_the_cumulative_curves(sb: Sandbox, name: str) -> None:
    campaign = by_name(sb, name)
    truth = sb.truth(campaign.id)
    cum_conv = cum_send = area = 0
    for d in truth.dates:
        cum_conv += truth.days[d]["conversions"]
        cum_send += truth.days[d]["conversions_by_send_time"]
        area += cum_send - cum_conv
    assert cum_conv == cum_send > 1000
    estimate = area / cum_conv
    assert estimate == pytest.approx(truth.observed_mean_lag(0))
    p = campaign.lag_probabilities
    sd = sum(j * j * q for j, q in enumerate(p)) - campaign.mean_lag_days ** 2
    assert abs(estimate - campaign.mean_lag_days) < 5 * (sd / cum_conv) ** 0.5 + 0.01


def test_truth_matches_what_is_served(sb: Sandbox, http: requests.Session) -> None:
    campaign = by_name(sb, "Order Confirmation Webhook")
    truth = sb.truth(campaign.id)
    served = series(http, sb, campaign, 100)
    assert served
    assert all(truth.days[dt.date.fromisoformat(d["time"])] == d for d in served)
    control = next(v for v in campaign.variations if v.control)
    assert all(truth.sends[control.key][dt.date.fromisoformat(d["time"])] ==
               d["messages"]["webhook"][1]["enrolled"] for d in served)


def test_determinism(http: requests.Session) -> None:
    bodies = []
    for seed in (5, 5, 6):
        with Sandbox(seed=seed, today=TODAY) as sb:
            cid = sb.campaign_ids[3]
            bodies.append((cid, get(http, sb, DS, campaign_id=cid, length=100,
                                    ending_at="2025-05-01").content))
    assert bodies[0] == bodies[1]
    assert bodies[0][0] != bodies[2][0]
    assert bodies[0][1] != bodies[2][1]
    # Ids depend on the seed and position only; synthetic campaigns are appended.
    assert Sandbox(seed=5, n_campaigns=40).campaign_ids[:CURATED_COUNT] == Sandbox(seed=5).campaign_ids
    # Round one's twenty keep their ids and positions.
    assert Sandbox(seed=5, n_campaigns=20).campaign_ids == Sandbox(seed=5).campaign_ids[:20]


# ------------------------------------------------------------------- faults and latency


def test_faults_occur_at_the_rate_and_never_corrupt_data() -> None:
    with Sandbox(seed=0, today=TODAY) as clean:
        cid = clean.campaign_ids[2]
        expected = requests.get(clean.url + DS, params={"campaign_id": cid, "length": 30},
                                headers={"Authorization": f"Bearer {clean.api_key}"},
                                timeout=10).json()
    n = 200
    outcomes: dict[str, int] = {}
    with Sandbox(seed=0, today=TODAY, fault_rate=0.3, slow_seconds=0.01) as sb:
        for _ in range(n):
            try:
                r = requests.get(sb.url + DS, params={"campaign_id": cid, "length": 30},
                                 headers={"Authorization": f"Bearer {sb.api_key}"}, timeout=10)
                r.raise_for_status()
                body = r.json()
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            else:
                assert body == expected
                outcome = "ok"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        # The server counts after it has written: its last thread may still be finishing.
        deadline = time.monotonic() + 5
        while sb.stats.delivered != outcomes["ok"] and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = sb.stats
    assert stats.requests == n
    assert 0.18 * n < stats.faults_injected < 0.42 * n
    assert set(stats.faults) <= set(ALL_FAULTS)
    assert len(stats.faults) >= 6
    broken = n - outcomes["ok"]
    assert broken == stats.faults_injected - stats.faults.get("slow", 0)
    assert stats.delivered == outcomes["ok"]


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind(kind: str) -> None:
    with Sandbox(seed=0, today=TODAY, fault_rate=1.0, faults=[kind],
                 slow_seconds=0.3) as sb:
        params = {"campaign_id": sb.campaign_ids[0], "length": 30}
        headers = {"Authorization": f"Bearer {sb.api_key}"}
        started = time.perf_counter()
        if kind == "reset":
            with pytest.raises(requests.ConnectionError):
                requests.get(sb.url + DS, params=params, headers=headers, timeout=5)
            assert sb.stats.faults == {"reset": 1}
            return
        if kind == "truncate":
            with pytest.raises(requests.exceptions.ChunkedEncodingError):
                requests.get(sb.url + DS, params=params, headers=headers, timeout=5)
            assert sb.stats.delivered == 0
            return
        r = requests.get(sb.url + DS, params=params, headers=headers, timeout=5)
        elapsed = time.perf_counter() - started
        assert sb.stats.faults == {kind: 1}
    assert r.headers["X-RateLimit-Limit"] == "50000"
    if kind == "slow":
        assert elapsed >= 0.3
        assert r.json()["message"] == "success"
    elif kind in ("500", "503"):
        assert r.status_code == int(kind)
        assert r.json()["message"]
    elif kind in ("502", "504"):
        assert r.status_code == int(kind)
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.text.lstrip().startswith("<html>")
    else:
        assert r.status_code == (200 if kind == "html200" else 503)
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.text.startswith("<!DOCTYPE html>")


def test_fault_settings_are_validated_and_html200_is_opt_in() -> None:
    assert "html200" not in ALL_FAULTS
    with pytest.raises(ValueError, match="unknown fault"):
        Sandbox(faults=["teapot"])
    with pytest.raises(ValueError, match="fault_rate"):
        Sandbox(fault_rate=1.5)
    with pytest.raises(ValueError, match="latency"):
        Sandbox(latency=-1)
    with pytest.raises(ValueError, match="rate_limit"):
        Sandbox(rate_limit=0)


def test_latency_and_concurrent_stats(http: requests.Session) -> None:
    with Sandbox(seed=0, today=TODAY, latency=0.05) as sb:
        cid = sb.campaign_ids[0]
        sb.warm([cid])

        def one(_: int) -> int:
            return get(http, sb, DS, campaign_id=cid, length=100).status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(one, range(48)))
        elapsed = time.perf_counter() - started
        assert statuses == [200] * 48
        assert elapsed >= 6 * 0.05  # 48 requests, 8 at a time, 50 ms each
        assert elapsed < 48 * 0.05  # and they did run concurrently
        stats = sb.stats
        assert stats.requests == 48
        assert stats.by_status == {200: 48}
        assert stats.by_path == {DS: 48}
        sb.reset_stats()
        assert sb.stats.requests == 0


def test_a_100_day_answer_is_fast(sb: Sandbox, http: requests.Session) -> None:
    campaign = by_name(sb, "Onboarding Multivariate In-App")
    sb.warm([campaign.id])
    series(http, sb, campaign, 100)
    started = time.perf_counter()
    for _ in range(10):
        series(http, sb, campaign, 100)
    assert (time.perf_counter() - started) / 10 < 0.1


# ------------------------------------------------------------------------- lifecycle


def test_serve_forever_prints_a_banner_and_stops_from_another_thread() -> None:
    sb = Sandbox(seed=0, today=TODAY)
    out = io.StringIO()
    thread = threading.Thread(target=sb.serve_forever, kwargs={"file": out})
    thread.start()
    deadline = time.monotonic() + 5
    while not sb.running and time.monotonic() < deadline:
        time.sleep(0.01)
    banner = out.getvalue()
    assert "SIMULATOR" in banner
    assert sb.url in banner
    assert sb.api_key in banner
    r = requests.get(sb.url + "/campaigns/list",
                     headers={"Authorization": f"Bearer {sb.api_key}"}, timeout=5)
    assert r.status_code == 200
    sb.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert not sb.running


def test_lifecycle_errors_and_repr() -> None:
    sb = Sandbox(seed=0, today=TODAY)
    with pytest.raises(RuntimeError, match="start"):
        _ = sb.url
    assert "not started" in repr(sb)
    with sb:
        assert sb.url.startswith("http://127.0.0.1:")
        assert sb.start() is sb
    sb.stop()
    with pytest.raises(RuntimeError, match="closed"):
        sb.start()
    with pytest.raises(KeyError, match="no campaign"):
        sb.campaign("nope")
