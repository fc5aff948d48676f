"""The sandbox's campaigns, round two: realism, details and lists, renames, experiments, sends."""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests

from braze_frames.sandbox import SEND_RETENTION_DAYS, Campaign, CampaignTruth, Sandbox

TODAY = dt.date(2025, 6, 30)
DS = "/campaigns/data_series"


@pytest.fixture(scope="module")
def sb() -> Sandbox:
    return Sandbox(seed=0, today=TODAY)


@pytest.fixture(scope="module")
def truths(sb: Sandbox) -> dict[str, CampaignTruth]:
    """Every sent campaign's truth, simulated once for the module."""
    return {c.id: sb.truth(c.id) for c in sb.catalogue if c.sent}


def by_name(sb: Sandbox, name: str) -> Campaign:
    return next(c for c in sb.catalogue if c.name == name)


def call(sb: Sandbox, path: str, **params: Any) -> dict[str, Any]:
    status, body = sb.handle_request(path, params)
    assert status == 200, body
    return body


def entries(day: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for channel, items in day["messages"].items():
        for entry in items or ():
            yield channel, entry


# ------------------------------------------------------------------------------ realism


def test_email_engagement_lands_after_the_send_and_weekly_rates_exceed_send_day_rates(
        sb: Sandbox, truths: dict[str, CampaignTruth]) -> None:
    truth = truths[by_name(sb, "Weekly Newsletter").id]
    days = [truth.days[d] for d in truth.dates]
    quiet = [d["messages"]["email"][0] for d in days if d["messages"]["email"][0]["sent"] == 0]
    assert quiet
    assert sum(e["opens"] for e in quiet) > 0  # opens on days without a send
    assert sum(e["unique_clicks"] for e in quiet) > 0
    # The day-versus-week effect: the send day's open rate undercounts the week's.
    lower = weeks = 0
    for start in range(0, len(days) - 7, 7):
        week = [d["messages"]["email"][0] for d in days[start:start + 7]]
        send = week[0]
        assert send["sent"] > 0
        week_rate = sum(e["unique_opens"] for e in week) / sum(e["delivered"] for e in week)
        weeks += 1
        lower += send["unique_opens"] / send["delivered"] < week_rate
    assert lower == weeks > 50


def test_push_opens_mostly_same_day_some_later(sb: Sandbox,
                                               truths: dict[str, CampaignTruth]) -> None:
    truth = truths[by_name(sb, "Cart Abandonment Push").id]
    email = truths[by_name(sb, "Daily Digest (API)").id]
    email_lags = [sum(c.later[lag]["unique_opens"] for c in email.cohorts) for lag in range(4)]
    assert email_lags[0] > email_lags[1] > email_lags[2] > email_lags[3] > 0
    by_lag = [0, 0, 0]
    for cohort in truth.cohorts:
        for lag, m in enumerate(cohort.later):
            by_lag[lag] += m["direct_opens"]
    # Its conversion window is one day, so engagement is cut at one day after the send.
    assert by_lag[2] == 0
    assert by_lag[0] > 3 * by_lag[1] > 0


def test_engagement_never_lands_after_today_or_after_the_window(
        sb: Sandbox, truths: dict[str, CampaignTruth]) -> None:
    for campaign in sb.catalogue:
        if not campaign.sent:
            continue
        truth = truths[campaign.id]
        for cohort in truth.cohorts:
            assert len(cohort.later) <= campaign.conversion_window_days + 1
        assert max(truth.dates) <= TODAY


def test_sms_sent_minus_sent_to_carrier_is_delivery_failed(
        sb: Sandbox, truths: dict[str, CampaignTruth]) -> None:
    truth = truths[by_name(sb, "SMS Flash Sale").id]
    sms = [d["messages"]["sms"][0] for d in truth.days.values()]
    assert sum(e["delivery_failed"] for e in sms) > 0
    for e in sms:
        assert e["sent"] - e["sent_to_carrier"] == e["delivery_failed"]
        assert e["delivered"] + e["rejected"] <= e["sent_to_carrier"]


def test_no_conversion_after_its_event_window(sb: Sandbox,
                                              truths: dict[str, CampaignTruth]) -> None:
    windows_seen: set[int] = set()
    for campaign in sb.catalogue:
        if not campaign.sent:
            continue
        windows = [b.window_days for b in campaign.conversion_behaviors]
        windows_seen.update(windows)
        truth = truths[campaign.id]
        for batch in truth.batches:
            assert 0 <= batch.lag_days <= windows[batch.event]
    assert {1, 3, 7, 30} <= windows_seen


def test_whole_life_conversion_attributions_agree_for_closed_campaigns(
        sb: Sandbox, truths: dict[str, CampaignTruth]) -> None:
    closed = 0
    for campaign in sb.catalogue:
        if campaign.last_sent is None or (
                campaign.last_sent + dt.timedelta(days=campaign.conversion_window_days) > TODAY):
            continue
        closed += 1
        days = list(truths[campaign.id].days.values())
        for k in range(campaign.n_conversion_keys):
            name = f"conversions{k or ''}"
            assert sum(d[name] for d in days) == sum(d[f"{name}_by_send_time"] for d in days)
    assert closed >= 15


# ----------------------------------------------------------------------- details, lists


def test_conversion_behaviours_have_braze_names_and_windows(sb: Sandbox) -> None:
    cart = call(sb, "/campaigns/details", campaign_id=by_name(sb, "Cart Abandonment Push").id)
    behaviours = cart["conversion_behaviors"]
    assert behaviours[0] == {"type": "Makes Any Purchase", "window": 86_400}
    assert behaviours[1] == {"type": "Starts Session", "window": 86_400, "app_ids": None}
    assert behaviours[2]["type"] == "Performs Custom Event"
    assert isinstance(behaviours[2]["custom_event_name"], str)
    carousel = call(sb, "/campaigns/details", campaign_id=by_name(sb, "Android Carousel Promo").id)
    assert carousel["conversion_behaviors"][0]["type"] == "Makes Specific Purchase"
    assert carousel["conversion_behaviors"][0]["product"] in sb.workspace.products
    loyalty = call(sb, "/campaigns/details", campaign_id=by_name(sb, "Loyalty Journey").id)
    assert [b["window"] // 86_400 for b in loyalty["conversion_behaviors"]] == [30, 1, 30, 3, 30]
    custom = {b.custom_event_name for c in sb.catalogue for b in c.conversion_behaviors}
    assert "signup" in custom


def test_archived_campaigns_that_sent_recently(sb: Sandbox) -> None:
    summer = by_name(sb, "Summer Clearance (archived)")
    active = {c["id"] for c in call(sb, "/campaigns/list")["campaigns"]}
    everything = {c["id"] for c in call(sb, "/campaigns/list", include_archived="true")["campaigns"]}
    assert summer.id not in active
    assert summer.id in everything
    assert everything - active == {c.id for c in sb.catalogue if c.archived}
    assert call(sb, "/campaigns/details", campaign_id=summer.id)["archived"] is True
    archived_recent = [c for c in sb.catalogue if c.archived and c.last_sent is not None
                       and (TODAY - c.last_sent).days <= 730]
    assert len(archived_recent) >= 5
    assert call(sb, DS, campaign_id=summer.id, length=100)["data"]


def test_a_campaign_whose_details_lack_sent_dates_has_data(sb: Sandbox) -> None:
    partner = by_name(sb, "Partner Sync Webhook")
    details = call(sb, "/campaigns/details", campaign_id=partner.id)
    assert "first_sent" not in details
    assert "last_sent" not in details
    assert details["name"] == partner.name
    data = call(sb, DS, campaign_id=partner.id, length=100)["data"]
    assert len(data) > 80
    assert sum(d["messages"]["webhook"][0]["sent"] for d in data) > 0


def test_a_key_without_the_details_permission(sb: Sandbox) -> None:
    key = sb.key_with("campaigns.data_series", "campaigns.list")
    cid = sb.campaign_ids[2]
    assert sb.handle_request(DS, {"campaign_id": cid, "length": 7}, key=key)[0] == 200
    assert sb.handle_request("/campaigns/list", key=key)[0] == 200
    status, body = sb.handle_request("/campaigns/details", {"campaign_id": cid}, key=key)
    assert status == 403
    assert "campaigns.details" in body["message"]


def test_experiment_details_mark_the_control_as_braze_does(sb: Sandbox) -> None:
    campaign = by_name(sb, "Checkout Reminder Experiment")
    messages = call(sb, "/campaigns/details", campaign_id=campaign.id)["messages"]
    control = next(v for v in campaign.variations if v.control)
    assert messages[control.api_id] == {"channel": "ios_push", "type": "control"}
    assert sorted(m["name"] for m in messages.values() if "name" in m) == ["Variant A", "Variant B"]


# ------------------------------------------------------------------------------ renames


def test_rename_shows_in_details_list_and_edit_filter() -> None:
    clock_now = [1_750_000_000.0]
    sb = Sandbox(seed=0, today=TODAY, clock=lambda: clock_now[0])
    campaign = by_name(sb, "Cart Abandonment Push")
    before = call(sb, "/campaigns/details", campaign_id=campaign.id)
    renamed = sb.rename_campaign(campaign.id, "Cart Abandonment Push (v2)")
    assert renamed.name == sb.campaign(campaign.id).name == "Cart Abandonment Push (v2)"
    assert call(sb, "/campaigns/details", campaign_id=campaign.id)["name"] == renamed.name
    listed = {c["id"]: c for c in call(sb, "/campaigns/list")["campaigns"]}
    assert listed[campaign.id]["name"] == renamed.name
    assert listed[campaign.id]["last_edited"] > before["updated_at"]
    since = call(sb, "/campaigns/list", **{"last_edit.time[gt]": before["updated_at"]})
    assert campaign.id in {c["id"] for c in since["campaigns"]}
    assert sb.catalogue[2].name == renamed.name
    # The data do not change with a campaign rename.
    assert sb.truth(campaign.id).days == Sandbox(seed=0, today=TODAY).truth(campaign.id).days


def test_variation_rename_changes_the_served_variation_name() -> None:
    sb = Sandbox(seed=0, today=TODAY)
    campaign = by_name(sb, "Cart Abandonment Push")
    variant = campaign.variations[0]
    old = call(sb, DS, campaign_id=campaign.id, length=3)["data"]
    assert old[-1]["messages"]["ios_push"][0]["variation_name"] == "Variant 1"
    sb.rename_campaign(campaign.id, variations={variant.api_id: "Reminder with coupon"})
    new = call(sb, DS, campaign_id=campaign.id, length=3)["data"]
    assert new[-1]["messages"]["ios_push"][0]["variation_name"] == "Reminder with coupon"
    assert new[-1]["messages"]["ios_push"][0]["sent"] == old[-1]["messages"]["ios_push"][0]["sent"]
    details = call(sb, "/campaigns/details", campaign_id=campaign.id)
    assert details["messages"][variant.api_id]["name"] == "Reminder with coupon"
    with pytest.raises(ValueError, match="no variation"):
        sb.rename_campaign(campaign.id, variations={"Variant 9": "x"})
    with pytest.raises(KeyError):
        sb.rename_campaign("nope", "x")


def test_renames_are_thread_safe_while_serving() -> None:
    with Sandbox(seed=0, today=TODAY) as sb, requests.Session() as http:
        cid = sb.campaign_ids[0]
        errors: list[str] = []

        def rename(worker: int) -> None:
            for i in range(30):
                sb.rename_campaign(cid, f"Newsletter {worker}-{i}")

        def read() -> None:
            for _ in range(30):
                r = http.get(f"{sb.url}/campaigns/details", params={"campaign_id": cid},
                             headers={"Authorization": f"Bearer {sb.api_key}"}, timeout=10)
                if r.status_code != 200 or not r.json()["name"].startswith(("Newsletter", "Weekly")):
                    errors.append(r.text)

        threads = [threading.Thread(target=rename, args=(w,)) for w in range(3)]
        threads.append(threading.Thread(target=read))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors
        final = sb.campaign(cid).name
        assert final.startswith("Newsletter") and final.endswith("-29")
        listed = {c["id"]: c["name"] for c in call(sb, "/campaigns/list")["campaigns"]}
        assert listed[cid] == final


# --------------------------------------------------------------------------- experiments


def cohort_counts(body: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Per variation name: (denominator, cohort conversions) over the body's days."""
    out: dict[str, tuple[int, int]] = {}
    for day in body["data"]:
        for _, e in entries(day):
            n = e["enrolled"] if "enrolled" in e else e["unique_recipients"]
            old = out.get(e["variation_name"], (0, 0))
            out[e["variation_name"]] = (old[0] + n, old[1] + e["conversions_by_send_time"])
    return out


def z_test(a: tuple[int, int], b: tuple[int, int]) -> float:
    (n1, x1), (n2, x2) = a, b
    pooled = (x1 + x2) / (n1 + n2)
    return (x2 / n2 - x1 / n1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))


def experiment_bodies(position: int, seeds: range) -> Iterator[tuple[Sandbox, dict[str, Any]]]:
    for seed in seeds:
        sb = Sandbox(seed=seed, today=TODAY, catalogue="experiments")
        campaign = sb.catalogue[position]
        assert campaign.last_sent is not None
        end = campaign.last_sent + dt.timedelta(days=1)  # exclusive: the 30 days up to last_sent
        status, body = sb.handle_request(DS, {"campaign_id": campaign.id, "length": 30,
                                              "ending_at": end.isoformat()})
        assert status == 200
        assert len(body["data"]) == 30
        yield sb, body


def test_experiment_catalogue_matches_the_whole_catalogue() -> None:
    whole = Sandbox(seed=11, today=TODAY)
    small = Sandbox(seed=11, today=TODAY, catalogue="experiments")
    assert [c.name for c in small.catalogue] == ["Checkout Reminder Experiment",
                                                 "Onboarding Push A/A Test"]
    for campaign in small.catalogue:
        assert campaign.id in whole.campaign_ids
        assert small.truth(campaign.id).days == whole.truth(campaign.id).days
    truth = small.truth(small.campaign_ids[0])
    assert [truth.conversion_probability(v.key) for v in truth.campaign.variations] == [
        0.03, 0.03, 0.036]
    with pytest.raises(KeyError, match="no variation"):
        truth.conversion_probability("nope")
    with pytest.raises(ValueError, match="subset"):
        Sandbox(catalogue="some")  # type: ignore[arg-type]


def test_cohort_rates_converge_on_the_truth_and_counts_are_binomial() -> None:
    started = time.perf_counter()
    pooled: dict[str, list[int]] = {}
    residuals: list[float] = []
    significant = 0
    seeds = range(120)
    for sb, body in experiment_bodies(0, seeds):
        truth = sb.truth(sb.campaign_ids[0]) if not residuals else None
        counts = cohort_counts(body)
        for name, (n, x) in counts.items():
            pooled.setdefault(name, [0, 0])
            pooled[name][0] += n
            pooled[name][1] += x
        significant += abs(z_test(counts["Control Group"], counts["Variant B"])) > 1.96
        probability = {"Control Group": 0.03, "Variant A": 0.03, "Variant B": 0.036}
        if truth is not None:
            assert {v.name: truth.conversion_probability(v.key)
                    for v in truth.campaign.variations} == probability
        for day in body["data"]:
            for _, e in entries(day):
                n = e["enrolled"] if "enrolled" in e else e["unique_recipients"]
                p = probability[e["variation_name"]]
                residuals.append((e["conversions_by_send_time"] - n * p) / math.sqrt(n * p * (1 - p)))
    elapsed = time.perf_counter() - started
    for name, p in (("Control Group", 0.03), ("Variant A", 0.03), ("Variant B", 0.036)):
        n, x = pooled[name]
        assert abs(x / n - p) < 4 * math.sqrt(p * (1 - p) / n), name
    # Per recipient-day Binomial(n, p): standardised residuals have mean 0 and variance 1.
    mean = sum(residuals) / len(residuals)
    variance = sum((r - mean) ** 2 for r in residuals) / (len(residuals) - 1)
    assert len(residuals) == len(seeds) * 30 * 3
    assert abs(mean) < 4 / math.sqrt(len(residuals))
    assert abs(variance - 1) < 0.06
    assert significant / len(seeds) > 0.9  # a 20% lift on ~100,000 per arm is seen
    assert elapsed / len(seeds) < 0.02, f"{len(seeds)} seeds took {elapsed:.1f} s"


def test_a_a_campaign_gives_about_alpha_false_positives_and_is_fast() -> None:
    started = time.perf_counter()
    n_seeds = 250
    positives = 0
    for _, body in experiment_bodies(1, range(1000, 1000 + n_seeds)):
        counts = cohort_counts(body)
        positives += abs(z_test(counts["Variant A"], counts["Variant B"])) > 1.959964
    elapsed = time.perf_counter() - started
    rate = positives / n_seeds
    print(f"\nA/A: {positives}/{n_seeds} false positives ({rate:.1%}); "
          f"{n_seeds} seeds x 30 days in {elapsed:.2f} s ({1000 * elapsed / n_seeds:.1f} ms each)")
    assert 0.01 < rate < 0.10
    # ~400 seeds of an experiment in a few seconds: a sandbox and a 30-day body per seed.
    assert elapsed / n_seeds < 0.02, f"{n_seeds} seeds took {elapsed:.1f} s"


def test_handle_request_matches_http_and_counts_stats() -> None:
    with Sandbox(seed=0, today=TODAY) as sb:
        cid = sb.campaign_ids[2]
        params = {"campaign_id": cid, "length": 10, "ending_at": "2025-06-01"}
        over_http = requests.get(sb.url + DS, params=params, timeout=10,
                                 headers={"Authorization": f"Bearer {sb.api_key}"}).json()
        sb.reset_stats()
        status, body = sb.handle_request(DS, params)
        assert (status, body) == (200, over_http)
        assert sb.stats.by_path == {DS: 1}
        assert sb.handle_request(DS, params, key="wrong-key-123")[0] == 401
        assert sb.handle_request(DS, params, method="POST")[0] == 405
        assert sb.handle_request("/nope")[0] == 404


# --------------------------------------------------------------------------------- sends


def test_sends_of_an_api_campaign(sb: Sandbox) -> None:
    digest = by_name(sb, "Daily Digest (API)")
    sends = sb.send_ids(digest.id)
    assert len(sends) == 61
    recent = next(sid for sid, day in sends.items() if day == TODAY - dt.timedelta(days=5))
    body = call(sb, "/sends/data_series", campaign_id=digest.id, send_id=recent, length=30,
                ending_at=(TODAY + dt.timedelta(days=1)).isoformat())
    days = body["data"]
    sent_on = TODAY - dt.timedelta(days=5)
    assert [d["time"] for d in days] == [
        (sent_on + dt.timedelta(days=i)).isoformat()
        for i in range(digest.conversion_window_days + 1)]
    first = days[0]["messages"]["email"][0]
    assert first["variation_name"] == "Variant 1"
    served = call(sb, DS, campaign_id=digest.id, length=1,
                  ending_at=(sent_on + dt.timedelta(days=1)).isoformat())["data"][0]
    assert first["sent"] == served["messages"]["email"][0]["sent"] > 0
    # Single variation: the send's cohort conversions are the campaign's by send time.
    assert days[0]["conversions_by_send_time"] == served["conversions_by_send_time"]
    assert sum(d["conversions"] for d in days) == days[0]["conversions_by_send_time"]
    assert all(d["messages"]["email"][0]["sent"] == 0 for d in days[1:])
    assert sum(d["messages"]["email"][0]["opens"] for d in days[1:]) > 0

    old = next(sid for sid, day in sends.items() if day == TODAY - dt.timedelta(days=40))
    assert call(sb, "/sends/data_series", campaign_id=digest.id, send_id=old, length=100)["data"] == []
    edge = next(sid for sid, day in sends.items()
                if day == TODAY - dt.timedelta(days=SEND_RETENTION_DAYS))
    edge_days = call(sb, "/sends/data_series", campaign_id=digest.id, send_id=edge, length=100,
                     ending_at=(TODAY + dt.timedelta(days=1)).isoformat())["data"]
    assert [d["time"] for d in edge_days] == [
        (TODAY - dt.timedelta(days=SEND_RETENTION_DAYS - 1 - i)).isoformat()
        for i in range(digest.conversion_window_days)]


def test_push_sends_carry_delivery_fields_and_errors(sb: Sandbox) -> None:
    deal = by_name(sb, "Flash Deal API Push")
    sid = next(s for s, day in sb.send_ids(deal.id).items() if day == TODAY - dt.timedelta(days=2))
    entry = call(sb, "/sends/data_series", campaign_id=deal.id, send_id=sid, length=3)["data"][0][
        "messages"]["ios_push"][0]
    assert {"delivered", "undelivered", "delivery_failed", "direct_opens", "unique_recipients",
            "conversions", "conversions_by_send_time"} <= set(entry)
    assert entry["delivered"] + entry["undelivered"] == entry["sent"]
    assert entry["delivery_failed"] <= entry["undelivered"]
    served = call(sb, DS, campaign_id=deal.id, length=3)["data"][-1]["messages"]["ios_push"][0]
    assert {"delivered", "undelivered", "delivery_failed"} <= set(served)

    for params, fragment in [
        ({"campaign_id": deal.id, "length": 3}, "send_id"),
        ({"campaign_id": deal.id, "send_id": "nope", "length": 3}, "send_id"),
        ({"campaign_id": sb.campaign_ids[0], "send_id": sid, "length": 3}, "API campaign"),
        ({"campaign_id": deal.id, "send_id": sid}, "length"),
        ({"send_id": sid, "length": 3}, "campaign_id"),
    ]:
        status, body = sb.handle_request("/sends/data_series", params)
        assert status == 400
        assert fragment in body["message"]
    key = sb.key_with("campaigns.data_series")
    status, body = sb.handle_request("/sends/data_series",
                                     {"campaign_id": deal.id, "send_id": sid, "length": 3}, key=key)
    assert status == 403
    assert "sends.data_series" in body["message"]
    assert sb.send_ids(sb.campaign_ids[0]) == {}


# --------------------------------------------------------------------------------- today


def test_the_banner_states_today_clearly() -> None:
    past = Sandbox(seed=0, today=dt.date(2020, 1, 15)).start()
    try:
        banner = past.banner()
    finally:
        past.stop()
    assert "TODAY:    2020-01-15" in banner
    assert "before the real date" in banner
    assert "ending_at=2020-01-15" in banner
    with Sandbox(seed=0) as current:
        banner = current.banner()
        assert f"TODAY:    {current.today} (simulated; the real date" in banner
        assert "SIMULATOR" in banner
    assert "today=2020-01-15" in repr(Sandbox(today=dt.date(2020, 1, 15)))
