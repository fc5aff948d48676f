"""The simulation behind the sandbox's numbers, and the per-day JSON it serves.

For each variation and day of a campaign's life the simulation draws the messages sent
(impressions for in-app messages, ``enrolled`` for a control group), derives every other
metric of the channel from them so that the funnel inequalities hold (opens <= delivered <=
sent, unique <= total, ...), then draws conversions per send day and spreads each batch over
a lag of 0..window days. One set of events feeds both attributions: ``conversions{k}``
adds a batch on its conversion day, ``conversions{k}_by_send_time`` on its send day. A
conversion later than ``today`` has not happened yet and is counted in neither.

A campaign's served days run from ``first_sent`` to ``min(last_sent + window, today)``: the
days after the last send carry zero sends and the conversions that were still arriving.
Day-level totals (``unique_recipients``, ``revenue``, ``conversions*``) are sums over every
entry of every channel, control groups included, whether or not the entries show them
(email, sms, WhatsApp and content-card entries do not).

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
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from statistics import NormalDist
from typing import Any, Final, Literal

from .._schema import CHANNEL_SCHEMAS, PUSH_CHANNELS
from ._catalogue import Campaign, Variation, carries_conversions

__all__ = [
    "CampaignTruth",
    "ConversionBatch",
    "SeriesCache",
    "simulate",
    "truth_of",
]

_EVENT_RATES: Final = (0.04, 0.018, 0.009, 0.005, 0.003, 0.002, 0.001)
_ONE_DAY: Final = dt.timedelta(days=1)


# ---------------------------------------------------------------------------- sampling


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method; only called with lam < 15, where it takes a handful of draws.
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


#: Standard normal quantiles at the midpoints of 4096 equal-probability cells: one
#: ``random()`` and an index replace ``gauss()``, which dominated the simulation's time.
_NORMAL: Final = tuple(NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096))


def _normal(rng: random.Random) -> float:
    return _NORMAL[int(rng.random() * 4096)]


def _binom(rng: random.Random, n: int, p: float) -> int:
    """Draw Binomial(n, p), exactly for small n, by Poisson or normal approximation above."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if n <= 24:
        r = rng.random
        return sum(r() < p for _ in range(n))
    mean = n * p
    if mean < 15.0:
        return min(n, _poisson(rng, mean))
    if n - mean < 15.0:
        return n - min(n, _poisson(rng, n - mean))
    x = round(mean + math.sqrt(mean * (1.0 - p)) * _NORMAL[int(rng.random() * 4096)])
    return min(n, max(0, x))


def _allocate(rng: random.Random, n: int, probs: tuple[float, ...],
              cum: list[float]) -> list[int]:
    """Spread n conversions over lags 0..W; unbiased: E[count_j] = n * probs[j]."""
    counts = [0] * len(probs)
    lags = range(len(probs))
    if n <= 24:
        for j in rng.choices(lags, cum_weights=cum, k=n):
            counts[j] += 1
        return counts
    exact = [n * p for p in probs]
    for j, x in enumerate(exact):
        counts[j] = int(x)
    rest = n - sum(counts)
    if rest > 0:
        fractions = [x - c for x, c in zip(exact, counts, strict=True)]
        for j in rng.choices(lags, weights=fractions, k=rest):
            counts[j] += 1
    return counts


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
_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    **{ch: CHANNEL_SCHEMAS[ch] for ch in ("webhook", "sms", "whats_app", "content_cards")},
    "in_app": CHANNEL_SCHEMAS["in_app_message"],
}


def _kind(channel: str) -> str:
    if channel == "email":
        return "email"
    if channel in PUSH_CHANNELS:
        return "push"
    if channel in ("trigger_in_app_message", "in_app_message"):
        return "in_app"
    return channel


def _funnel(kind: str, channel: str, rng: random.Random, s: int, e: float,
            legacy: bool, dynamic: tuple[str, ...]) -> tuple[dict[str, int], int]:
    """Metrics of one variation-day from its driver ``s``; returns them and unique_recipients.

    ``e`` scales the engagement rates (a per-variation draw), so variations differ.
    """
    b = _binom
    if kind == "email":
        bounces = b(rng, s, 0.015)
        delivered = s - bounces
        unique_opens = b(rng, delivered, 0.22 * e)
        opens = unique_opens + b(rng, unique_opens, 0.35)
        machine = b(rng, opens, 0.3)
        unique_clicks = b(rng, unique_opens, 0.12 * e)
        clicks = unique_clicks + b(rng, unique_clicks, 0.4)
        m: dict[str, int] = {"sent": s, "opens": opens}
        if legacy:
            m["machine_opens"] = machine
            m["other_opens"] = opens - machine
            m["unique_opens"] = unique_opens
        else:
            m["machine_open"] = machine
            m["unique_opens"] = unique_opens
            m["machine_amp_open"] = b(rng, machine, 0.02)
        m.update(clicks=clicks, unique_clicks=unique_clicks,
                 unsubscribes=b(rng, delivered, 0.002), bounces=bounces, delivered=delivered,
                 reported_spam=b(rng, delivered, 0.0004))
        return m, s - b(rng, s, 0.01)
    if kind == "push":
        bounces = b(rng, s, 0.03)
        reach = s - bounces
        direct = b(rng, reach, 0.045 * e)
        total = direct if channel == "web_push" else direct + b(rng, reach - direct, 0.03)
        m = {"sent": s, "direct_opens": direct, "total_opens": total, "bounces": bounces,
             "body_clicks": b(rng, direct, 0.5)}
        for i, key in enumerate(dynamic):
            m[key] = b(rng, direct, 0.2 / (i + 1))
        return m, s - b(rng, s, 0.06)
    if kind == "webhook":
        return {"sent": s, "errors": b(rng, s, 0.01)}, s - b(rng, s, 0.01)
    if kind == "sms":
        rejected = b(rng, s, 0.01)
        to_carrier = s - rejected
        failed = b(rng, to_carrier, 0.02)
        delivered = to_carrier - failed
        return {"sent": s, "sent_to_carrier": to_carrier, "delivered": delivered,
                "rejected": rejected, "delivery_failed": failed,
                "clicks": b(rng, delivered, 0.05 * e), "opt_out": b(rng, delivered, 0.003),
                "help": b(rng, delivered, 0.0005)}, s - b(rng, s, 0.005)
    if kind == "whats_app":
        failed = b(rng, s, 0.02)
        delivered = s - failed
        return ({"sent": s, "delivered": delivered, "failed": failed,
                 "read": b(rng, delivered, 0.7 * min(e, 1.3))}, s - b(rng, s, 0.005))
    if kind == "content_cards":
        unique_imp = b(rng, s, 0.6)
        total_imp = unique_imp + b(rng, unique_imp, 0.5)
        unique_clicks = b(rng, unique_imp, 0.08 * e)
        unique_dismiss = b(rng, unique_imp - unique_clicks, 0.1)
        return {"sent": s,
                "total_clicks": min(total_imp, unique_clicks + b(rng, unique_clicks, 0.2)),
                "total_dismissals": min(total_imp, unique_dismiss + b(rng, unique_dismiss, 0.1)),
                "total_impressions": total_imp, "unique_clicks": unique_clicks,
                "unique_dismissals": unique_dismiss,
                "unique_impressions": unique_imp}, s - b(rng, s, 0.01)
    # In-app messages: the driver is the impressions count; button clicks are clicks.
    clicks = b(rng, s, 0.1 * e)
    first = b(rng, clicks, 0.5)
    return ({"impressions": s, "clicks": clicks, "first_button_clicks": first,
             "second_button_clicks": b(rng, clicks - first, 0.4)}, s - b(rng, s, 0.12))


def _zeros(kind: str, legacy: bool, dynamic: tuple[str, ...]) -> dict[str, int]:
    keys: tuple[str, ...]
    if kind == "email":
        keys = _EMAIL_LEGACY_KEYS if legacy else _EMAIL_KEYS
    elif kind == "push":
        keys = _PUSH_KEYS + dynamic
    else:
        keys = _KEYS[kind]
    return dict.fromkeys(keys, 0)


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


@dataclass
class _Sim:
    start: dt.date
    days: list[dict[str, Any]]
    sends: dict[str, list[int]]
    batches: list[ConversionBatch]


def _life_end(campaign: Campaign, today: dt.date) -> dt.date | None:
    if campaign.first_sent is None or campaign.last_sent is None:
        return None
    end = min(campaign.last_sent + dt.timedelta(days=campaign.conversion_window_days), today)
    return end if end >= campaign.first_sent else None


def simulate(campaign: Campaign, seed: int, today: dt.date, *, record: bool = False) -> _Sim:
    """Simulate a campaign's whole life: the served day objects, sends and (optionally) events.

    Args:
        campaign: The campaign.
        seed: The sandbox seed.
        today: The sandbox's today; later conversions are not counted.
        record: Keep every conversion batch (for :class:`CampaignTruth`).
    """
    end = _life_end(campaign, today)
    first = campaign.first_sent
    if end is None or first is None or campaign.last_sent is None:
        return _Sim(today, [], {v.key: [] for v in campaign.variations}, [])
    n_days = (end - first).days + 1
    last_i = (campaign.last_sent - first).days
    today_i = (today - first).days
    probs = campaign.lag_probabilities
    cum = [sum(probs[: j + 1]) for j in range(len(probs))]
    n_events = len(campaign.conversion_events)
    n_keys = campaign.n_conversion_keys
    legacy_i = (-1 if campaign.legacy_opens_until is None
                else (campaign.legacy_opens_until - first).days)

    # Daily audience of the whole campaign: weekly cadence sends on first_sent's weekday.
    base = random.Random(f"braze-sandbox:{seed}:{campaign.id}:audience")
    phase = base.uniform(0.0, 2.0 * math.pi)
    rate_factor = base.uniform(0.6, 1.6)
    totals = [0] * n_days
    for i in range(last_i + 1):
        if campaign.cadence == "weekly" and i % 7:
            continue
        weekday = (first + dt.timedelta(days=i)).weekday()
        season = 1.0 + 0.25 * math.sin(phase + 2.0 * math.pi * i / 180.0)
        weekend = 0.75 if campaign.cadence == "daily" and weekday >= 5 else 1.0
        noise = max(0.2, 1.0 + 0.12 * _normal(base))
        totals[i] = round(campaign.audience * season * weekend * noise)

    metrics: dict[str, list[dict[str, int] | None]] = {}
    recipients: dict[str, list[int]] = {}
    drivers: dict[str, list[int]] = {}
    conv: dict[str, list[list[int]]] = {}
    by_send: dict[str, list[list[int]]] = {}
    revenue: dict[str, list[int]] = {}  # cents, by conversion day
    batches: list[ConversionBatch] = []

    for v in campaign.variations:
        rng = random.Random(f"braze-sandbox:{seed}:{campaign.id}:{v.api_id}")
        kind = _kind(v.channel)
        engagement = rng.uniform(0.8, 1.25)
        dynamic = campaign.dynamic_push_keys if kind == "push" else ()
        rates = [_EVENT_RATES[k] * rate_factor * v.lift for k in range(n_events)]
        days_m: list[dict[str, int] | None] = [None] * n_days
        ur = [0] * n_days
        driver = [0] * n_days
        v_conv = [[0] * n_days for _ in range(n_keys)]
        v_bst = [[0] * n_days for _ in range(n_keys)]
        for i in range(n_days):
            s = _binom(rng, totals[i], v.weight) if i <= last_i else 0
            driver[i] = s
            if v.control:
                ur[i] = s
            elif s:
                days_m[i], ur[i] = _funnel(kind, v.channel, rng, s, engagement,
                                           i <= legacy_i, dynamic)
            else:
                days_m[i] = _zeros(kind, i <= legacy_i, dynamic)
            if not ur[i]:
                continue
            for k in range(n_events):
                n = _binom(rng, ur[i], rates[k])
                if not n:
                    continue
                for lag, c in enumerate(_allocate(rng, n, probs, cum)):
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
        # Revenue comes from primary conversions, on the day they happen.
        cents = campaign.revenue_per_conversion * 100
        v_rev = [round(c * cents * max(0.2, 1.0 + 0.25 / math.sqrt(c) * _normal(rng))) if c else 0
                 for c in v_conv[0]]
        metrics[v.key] = days_m
        recipients[v.key] = ur
        drivers[v.key] = driver
        conv[v.key] = v_conv
        by_send[v.key] = v_bst
        revenue[v.key] = v_rev

    days = [_day_object(campaign, first + dt.timedelta(days=i), i, metrics, recipients,
                        conv, by_send, revenue, n_keys)
            for i in range(n_days)]
    return _Sim(first, days, drivers, batches)


def _conversion_fields(conv: list[list[int]], bst: list[list[int]], i: int,
                       n_keys: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in range(n_keys):
        suffix = str(k) if k else ""
        out[f"conversions{suffix}"] = conv[k][i]
        out[f"conversions{suffix}_by_send_time"] = bst[k][i]
    return out


def _entry(campaign: Campaign, v: Variation, i: int, m: dict[str, int] | None,
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
            entry.update(dict.fromkeys(_KEYS.get(_kind(v.channel), _PUSH_KEYS)))
        else:
            entry["enrolled"] = ur
    elif m is not None:
        entry.update(m)
    if carries:
        entry["revenue"] = rev_cents / 100
        entry["unique_recipients"] = ur
        entry.update(_conversion_fields(conv, bst, i, n_keys))
    if campaign.null_metrics:
        entry["enrolled"] = ur if v.control else None
    return entry


def _day_object(campaign: Campaign, day: dt.date, i: int,
                metrics: Mapping[str, list[dict[str, int] | None]],
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
        today: The sandbox's today (conversions after it are not counted).
        dates: The days ``/campaigns/data_series`` can return for this campaign, in order.
        days: The day objects exactly as served, by date.
        sends: Per variation key, per date: messages sent (impressions for in-app
            messages, ``enrolled`` for a control group).
        batches: Every simulated conversion batch, counted or not yet happened.
    """

    campaign: Campaign
    today: dt.date
    dates: tuple[dt.date, ...]
    days: Mapping[dt.date, Mapping[str, Any]]
    sends: Mapping[str, Mapping[dt.date, int]]
    batches: tuple[ConversionBatch, ...]

    @property
    def window_days(self) -> int:
        """The campaign's conversion window in days."""
        return self.campaign.conversion_window_days

    @property
    def mean_lag_days(self) -> float:
        """The simulated lag distribution's exact mean."""
        return self.campaign.mean_lag_days

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
        today=today,
        dates=dates,
        days=dict(zip(dates, sim.days, strict=True)),
        sends={key: dict(zip(dates, values, strict=True)) for key, values in sim.sends.items()},
        batches=tuple(sim.batches),
    )


# ------------------------------------------------------------------ serving cache


@dataclass(frozen=True)
class _Served:
    start: dt.date
    chunks: tuple[bytes, ...]

    def window(self, first: dt.date, last: dt.date) -> bytes:
        lo = max(0, (first - self.start).days)
        hi = min(len(self.chunks), (last - self.start).days + 1)
        return b",".join(self.chunks[lo:hi]) if hi > lo else b""


class SeriesCache:
    """Thread-safe, bounded cache of each campaign's serialised days, built on first use.

    Each day is serialised once; a response is the join of a slice, so a 100-day answer
    costs microseconds. Campaigns are built under their own lock, so a slow build never
    blocks answers for campaigns already built.
    """

    def __init__(self, seed: int, today: dt.date, maxsize: int = 2048) -> None:
        self._seed = seed
        self._today = today
        self._maxsize = maxsize
        self._served: OrderedDict[str, _Served] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, campaign: Campaign) -> _Served:
        """Return a campaign's served days, simulating it on first use."""
        with self._lock:
            served = self._served.get(campaign.id)
            if served is not None:
                self._served.move_to_end(campaign.id)
                return served
            build_lock = self._locks.setdefault(campaign.id, threading.Lock())
        with build_lock:
            with self._lock:
                served = self._served.get(campaign.id)
            if served is None:
                sim = simulate(campaign, self._seed, self._today)
                chunks = tuple(json.dumps(day, separators=(",", ":")).encode()
                               for day in sim.days)
                served = _Served(sim.start, chunks)
                with self._lock:
                    self._served[campaign.id] = served
                    while len(self._served) > self._maxsize:
                        self._served.popitem(last=False)
        return served

    def data_series(self, campaign: Campaign, first: dt.date, last: dt.date) -> bytes:
        """The body of a successful ``/campaigns/data_series`` answer for [first, last]."""
        return b'{"message":"success","data":[' + self.get(campaign).window(first, last) + b"]}"
