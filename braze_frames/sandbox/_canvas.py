"""The sandbox's Canvases: catalogue, simulation, ground truth and the bodies served.

A Canvas has variants (one may be a control group, which has entries and conversions but no
steps) and each treated variant has steps, sent a fixed number of days after entry to a
share of its entrants, over one or several channels. Per variant and entry day the
simulation draws the entries, then each step's sends and their channel funnel (the
campaigns' funnel, engagement landing 0..3 days after the send), then conversions per
event: Binomial(entries, p), spread over a lag of 0..the event's window after entry. One
set of conversions feeds both attributions: ``conversions{k}`` on the conversion day,
``conversions{k}_by_entry_time`` on the entry day; over a Canvas's whole life the two
totals are equal. A treated variant's conversion is credited to the last step its user had
received (the latest step sent no later than the conversion), so step conversions add up
to their variant's; a control group's conversions belong to no step.

The catalogue, by position (``T`` is ``today``), with the oddities of real bodies each
placed in a fixed Canvas so tests can find them (see :data:`CANVAS_ODDITIES`)::

    0  Welcome Journey          email x2 in one step, push (iOS + Android), sms, in-app;
                                control; T-200..T        oddity "multi_entry_channel"
    1  Cart Recovery Flow       android push, webhook, email; control; 1-day window;
                                T-150..T-5                oddity "list_stats"
    2  Re-activation Series     email, content cards, WhatsApp, web push; no control;
                                T-200..T-30               oddities "list_stats",
                                "anonymous_entry", "time_suffix"
    3  Weekly Digest Canvas     weekly email + web push; T-182..T-1  oddity "empty_totals"
    4  Subscription Upsell      email, sms (a deleted step), in-app, iOS push; control;
                                archived, T-420..T-300    oddity "deleted_step"
    5  Loyalty Tiers Canvas     email, android push, webhook; T-90..T  oddity "data_list"
    6  Birthday Canvas (draft)  never entered

The oddities, as served:

- ``multi_entry_channel``: the step "Welcome Email" of Canvas 0 lists two ``email`` entries.
- ``list_stats``: ``variant_stats`` and ``step_stats`` are lists of objects carrying their id:
  Canvas 1 under ``api_id`` (variants) and ``id`` (steps), Canvas 2 the other way round.
- ``anonymous_entry``: in Canvas 2's ``step_stats`` list, the step "Push Nudge" carries
  neither ``id`` nor ``api_id`` (only its name).
- ``time_suffix``: Canvas 2's ``time`` values read ``2025-06-01T00:00:00Z``.
- ``empty_totals``: Canvas 3's ``total_stats`` is ``{}`` on every day whose totals are all
  zero (the days between weekly sends).
- ``deleted_step``: Canvas 4's step "Old SMS Reminder" was deleted on ``T-360``; with
  ``include_deleted_step_data=true`` it is served with its stats before that day and as
  ``null`` from that day on; without it, it is absent. ``/canvas/details`` omits it.
- ``data_list``: Canvas 5's ``data`` is a list holding one Canvas object.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from ._catalogue import ConversionBehavior, _at, _uuid
from ._sampling import allocate, binom, cumulative, lag_probabilities, normal
from ._simulate import cohort_funnel, engagement_lags, entry_keys, kind_of, resolve_email

__all__ = [
    "CANVAS_ODDITIES",
    "Canvas",
    "CanvasConversionBatch",
    "CanvasStep",
    "CanvasTruth",
    "CanvasVariant",
    "build_canvases",
    "canvas_truth_of",
]

#: Where each oddity of real ``/canvas/data_series`` bodies lives: oddity -> Canvas positions.
CANVAS_ODDITIES: Final[Mapping[str, tuple[int, ...]]] = {
    "multi_entry_channel": (0,),
    "list_stats": (1, 2),
    "anonymous_entry": (2,),
    "time_suffix": (2,),
    "empty_totals": (3,),
    "deleted_step": (4,),
    "data_list": (5,),
}

_EVENT_RATES: Final = (0.05, 0.02, 0.01, 0.006, 0.004)
#: Engagement lands at most this many days after a step's send.
_ENGAGEMENT_DAYS: Final = 3
_CONTROL: Final = "Control Group"


@dataclass(frozen=True)
class CanvasStep:
    """One message step of a Canvas variant.

    Attributes:
        id: The step's API id.
        name: Its name.
        channels: The channels it sends on, in the order ``messages`` lists them.
        delay_days: Days after entry when it sends.
        reach: Share of the variant's entrants who receive it.
        entries_per_channel: Messages per channel (2 serves two entries in one channel's list).
        message_ids: The ids of its messages (``/canvas/details``), one per channel.
        deleted_on: The day it was deleted, or None.
    """

    id: str
    name: str
    channels: tuple[str, ...]
    delay_days: int
    reach: float
    entries_per_channel: int = 1
    message_ids: tuple[str, ...] = ()
    deleted_on: dt.date | None = None


@dataclass(frozen=True)
class CanvasVariant:
    """A Canvas variant: a path of steps, or the control group (no steps).

    Attributes:
        id: The variant's API id.
        name: Its name (``"Control Group"`` for the control).
        control: True for the control group.
        weight: Share of the Canvas's entries.
        lift: Multiplier of the Canvas's conversion rates.
        steps: Its steps, by delay.
    """

    id: str
    name: str
    control: bool
    weight: float
    lift: float
    steps: tuple[CanvasStep, ...]


@dataclass(frozen=True)
class Canvas:
    """A Canvas of the sandbox's catalogue, with the parameters of its simulation.

    Attributes:
        id: The Canvas's API id.
        name: Its name.
        description: Free text.
        variants: Its variants, the control group last.
        first_entry: First entry day, or None if never entered.
        last_entry: Last entry day, or None.
        archived: Listed only with ``include_archived=true``.
        draft: A draft.
        tags: Dashboard tags.
        schedule_type: ``time_based``, ``action_based``...
        cadence: ``daily`` or ``weekly`` entries.
        created_at: Creation time (UTC).
        updated_at: Last edit time (UTC).
        conversion_behaviors: Conversion events in order, each with its window.
        lag_scale_days: Scale of the truncated exponential conversion lag.
        audience: Typical entries per entry day.
        revenue_per_conversion: Mean order value (USD) of a primary conversion.
        oddities: The oddities its bodies carry (see :data:`CANVAS_ODDITIES`).
        list_id_keys: With ``list_stats``, the keys of the variant and step ids.
    """

    id: str
    name: str
    description: str
    variants: tuple[CanvasVariant, ...]
    first_entry: dt.date | None
    last_entry: dt.date | None
    archived: bool
    draft: bool
    tags: tuple[str, ...]
    schedule_type: str
    cadence: Literal["daily", "weekly"]
    created_at: dt.datetime
    updated_at: dt.datetime
    conversion_behaviors: tuple[ConversionBehavior, ...]
    lag_scale_days: float
    audience: int
    revenue_per_conversion: float
    oddities: frozenset[str] = frozenset()
    list_id_keys: tuple[str, str] = ("api_id", "id")

    @property
    def steps(self) -> tuple[CanvasStep, ...]:
        """Every step of every variant, deleted ones included."""
        return tuple(s for v in self.variants for s in v.steps)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels of its live steps, in order of first use."""
        return tuple(dict.fromkeys(ch for s in self.steps if s.deleted_on is None
                                   for ch in s.channels))

    @property
    def conversion_window_days(self) -> int:
        """The longest conversion window."""
        return max(b.window_days for b in self.conversion_behaviors)

    @property
    def life_days(self) -> int:
        """Days after the last entry that still carry data (conversions, late steps)."""
        delay = max((s.delay_days for s in self.steps), default=0)
        return max(self.conversion_window_days, delay + _ENGAGEMENT_DAYS)


# ---------------------------------------------------------------------------- catalogue

_StepPlan = tuple[str, tuple[str, ...], int, float]  # name, channels, delay, reach


@dataclass(frozen=True)
class _CanvasPlan:
    name: str
    first: int | None
    last: int | None
    variants: tuple[tuple[str, float, tuple[_StepPlan, ...]], ...]
    behaviours: tuple[ConversionBehavior, ...]
    audience: int = 4_000
    lag_scale: float = 1.0
    aov: float = 40.0
    cadence: Literal["daily", "weekly"] = "daily"
    archived: bool = False
    draft: bool = False
    tags: tuple[str, ...] = ()
    schedule_type: str = "action_based"
    oddities: tuple[str, ...] = ()
    multi_entry_step: str | None = None
    deleted_step: tuple[str, int] | None = None  # (name, days before today)
    list_id_keys: tuple[str, str] = ("api_id", "id")
    description: str = ""


_B = ConversionBehavior
_PLANS: Final[tuple[_CanvasPlan, ...]] = (
    _CanvasPlan(
        "Welcome Journey", 200, 0,
        (("Variant 1", 0.45, (("Welcome Email", ("email",), 0, 1.0),
                              ("Day 2 Push", ("ios_push", "android_push"), 2, 0.8),
                              ("Day 5 SMS", ("sms",), 5, 0.5))),
         ("Variant 2", 0.45, (("Welcome Email B", ("email",), 0, 1.0),
                              ("Day 3 In-App", ("in_app_message",), 3, 0.6))),
         (_CONTROL, 0.10, ())),
        (_B("Makes Any Purchase", 7), _B("Performs Custom Event", 3, custom_event_name="signup")),
        audience=5_000, lag_scale=1.5, aov=42.0, tags=("onboarding",),
        oddities=("multi_entry_channel",), multi_entry_step="Welcome Email",
        description="Onboarding over five days; its welcome step sends two emails."),
    _CanvasPlan(
        "Cart Recovery Flow", 150, 5,
        (("Variant 1", 0.45, (("Reminder Push", ("android_push",), 0, 1.0),
                              ("Order Webhook", ("webhook",), 1, 0.7),
                              ("Last Chance Email", ("email",), 2, 0.6))),
         ("Variant 2", 0.45, (("Reminder Email", ("email",), 0, 1.0),
                              ("Coupon Webhook", ("webhook",), 1, 0.5))),
         (_CONTROL, 0.10, ())),
        (_B("Makes Any Purchase", 1), _B("Starts Session", 1)),
        audience=3_000, lag_scale=0.5, aov=58.0, tags=("ecommerce",),
        oddities=("list_stats",),
        description="Stats served as lists: variants under api_id, steps under id."),
    _CanvasPlan(
        "Re-activation Series", 200, 30,
        (("Variant 1", 0.5, (("Comeback Email", ("email",), 0, 1.0),
                             ("Offer Card", ("content_cards",), 1, 0.7),
                             ("WhatsApp Nudge", ("whats_app",), 4, 0.4))),
         ("Variant 2", 0.5, (("Comeback Email B", ("email",), 0, 1.0),
                             ("Push Nudge", ("web_push",), 2, 0.6)))),
        (_B("Performs Custom Event", 14, custom_event_name="subscription_renewed"),
         _B("Makes Any Purchase", 14), _B("Upgrades App", 3)),
        audience=6_000, lag_scale=3.0, aov=30.0, tags=("reengagement",),
        oddities=("list_stats", "anonymous_entry", "time_suffix"), list_id_keys=("id", "api_id"),
        description="Lists with ids the other way round; one step without id; T00:00:00Z times."),
    _CanvasPlan(
        "Weekly Digest Canvas", 182, 1,
        (("Variant 1", 1.0, (("Digest Email", ("email",), 0, 1.0),
                             ("Digest Web Push", ("web_push",), 0, 0.3))),),
        (_B("Makes Any Purchase", 1),),
        audience=20_000, lag_scale=0.4, aov=26.0, cadence="weekly", schedule_type="time_based",
        tags=("digest",), oddities=("empty_totals",),
        description="Weekly; total_stats is {} on the days between sends."),
    _CanvasPlan(
        "Subscription Upsell", 420, 300,
        (("Variant 1", 0.5, (("Upsell Email", ("email",), 0, 1.0),
                             ("Old SMS Reminder", ("sms",), 2, 0.6),
                             ("Upgrade In-App", ("in_app_message",), 4, 0.5))),
         ("Variant 2", 0.4, (("Upsell Push", ("ios_push",), 0, 1.0),)),
         (_CONTROL, 0.10, ())),
        (_B("Makes Specific Purchase", 30, product="Premium Plan"), _B("Upgrades App", 3),
         _B("Starts Session", 1)),
        audience=4_000, lag_scale=5.0, aov=49.0, archived=True, tags=("upsell",),
        oddities=("deleted_step",), deleted_step=("Old SMS Reminder", 360),
        description="Archived; its SMS step was deleted on T-360."),
    _CanvasPlan(
        "Loyalty Tiers Canvas", 90, 0,
        (("Variant 1", 0.5, (("Tier Email", ("email",), 0, 1.0),
                             ("Tier Push", ("android_push",), 1, 0.8),
                             ("CRM Webhook", ("webhook",), 0, 1.0))),
         ("Variant 2", 0.5, (("Tier Email B", ("email",), 0, 1.0),))),
        (_B("Performs Custom Event", 7, custom_event_name="referral_sent"),
         _B("Makes Any Purchase", 7)),
        audience=2_500, lag_scale=1.2, aov=64.0, tags=("loyalty",), oddities=("data_list",),
        description="Its data_series body holds data as a list of one Canvas."),
    _CanvasPlan(
        "Birthday Canvas (draft)", None, None,
        (("Variant 1", 1.0, (("Birthday Email", ("email",), 0, 1.0),)),),
        (_B("Makes Any Purchase", 3),),
        draft=True, tags=("lifecycle",), description="A draft, never entered."),
)


def _make_canvas(seed: int, index: int, plan: _CanvasPlan, today: dt.date) -> Canvas:
    shape = random.Random(f"braze-sandbox:{seed}:canvas-shape:{index}")
    first = None if plan.first is None else today - dt.timedelta(days=plan.first)
    last = None if plan.last is None else today - dt.timedelta(days=plan.last)
    if first is not None and last is not None and plan.cadence == "weekly":
        last = first + dt.timedelta(days=7 * ((last - first).days // 7))
    variants = []
    for j, (name, weight, steps) in enumerate(plan.variants):
        control = name == _CONTROL
        built = []
        for k, (step_name, channels, delay, reach) in enumerate(steps):
            deleted = None
            if plan.deleted_step is not None and plan.deleted_step[0] == step_name:
                deleted = today - dt.timedelta(days=plan.deleted_step[1])
            built.append(CanvasStep(
                id=_uuid(seed, "canvas-step", index, j, k),
                name=step_name,
                channels=channels,
                delay_days=delay,
                reach=reach,
                entries_per_channel=2 if step_name == plan.multi_entry_step else 1,
                message_ids=tuple(_uuid(seed, "canvas-message", index, j, k, m)
                                  for m in range(len(channels))),
                deleted_on=deleted,
            ))
        lift = 1.0 if control else round(shape.uniform(1.0, 1.3), 3)
        variants.append(CanvasVariant(_uuid(seed, "canvas-variant", index, j), name, control,
                                      weight, lift, tuple(built)))
    anchor = first if first is not None else today - dt.timedelta(days=shape.randint(5, 60))
    created = _at(anchor - dt.timedelta(days=shape.randint(1, 20)), shape.randint(8, 18),
                  shape.randint(0, 59))
    edited_day = min(today - dt.timedelta(days=1),
                     (last or anchor) + dt.timedelta(days=shape.randint(0, 10)))
    updated = max(created, _at(edited_day, shape.randint(0, 23), shape.randint(0, 59)))
    return Canvas(
        id=_uuid(seed, "canvas", index),
        name=plan.name,
        description=plan.description,
        variants=tuple(variants),
        first_entry=first,
        last_entry=last,
        archived=plan.archived,
        draft=plan.draft,
        tags=plan.tags,
        schedule_type=plan.schedule_type,
        cadence=plan.cadence,
        created_at=created,
        updated_at=updated,
        conversion_behaviors=plan.behaviours,
        lag_scale_days=plan.lag_scale,
        audience=plan.audience,
        revenue_per_conversion=plan.aov,
        oddities=frozenset(plan.oddities),
        list_id_keys=plan.list_id_keys,
    )


def _synthetic_plan(k: int) -> _CanvasPlan:
    """A Canvas for benchmarks: the shape of "Cart Recovery Flow", no oddity, live 400 days."""
    return replace(_PLANS[1], name=f"Synthetic Canvas {k + 1}", first=400, last=0, oddities=(),
                   tags=("synthetic",), description="A synthetic Canvas (benchmarks).")


def build_canvases(seed: int, today: dt.date, n_canvases: int | None = None) -> tuple[Canvas, ...]:
    """The sandbox's Canvases, in catalogue order.

    Args:
        seed: The sandbox's seed.
        today: The sandbox's today.
        n_canvases: None for the curated Canvases; fewer keeps the first ones; more appends
            synthetic ones (live for the 400 days up to today, without oddities).

    Examples:
        >>> import datetime as dt
        >>> [c.name for c in build_canvases(0, dt.date(2025, 6, 30))][:2]
        ['Welcome Journey', 'Cart Recovery Flow']
        >>> build_canvases(0, dt.date(2025, 6, 30), 9)[-1].name
        'Synthetic Canvas 2'
    """
    plans = list(_PLANS) if n_canvases is None else [
        *_PLANS[:n_canvases], *(_synthetic_plan(k) for k in range(max(0, n_canvases - len(_PLANS))))]
    return tuple(_make_canvas(seed, i, plan, today) for i, plan in enumerate(plans))


# --------------------------------------------------------------------------- simulation


@dataclass(frozen=True, slots=True)
class CanvasConversionBatch:
    """Conversions of one event, from one variant's entries of one day, on one later day.

    Attributes:
        variant: The variant's id.
        step: The id of the step credited, or None (control group).
        event: 0 for ``conversions``, 1 for ``conversions1``...
        entry_date: The day the users entered.
        conversion_date: The day they converted.
        count: How many.
        counted: False after today (not happened yet, in neither attribution).
    """

    variant: str
    step: str | None
    event: int
    entry_date: dt.date
    conversion_date: dt.date
    count: int
    counted: bool


def _conversion_probabilities(canvas: Canvas, seed: int) -> dict[str, tuple[float, ...]]:
    factor = random.Random(f"braze-sandbox:{seed}:{canvas.id}:rates").uniform(0.6, 1.4)
    return {v.id: tuple(_EVENT_RATES[k % len(_EVENT_RATES)] * factor * v.lift
                        for k in range(len(canvas.conversion_behaviors)))
            for v in canvas.variants}


def _credited_step(steps: list[CanvasStep], lag: int, day: dt.date) -> CanvasStep | None:
    """The last live step sent no later than the conversion (``steps`` sorted by delay)."""
    chosen = None
    for step in steps:
        if step.delay_days > lag:
            break
        if step.deleted_on is None or day < step.deleted_on:
            chosen = step
    return chosen or (steps[0] if steps else None)


@dataclass
class _Acc:
    """Per-day accumulators of one thing that carries conversions (a variant or a step)."""

    conv: list[list[int]]
    by_entry: list[list[int]]
    revenue: list[int]

    @classmethod
    def new(cls, n_events: int, n_days: int) -> _Acc:
        return cls([[0] * n_days for _ in range(n_events)],
                   [[0] * n_days for _ in range(n_events)], [0] * n_days)


def _stats(acc: _Acc, i: int, n_events: int) -> dict[str, Any]:
    out: dict[str, Any] = {"revenue": acc.revenue[i] / 100}
    for k in range(n_events):
        name = f"conversions{k or ''}"
        out[name] = acc.conv[k][i]
        out[f"{name}_by_entry_time"] = acc.by_entry[k][i]
    return out


def _simulate_canvas(canvas: Canvas, seed: int, today: dt.date
                     ) -> tuple[list[dt.date], list[dict[str, Any]], dict[str, list[int]],
                                list[CanvasConversionBatch]]:
    first = canvas.first_entry
    last = canvas.last_entry
    if first is None or last is None:
        return [], [], {}, []
    end = min(last + dt.timedelta(days=canvas.life_days), today)
    if end < first:
        return [], [], {}, []
    n_days = (end - first).days + 1
    last_i = (last - first).days
    today_i = (today - first).days
    n_events = len(canvas.conversion_behaviors)
    event_lags = [lag_probabilities(canvas.lag_scale_days, b.window_days)
                  for b in canvas.conversion_behaviors]
    event_cums = [cumulative(p) for p in event_lags]
    probabilities = _conversion_probabilities(canvas, seed)
    # One date per served day, plus the window after the last (conversions not yet counted).
    dates = [first + dt.timedelta(days=i) for i in range(n_days + canvas.life_days + 1)]

    base = random.Random(f"braze-sandbox:{seed}:{canvas.id}:audience")
    phase = base.uniform(0.0, 2.0 * math.pi)
    totals = [0] * n_days
    for i in range(last_i + 1):
        if canvas.cadence == "weekly" and i % 7:
            continue
        season = 1.0 + 0.2 * math.sin(phase + 2.0 * math.pi * i / 120.0)
        totals[i] = round(canvas.audience * season * max(0.2, 1.0 + 0.1 * normal(base)))

    entries: dict[str, list[int]] = {}
    variant_acc: dict[str, _Acc] = {}
    step_acc: dict[str, _Acc] = {}
    # step id -> channel -> entry number -> metric -> per-day values
    messages: dict[str, dict[str, list[dict[str, list[int]]]]] = {}
    batches: list[CanvasConversionBatch] = []
    cents = canvas.revenue_per_conversion * 100

    for v in canvas.variants:
        rng = random.Random(f"braze-sandbox:{seed}:{canvas.id}:{v.id}")
        crng = random.Random(f"braze-sandbox:{seed}:{canvas.id}:{v.id}:conversions")
        engagement = rng.uniform(0.85, 1.2)
        e = [binom(rng, totals[i], v.weight) for i in range(n_days)]
        entries[v.id] = e
        variant_acc[v.id] = _Acc.new(n_events, n_days)
        for step in v.steps:
            step_acc[step.id] = _Acc.new(n_events, n_days)
            per_channel: dict[str, list[dict[str, list[int]]]] = {}
            for channel in step.channels:
                keys = entry_keys(kind_of(channel))
                per_channel[channel] = [{k: [0] * n_days for k in keys}
                                        for _ in range(step.entries_per_channel)]
            messages[step.id] = per_channel
        # Step sends, and their engagement.
        for step in v.steps:
            srng = random.Random(f"braze-sandbox:{seed}:{canvas.id}:{step.id}")
            for i in range(n_days):
                send_i = i + step.delay_days
                if not e[i] or send_i > today_i or send_i >= n_days:
                    continue
                if step.deleted_on is not None and dates[send_i] >= step.deleted_on:
                    continue
                reached = binom(srng, e[i], step.reach)
                for channel in step.channels:
                    kind = kind_of(channel)
                    lags = engagement_lags(kind, _ENGAGEMENT_DAYS)
                    lag_cum = cumulative(lags)
                    parts = ([reached] if step.entries_per_channel == 1
                             else [binom(srng, reached, 0.6)])
                    if step.entries_per_channel > 1:
                        parts.append(reached - parts[0])
                    for n, acc in zip(parts, messages[step.id][channel], strict=True):
                        if not n:
                            continue
                        now, later, _ = cohort_funnel(kind, channel, srng, n, engagement, lags,
                                                      lag_cum)
                        for key, x in now.items():
                            acc[key][send_i] += x
                        for lag, m in enumerate(later):
                            j = send_i + lag
                            if j > today_i or j >= n_days:
                                break
                            landed = resolve_email(m, False) if kind == "email" else m
                            for key, x in landed.items():
                                acc[key][j] += x
        # Conversions, credited to a step (treated variants) and to the variant.
        by_delay = sorted(v.steps, key=lambda s: s.delay_days)
        for i in range(n_days):
            if not e[i]:
                continue
            for k in range(n_events):
                n = binom(crng, e[i], probabilities[v.id][k])
                if not n:
                    continue
                for lag, c in enumerate(allocate(crng, n, event_lags[k], event_cums[k])):
                    if not c:
                        continue
                    j = i + lag
                    day = dates[j]
                    step_hit = _credited_step(by_delay, lag, day)
                    counted = j <= today_i
                    if counted:
                        for acc2 in ([variant_acc[v.id]]
                                     + ([step_acc[step_hit.id]] if step_hit else [])):
                            acc2.conv[k][j] += c
                            acc2.by_entry[k][i] += c
                        if k == 0:
                            rev = round(c * cents * max(0.2, 1.0 + 0.25 / math.sqrt(c) * normal(crng)))
                            variant_acc[v.id].revenue[j] += rev
                            if step_hit:
                                step_acc[step_hit.id].revenue[j] += rev
                    batches.append(CanvasConversionBatch(
                        v.id, step_hit.id if step_hit else None, k, dates[i],
                        day, c, counted))

    days = []
    dates = dates[:n_days]
    for i, day in enumerate(dates):
        total: dict[str, Any] = {"revenue": sum(a.revenue[i] for a in variant_acc.values()) / 100}
        for k in range(n_events):
            name = f"conversions{k or ''}"
            total[name] = sum(a.conv[k][i] for a in variant_acc.values())
            total[f"{name}_by_entry_time"] = sum(a.by_entry[k][i] for a in variant_acc.values())
        total["entries"] = sum(e[i] for e in entries.values())
        variant_stats = {v.id: {"name": v.name, **_stats(variant_acc[v.id], i, n_events),
                                "entries": entries[v.id][i]} for v in canvas.variants}
        step_stats = {}
        for v in canvas.variants:
            for step in v.steps:
                step_stats[step.id] = {
                    "name": step.name, **_stats(step_acc[step.id], i, n_events),
                    "messages": {ch: [{key: values[i] for key, values in acc.items()}
                                      for acc in accs]
                                 for ch, accs in messages[step.id].items()}}
        days.append({"time": day.isoformat(), "total_stats": total,
                     "variant_stats": variant_stats, "step_stats": step_stats})
    return dates, days, entries, batches


# --------------------------------------------------------------------------------- truth


@dataclass(frozen=True)
class CanvasTruth:
    """Ground truth of one simulated Canvas, for tests and notebooks.

    ``days`` holds every day as simulated, before the oddities of :data:`CANVAS_ODDITIES`
    are applied and with deleted steps' data: the values tests compare served bodies with.

    Attributes:
        canvas: The descriptor.
        today: The sandbox's today.
        dates: The days ``/canvas/data_series`` can return, in order.
        days: Per date: ``{"time", "total_stats", "variant_stats", "step_stats"}`` with
            stats keyed by id, as simulated.
        entries_by_variant: Per variant id, per date: entries.
        batches: Every conversion batch, counted or not.
        probabilities: Per variant id, per event: the true conversion probability per entry.

    Examples:
        >>> import datetime as dt
        >>> from braze_frames.sandbox import Sandbox
        >>> sb = Sandbox(seed=0, today=dt.date(2025, 6, 30))
        >>> truth = sb.canvas_truth(sb.canvas_ids[1])
        >>> sum(truth.conversions(by="conversion").values()) == sum(truth.conversions(by="entry").values())
        True
    """

    canvas: Canvas
    today: dt.date
    dates: tuple[dt.date, ...]
    days: Mapping[dt.date, Mapping[str, Any]]
    entries_by_variant: Mapping[str, Mapping[dt.date, int]]
    batches: tuple[CanvasConversionBatch, ...]
    probabilities: Mapping[str, tuple[float, ...]]

    def entries(self, variant: str | None = None) -> dict[dt.date, int]:
        """Entries per day, of one variant (by id) or of the whole Canvas."""
        out: dict[dt.date, int] = {}
        for vid, series in self.entries_by_variant.items():
            if variant in (None, vid):
                for day, n in series.items():
                    out[day] = out.get(day, 0) + n
        return out

    def conversions(self, event: int = 0, variant: str | None = None, step: str | None = None,
                    *, by: Literal["conversion", "entry"] = "conversion") -> dict[dt.date, int]:
        """Counted conversions per day, by conversion date or by entry date.

        Args:
            event: 0 for ``conversions``, 1 for ``conversions1``, ...
            variant: A variant id, or None for the whole Canvas.
            step: A step id (the conversions credited to it), or None.
            by: ``"conversion"`` matches ``conversions{k}``, ``"entry"`` matches
                ``conversions{k}_by_entry_time``.
        """
        out: dict[dt.date, int] = {}
        for b in self.batches:
            if (not b.counted or b.event != event or variant not in (None, b.variant)
                    or step not in (None, b.step)):
                continue
            day = b.conversion_date if by == "conversion" else b.entry_date
            out[day] = out.get(day, 0) + b.count
        return dict(sorted(out.items()))

    def total(self, event: int = 0, variant: str | None = None) -> int:
        """All counted conversions of an event (both attributions sum to it)."""
        return sum(self.conversions(event, variant).values())

    def conversion_probability(self, variant: str, event: int = 0) -> float:
        """The true probability that one entrant of a day converts within the event's window."""
        try:
            return self.probabilities[variant][event]
        except KeyError:
            raise KeyError(f"no variant {variant!r} in Canvas {self.canvas.name!r}; "
                           f"choose from {sorted(self.probabilities)}") from None


def canvas_truth_of(canvas: Canvas, seed: int, today: dt.date) -> CanvasTruth:
    """Simulate a Canvas and wrap the result."""
    dates, days, entries, batches = _simulate_canvas(canvas, seed, today)
    return CanvasTruth(
        canvas=canvas,
        today=today,
        dates=tuple(dates),
        days=dict(zip(dates, days, strict=True)),
        entries_by_variant={vid: dict(zip(dates, series, strict=True))
                            for vid, series in entries.items()},
        batches=tuple(batches),
        probabilities=_conversion_probabilities(canvas, seed),
    )


class CanvasCache:
    """Thread-safe cache of each Canvas's truth, built on first use."""

    def __init__(self, seed: int, today: dt.date) -> None:
        self._seed = seed
        self._today = today
        self._truths: dict[str, CanvasTruth] = {}
        self._lock = threading.Lock()

    def get(self, canvas: Canvas) -> CanvasTruth:
        """The Canvas's truth (simulated once)."""
        with self._lock:
            truth = self._truths.get(canvas.id)
            if truth is None:
                truth = canvas_truth_of(canvas, self._seed, self._today)
                self._truths[canvas.id] = truth
        return truth


# ------------------------------------------------------------------------------ serving


def _as_list(stats: Mapping[str, Any], id_key: str, anonymous: set[str]) -> list[Any]:
    out: list[Any] = []
    for sid, value in stats.items():
        if value is None or sid in anonymous:
            out.append(value)
        else:
            out.append({id_key: sid, **value})
    return out


def canvas_body(truth: CanvasTruth, first: dt.date, last: dt.date, *, variants: bool,
                steps: bool, deleted: bool) -> dict[str, Any]:
    """The body of a successful ``/canvas/data_series`` answer for the days [first, last].

    Args:
        truth: The Canvas's truth.
        first: First day asked for.
        last: Last day asked for.
        variants: ``include_variant_breakdown``.
        steps: ``include_step_breakdown``.
        deleted: ``include_deleted_step_data``.
    """
    canvas = truth.canvas
    odd = canvas.oddities
    deleted_steps = {s.id: s.deleted_on for s in canvas.steps if s.deleted_on is not None}
    anonymous = ({s.id for s in canvas.steps if s.name == "Push Nudge"}
                 if "anonymous_entry" in odd else set())
    variant_key, step_key = canvas.list_id_keys
    stats = []
    for day in truth.dates:
        if not first <= day <= last:
            continue
        source = truth.days[day]
        total = source["total_stats"]
        if "empty_totals" in odd and not any(total.values()):
            total = {}
        item: dict[str, Any] = {
            "time": f"{day.isoformat()}T00:00:00Z" if "time_suffix" in odd else day.isoformat(),
            "total_stats": total,
        }
        if variants:
            v_stats: dict[str, Any] = dict(source["variant_stats"])
            item["variant_stats"] = (_as_list(v_stats, variant_key, set())
                                     if "list_stats" in odd else v_stats)
        if steps:
            s_stats: dict[str, Any] = {}
            for sid, value in source["step_stats"].items():
                if sid in deleted_steps:
                    if not deleted:
                        continue
                    on = deleted_steps[sid]
                    s_stats[sid] = None if on is not None and day >= on else value
                else:
                    s_stats[sid] = value
            item["step_stats"] = (_as_list(s_stats, step_key, anonymous)
                                  if "list_stats" in odd else s_stats)
        stats.append(item)
    data: dict[str, Any] = {"name": canvas.name, "stats": stats}
    return {"data": [data] if "data_list" in odd else data, "message": "success"}
