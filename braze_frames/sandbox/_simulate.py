"""The simulation behind the sandbox's campaign numbers, and the per-day JSON it serves.

For each variation and send day (a *cohort*) the simulation draws the messages sent
(impressions for in-app messages, ``enrolled`` for a control group), then the channel's
funnel. Delivery happens on the send day (``sent``, ``bounces``, ``delivered``, SMS
``sent_to_carrier``, ``rejected``, ``delivery_failed``, webhook ``errors``...); engagement
happens later, on the day it happens: opens, clicks, unsubscribes, push opens and body
clicks, SMS clicks and replies, WhatsApp reads, content-card impressions, clicks and
dismissals land 0, 1, 2 or 3 days after the send (mostly the same day; never later than
the campaign's longest conversion window). Within a day, unique counts never exceed totals
and each stage never exceeds the one it derives from (opens derive from the day's unique
opens, clicks from them...); across stages the funnel holds over each cohort and so over
a campaign's life (opens <= delivered, but a day after a weekly send has opens and no
deliveries: the day-versus-week effect on open rates is real here).

SMS follows Braze's glossary: ``sent - sent_to_carrier == delivery_failed``, and
``delivered + rejected <= sent_to_carrier`` (the rest was never confirmed by the carrier).

Conversions are drawn per cohort, per event: Binomial(unique recipients, p) (``enrolled``
for a control group), then spread over a lag of 0..the event's window. One set of events
feeds both attributions: ``conversions{k}`` adds a batch on its conversion day,
``conversions{k}_by_send_time`` on its send day. A conversion (or an open) later than
``today`` has not happened yet and is counted nowhere. Experiment campaigns draw the
binomial exactly (:func:`~._sampling.binom_exact`); the others use a close, faster draw.

A campaign's served days run from ``first_sent`` to ``min(last_sent + longest window,
today)``: the days after the last send carry zero sends and the engagement and conversions
still arriving. Day-level totals (``unique_recipients``, ``revenue``, ``conversions*``) are
sums over every entry of every channel, control groups included, whether or not the
entries show them (email, sms, WhatsApp and content-card entries do not).

Randomness comes from :class:`random.Random` instances seeded by strings that name the
seed, the campaign and the variation, so results depend on nothing but ``(seed, today)``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, Literal

from .._schema import CHANNEL_SCHEMAS, PUSH_CHANNELS
from ._catalogue import Campaign, Variation, carries_conversions
from ._sampling import allocate, binom, binom_exact, cumulative, normal, truncate

__all__ = [
    "ENGAGEMENT_LAGS",
    "CampaignTruth",
    "Cohort",
    "ConversionBatch",
    "SeriesCache",
    "conversion_probabilities",
    "simulate",
    "truth_of",
]

_EVENT_RATES: Final = (0.04, 0.018, 0.009, 0.005, 0.003, 0.002, 0.001)
_ONE_DAY: Final = dt.timedelta(days=1)

#: P(engagement lands j days after the send), per channel kind; truncated to the
#: campaign's longest conversion window. Email is read later than push; cards when the
#: app is next opened.
ENGAGEMENT_LAGS: Final[Mapping[str, tuple[float, ...]]] = {
    "email": (0.62, 0.22, 0.10, 0.06),
    "push": (0.80, 0.14, 0.06),
    "sms": (0.88, 0.10, 0.02),
    "whats_app": (0.75, 0.18, 0.07),
    "content_cards": (0.50, 0.25, 0.15, 0.10),
}


# ----------------------------------------------------------------- channel metric funnels

def _insert_after(keys: tuple[str, ...], extra: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The schema's keys with extras placed after given keys, as recorded bodies order them."""
    return tuple(k for key in keys for k in (key, *extra.get(key, ())))


# The metric lists come from the one schema table; only the recorded extras are added here.
_EMAIL_KEYS: Final = _insert_after(CHANNEL_SCHEMAS["email"], {"opens": ("machine_open",),
                                                                "unique_opens": ("machine_amp_open",)})
_EMAIL_LEGACY_KEYS: Final = _insert_after(CHANNEL_SCHEMAS["email"],
                                          {"opens": ("machine_opens", "other_opens")})
_PUSH_KEYS: Final = CHANNEL_SCHEMAS["ios_push"]
#: Push delivery fields Braze documents for ``/sends/data_series``.
PUSH_DELIVERY_KEYS: Final = ("delivered", "undelivered", "delivery_failed")
_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    **{ch: CHANNEL_SCHEMAS[ch] for ch in ("webhook", "sms", "whats_app", "content_cards")},
    "in_app": CHANNEL_SCHEMAS["in_app_message"],
}


def kind_of(channel: str) -> str:
    """The funnel a channel uses: email, push, in_app, or the channel itself."""
    if channel == "email":
        return "email"
    if channel in PUSH_CHANNELS:
        return "push"
    if channel in ("trigger_in_app_message", "in_app_message"):
        return "in_app"
    return channel


def engagement_lags(kind: str, window_days: int) -> tuple[float, ...]:
    """The engagement lag distribution of a channel kind, cut to the window."""
    return truncate(ENGAGEMENT_LAGS.get(kind, (1.0,)), window_days)


def entry_keys(kind: str, *, legacy: bool = False, dynamic: tuple[str, ...] = (),
               push_fields: bool = False) -> tuple[str, ...]:
    """The metric keys of a channel entry, in the order recorded bodies list them."""
    if kind == "email":
        return _EMAIL_LEGACY_KEYS if legacy else _EMAIL_KEYS
    if kind == "push":
        return _PUSH_KEYS + dynamic + (PUSH_DELIVERY_KEYS if push_fields else ())
    return _KEYS[kind]


def _all_keys(kind: str, dynamic: tuple[str, ...], push_fields: bool) -> tuple[str, ...]:
    if kind == "email":
        return tuple(dict.fromkeys(_EMAIL_KEYS + _EMAIL_LEGACY_KEYS))
    return entry_keys(kind, dynamic=dynamic, push_fields=push_fields)


Metrics = dict[str, int]


def cohort_funnel(kind: str, channel: str, rng: random.Random, s: int, e: float,
                  lags: tuple[float, ...], cum: list[float], dynamic: tuple[str, ...] = (),
                  push_fields: bool = False) -> tuple[Metrics, list[Metrics], int]:
    """One cohort's funnel from its driver ``s`` (sent, or impressions for in-app).

    Returns the send-day metrics, the engagement metrics per lag (0, 1, ... days after the
    send) and the cohort's unique recipients. ``e`` scales the engagement rates (a
    per-variation draw), so variations differ. Email engagement carries ``machine`` and
    ``amp`` counts that :func:`resolve_email` names by the day they land on.
    """
    b = _binom_fast
    n_lags = len(lags)
    if kind == "email":
        bounces = b(rng, s, 0.015)
        delivered = s - bounces
        uo = allocate(rng, b(rng, delivered, 0.22 * e), lags, cum)
        unsub = allocate(rng, b(rng, delivered, 0.002), lags, cum)
        spam = allocate(rng, b(rng, delivered, 0.0004), lags, cum)
        later = []
        for j in range(n_lags):
            u = uo[j]
            opens = u + b(rng, u, 0.35)
            machine = b(rng, opens, 0.3)
            uc = b(rng, u, 0.12 * e)
            later.append({"opens": opens, "unique_opens": u, "machine": machine,
                          "amp": b(rng, machine, 0.02), "clicks": uc + b(rng, uc, 0.4),
                          "unique_clicks": uc, "unsubscribes": unsub[j],
                          "reported_spam": spam[j]})
        return ({"sent": s, "bounces": bounces, "delivered": delivered}, later,
                s - b(rng, s, 0.01))
    if kind == "push":
        bounces = b(rng, s, 0.03)
        reach = s - bounces
        direct_total = b(rng, reach, 0.045 * e)
        direct = allocate(rng, direct_total, lags, cum)
        influenced = ([0] * n_lags if channel == "web_push"
                      else allocate(rng, b(rng, reach - direct_total, 0.03), lags, cum))
        later = []
        for j in range(n_lags):
            d = direct[j]
            m = {"direct_opens": d, "total_opens": d + influenced[j],
                 "body_clicks": b(rng, d, 0.5)}
            for i, key in enumerate(dynamic):
                m[key] = b(rng, d, 0.2 / (i + 1))
            later.append(m)
        now = {"sent": s, "bounces": bounces}
        if push_fields:
            now.update(delivered=reach, undelivered=bounces,
                       delivery_failed=b(rng, bounces, 0.25))
        return now, later, s - b(rng, s, 0.06)
    if kind == "webhook":
        return {"sent": s, "errors": b(rng, s, 0.01)}, [], s - b(rng, s, 0.01)
    if kind == "sms":
        # Braze's glossary: sent = sent_to_carrier + delivery_failed; the carrier then
        # delivers, rejects, or never confirms.
        failed = b(rng, s, 0.02)
        to_carrier = s - failed
        rejected = b(rng, to_carrier, 0.01)
        delivered = to_carrier - rejected - b(rng, to_carrier - rejected, 0.005)
        clicks = allocate(rng, b(rng, delivered, 0.05 * e), lags, cum)
        opt_out = allocate(rng, b(rng, delivered, 0.003), lags, cum)
        helps = allocate(rng, b(rng, delivered, 0.0005), lags, cum)
        later = [{"clicks": clicks[j], "opt_out": opt_out[j], "help": helps[j]}
                 for j in range(n_lags)]
        return ({"sent": s, "sent_to_carrier": to_carrier, "delivered": delivered,
                 "rejected": rejected, "delivery_failed": failed}, later, s - b(rng, s, 0.005))
    if kind == "whats_app":
        failed = b(rng, s, 0.02)
        delivered = s - failed
        reads = allocate(rng, b(rng, delivered, 0.7 * min(e, 1.3)), lags, cum)
        return ({"sent": s, "delivered": delivered, "failed": failed},
                [{"read": x} for x in reads], s - b(rng, s, 0.005))
    if kind == "content_cards":
        unique_imp = allocate(rng, b(rng, s, 0.6), lags, cum)
        later = []
        for j in range(n_lags):
            ui = unique_imp[j]
            total_imp = ui + b(rng, ui, 0.5)
            uc = b(rng, ui, 0.08 * e)
            ud = b(rng, ui - uc, 0.1)
            later.append({"total_clicks": min(total_imp, uc + b(rng, uc, 0.2)),
                          "total_dismissals": min(total_imp, ud + b(rng, ud, 0.1)),
                          "total_impressions": total_imp, "unique_clicks": uc,
                          "unique_dismissals": ud, "unique_impressions": ui})
        return {"sent": s}, later, s - b(rng, s, 0.01)
    # In-app messages: the driver is the impressions count, clicked on display.
    taps = b(rng, s, 0.1 * e)
    first = b(rng, taps, 0.5)
    return ({"impressions": s, "clicks": taps, "first_button_clicks": first,
             "second_button_clicks": b(rng, taps - first, 0.4)}, [], s - b(rng, s, 0.12))


_binom_fast = binom


def resolve_email(m: Metrics, legacy: bool) -> Metrics:
    """Name an email cohort's machine opens by the convention of the day they land on."""
    out = dict(m)
    machine = out.pop("machine", 0)
    amp = out.pop("amp", 0)
    if legacy:
        out["machine_opens"] = machine
        out["other_opens"] = out.get("opens", 0) - machine
    else:
        out["machine_open"] = machine
        out["machine_amp_open"] = amp
    return out


# ------------------------------------------------------------------------- simulation


@dataclass(frozen=True, slots=True)
class ConversionBatch:
    """Conversions of one event, from one variation's sends of one day, on one later day.

    Attributes:
        variation: The variation's key (``Variation.key``: API id, else name).
        channel: The channel of the variation.
        event: The conversion event number (0 for ``conversions``, 1 for ``conversions1``...).
        send_date: The day the messages were sent (enrolled, for a control group).
        conversion_date: The day the conversions happened.
        count: How many.
        counted: False when ``conversion_date`` is after the sandbox's today: such
            conversions have not happened yet and are in neither attribution.
    """

    variation: str
    channel: str
    event: int
    send_date: dt.date
    conversion_date: dt.date
    count: int
    counted: bool

    @property
    def lag_days(self) -> int:
        """Days from send to conversion."""
        return (self.conversion_date - self.send_date).days


@dataclass(frozen=True)
class Cohort:
    """What one variation's sends of one day became (recorded for truth and sends).

    Attributes:
        variation: The variation's key.
        send_date: The send day.
        driver: Messages sent (impressions for in-app, enrolled for a control group).
        recipients: Unique recipients (``enrolled`` for a control group).
        now: Send-day metrics (empty for a control group).
        later: Engagement metrics per lag (0, 1, ... days after the send); email carries
            ``machine``/``amp`` counts (see :func:`resolve_email`).
        conversions: Per event, conversions per lag (0..the event's window), counted or not.
    """

    variation: str
    send_date: dt.date
    driver: int
    recipients: int
    now: Mapping[str, int]
    later: tuple[Mapping[str, int], ...]
    conversions: tuple[tuple[int, ...], ...]


@dataclass
class _Sim:
    start: dt.date
    days: list[dict[str, Any]]
    sends: dict[str, list[int]]
    recipients: dict[str, list[int]]
    batches: list[ConversionBatch]
    cohorts: list[Cohort]


def _life_end(campaign: Campaign, today: dt.date) -> dt.date | None:
    if campaign.first_sent is None or campaign.last_sent is None:
        return None
    end = min(campaign.last_sent + dt.timedelta(days=campaign.conversion_window_days), today)
    return end if end >= campaign.first_sent else None


def _audience_rng(campaign: Campaign, seed: int) -> tuple[random.Random, float, float]:
    """The campaign-wide generator with its first two draws: seasonal phase, rate factor."""
    base = random.Random(f"braze-sandbox:{seed}:{campaign.id}:audience")
    phase = base.uniform(0.0, 2.0 * math.pi)
    rate_factor = base.uniform(0.6, 1.6)
    return base, phase, rate_factor


def conversion_probabilities(campaign: Campaign, seed: int) -> dict[str, tuple[float, ...]]:
    """Per variation key, per event: the true probability that one recipient converts.

    It is per recipient of a send day (per enrolled user for a control group), within the
    event's window. Experiments take the primary event's from their variations; every
    other probability is the campaign's base rate for the event times the variation's lift.
    """
    _, _, rate_factor = _audience_rng(campaign, seed)
    out: dict[str, tuple[float, ...]] = {}
    for v in campaign.variations:
        probs = []
        for k in range(len(campaign.conversion_behaviors)):
            if k == 0 and v.conversion_probability is not None:
                probs.append(v.conversion_probability)
            else:
                probs.append(_EVENT_RATES[k % len(_EVENT_RATES)] * rate_factor * v.lift)
        out[v.key] = tuple(probs)
    return out


def _daily_totals(campaign: Campaign, base: random.Random, phase: float,
                  first: dt.date, n_days: int, last_i: int) -> list[int]:
    """Daily audience of the whole campaign: weekly cadence sends on first_sent's weekday."""
    totals = [0] * n_days
    for i in range(last_i + 1):
        if campaign.cadence == "weekly" and i % 7:
            continue
        weekday = (first + dt.timedelta(days=i)).weekday()
        season = 1.0 + 0.25 * math.sin(phase + 2.0 * math.pi * i / 180.0)
        weekend = 0.75 if campaign.cadence == "daily" and weekday >= 5 else 1.0
        noise = max(0.2, 1.0 + 0.12 * normal(base))
        totals[i] = round(campaign.audience * season * weekend * noise)
    return totals


def simulate(campaign: Campaign, seed: int, today: dt.date, *, record: bool = False) -> _Sim:
    """Simulate a campaign's whole life: the served day objects, sends and (optionally) events.

    Args:
        campaign: The campaign.
        seed: The sandbox seed.
        today: The sandbox's today; later events are not counted.
        record: Keep every conversion batch and cohort (for :class:`CampaignTruth`).
    """
    end = _life_end(campaign, today)
    first = campaign.first_sent
    if end is None or first is None or campaign.last_sent is None:
        empty: dict[str, list[int]] = {v.key: [] for v in campaign.variations}
        return _Sim(today, [], empty, dict(empty), [], [])
    n_days = (end - first).days + 1
    last_i = (campaign.last_sent - first).days
    today_i = (today - first).days
    n_events = len(campaign.conversion_behaviors)
    n_keys = campaign.n_conversion_keys
    window = campaign.conversion_window_days
    event_lags = [campaign.lag_probabilities_for(k) for k in range(n_events)]
    event_cums = [cumulative(p) for p in event_lags]
    legacy_i = (-1 if campaign.legacy_opens_until is None
                else (campaign.legacy_opens_until - first).days)
    draw: Callable[[random.Random, int, float], int] = (
        binom_exact if campaign.experiment else binom)

    base, phase, _ = _audience_rng(campaign, seed)
    totals = _daily_totals(campaign, base, phase, first, n_days, last_i)
    probabilities = conversion_probabilities(campaign, seed)

    metrics: dict[str, list[Metrics | None]] = {}
    recipients: dict[str, list[int]] = {}
    drivers: dict[str, list[int]] = {}
    conv: dict[str, list[list[int]]] = {}
    by_send: dict[str, list[list[int]]] = {}
    revenue: dict[str, list[int]] = {}  # cents, by conversion day
    batches: list[ConversionBatch] = []
    cohorts: list[Cohort] = []

    for v in campaign.variations:
        rng = random.Random(f"braze-sandbox:{seed}:{campaign.id}:{v.api_id}")
        crng = random.Random(f"braze-sandbox:{seed}:{campaign.id}:{v.api_id}:conversions")
        kind = kind_of(v.channel)
        engagement = rng.uniform(0.8, 1.25)
        dynamic = campaign.dynamic_push_keys if kind == "push" else ()
        push_fields = campaign.push_delivery_fields and kind == "push"
        lags = engagement_lags(kind, window)
        lag_cum = cumulative(lags)
        probs = probabilities[v.key]
        acc = ({} if v.control else
               {k: [0] * n_days for k in _all_keys(kind, dynamic, push_fields)})
        ur = [0] * n_days
        driver = [0] * n_days
        v_conv = [[0] * n_days for _ in range(n_keys)]
        v_bst = [[0] * n_days for _ in range(n_keys)]
        for i in range(n_days):
            s = binom(rng, totals[i], v.weight) if i <= last_i else 0
            driver[i] = s
            now: Metrics = {}
            later: list[Metrics] = []
            if v.control:
                ur[i] = s
            elif s:
                now, later, ur[i] = cohort_funnel(kind, v.channel, rng, s, engagement, lags,
                                                  lag_cum, dynamic, push_fields)
                for key, x in now.items():
                    acc[key][i] += x
                for lag, m in enumerate(later):
                    j = i + lag
                    if j > today_i:
                        break  # engagement after today has not happened yet
                    landed = resolve_email(m, j <= legacy_i) if kind == "email" else m
                    for key, x in landed.items():
                        acc[key][j] += x
            if not ur[i]:
                continue
            cohort_conv: list[tuple[int, ...]] = []
            for k in range(n_events):
                n = draw(crng, ur[i], probs[k])
                spread = allocate(crng, n, event_lags[k], event_cums[k]) if n else []
                if record:
                    cohort_conv.append(tuple(spread) or (0,) * len(event_lags[k]))
                for lag, c in enumerate(spread):
                    if not c:
                        continue
                    j = i + lag
                    counted = j <= today_i
                    if counted:
                        v_conv[k][j] += c
                        v_bst[k][i] += c
                    if record:
                        batches.append(ConversionBatch(
                            v.key, v.channel, k, first + dt.timedelta(days=i),
                            first + dt.timedelta(days=j), c, counted))
            if record:
                cohorts.append(Cohort(v.key, first + dt.timedelta(days=i), s, ur[i], now,
                                      tuple(later), tuple(cohort_conv)))
        # Revenue comes from primary conversions, on the day they happen.
        cents = campaign.revenue_per_conversion * 100
        v_rev = [round(c * cents * max(0.2, 1.0 + 0.25 / math.sqrt(c) * normal(crng))) if c else 0
                 for c in v_conv[0]]
        metrics[v.key] = _daily_entries(acc, v.control, kind, dynamic, push_fields, n_days,
                                        legacy_i)
        recipients[v.key] = ur
        drivers[v.key] = driver
        conv[v.key] = v_conv
        by_send[v.key] = v_bst
        revenue[v.key] = v_rev

    days = [_day_object(campaign, first + dt.timedelta(days=i), i, metrics, recipients,
                        conv, by_send, revenue, n_keys)
            for i in range(n_days)]
    return _Sim(first, days, drivers, recipients, batches, cohorts)


def _daily_entries(acc: Mapping[str, list[int]], control: bool, kind: str,
                   dynamic: tuple[str, ...], push_fields: bool, n_days: int,
                   legacy_i: int) -> list[Metrics | None]:
    if control:
        return [None] * n_days
    modern = entry_keys(kind, dynamic=dynamic, push_fields=push_fields)
    legacy = entry_keys(kind, legacy=True) if kind == "email" else modern
    return [{k: acc[k][i] for k in (legacy if i <= legacy_i else modern)}
            for i in range(n_days)]


def conversion_fields(conv: list[list[int]], bst: list[list[int]], i: int,
                      n_keys: int, suffix: str = "_by_send_time") -> dict[str, int]:
    """``conversions{k}`` and their twins of day ``i``, interleaved as entries list them."""
    out: dict[str, int] = {}
    for k in range(n_keys):
        name = f"conversions{k or ''}"
        out[name] = conv[k][i]
        out[f"{name}{suffix}"] = bst[k][i]
    return out


def _entry(campaign: Campaign, v: Variation, i: int, m: Metrics | None,
           ur: int, conv: list[list[int]], bst: list[list[int]], rev_cents: int,
           n_keys: int) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if v.channel != "email" or v.name_only:
        entry["variation_name"] = v.name
    if not v.name_only:
        entry["variation_api_id"] = v.api_id
    carries = carries_conversions(v.channel)
    if v.control:
        if campaign.null_metrics:
            entry.update(dict.fromkeys(_KEYS.get(kind_of(v.channel), _PUSH_KEYS)))
        else:
            entry["enrolled"] = ur
    elif m is not None:
        entry.update(m)
    if carries:
        entry["revenue"] = rev_cents / 100
        entry["unique_recipients"] = ur
        entry.update(conversion_fields(conv, bst, i, n_keys))
    if campaign.null_metrics:
        entry["enrolled"] = ur if v.control else None
    return entry


def _day_object(campaign: Campaign, day: dt.date, i: int,
                metrics: Mapping[str, list[Metrics | None]],
                recipients: Mapping[str, list[int]], conv: Mapping[str, list[list[int]]],
                by_send: Mapping[str, list[list[int]]], revenue: Mapping[str, list[int]],
                n_keys: int) -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for v in campaign.variations:
        key = v.key
        messages.setdefault(v.channel, []).append(
            _entry(campaign, v, i, metrics[key][i], recipients[key][i], conv[key],
                   by_send[key], revenue[key][i], n_keys))
    for channel in campaign.empty_channels:
        messages[channel] = []
    for channel in campaign.null_channels:
        messages[channel] = None

    totals: dict[str, Any] = {}
    for k in range(n_keys):
        suffix = str(k) if k else ""
        totals[f"conversions{suffix}_by_send_time"] = sum(c[k][i] for c in by_send.values())
    for k in range(n_keys):
        suffix = str(k) if k else ""
        totals[f"conversions{suffix}"] = sum(c[k][i] for c in conv.values())
    totals["unique_recipients"] = sum(r[i] for r in recipients.values())
    totals["revenue"] = sum(r[i] for r in revenue.values()) / 100

    # Two key orders seen in recordings: messages first (connector), or last (client fixture).
    if campaign.null_metrics:
        return {"time": day.isoformat(), **totals, "messages": messages}
    return {"time": day.isoformat(), "messages": messages, **totals}


# --------------------------------------------------------------------------- truth


@dataclass(frozen=True)
class CampaignTruth:
    """Ground truth of one simulated campaign, for tests and notebooks.

    Attributes:
        campaign: The campaign's descriptor.
        seed: The sandbox seed.
        today: The sandbox's today (events after it are not counted).
        dates: The days ``/campaigns/data_series`` can return for this campaign, in order.
        days: The day objects exactly as served, by date.
        sends: Per variation key, per date: messages sent (impressions for in-app
            messages, ``enrolled`` for a control group).
        batches: Every simulated conversion batch, counted or not yet happened.
        cohorts: Every variation's send days (:class:`Cohort`), in simulation order.
        probabilities: Per variation key, per event: the true conversion probability.

    Examples:
        >>> import datetime as dt
        >>> from braze_frames.sandbox import Sandbox
        >>> sb = Sandbox(seed=3, today=dt.date(2025, 6, 30), catalogue="experiments")
        >>> truth = sb.truth(sb.campaign_ids[0])
        >>> [round(truth.conversion_probability(v.key), 3) for v in truth.campaign.variations]
        [0.03, 0.03, 0.036]
    """

    campaign: Campaign
    seed: int
    today: dt.date
    dates: tuple[dt.date, ...]
    days: Mapping[dt.date, Mapping[str, Any]]
    sends: Mapping[str, Mapping[dt.date, int]]
    batches: tuple[ConversionBatch, ...]
    cohorts: tuple[Cohort, ...]
    probabilities: Mapping[str, tuple[float, ...]]

    @property
    def window_days(self) -> int:
        """The campaign's longest conversion window in days."""
        return self.campaign.conversion_window_days

    @property
    def mean_lag_days(self) -> float:
        """The simulated lag distribution's exact mean (primary event)."""
        return self.campaign.mean_lag_days

    def conversion_probability(self, variation: str, event: int = 0) -> float:
        """The true probability that one recipient of a send day converts on an event.

        The denominator is the variation's ``unique_recipients`` of that day (``enrolled``
        for a control group); the conversions are the cohort's, as
        ``conversions{k}_by_send_time`` counts them once the event's window has passed.
        For experiment campaigns they are exactly Binomial(recipients, p) per send day.

        Args:
            variation: A variation key (``Variation.key``: the API id, else the name).
            event: 0 for ``conversions``, 1 for ``conversions1``, ...

        Raises:
            KeyError: No such variation.
        """
        try:
            return self.probabilities[variation][event]
        except KeyError:
            raise KeyError(f"no variation {variation!r} in campaign {self.campaign.name!r}; "
                           f"choose from {sorted(self.probabilities)}") from None

    def recipients(self, variation: str | None = None) -> dict[dt.date, int]:
        """Unique recipients per send day (``enrolled`` for a control group).

        Args:
            variation: A variation key, or None for the sum over variations.
        """
        out: dict[dt.date, int] = {}
        for c in self.cohorts:
            if variation in (None, c.variation) and c.recipients:
                out[c.send_date] = out.get(c.send_date, 0) + c.recipients
        return dict(sorted(out.items()))

    def _batches(self, event: int, variation: str | None) -> list[ConversionBatch]:
        return [b for b in self.batches
                if b.counted and b.event == event and variation in (None, b.variation)]

    def conversions(self, event: int = 0, variation: str | None = None, *,
                    by: Literal["conversion", "send"] = "conversion") -> dict[dt.date, int]:
        """Counted conversions per day, by conversion date or by send date.

        Args:
            event: 0 for ``conversions``, 1 for ``conversions1``, ...
            variation: A variation key, or None for every variation (the day-level total).
            by: ``"conversion"`` matches ``conversions{k}``, ``"send"`` matches
                ``conversions{k}_by_send_time``.
        """
        out: dict[dt.date, int] = {}
        for b in self._batches(event, variation):
            day = b.conversion_date if by == "conversion" else b.send_date
            out[day] = out.get(day, 0) + b.count
        return dict(sorted(out.items()))

    @cached_property
    def _totals(self) -> dict[tuple[str | None, int], int]:
        totals: dict[tuple[str | None, int], int] = {}
        for b in self.batches:
            if b.counted:
                for key in ((b.variation, b.event), (None, b.event)):
                    totals[key] = totals.get(key, 0) + b.count
        return totals

    def total(self, event: int = 0, variation: str | None = None) -> int:
        """All counted conversions of an event (both attributions sum to it).

        Args:
            event: 0 for ``conversions``, 1 for ``conversions1``, ...
            variation: A variation key, or None for every variation.
        """
        return self._totals.get((variation, event), 0)

    def observed_mean_lag(self, event: int = 0, variation: str | None = None) -> float | None:
        """Mean lag in days of the counted conversions (None when there are none)."""
        batches = self._batches(event, variation)
        n = sum(b.count for b in batches)
        return sum(b.count * b.lag_days for b in batches) / n if n else None


def truth_of(campaign: Campaign, seed: int, today: dt.date) -> CampaignTruth:
    """Simulate a campaign again, keeping every event, and wrap the result."""
    sim = simulate(campaign, seed, today, record=True)
    dates = tuple(sim.start + dt.timedelta(days=i) for i in range(len(sim.days)))
    return CampaignTruth(
        campaign=campaign,
        seed=seed,
        today=today,
        dates=dates,
        days=dict(zip(dates, sim.days, strict=True)),
        sends={key: dict(zip(dates, values, strict=True)) for key, values in sim.sends.items()},
        batches=tuple(sim.batches),
        cohorts=tuple(sim.cohorts),
        probabilities=conversion_probabilities(campaign, seed),
    )


# ------------------------------------------------------------------ serving cache


@dataclass(frozen=True)
class Aggregates:
    """A campaign's day-level totals, for the workspace series (by conversion date).

    Attributes:
        start: The first served day.
        recipients: ``unique_recipients`` per day.
        conversions: Per event, ``conversions{k}`` per day.
        revenue_cents: ``revenue`` per day, in cents.
    """

    start: dt.date
    recipients: tuple[int, ...]
    conversions: tuple[tuple[int, ...], ...]
    revenue_cents: tuple[int, ...]


@dataclass(frozen=True)
class _Served:
    start: dt.date
    chunks: tuple[bytes, ...]
    aggregates: Aggregates

    def window(self, first: dt.date, last: dt.date) -> bytes:
        lo = max(0, (first - self.start).days)
        hi = min(len(self.chunks), (last - self.start).days + 1)
        return b",".join(self.chunks[lo:hi]) if hi > lo else b""


def _aggregates(campaign: Campaign, sim: _Sim) -> Aggregates:
    n_events = len(campaign.conversion_behaviors)
    return Aggregates(
        start=sim.start,
        recipients=tuple(d["unique_recipients"] for d in sim.days),
        conversions=tuple(tuple(d[f"conversions{k or ''}"] for d in sim.days)
                          for k in range(n_events)),
        revenue_cents=tuple(round(d["revenue"] * 100) for d in sim.days),
    )


class SeriesCache:
    """Thread-safe, bounded cache of each campaign's serialised days, built on first use.

    Each day is serialised once; a response is the join of a slice, so a 100-day answer
    costs microseconds. Campaigns are built under their own lock, so a slow build never
    blocks answers for campaigns already built. Entries are keyed by id and revision: a
    variation rename bumps the revision, and the next answer is built afresh.
    """

    def __init__(self, seed: int, today: dt.date, maxsize: int = 2048) -> None:
        self._seed = seed
        self._today = today
        self._maxsize = maxsize
        self._served: OrderedDict[tuple[str, int], _Served] = OrderedDict()
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, campaign: Campaign) -> _Served:
        """Return a campaign's served days, simulating it on first use."""
        key = (campaign.id, campaign.revision)
        with self._lock:
            served = self._served.get(key)
            if served is not None:
                self._served.move_to_end(key)
                return served
            build_lock = self._locks.setdefault(key, threading.Lock())
        with build_lock:
            with self._lock:
                served = self._served.get(key)
            if served is None:
                sim = simulate(campaign, self._seed, self._today)
                chunks = tuple(json.dumps(day, separators=(",", ":")).encode()
                               for day in sim.days)
                served = _Served(sim.start, chunks, _aggregates(campaign, sim))
                with self._lock:
                    self._served[key] = served
                    while len(self._served) > self._maxsize:
                        self._served.popitem(last=False)
        return served

    def aggregates(self, campaign: Campaign) -> Aggregates:
        """A campaign's day-level totals (simulating it on first use)."""
        return self.get(campaign).aggregates

    def data_series(self, campaign: Campaign, first: dt.date, last: dt.date) -> bytes:
        """The body of a successful ``/campaigns/data_series`` answer for [first, last]."""
        return b'{"message":"success","data":[' + self.get(campaign).window(first, last) + b"]}"
