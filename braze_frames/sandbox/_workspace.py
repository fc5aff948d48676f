"""The workspace's own series: KPIs, sessions, custom events, purchases and segment sizes.

Everything is simulated per app and per day over the workspace's history (the last
:data:`HISTORY_DAYS` days up to ``today``), and the all-apps series is the sum of the apps'
(so they add up exactly). The series are consistent with the campaigns and Canvases:

- ``dau`` of every app is its own organic activity plus its share of the day's campaign
  recipients and Canvas entries, so the all-apps DAU bounds the sum of every campaign's
  ``unique_recipients`` that day; ``mau`` is at least ``dau`` (a 30-day rolling figure);
- ``sessions`` count at least one per active user, plus the "Starts Session" conversions;
- a custom event's ``count`` is its organic count plus every campaign's and Canvas's
  conversions on it ("Performs Custom Event"), by conversion date;
- ``purchase_quantity`` per product is organic plus "Makes Specific Purchase"
  conversions on it plus its share of "Makes Any Purchase" conversions; ``revenue`` is the
  quantity times the product's price; without ``product`` both are the sums over products.

Hours (``unit=hour``, sessions, events and purchases) split each app-day over 24 hours,
so they add up to the day. A ``segment_id`` filter keeps a seeded binomial share of each
app-day (the segment's share of users). The company time zone is UTC; hourly ``time``
values read ``2025-06-29T13:00:00+00:00``.

Oddities, deterministic (the all-apps series only, ``app_id`` absent):

- ``/kpi/uninstalls/data_series`` serves the day ``today - 10`` with ``"uninstalls": null``;
- ``/kpi/new_users/data_series`` leaves out the day ``today - 12``.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ._canvas import Canvas, CanvasCache
from ._catalogue import CUSTOM_EVENTS, PRODUCTS, Campaign, _at, _uuid
from ._sampling import binom, normal, split
from ._simulate import SeriesCache

__all__ = [
    "HISTORY_DAYS",
    "KPI_KINDS",
    "SERIES_ODDITIES",
    "App",
    "Segment",
    "Workspace",
]

#: Days of history before ``today`` (about four years; the campaigns span two).
HISTORY_DAYS: Final = 1460
#: The KPI kinds (``/kpi/<kind>/data_series``).
KPI_KINDS: Final = ("dau", "mau", "new_users", "uninstalls")
#: The oddities of the all-apps series: kind -> (days before today, what happens).
SERIES_ODDITIES: Final[Mapping[str, tuple[int, str]]] = {
    "uninstalls": (10, "null"),
    "new_users": (12, "missing"),
}

_APPS: Final = (("Sandbox Store iOS", "ios", 0.45), ("Sandbox Store Android", "android", 0.40),
                ("Sandbox Store Web", "web", 0.15))
_EXTRA_EVENTS: Final = ("app_rating_prompted", "article_read", "checkout_started",
                        "level_complete", "product_viewed", "search", "share", "video_played",
                        "push_permission_granted", "store_locator_opened")
_SEGMENTS: Final = (
    ("All Users", True, 1.0, ("core",)),
    ("Lapsed Users", True, 0.22, ("lifecycle",)),
    ("High Value Customers", True, 0.06, ("vip",)),
    ("Newsletter Subscribers", True, 0.35, ("email",)),
    ("Android Users", True, 0.40, ("platform",)),
    ("Test Devices", False, 0.001, ("internal",)),
    ("Trial Users", True, 0.12, ("lifecycle",)),
    ("Internal Staff", False, 0.002, ("internal",)),
)
#: Share of a day's events per hour (UTC), busiest in the evening.
_DIURNAL: Final = tuple(0.4 + 0.6 * (1 + math.sin((h - 14) / 24 * 2 * math.pi)) for h in range(24))
_USERS: Final = 180_000


@dataclass(frozen=True)
class App:
    """An app of the workspace (the ``app_id`` filter of the series).

    Attributes:
        id: The app's API id.
        name: Its name.
        platform: ``ios``, ``android`` or ``web`` (web apps have no uninstalls).
        share: Its share of the workspace's users.
    """

    id: str
    name: str
    platform: str
    share: float


@dataclass(frozen=True)
class Segment:
    """A segment (``/segments/list``).

    Attributes:
        id: The segment's API id.
        name: Its name.
        analytics_tracking_enabled: Without it, ``/segments/data_series`` and the
            ``segment_id`` filters answer 400.
        share: Its share of the workspace's users.
        tags: Dashboard tags.
        created_at: Creation time; the list sorts by it.
    """

    id: str
    name: str
    analytics_tracking_enabled: bool
    share: float
    tags: tuple[str, ...]
    created_at: dt.datetime


@dataclass
class _Activity:
    """What the campaigns and Canvases did per workspace day (by conversion date)."""

    recipients: list[int]
    entries: list[int]
    events: dict[str, list[int]]
    any_purchase: list[int]
    products: dict[str, list[int]]
    sessions: list[int]


class Workspace:
    """The workspace's series, simulated lazily and cached (thread-safe).

    Args:
        seed: The sandbox seed.
        today: The sandbox's today.
        campaigns: Returns the campaigns (their aggregates feed DAU, events and purchases).
        cache: The campaigns' serving cache.
        canvases: The Canvases.
        canvas_cache: The Canvases' cache.
        n_events: How many custom event names (None: the curated ones; more appends
            ``custom_event_NNN``).
        n_segments: How many segments (None: the curated eight; more appends
            ``Segment NNN``, every tenth without analytics tracking).
    """

    def __init__(self, seed: int, today: dt.date, campaigns: Callable[[], Sequence[Campaign]],
                 cache: SeriesCache, canvases: Sequence[Canvas], canvas_cache: CanvasCache,
                 *, n_events: int | None = None, n_segments: int | None = None) -> None:
        self.seed = seed
        self.today = today
        self.start = today - dt.timedelta(days=HISTORY_DAYS - 1)
        self._campaigns = campaigns
        self._cache = cache
        self._canvases = tuple(canvases)
        self._canvas_cache = canvas_cache
        self.apps: tuple[App, ...] = tuple(
            App(_uuid(seed, "app", i), name, platform, share)
            for i, (name, platform, share) in enumerate(_APPS))
        self._app_by_id = {a.id: a for a in self.apps}
        names = set(CUSTOM_EVENTS) | set(_EXTRA_EVENTS)
        for c in canvases:
            names |= {b.custom_event_name for b in c.conversion_behaviors if b.custom_event_name}
        curated = sorted(names)
        if n_events is not None and n_events > len(curated):
            curated += [f"custom_event_{i:03d}" for i in range(n_events - len(curated))]
        elif n_events is not None:
            # Fewer keeps the campaigns' conversion events first, then the others.
            keep = list(CUSTOM_EVENTS) + [n for n in curated if n not in CUSTOM_EVENTS]
            curated = keep[:n_events]
        #: Custom event names, sorted as ``/events/list`` sorts them.
        self.events: tuple[str, ...] = tuple(sorted(curated))
        #: Products and their unit prices (USD), sorted by name.
        self.products: dict[str, float] = dict(sorted(PRODUCTS))
        segments = [Segment(_uuid(seed, "segment", i), name, tracked, share, tags,
                            _at(self.start + dt.timedelta(days=30 * i), 10))
                    for i, (name, tracked, share, tags) in enumerate(_SEGMENTS)]
        for i in range(len(segments), n_segments or 0):
            rng = random.Random(f"braze-sandbox:{seed}:segment:{i}")
            segments.append(Segment(_uuid(seed, "segment", i), f"Segment {i:03d}", i % 10 != 9,
                                    round(rng.uniform(0.01, 0.5), 3), ("synthetic",),
                                    _at(self.start + dt.timedelta(days=i), 11)))
        if n_segments is not None:
            segments = segments[:n_segments]
        self.segments: tuple[Segment, ...] = tuple(segments)
        self._segment_by_id = {s.id: s for s in self.segments}
        self._lock = threading.Lock()
        self._activity: _Activity | None = None
        self._series: dict[tuple[str, str | None], tuple[list[int], ...]] = {}

    # ---------------------------------------------------------------- look-ups

    def app(self, app_id: str) -> App | None:
        """The app with this id, or None."""
        return self._app_by_id.get(app_id)

    def segment(self, segment_id: str) -> Segment | None:
        """The segment with this id, or None."""
        return self._segment_by_id.get(segment_id)

    def _index(self, day: dt.date) -> int:
        return (day - self.start).days

    # ------------------------------------------------------------- activity

    def activity(self) -> _Activity:
        """The campaigns' and Canvases' activity per day (simulates them all on first use)."""
        with self._lock:
            if self._activity is None:
                self._activity = self._build_activity()
            return self._activity

    def _build_activity(self) -> _Activity:
        n = HISTORY_DAYS
        act = _Activity([0] * n, [0] * n, {e: [0] * n for e in self.events}, [0] * n,
                        {p: [0] * n for p in self.products}, [0] * n)

        def add(target: list[int], start: dt.date, values: Sequence[int]) -> None:
            offset = self._index(start)
            for i, x in enumerate(values):
                if 0 <= offset + i < n:
                    target[offset + i] += x

        for campaign in self._campaigns():
            agg = self._cache.aggregates(campaign)
            add(act.recipients, agg.start, agg.recipients)
            for behaviour, series in zip(campaign.conversion_behaviors, agg.conversions,
                                         strict=False):
                self._credit(act, behaviour.type, behaviour.custom_event_name, behaviour.product,
                             agg.start, series, add)
        for canvas in self._canvases:
            truth = self._canvas_cache.get(canvas)
            if not truth.dates:
                continue
            add(act.entries, truth.dates[0], [truth.days[d]["total_stats"]["entries"]
                                              for d in truth.dates])
            for k, behaviour in enumerate(canvas.conversion_behaviors):
                name = f"conversions{k or ''}"
                daily = [truth.days[d]["total_stats"][name] for d in truth.dates]
                self._credit(act, behaviour.type, behaviour.custom_event_name, behaviour.product,
                             truth.dates[0], daily, add)
        return act

    @staticmethod
    def _credit(act: _Activity, kind: str, event: str | None, product: str | None,
                start: dt.date, series: Sequence[int],
                add: Callable[[list[int], dt.date, Sequence[int]], None]) -> None:
        if kind == "Performs Custom Event" and event in act.events:
            add(act.events[event], start, series)
        elif kind == "Makes Any Purchase":
            add(act.any_purchase, start, series)
        elif kind == "Makes Specific Purchase" and product in act.products:
            add(act.products[product], start, series)
        elif kind == "Starts Session":
            add(act.sessions, start, series)

    # ---------------------------------------------------------- daily series

    def _users(self, i: int) -> float:
        return _USERS * (1.0 + 0.35 * i / HISTORY_DAYS)

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(":".join(["braze-sandbox", str(self.seed), "ws", *map(str, parts)]))

    def per_app(self, kind: str, key: str | None = None) -> tuple[list[int], ...]:
        """A daily series over the whole history, one list per app (cents for revenue).

        Args:
            kind: ``dau``, ``mau``, ``new_users``, ``uninstalls``, ``sessions``, ``events``
                (``count``), ``purchase_quantity``, ``revenue`` or ``size`` (a segment's).
            key: The event name, the product (None: the sum over products) or the
                segment id.
        """
        cache_key = (kind, key)
        with self._lock:
            found = self._series.get(cache_key)
        if found is not None:
            return found
        built = self._build(kind, key)
        with self._lock:
            self._series[cache_key] = built
        return built

    def _build(self, kind: str, key: str | None) -> tuple[list[int], ...]:
        n = HISTORY_DAYS
        if kind in ("revenue", "purchase_quantity") and key is None:
            parts = [self.per_app(kind, p) for p in self.products]
            return tuple([sum(p[a][i] for p in parts) for i in range(n)]
                         for a in range(len(self.apps)))
        if kind == "mau":
            out = []
            for daily in self.per_app("dau"):
                mau, window = [], 0
                for i, x in enumerate(daily):
                    window += x - (daily[i - 30] if i >= 30 else 0)
                    mau.append(max(x, round(3.4 * window / min(i + 1, 30))))
                out.append(mau)
            return tuple(out)
        if kind == "size":
            segment = self._segment_by_id[key or ""]
            rng = self._rng("size", segment.id)
            phase = rng.uniform(0, 2 * math.pi)
            sizes = [round(self._users(i) * segment.share * (1 + 0.05 * math.sin(phase + i / 40))
                           * max(0.5, 1 + 0.01 * normal(rng))) for i in range(n)]
            return (sizes,)  # segment sizes are not per app
        if kind == "revenue":
            price = round(self.products[key or ""] * 100)
            return tuple([q * price for q in quantity]
                         for quantity in self.per_app("purchase_quantity", key))
        shared = self._shared(kind, key)
        out = []
        for a, app in enumerate(self.apps):
            rng = self._rng(kind, key, app.id)
            rate = self._organic_rate(kind, key, app)
            values = []
            dau = self.per_app("dau")[a] if kind == "sessions" else None
            for i in range(n):
                weekday = (self.start + dt.timedelta(days=i)).weekday()
                weekly = 0.85 if weekday >= 5 else 1.0
                noise = max(0.3, 1.0 + 0.08 * normal(rng))
                if dau is not None:
                    organic = round(dau[i] * (2.2 + 0.3 * normal(rng)))
                    organic = max(dau[i], organic)
                else:
                    organic = round(self._users(i) * app.share * rate * weekly * noise)
                values.append(organic)
            if shared is not None:
                for i, x in enumerate(shared[a]):
                    values[i] += x
            out.append(values)
        return tuple(out)

    def _organic_rate(self, kind: str, key: str | None, app: App) -> float:
        if kind == "dau":
            return 0.11
        if kind == "new_users":
            return 0.0035
        if kind == "uninstalls":
            return 0.0 if app.platform == "web" else 0.0012
        if kind == "events":
            rng = self._rng("event-rate", key)
            return math.exp(rng.uniform(math.log(0.0005), math.log(0.05)))
        if kind == "purchase_quantity":
            rng = self._rng("product-rate", key)
            return math.exp(rng.uniform(math.log(0.0002), math.log(0.002)))
        return 0.0

    def _shared(self, kind: str, key: str | None) -> list[list[int]] | None:
        """The campaigns' and Canvases' part of a series, split over the apps."""
        if kind not in ("dau", "sessions", "events", "purchase_quantity"):
            return None
        act = self.activity()
        if kind == "dau":
            total = [r + e for r, e in zip(act.recipients, act.entries, strict=True)]
        elif kind == "sessions":
            total = act.sessions
        elif kind == "events":
            total = act.events.get(key or "", [0] * HISTORY_DAYS)
        else:
            total = self._product_conversions(key or "")
        rng = self._rng(kind, key, "apps")
        shares = tuple(a.share for a in self.apps)
        columns = [split(rng, x, shares) for x in total]
        return [[col[a] for col in columns] for a in range(len(self.apps))]

    def _product_conversions(self, product: str) -> list[int]:
        """A product's purchase conversions: its specific ones and its share of "any"."""
        act = self.activity()
        with self._lock:
            cached = self._series.get(("any-split", None))
        if cached is None:
            rng = self._rng("any-purchase")
            weights = tuple(1.0 / price for price in self.products.values())
            columns = [split(rng, x, weights) for x in act.any_purchase]
            cached = tuple([col[p] for col in columns] for p in range(len(self.products)))
            with self._lock:
                self._series["any-split", None] = cached
        index = list(self.products).index(product)
        return [a + b for a, b in zip(cached[index], act.products[product], strict=True)]

    # ------------------------------------------------------------- queries

    def daily(self, kind: str, key: str | None = None, app_id: str | None = None,
              segment_id: str | None = None) -> dict[dt.date, int]:
        """A daily series as served (before the oddities), by date.

        Revenue is in cents. ``app_id`` None sums the apps; ``segment_id`` keeps the
        segment's seeded share of each app-day.

        Examples:
            >>> import datetime as dt
            >>> from braze_frames.sandbox import Sandbox
            >>> ws = Sandbox(seed=0, today=dt.date(2025, 6, 30)).workspace
            >>> day = dt.date(2025, 6, 1)
            >>> ws.daily("new_users")[day] == sum(ws.daily("new_users", app_id=a.id)[day] for a in ws.apps)
            True
        """
        return {self.start + dt.timedelta(days=i): v
                for i, v in enumerate(self._values(kind, key, app_id, segment_id,
                                                   range(HISTORY_DAYS)))}

    def _values(self, kind: str, key: str | None, app_id: str | None, segment_id: str | None,
                indices: range) -> list[int]:
        if ((kind == "events" and key not in self.events)
                or (kind in ("revenue", "purchase_quantity") and key is not None
                    and key not in self.products)):
            # Braze counts what was recorded: a name never recorded has zero every day.
            return [0] * len(indices)
        series = self.per_app(kind, key)
        if kind == "size":
            return [series[0][i] for i in indices]
        apps = [a for a, app in enumerate(self.apps) if app_id in (None, app.id)]
        segment = self._segment_by_id.get(segment_id or "")
        out = []
        for i in indices:
            total = 0
            for a in apps:
                x = series[a][i]
                if segment is not None and segment.share < 1.0:
                    rng = self._rng("segment", kind, key, segment.id, a, i)
                    x = binom(rng, x, segment.share)
                total += x
            out.append(total)
        return out

    def hourly(self, kind: str, day: dt.date, key: str | None = None, app_id: str | None = None,
               segment_id: str | None = None) -> list[int]:
        """The 24 hourly values of a day (they sum to the day's value)."""
        i = self._index(day)
        apps = [a for a, app in enumerate(self.apps) if app_id in (None, app.id)]
        hours = [0] * 24
        for a in apps:
            value = self._values(kind, key, self.apps[a].id, segment_id, range(i, i + 1))[0]
            rng = self._rng("hours", kind, key, segment_id, a, i)
            for h, x in enumerate(split(rng, value, _DIURNAL)):
                hours[h] += x
        return hours

    def body(self, kind: str, field: str, first: dt.datetime, last: dt.datetime, *, unit: str,
             key: str | None = None, app_id: str | None = None,
             segment_id: str | None = None) -> dict[str, Any]:
        """The body of a successful series answer from ``first`` to ``last`` (inclusive).

        Days (or hours) outside the history, or after today, are left out.
        """
        data: list[dict[str, Any]] = []
        scale = 100 if kind == "revenue" else 1
        lo = max(first.date(), self.start)
        hi = min(last.date(), self.today)
        if unit == "hour":
            day = lo
            while day <= hi:
                values = self.hourly(kind, day, key, app_id, segment_id)
                for h, x in enumerate(values):
                    moment = dt.datetime(day.year, day.month, day.day, h)
                    if first <= moment <= last:
                        stamp = moment.isoformat() + "+00:00"
                        data.append({"time": stamp, field: x / 100 if scale == 100 else x})
                day += dt.timedelta(days=1)
            return {"data": data, "message": "success"}
        if hi < lo:
            return {"data": [], "message": "success"}
        indices = range(self._index(lo), self._index(hi) + 1)
        values = self._values(kind, key, app_id, segment_id, indices)
        oddity = SERIES_ODDITIES.get(kind) if app_id is None and segment_id is None else None
        odd_day = self.today - dt.timedelta(days=oddity[0]) if oddity else None
        for i, x in zip(indices, values, strict=True):
            day = self.start + dt.timedelta(days=i)
            if oddity is not None and day == odd_day:
                if oddity[1] == "missing":
                    continue
                data.append({"time": day.isoformat(), field: None})
                continue
            data.append({"time": day.isoformat(), field: x / 100 if scale == 100 else x})
        return {"data": data, "message": "success"}
