"""The sandbox's campaigns: a curated set covering every oddity, plus synthetic ones.

Campaigns are plain frozen descriptors; the numbers come from ``_simulate``. Everything is
derived from ``(seed, today)``: ids from the seed and the campaign's position only (so a
campaign keeps its id whatever ``today`` or ``n_campaigns`` is), dates relative to ``today``.

The curated campaigns, by position (``T`` is ``today``; new ones are appended, so the
positions of the first twenty never change)::

    0  Weekly Newsletter                  email, weekly, T-700..T-1, "sms": [] on every day
    1  Spring Sale 2023 (legacy opens)    email A/B, machine_opens/other_opens early on, archived
    2  Cart Abandonment Push              ios_push + control group (enrolled), active, 1-day window
    3  Android Carousel Promo             android_push A/B with carousel/button click keys
    4  Web Push Re-engagement             web_push, weekly
    5  Kindle Reading Reminder            kindle_push, archived
    6  Legacy iOS Launch                  legacy ``apple_push`` key, archived
    7  Order Confirmation Webhook         webhook + control, every channel key present, nulls;
                                          API campaign (``/sends/data_series``)
    8  SMS Flash Sale                     sms, weekly
    9  WhatsApp Order Updates             whats_app
    10 Content Cards Spring Offers        content_cards A/B, 14-day window
    11 Onboarding Multivariate In-App     trigger_in_app_message, 3 variations + control
    12 Feature Announcement               in_app_message, archived
    13 Black Friday Multichannel          email + ios_push, a four-day burst
    14 Loyalty Journey                    android_push, 5 conversion events (conversions4), 30 days
    15 Price Drop Alert                   ios_push entries with only ``variation_name``
    16 Holiday Teaser (draft)             never sent, draft
    17 Welcome Series v2                  never sent
    18 Winback Email Q1                   email, weekly, archived, "content_cards": null
    19 Daily Digest (API)                 email, API campaign, active (``/sends/data_series``)
    20 Summer Clearance (archived)        email, archived, sent T-120..T-25
    21 Partner Sync Webhook               webhook; its details lack ``first_sent``/``last_sent``
    22 Checkout Reminder Experiment       ios_push experiment: control 3%, A 3%, B 3.6% (a real
                                          effect), T-40..T-8, exact binomial conversions
    23 Onboarding Push A/A Test           android_push experiment: control, A and B all 4%
    24 Flash Deal API Push                ios_push API campaign with push ``delivered``,
                                          ``undelivered`` and ``delivery_failed``; sends daily

Conversion behaviours are Braze's (``/campaigns/details``' ``conversion_behaviors``): each
has its own window, and no conversion of an event comes later than its window.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from dataclasses import dataclass
from typing import Any, Final, Literal

from .._schema import IN_APP_CHANNELS, PUSH_CHANNELS
from ._sampling import lag_probabilities

__all__ = [
    "CURATED_COUNT",
    "CUSTOM_EVENTS",
    "PRODUCTS",
    "Cadence",
    "Campaign",
    "ConversionBehavior",
    "Variation",
    "build_catalogue",
    "carries_conversions",
    "lag_probabilities",
]

Cadence = Literal["daily", "weekly"]

#: Channels whose variation entries carry their own revenue, unique_recipients and
#: conversions (SPEC section 2); email, sms, WhatsApp and content cards only have them
#: at day level.
_CARRYING: Final = PUSH_CHANNELS | IN_APP_CHANNELS | {"webhook"}

#: Custom event names campaigns convert on (the workspace's ``/events/list`` has them all).
CUSTOM_EVENTS: Final = ("signup", "add_to_cart", "wishlist_add", "subscription_renewed",
                        "referral_sent")
#: Products, with a unit price in USD; "Makes Specific Purchase" names one of them.
PRODUCTS: Final = (("Premium Plan", 49.99), ("Summer Sandals", 34.5), ("Gift Card", 25.0),
                   ("Coffee Beans 1kg", 17.95), ("Running Shoes", 89.9), ("Phone Case", 14.99))


def carries_conversions(channel: str) -> bool:
    """Say whether a channel's variation entries carry revenue and conversions."""
    return channel in _CARRYING


@dataclass(frozen=True)
class ConversionBehavior:
    """One conversion event of a campaign or Canvas, as ``conversion_behaviors`` lists it.

    Attributes:
        type: Braze's behaviour type: ``"Makes Any Purchase"``, ``"Makes Specific
            Purchase"``, ``"Performs Custom Event"``, ``"Starts Session"``,
            ``"Upgrades App"``...
        window_days: The conversion window in days (Braze sends it in seconds).
        custom_event_name: The event of a ``"Performs Custom Event"`` behaviour.
        product: The product of a ``"Makes Specific Purchase"`` behaviour.
    """

    type: str
    window_days: int
    custom_event_name: str | None = None
    product: str | None = None

    @property
    def window_seconds(self) -> int:
        """The window as Braze sends it."""
        return self.window_days * 86_400

    @property
    def label(self) -> str:
        """The type, plus ``": "`` and the event or product when there is one."""
        detail = self.custom_event_name or self.product
        return f"{self.type}: {detail}" if detail else self.type

    def to_json(self) -> dict[str, Any]:
        """The behaviour as ``/campaigns/details`` and ``/canvas/details`` send it."""
        out: dict[str, Any] = {"type": self.type, "window": self.window_seconds}
        if self.custom_event_name is not None:
            out["custom_event_name"] = self.custom_event_name
        if self.product is not None:
            out["product"] = self.product
        if self.type in ("Starts Session", "Upgrades App"):
            out["app_ids"] = None  # "any app", as Braze sends it
        return out


@dataclass(frozen=True)
class Variation:
    """One message variation (or the control group) of a campaign, in one channel.

    Attributes:
        api_id: The variation's API id (``/campaigns/details`` keys its messages by it).
        name: The name shown in the dashboard (``"Variant 1"``, ``"Control Group"``).
        channel: The ``messages`` key this variation's entries appear under.
        control: True for the control group (``enrolled``, conversions, no sends).
        name_only: True when ``data_series`` entries carry ``variation_name`` but no
            ``variation_api_id`` (an oddity of some real responses).
        weight: Share of the campaign's daily audience.
        lift: Multiplier of the campaign's conversion rates for this variation.
        conversion_probability: Experiments only: the true probability that one recipient
            (one enrolled user, for the control) of a send day converts on the primary
            event within its window.
    """

    api_id: str
    name: str
    channel: str
    control: bool = False
    name_only: bool = False
    weight: float = 1.0
    lift: float = 1.0
    conversion_probability: float | None = None

    @property
    def key(self) -> str:
        """The tidy table's ``variation``: the API id when served, else the name."""
        return self.name if self.name_only else self.api_id


@dataclass(frozen=True)
class Campaign:
    """A campaign of the sandbox's catalogue, with the parameters of its simulation.

    Attributes:
        id: The campaign's API id (uuid-like, deterministic for the seed and position).
        name: Dashboard name (``Sandbox.rename_campaign`` changes it while serving).
        description: Free text.
        channels: The channels its variations send on, in the order responses list them.
        variations: Every variation entry, control groups included.
        first_sent: First send day, or None for a campaign never sent.
        last_sent: Last send day, or None.
        archived: Archived campaigns appear in ``/campaigns/list`` only with
            ``include_archived=true``.
        draft: A draft (never sent).
        tags: Dashboard tags.
        is_api_campaign: An API campaign (``/campaigns/list`` field; ``/sends/data_series``
            serves its sends).
        schedule_type: ``time_based``, ``action_based`` or ``api_triggered``.
        cadence: ``daily`` or ``weekly`` sends between first and last send.
        created_at: Creation time (UTC); ``/campaigns/list`` sorts by it.
        updated_at: Last edit time (UTC).
        conversion_behaviors: The conversion events in order (``conversions``,
            ``conversions1``, ...), each with its own window.
        lag_scale_days: Scale of the truncated exponential lag distribution.
        audience: Typical messages sent per send day, over all variations.
        revenue_per_conversion: Mean order value (USD) of a primary conversion.
        empty_channels: Channel keys served as ``[]`` on every day.
        null_channels: Channel keys served as ``null`` on every day.
        null_metrics: Serve inapplicable entry metrics as ``null`` (control ``sent``,
            variant ``enrolled``), as one Braze client's fixtures do.
        legacy_opens_until: Until this day, email entries carry ``machine_opens`` and
            ``other_opens`` instead of ``machine_open``/``machine_amp_open``.
        dynamic_push_keys: Extra push click keys (``carousel_slide_1_Promo_click``...).
        synthetic: False for the curated campaigns.
        details_sent_dates: False when ``/campaigns/details`` omits ``first_sent`` and
            ``last_sent`` (as some real clients' fixtures do) although the campaign has data.
        experiment: Conversions are drawn exactly Binomial(recipients, p) per send day, with
            ``p`` from each variation's ``conversion_probability`` (see
            ``CampaignTruth.conversion_probability``).
        push_delivery_fields: Push entries also carry ``delivered``, ``undelivered`` and
            ``delivery_failed`` (documented for ``/sends/data_series``).
        revision: Bumped by a variation rename, so served bodies are rebuilt.
    """

    id: str
    name: str
    description: str
    channels: tuple[str, ...]
    variations: tuple[Variation, ...]
    first_sent: dt.date | None
    last_sent: dt.date | None
    archived: bool
    draft: bool
    tags: tuple[str, ...]
    is_api_campaign: bool
    schedule_type: str
    cadence: Cadence
    created_at: dt.datetime
    updated_at: dt.datetime
    conversion_behaviors: tuple[ConversionBehavior, ...]
    lag_scale_days: float
    audience: int
    revenue_per_conversion: float
    empty_channels: tuple[str, ...] = ()
    null_channels: tuple[str, ...] = ()
    null_metrics: bool = False
    legacy_opens_until: dt.date | None = None
    dynamic_push_keys: tuple[str, ...] = ()
    synthetic: bool = False
    details_sent_dates: bool = True
    experiment: bool = False
    push_delivery_fields: bool = False
    revision: int = 0

    @property
    def sent(self) -> bool:
        """True when the campaign has ever sent."""
        return self.first_sent is not None

    @property
    def conversion_events(self) -> tuple[str, ...]:
        """The behaviour types in event order (``conversions``, ``conversions1``, ...)."""
        return tuple(b.type for b in self.conversion_behaviors)

    @property
    def conversion_window_days(self) -> int:
        """The longest conversion window: a campaign's data runs this long after its last send."""
        return max(b.window_days for b in self.conversion_behaviors)

    @property
    def n_conversion_keys(self) -> int:
        """How many ``conversions{k}`` keys responses carry (at least 4, like Braze)."""
        return max(4, len(self.conversion_behaviors))

    def lag_probabilities_for(self, event: int) -> tuple[float, ...]:
        """P(lag = j days) for j = 0..the event's window."""
        return lag_probabilities(self.lag_scale_days, self.conversion_behaviors[event].window_days)

    def mean_lag_days_for(self, event: int) -> float:
        """The exact mean lag of an event's conversions."""
        return sum(j * p for j, p in enumerate(self.lag_probabilities_for(event)))

    @property
    def lag_probabilities(self) -> tuple[float, ...]:
        """P(lag = j days) of the primary event, for j = 0..its window."""
        return self.lag_probabilities_for(0)

    @property
    def mean_lag_days(self) -> float:
        """The exact mean lag of the primary event (the "true" mean lag)."""
        return self.mean_lag_days_for(0)


def _uuid(seed: int, *parts: object) -> str:
    rng = random.Random(":".join(["braze-sandbox", str(seed), *map(str, parts)]))
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class _Plan:
    """What a catalogue entry needs before ids and dates are made concrete."""

    name: str
    variations: tuple[tuple[str, str], ...]  # (channel, name); "Control Group" is the control
    first: int | None  # days before today
    last: int | None
    cadence: Cadence = "daily"
    window: int = 3
    lag_scale: float = 1.0
    events: int = 4
    audience: int = 10_000
    aov: float = 40.0
    archived: bool = False
    draft: bool = False
    tags: tuple[str, ...] = ()
    api: bool = False
    schedule_type: str = "time_based"
    empty: tuple[str, ...] = ()
    null: tuple[str, ...] = ()
    null_metrics: bool = False
    legacy_opens: bool = False
    name_only: bool = False
    dynamic: tuple[str, ...] = ()
    description: str = ""
    first_event: str = "Makes Any Purchase"
    no_sent_dates: bool = False
    probabilities: tuple[float, ...] = ()  # experiments: per variation, in order
    push_fields: bool = False


_CONTROL: Final = "Control Group"
_EVERY_OTHER_CHANNEL: Final = ("ios_push", "android_push", "kindle_push", "web_push", "email",
                               "sms", "whats_app", "content_cards", "in_app_message",
                               "trigger_in_app_message")

_CURATED: Final[tuple[_Plan, ...]] = (
    _Plan("Weekly Newsletter", (("email", "Variant 1"),), 700, 1, cadence="weekly",
          audience=40_000, aov=35.0, lag_scale=1.5, tags=("newsletter",), empty=("sms",),
          description="The weekly newsletter; the recorded shape with an empty sms list."),
    _Plan("Spring Sale 2023 (legacy opens)", (("email", "Variant 1"), ("email", "Variant 2")),
          730, 600, audience=12_000, aov=55.0, lag_scale=0.8, archived=True,
          legacy_opens=True, tags=("sale", "2023"),
          description="Older email whose early days carry machine_opens/other_opens."),
    _Plan("Cart Abandonment Push", (("ios_push", "Variant 1"), ("ios_push", _CONTROL)),
          540, 0, window=1, lag_scale=0.4, audience=3_000, aov=62.0,
          schedule_type="action_based", tags=("lifecycle", "ecommerce"),
          description="Triggered push with a control group."),
    _Plan("Android Carousel Promo", (("android_push", "Variant 1"), ("android_push", "Variant 2")),
          210, 30, window=7, lag_scale=2.0, audience=8_000, aov=30.0, tags=("promo",),
          dynamic=("carousel_slide_1_Promo_click", "carousel_slide_2_Sale_click",
                   "notif_button_2_Buy_click"), first_event="Makes Specific Purchase",
          description="Carousel push with per-slide and per-button click keys."),
    _Plan("Web Push Re-engagement", (("web_push", "Variant 1"),), 365, 95, cadence="weekly",
          window=7, lag_scale=1.5, audience=15_000, aov=25.0, tags=("reengagement",)),
    _Plan("Kindle Reading Reminder", (("kindle_push", "Variant 1"),), 480, 300, audience=2_000,
          lag_scale=2.0, aov=12.0, archived=True, tags=("engagement",)),
    _Plan("Legacy iOS Launch", (("apple_push", "Variant 1"),), 729, 640, audience=5_000,
          lag_scale=1.2, aov=20.0, archived=True, tags=("legacy",),
          description="Old campaign served under the legacy apple_push key."),
    _Plan("Order Confirmation Webhook", (("webhook", "Variant 1"), ("webhook", _CONTROL)),
          300, 0, audience=6_000, aov=45.0, lag_scale=0.6, api=True,
          schedule_type="api_triggered", null=_EVERY_OTHER_CHANNEL, null_metrics=True,
          tags=("transactional",),
          description="Every channel key present, unused ones null; control metrics null."),
    _Plan("SMS Flash Sale", (("sms", "Variant 1"),), 182, 14, cadence="weekly", window=1,
          lag_scale=0.3, audience=9_000, aov=28.0, tags=("sale", "sms")),
    _Plan("WhatsApp Order Updates", (("whats_app", "Variant 1"),), 150, 1, audience=4_000,
          aov=22.0, schedule_type="action_based", tags=("transactional",)),
    _Plan("Content Cards Spring Offers",
          (("content_cards", "Variant 1"), ("content_cards", "Variant 2")), 420, 330, window=14,
          lag_scale=3.0, audience=20_000, aov=18.0, tags=("offers",)),
    _Plan("Onboarding Multivariate In-App",
          (("trigger_in_app_message", "Variant 1"), ("trigger_in_app_message", "Variant 2"),
           ("trigger_in_app_message", "Variant 3"), ("trigger_in_app_message", _CONTROL)),
          250, 0, lag_scale=0.8, audience=10_000, aov=15.0, schedule_type="action_based",
          tags=("onboarding", "multivariate")),
    _Plan("Feature Announcement", (("in_app_message", "Variant 1"),), 700, 610, audience=7_000,
          lag_scale=1.5, aov=10.0, archived=True, schedule_type="action_based", tags=("product",)),
    _Plan("Black Friday Multichannel", (("email", "Variant 1"), ("ios_push", "Variant 1")),
          380, 377, window=7, lag_scale=1.2, audience=60_000, aov=80.0,
          tags=("black-friday", "multichannel"),
          description="Email and push; a conversion counts once per channel."),
    _Plan("Loyalty Journey", (("android_push", "Variant 1"), ("android_push", "Variant 2")),
          400, 40, window=30, lag_scale=6.0, events=5, audience=2_500, aov=90.0,
          tags=("loyalty",), description="Five conversion events: conversions .. conversions4."),
    _Plan("Price Drop Alert", (("ios_push", "Variant 1"), ("ios_push", "Variant 2")), 120, 6,
          audience=3_500, lag_scale=2.0, aov=50.0, name_only=True, tags=("alerts",),
          description="Entries carry variation_name but no variation_api_id."),
    _Plan("Holiday Teaser (draft)", (("email", "Variant 1"),), None, None, draft=True,
          tags=("holiday",)),
    _Plan("Welcome Series v2", (("email", "Variant 1"), ("android_push", "Variant 1")),
          None, None, tags=("onboarding",)),
    _Plan("Winback Email Q1", (("email", "Variant 1"),), 520, 430, cadence="weekly",
          window=7, lag_scale=2.5, audience=25_000, aov=40.0, archived=True,
          null=("content_cards",), tags=("winback",)),
    _Plan("Daily Digest (API)", (("email", "Variant 1"),), 60, 0, audience=5_000, aov=20.0,
          api=True, schedule_type="api_triggered", tags=("digest",)),
    # ---- appended in round two; the positions above never change.
    _Plan("Summer Clearance (archived)", (("email", "Variant 1"), ("email", "Variant 2")),
          120, 25, window=7, lag_scale=1.0, audience=18_000, aov=38.0, archived=True,
          tags=("sale", "clearance"),
          description="Archived, yet it sent within the last four months."),
    _Plan("Partner Sync Webhook", (("webhook", "Variant 1"),), 90, 3, audience=2_000,
          aov=30.0, lag_scale=0.8, schedule_type="action_based", no_sent_dates=True,
          tags=("partners",),
          description="Its details lack first_sent and last_sent, yet it has data."),
    _Plan("Checkout Reminder Experiment",
          (("ios_push", _CONTROL), ("ios_push", "Variant A"), ("ios_push", "Variant B")),
          40, 8, window=3, lag_scale=0.7, events=2, audience=9_000, aov=48.0,
          probabilities=(0.03, 0.03, 0.036), schedule_type="action_based",
          tags=("experiment", "multivariate"),
          description="Known truth: control 3%, Variant A 3%, Variant B 3.6% per recipient."),
    _Plan("Onboarding Push A/A Test",
          (("android_push", _CONTROL), ("android_push", "Variant A"),
           ("android_push", "Variant B")),
          40, 8, window=3, lag_scale=0.7, events=2, audience=9_000, aov=25.0,
          probabilities=(0.04, 0.04, 0.04), schedule_type="action_based",
          tags=("experiment", "a/a"),
          description="Known truth: no effect, every variation converts 4% per recipient."),
    _Plan("Flash Deal API Push", (("ios_push", "Variant 1"),), 90, 0, audience=4_000,
          aov=33.0, lag_scale=0.5, api=True, schedule_type="api_triggered", push_fields=True,
          tags=("deals",),
          description="API push with delivered/undelivered/delivery_failed; daily sends."),
)

#: How many curated campaigns come first in every catalogue.
CURATED_COUNT: Final = len(_CURATED)

_SYNTHETIC_SHAPES: Final[tuple[tuple[str, int, bool], ...]] = (
    # (channel, max variations, control allowed)
    ("email", 3, False), ("ios_push", 3, True), ("android_push", 3, True),
    ("web_push", 2, False), ("webhook", 2, True), ("sms", 2, False), ("whats_app", 1, False),
    ("content_cards", 2, False), ("trigger_in_app_message", 4, True),
    ("in_app_message", 2, False),
)


def _synthetic_plan(seed: int, index: int) -> _Plan:
    rng = random.Random(f"braze-sandbox:{seed}:plan:{index}")
    channel, max_vars, control_ok = rng.choice(_SYNTHETIC_SHAPES)
    n_vars = rng.randint(1, max_vars)
    variations = [(channel, f"Variant {i + 1}") for i in range(n_vars)]
    if control_ok and rng.random() < 0.35:
        variations.append((channel, _CONTROL))
    cadence: Cadence = "weekly" if rng.random() < 0.3 else "daily"
    first: int | None = None
    last: int | None = None
    if rng.random() >= 0.04:
        first = rng.randint(0, 720)
        last = max(0, first - rng.randint(0, 300))
    ended = last is not None and last > 0
    return _Plan(
        name=f"Synthetic {channel} {index:04d}",
        variations=tuple(variations),
        first=first,
        last=last,
        cadence=cadence,
        window=rng.choice((1, 3, 3, 3, 7, 14, 30)),
        lag_scale=round(rng.uniform(0.3, 4.0), 2),
        events=rng.randint(1, 4),
        audience=int(math.exp(rng.uniform(math.log(300), math.log(30_000)))),
        aov=round(rng.uniform(5.0, 120.0), 2),
        archived=ended and rng.random() < 0.2,
        tags=(rng.choice(("promo", "lifecycle", "newsletter", "transactional")),),
        schedule_type=rng.choice(("time_based", "action_based", "api_triggered")),
    )


def behaviours(index: int, events: int, window: int,
               first_event: str = "Makes Any Purchase") -> tuple[ConversionBehavior, ...]:
    """The conversion behaviours of a catalogue entry: Braze's types, windows per event.

    The primary event keeps the entry's window (its longest); a session conversion has a
    day, an app upgrade at most three; the custom event and product rotate with ``index``.

    Examples:
        >>> [b.label for b in behaviours(0, 3, 7)]
        ['Makes Any Purchase', 'Starts Session', 'Performs Custom Event: signup']
        >>> [b.window_days for b in behaviours(0, 5, 30)]
        [30, 1, 30, 3, 30]
    """
    custom = CUSTOM_EVENTS[index % len(CUSTOM_EVENTS)]
    product = PRODUCTS[index % len(PRODUCTS)][0]
    first = (ConversionBehavior(first_event, window, product=product)
             if first_event == "Makes Specific Purchase"
             else ConversionBehavior(first_event, window))
    rest = (
        ConversionBehavior("Starts Session", 1),
        ConversionBehavior("Performs Custom Event", window, custom_event_name=custom),
        ConversionBehavior("Upgrades App", min(window, 3)),
        ConversionBehavior("Makes Specific Purchase", window, product=product),
    )
    return ((first, *rest)[: max(1, events)])


def _make(seed: int, index: int, plan: _Plan, today: dt.date, synthetic: bool) -> Campaign:
    cid = _uuid(seed, "campaign", index)
    shape = random.Random(f"braze-sandbox:{seed}:shape:{index}")
    first = None if plan.first is None else today - dt.timedelta(days=plan.first)
    last = None if plan.last is None else today - dt.timedelta(days=plan.last)
    if first is not None and last is not None and plan.cadence == "weekly":
        last = first + dt.timedelta(days=7 * ((last - first).days // 7))

    n_control = sum(name == _CONTROL for _, name in plan.variations)
    n_treated = len(plan.variations) - n_control
    variations = []
    for j, (channel, name) in enumerate(plan.variations):
        control = name == _CONTROL
        # Drawn for treated entries only, as in round one, so dates drawn later stay put.
        lift = 1.0 if control else round(shape.uniform(1.05, 1.35), 3)
        if plan.probabilities:
            weight = 1.0 / len(plan.variations)
        else:
            weight = 0.1 if control else (1.0 - 0.1 * n_control) / n_treated
        variations.append(Variation(
            api_id=_uuid(seed, "variation", index, j),
            name=name,
            channel=channel,
            control=control,
            name_only=plan.name_only and not control,
            weight=weight,
            lift=1.0 if plan.probabilities else lift,
            conversion_probability=plan.probabilities[j] if plan.probabilities else None,
        ))
    channels = tuple(dict.fromkeys(ch for ch, _ in plan.variations))

    anchor = first if first is not None else today - dt.timedelta(days=shape.randint(5, 200))
    created = _at(anchor - dt.timedelta(days=shape.randint(1, 30)), shape.randint(8, 18),
                  shape.randint(0, 59))
    edited_day = min(today - dt.timedelta(days=1),
                     (last or anchor) + dt.timedelta(days=shape.randint(0, 20)))
    updated = max(created, _at(edited_day, shape.randint(0, 23), shape.randint(0, 59)))

    legacy_until = None
    if plan.legacy_opens and first is not None and last is not None:
        legacy_until = first + dt.timedelta(days=(last - first).days // 2)
    return Campaign(
        id=cid,
        name=plan.name,
        description=plan.description,
        channels=channels,
        variations=tuple(variations),
        first_sent=first,
        last_sent=last,
        archived=plan.archived,
        draft=plan.draft,
        tags=plan.tags,
        is_api_campaign=plan.api,
        schedule_type=plan.schedule_type,
        cadence=plan.cadence,
        created_at=created,
        updated_at=updated,
        conversion_behaviors=behaviours(index, plan.events, plan.window, plan.first_event),
        lag_scale_days=plan.lag_scale,
        audience=plan.audience,
        revenue_per_conversion=plan.aov,
        empty_channels=plan.empty,
        null_channels=plan.null,
        null_metrics=plan.null_metrics,
        legacy_opens_until=legacy_until,
        dynamic_push_keys=plan.dynamic,
        synthetic=synthetic,
        details_sent_dates=not plan.no_sent_dates,
        experiment=bool(plan.probabilities),
        push_delivery_fields=plan.push_fields,
    )


#: Catalogue subsets ``build_catalogue`` (and ``Sandbox(catalogue=...)``) can build.
Subset = Literal["all", "experiments"]


def build_catalogue(seed: int, today: dt.date, n_campaigns: int | None = None,
                    subset: Subset = "all") -> tuple[Campaign, ...]:
    """Build the catalogue: the curated campaigns, then synthetic ones up to ``n_campaigns``.

    Args:
        seed: The sandbox seed.
        today: The sandbox's today; campaign dates are relative to it.
        n_campaigns: None for the curated set; fewer keeps the first ones, more appends
            synthetic campaigns.
        subset: ``"experiments"`` keeps only the experiment campaigns (same ids and data
            as in the whole catalogue), for fast many-seed tests.

    Examples:
        >>> import datetime as dt
        >>> cat = build_catalogue(0, dt.date(2025, 6, 30))
        >>> len(cat) == CURATED_COUNT, cat[0].channels
        (True, ('email',))
        >>> [c.name for c in build_catalogue(0, dt.date(2025, 6, 30), subset="experiments")]
        ['Checkout Reminder Experiment', 'Onboarding Push A/A Test']
    """
    if subset not in ("all", "experiments"):
        raise ValueError(f"subset must be 'all' or 'experiments', got {subset!r}")
    total = CURATED_COUNT if n_campaigns is None else n_campaigns
    plans = [(i, p, False) for i, p in enumerate(_CURATED[:total])]
    plans += [(i, _synthetic_plan(seed, i), True) for i in range(len(plans), total)]
    if subset == "experiments":
        plans = [(i, p, s) for i, p, s in plans if p.probabilities]
    return tuple(_make(seed, i, plan, today, synth) for i, plan, synth in plans)
