"""Names by default, and every campaign in a fetch of every campaign (SPEC sections 3 and 4).

End to end through the Python API against the sandbox and small local servers. Expected
names and dates come from the sandbox's catalogue (its own descriptors), not from the
library's earlier output.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from _support_fake_braze import KEY, campaign_name, day_value, fake_braze

import braze_frames as bf
from braze_frames.fetch import (
    FetchResult,
    NamesUnavailableWarning,
    NoDataWarning,
    SkippedCampaign,
    SkippedCampaignsWarning,
    discover_campaigns,
)
from braze_frames.sandbox import Sandbox

TODAY = dt.date(2025, 6, 30)
KEY_COLUMNS = ["campaign_id", "date", "channel", "variation", "metric"]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=TODAY) as sandbox:
        yield sandbox


def client_for(url: str, key: str = KEY, **kw: Any) -> bf.BrazeClient:
    return bf.BrazeClient(api_key=key, rest_endpoint=url, sleep=lambda s: None, **kw)


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String)).sort(KEY_COLUMNS)


def by_name(sb: Sandbox, name: str) -> str:
    (cid,) = [c.id for c in sb.catalogue if c.name == name]
    return cid


# ---------------------------------------------------------------------------- names


def test_names_are_filled_from_details(sb: Sandbox) -> None:
    ids = [by_name(sb, n) for n in ("Cart Abandonment Push", "Onboarding Multivariate In-App",
                                    "Price Drop Alert")]
    with client_for(sb.url, sb.api_key) as client:
        df = as_text(bf.fetch_data_series(ids, length=30, ending_at=TODAY, client=client))
    assert df.height > 0
    for cid in ids:
        campaign = sb.campaign(cid)
        rows = df.filter(pl.col("campaign_id") == cid)
        assert set(rows["campaign_name"]) == {campaign.name}
        expected = {v.key: v.name for v in campaign.variations}
        got = dict(rows.filter(pl.col("channel") != "all")
                   .select("variation", "variation_name").unique().iter_rows())
        assert got == expected  # the control group keeps its "Control Group" too
    assert df.filter(pl.col("channel") == "all")["variation_name"].null_count() == \
        df.filter(pl.col("channel") == "all").height


def test_names_false_makes_no_details_request_and_leaves_names_null() -> None:
    with fake_braze() as fb, client_for(fb.url) as client:
        df = bf.fetch_data_series(["c1", "c2"], length=5, ending_at="2025-01-05", client=client,
                                  names=False)
    assert fb.details_requests == []
    assert df["campaign_name"].null_count() == df.height
    assert set(df.filter(pl.col("channel") == "email")["variation_name"].to_list()) == {None}


def test_details_are_read_once_per_campaign_for_the_clients_life() -> None:
    with fake_braze() as fb, client_for(fb.url) as client:
        first = bf.fetch_data_series(["c1", "c2"], length=5, ending_at="2025-01-05", client=client)
        second = bf.fetch_data_series(["c2", "c3"], length=3, ending_at="2025-01-05", client=client)
        details = bf.campaign_details(["c1", "c3"], client=client)
    assert sorted(fb.details_requests) == ["c1", "c2", "c3"]
    assert set(first["campaign_name"].cast(pl.String)) == {campaign_name("c1"), campaign_name("c2")}
    assert set(second["campaign_name"].cast(pl.String)) == {campaign_name("c2"), campaign_name("c3")}
    assert set(first.filter(pl.col("channel") == "email")["variation_name"].cast(pl.String)) == {"Variant 1"}
    assert list(details) == ["c1", "c3"] and details["c3"]["name"] == campaign_name("c3")


def test_the_details_names_win_except_where_they_give_none() -> None:
    body = {"message": "success", "data": [{"time": "2025-01-01", "messages": {"ios_push": [
        {"variation_api_id": "v1", "variation_name": "Old name", "sent": 10},
        {"variation_api_id": "cg", "variation_name": "Control Group", "enrolled": 3},
    ]}}]}
    details = {"message": "success", "name": "Renamed campaign",
               "messages": {"v1": {"channel": "ios_push", "name": "New name"}, "cg": {"type": "control"}}}
    with fake_braze(bodies={"c1": body}, details={"c1": details}) as fb, client_for(fb.url) as client:
        df = bf.fetch_data_series("c1", length=1, ending_at="2025-01-01", client=client)
    got = dict(df.select(pl.col("variation", "variation_name").cast(pl.String)).iter_rows())
    assert got == {"v1": "New name", "cg": "Control Group"}
    assert set(df["campaign_name"].cast(pl.String)) == {"Renamed campaign"}


def test_a_key_without_the_details_permission_keeps_every_row(sb: Sandbox) -> None:
    ids = sb.campaign_ids[:4]
    key = sb.key_with("campaigns.data_series")
    sb.reset_stats()
    with client_for(sb.url, key) as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = bf.fetch_data_series(ids, length=60, ending_at=TODAY, client=client)
    named = [w for w in caught if w.category is NamesUnavailableWarning]
    assert len(named) == 1 and len(caught) == 1, [str(w.message) for w in caught]
    text = str(named[0].message)
    assert all(cid in text for cid in ids)
    assert "campaigns.details permission" in text
    # One 403 is enough to know the key lacks it: not one per campaign (one per thread at most).
    assert sb.stats.by_status.get(403, 0) <= 4
    assert df["campaign_name"].null_count() == df.height
    with client_for(sb.url, sb.api_key) as client:
        reference = bf.fetch_data_series(ids, length=60, ending_at=TODAY, client=client, names=False)
    assert as_text(df).drop("campaign_name", "variation_name").equals(
        as_text(reference).drop("campaign_name", "variation_name"))


def test_a_details_failure_warns_once_and_keeps_the_rows() -> None:
    with fake_braze(details_status=500) as fb, client_for(fb.url, max_retries=1) as client, \
            pytest.warns(NamesUnavailableWarning, match=r"no names for 2 campaign\(s\), c1, c2"):
        df = bf.fetch_data_series(["c1", "c2"], length=3, ending_at="2025-01-03", client=client)
    assert df.filter(pl.col("metric") == "sent").height == 6
    assert df["campaign_name"].null_count() == df.height


# ------------------------------------------------------------------- every campaign


def test_every_campaign_includes_archived_ones_by_default(sb: Sandbox) -> None:
    first, last = dt.date(2024, 1, 1), TODAY
    sent = {c.id for c in sb.catalogue
            if c.first_sent is not None and c.first_sent <= last
            and c.last_sent is not None
            and c.last_sent + dt.timedelta(days=c.conversion_window_days) >= first}
    archived = {c.id for c in sb.catalogue if c.archived} & sent
    assert archived  # the sandbox has archived campaigns that sent in the range
    with client_for(sb.url, sb.api_key) as client:
        with pytest.warns(SkippedCampaignsWarning, match="never sent") as caught:
            result = bf.fetch_data_series(None, start=first, end=last, client=client,
                                          on_error="collect")
        with pytest.warns(SkippedCampaignsWarning):
            active = bf.fetch_data_series(None, start=first, end=last, client=client,
                                          include_archived=False)
    assert isinstance(result, FetchResult)
    assert set(result.frame["campaign_id"].cast(pl.String)) == sent
    assert len([w for w in caught if w.category is SkippedCampaignsWarning]) == 1
    assert set(active["campaign_id"].cast(pl.String)) == sent - archived
    never = {c.id for c in sb.catalogue if c.first_sent is None}
    assert {s.campaign_id for s in result.skipped} == set(sb.campaign_ids) - sent
    for s in result.skipped:
        campaign = sb.campaign(s.campaign_id)
        assert s.name == campaign.name
        assert s.reason == "never sent" if s.campaign_id in never else \
            s.reason.startswith(f"last sent {campaign.last_sent}; ")
    # Every archived campaign's rows match a fetch of it by id.
    with client_for(sb.url, sb.api_key) as client:
        one = bf.fetch_data_series(sorted(archived), start=first, end=last, client=client)
    kept = result.frame.filter(pl.col("campaign_id").cast(pl.String).is_in(sorted(archived)))
    assert as_text(kept).equals(as_text(one))


def test_campaigns_active_outside_the_range_are_skipped_with_their_dates(sb: Sandbox) -> None:
    first, last = TODAY - dt.timedelta(days=6), TODAY
    with client_for(sb.url, sb.api_key) as client:
        found = discover_campaigns(client, first, last)
    expected = {c.id for c in sb.catalogue if c.first_sent is not None
                and c.last_sent + dt.timedelta(days=c.conversion_window_days + 1) >= first}
    assert set(found.ranges) == expected
    for a, b in found.ranges.values():
        assert first <= a <= b <= last
    outside = [s for s in found.skipped if s.reason != "never sent"]
    assert outside and all(isinstance(s, SkippedCampaign) for s in outside)
    for s in outside:
        campaign = sb.campaign(s.campaign_id)
        assert s.name == campaign.name
        assert f"last sent {campaign.last_sent}" in s.reason
    assert set(found.details) == set(sb.campaign_ids)


def test_a_campaign_without_first_sent_is_fetched_over_the_whole_range() -> None:
    listed = [{"id": "c1", "name": "No dates"}, {"id": "c2", "name": "Never", "archived": True},
              {"id": "c3", "name": "Old"}]
    details = {
        "c1": {"message": "success", "name": "No dates"},  # no first_sent, no last_sent
        "c2": {"message": "success", "name": "Never", "first_sent": None, "last_sent": None},
        "c3": {"message": "success", "name": "Old", "first_sent": "2020-01-01T09:00:00Z",
               "last_sent": "2020-02-01T09:00:00Z", "conversion_behaviors": [{"window": 86_400}]},
    }
    with fake_braze(listed=listed, details=details) as fb, client_for(fb.url) as client, \
            pytest.warns(SkippedCampaignsWarning) as caught:
        result = bf.fetch_data_series(None, start="2025-01-01", end="2025-01-10", client=client,
                                      on_error="collect")
    assert isinstance(result, FetchResult)
    sent = result.frame.filter(pl.col("metric") == "sent")
    assert sorted(sent["date"].to_list()) == [dt.date(2025, 1, d) for d in range(1, 11)]
    assert sent["value"].to_list() == [day_value("c1", d) for d in sorted(sent["date"].to_list())]
    assert {(s.campaign_id, s.reason) for s in result.skipped} == {
        ("c2", "never sent"),
        ("c3", "last sent 2020-02-01; conversions counted until 2020-02-02, before 2025-01-01")}
    text = str(caught[0].message)
    assert "Never (c2): never sent" in text and "Old (c3)" in text
    assert fb.list_requests[0]["include_archived"] == "true"
    assert {r["campaign_id"] for r in fb.requests} == {"c1"}


def test_every_campaign_with_a_key_without_details_fetches_the_whole_range() -> None:
    listed = [{"id": "c1", "name": "First"}, {"id": "c2", "name": "Second"}]
    with fake_braze(listed=listed, details_status=403) as fb, client_for(fb.url) as client, \
            pytest.warns(NamesUnavailableWarning, match=r"First \(c1\), Second \(c2\).*whole range"):
        df = bf.fetch_data_series(None, length=4, ending_at="2025-01-04", client=client)
    assert df.filter(pl.col("metric") == "sent").height == 8
    assert len(fb.details_requests) <= 2


# ------------------------------------------------------------------ empty, push, details


def test_an_empty_fetch_warns_with_the_range_asked_for() -> None:
    # The sandbox's "today" is in the past: a fetch ending on the real (UTC) today is empty.
    with Sandbox(seed=0, today=dt.date(2024, 1, 31), n_campaigns=2) as old, \
            client_for(old.url, old.api_key) as client, pytest.warns(NoDataWarning) as caught:
        df = bf.fetch_data_series(old.campaign_ids[0], length=7, client=client)
    assert df.height == 0 and df.columns == list(bf.TIDY_COLUMNS)
    text = str(caught[0].message)
    today = dt.datetime.now(dt.timezone.utc).date()
    assert f"from {today - dt.timedelta(days=6)} to {today} (7 days asked for)" in text
    assert "company's time zone" in text


def test_push_delivery_counts_are_known_metrics() -> None:
    body = {"message": "success", "data": [{"time": "2025-01-01", "messages": {
        "ios_push": [{"variation_api_id": "v1", "sent": 10, "delivered": 9, "undelivered": 1,
                      "delivery_failed": 1, "direct_opens": 2}],
        "android_push": [{"variation_api_id": "v2", "sent": 5, "delivered": 5, "undelivered": 0,
                          "delivery_failed": 0}]}}]}
    with fake_braze(bodies={"c1": body}) as fb, client_for(fb.url) as client:
        # filterwarnings=error: an UnknownFieldWarning would fail here.
        df = bf.fetch_data_series("c1", length=1, ending_at="2025-01-01", client=client, names=False)
    assert df["value"].sum() == 10 + 9 + 1 + 1 + 2 + 5 + 5
    assert set(df["metric"].cast(pl.String)) == {"sent", "delivered", "undelivered",
                                                 "delivery_failed", "direct_opens"}


def test_campaign_details_of_one_id_is_the_body(sb: Sandbox) -> None:
    cid = by_name(sb, "Loyalty Journey")
    with client_for(sb.url, sb.api_key) as client:
        one = bf.campaign_details(cid, client=client)
        many = bf.campaign_details((cid, sb.campaign_ids[0]), client=client)
    assert one["name"] == "Loyalty Journey"
    assert list(many) == [cid, sb.campaign_ids[0]]
    assert many[cid] == one
