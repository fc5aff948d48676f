"""A local simulator of Braze's REST API: the demo's, the notebooks', the tests' backend.

It is a simulator and says so: every number comes from a seeded simulation, internally
consistent but not real data. Its ``today`` is fixed when it is built (``Sandbox(today=...)``,
by default the current UTC date): nothing happens after it, and requests without
``ending_at`` end there. A client asking for "the days ending today (UTC)" of a sandbox whose
today is in the past gets no data: read ``sb.today`` (the banner prints it).

What it serves, with Braze's shapes, oddities, errors, permissions and rate limits:

- campaigns: ``/campaigns/data_series``, ``/campaigns/list``, ``/campaigns/details``
  (``_catalogue`` lists the campaigns and their oddities; ``_simulate`` the numbers);
- Canvas: ``/canvas/data_series``, ``/canvas/list``, ``/canvas/details`` (``_canvas``, with
  the oddities of real bodies in fixed Canvases: ``CANVAS_ODDITIES``);
- the workspace series: ``/kpi/{dau,mau,new_users,uninstalls}/data_series``,
  ``/sessions/data_series``, ``/events/list``, ``/events/data_series``,
  ``/purchases/product_list``, ``/purchases/revenue_series``,
  ``/purchases/quantity_series``, ``/segments/list``, ``/segments/data_series``
  (``_workspace``, consistent with the campaigns: DAU bounds their recipients...) and
  ``/sends/data_series`` for API campaigns (Braze keeps 14 days of a send);
- Bearer keys with permissions (``key_with``), one rate-limit budget per endpoint family
  (``_limits``), configurable latency and faults, inclusive or exclusive ``ending_at``.

The public surface, at a glance (each has its own docstring and example):

- ``Sandbox(seed, today=..., catalogue="all"|"experiments", n_campaigns=..., n_events=...,
  n_segments=..., n_canvases=..., rate_limit=..., hourly_limit=..., small_hourly_limit=...,
  clock=...)``;
- ``sb.today`` (the simulated today), ``sb.url``, ``sb.api_key``, ``sb.key_with(*permissions)``;
- campaigns: ``sb.catalogue``, ``sb.campaign_ids``, ``sb.campaign(id)``, ``sb.truth(id)``
  (a :class:`CampaignTruth`: days as served, cohorts, conversion batches and
  ``conversion_probability(variation_key, event=0)``), ``sb.rename_campaign(id, name,
  variations=...)``, ``sb.send_ids(id)``;
- Canvas: ``sb.canvases``, ``sb.canvas_ids``, ``sb.canvas(id)``, ``sb.canvas_truth(id)``
  (a :class:`CanvasTruth`), and ``CANVAS_ODDITIES`` (which Canvas carries which oddity);
- the workspace: ``sb.workspace`` (a :class:`Workspace`: ``apps``, ``events``, ``products``,
  ``segments``, ``daily(kind, key, app_id, segment_id)``, ``hourly(...)``), ``sb.app_ids``,
  ``SERIES_ODDITIES``;
- ``sb.handle_request(path, params) -> (status, body)``: any answer in process, no HTTP;
- ``sb.rate_limits`` and ``family_of(path)``: the budgets (``DEFAULT_LIMITS``);
- ``sb.start()``/``stop()``/``with``, ``sb.serve_forever()``, ``sb.banner()``, ``sb.stats``.

Choices where Braze is silent or unknown, documented here once:

- ``data_series`` returns the days of the window that fall in the campaign's served life,
  ``first_sent .. min(last_sent + longest conversion window, today)``: days after the last
  send carry zero sends and the engagement and conversions still arriving. A campaign never
  sent returns ``data: []``.
- ``ending_at``'s date is read as written, in whatever offset it carries; the window is
  ``D-N .. D-1`` (exclusive, as recorded from Braze) or ``D-N+1 .. D`` with
  ``ending_at_inclusive=True``.
- Unknown ids (campaign, Canvas, segment, app, send) are a 400, like a bad parameter.

Examples:
    >>> import requests
    >>> with Sandbox(seed=0) as sb:
    ...     r = requests.get(f"{sb.url}/campaigns/data_series", timeout=10,
    ...                      params={"campaign_id": sb.campaign_ids[0], "length": 7},
    ...                      headers={"Authorization": f"Bearer {sb.api_key}"})
    >>> r.json()["message"], r.headers["X-RateLimit-Limit"]
    ('success', '50000')
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TextIO

from ._api import PERMISSIONS, SEND_RETENTION_DAYS, BrazeApi, Registry, send_ids
from ._canvas import (
    CANVAS_ODDITIES,
    Canvas,
    CanvasCache,
    CanvasConversionBatch,
    CanvasStep,
    CanvasTruth,
    CanvasVariant,
    build_canvases,
)
from ._catalogue import Campaign, ConversionBehavior, Subset, Variation, build_catalogue
from ._limits import DEFAULT_LIMITS, Family, RateLimits, family_of
from ._server import ALL_FAULTS, FAULT_KINDS, FaultConfig, SandboxStats, Stats, _Server
from ._simulate import CampaignTruth, Cohort, ConversionBatch, SeriesCache, truth_of
from ._workspace import SERIES_ODDITIES, App, Segment, Workspace

__all__ = [
    "ALL_FAULTS",
    "CANVAS_ODDITIES",
    "DEFAULT_LIMITS",
    "FAULT_KINDS",
    "PERMISSIONS",
    "SEND_RETENTION_DAYS",
    "SERIES_ODDITIES",
    "App",
    "Campaign",
    "CampaignTruth",
    "Canvas",
    "CanvasConversionBatch",
    "CanvasStep",
    "CanvasTruth",
    "CanvasVariant",
    "Cohort",
    "ConversionBatch",
    "ConversionBehavior",
    "Sandbox",
    "SandboxStats",
    "Segment",
    "Variation",
    "Workspace",
    "family_of",
]


def _key(seed: int, n: int) -> str:
    rng = random.Random(f"braze-sandbox:{seed}:key:{n}")
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{name} must be None or a positive number, got {value}")


class Sandbox:
    """A local simulator of Braze's REST API. It is a simulator: numbers are simulated.

    Args:
        seed: Seeds the catalogues, the simulations and the keys; the data depends only on
            ``(seed, today)``.
        host: Interface to listen on.
        port: Port; 0 picks a free one (read it from ``url`` after ``start()``).
        today: The simulated today (default: the current UTC date). Campaigns span about two
            years up to it, the workspace series four; ``ending_at`` defaults to it; nothing
            happens after it. A sandbox whose today is in the past has no data for the days
            ending at the real today: state it (the banner does).
        n_campaigns: None serves the curated campaigns; fewer keeps the first ones; more
            appends synthetic campaigns (benchmarks use 200-1000).
        catalogue: ``"all"``, or ``"experiments"`` to build only the experiment campaigns
            (same ids and numbers as in the whole catalogue): cheap enough for hundreds of
            seeds (see :meth:`handle_request`).
        n_events: How many custom event names ``/events/list`` has (None: the curated ones,
            every campaign's and Canvas's conversion events among them).
        n_segments: How many segments ``/segments/list`` has (None: the curated eight, two of
            them without analytics tracking).
        n_canvases: None serves the curated Canvases; fewer keeps the first ones; more
            appends synthetic Canvases, live over the 400 days up to today (benchmarks).
        latency: Seconds added to every response.
        fault_rate: Probability that a request meets a fault, drawn from its own seeded RNG
            (the data never changes with it).
        faults: Which faults to draw from, uniformly: see ``FAULT_KINDS``. ``"500"`` and
            ``"503"`` answer JSON, ``"502"`` and ``"504"`` a gateway's HTML page, ``"html"``
            a 503 HTML maintenance page, ``"html200"`` an HTML page with status 200,
            ``"truncate"`` announces the full Content-Length then sends half the body and
            closes, ``"reset"`` closes the connection (TCP reset) without answering,
            ``"slow"`` waits ``slow_seconds`` before an intact answer.
        rate_limit: Requests per minute per key for ``/campaigns/data_series`` (default
            50,000, Braze's).
        hourly_limit: Requests per hour per key shared by Braze's default family: campaign
            list and details, Canvas, KPIs, sessions, ``/events/data_series``, segments,
            sends (default 250,000).
        small_hourly_limit: Requests per hour per key shared by ``/events/list``,
            ``/purchases/product_list`` and the two purchase series (default 1,000).
        ending_at_inclusive: Read ``ending_at`` inclusive (``D-N+1..D``) instead of
            exclusive (``D-N..D-1``, Braze's recorded behaviour).
        slow_seconds: The delay of the ``"slow"`` fault.
        clock: Wall clock for rate-limit windows and rename times (tests inject one to
            avoid waiting).

    Attributes:
        seed, today, host, ending_at_inclusive: As given (``today`` resolved to a date).
        rate_limit, hourly_limit, small_hourly_limit: The budgets, resolved to numbers.
        api_key: A key holding every permission.
        campaign_ids: The campaigns' ids, in catalogue order.
        latency, fault_rate, faults, slow_seconds: As given; may be changed while serving.

    Examples:
        >>> sb = Sandbox(seed=1, today=dt.date(2025, 6, 30))
        >>> len(sb.campaign_ids), sb.catalogue[2].name
        (25, 'Cart Abandonment Push')
        >>> truth = sb.truth(sb.campaign_ids[2])
        >>> truth.total(0) == sum(truth.conversions(0, by="send").values())
        True
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        today: dt.date | None = None,
        n_campaigns: int | None = None,
        catalogue: Subset = "all",
        n_events: int | None = None,
        n_segments: int | None = None,
        n_canvases: int | None = None,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        faults: Sequence[str] = ALL_FAULTS,
        rate_limit: int | None = None,
        hourly_limit: int | None = None,
        small_hourly_limit: int | None = None,
        ending_at_inclusive: bool = False,
        slow_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if n_campaigns is not None and n_campaigns < 0:
            raise ValueError(f"n_campaigns must be None or >= 0, got {n_campaigns}")
        if n_canvases is not None and n_canvases < 0:
            raise ValueError(f"n_canvases must be None or >= 0, got {n_canvases}")
        for name, value in (("rate_limit", rate_limit), ("hourly_limit", hourly_limit),
                            ("small_hourly_limit", small_hourly_limit),
                            ("n_events", n_events), ("n_segments", n_segments)):
            _positive(name, value)
        if isinstance(today, dt.datetime):
            raise TypeError("today must be a datetime.date, not a datetime; use .date()")
        self.seed = seed
        self.host = host
        self._port = port
        self.today = today if today is not None else dt.datetime.now(dt.timezone.utc).date()
        self.ending_at_inclusive = ending_at_inclusive
        self.rate_limit = DEFAULT_LIMITS["data_series"][0] if rate_limit is None else rate_limit
        self.hourly_limit = DEFAULT_LIMITS["default"][0] if hourly_limit is None else hourly_limit
        self.small_hourly_limit = (DEFAULT_LIMITS["small"][0] if small_hourly_limit is None
                                   else small_hourly_limit)
        self._clock = clock
        self._registry = Registry(build_catalogue(seed, self.today, n_campaigns, catalogue))
        self.campaign_ids: list[str] = [c.id for c in self._registry.all()]
        # Canvases and the workspace are built on first use: many-seed tests never pay.
        self._lazy_lock = threading.RLock()
        self._canvases: list[Canvas] | None = None
        self._workspace: Workspace | None = None
        self._n_events = n_events
        self._n_canvases = n_canvases
        self._n_segments = n_segments
        self.api_key = _key(seed, 0)
        self._keys: dict[str, frozenset[str]] = {self.api_key: frozenset(PERMISSIONS)}
        self._keys_lock = threading.Lock()
        self._stats = Stats()
        self._cache = SeriesCache(seed, self.today)
        self._canvas_cache = CanvasCache(seed, self.today)
        self._config = FaultConfig(latency=0.0, fault_rate=0.0, faults=(), slow_seconds=0.0,
                                   rng=random.Random(f"braze-sandbox:{seed}:faults"))
        self.latency = latency
        self.fault_rate = fault_rate
        self.faults = faults
        self.slow_seconds = slow_seconds
        limits = RateLimits({
            "data_series": Family("data_series", self.rate_limit, DEFAULT_LIMITS["data_series"][1]),
            "default": Family("default", self.hourly_limit, DEFAULT_LIMITS["default"][1]),
            "small": Family("small", self.small_hourly_limit, DEFAULT_LIMITS["small"][1]),
        }, clock)
        self._app = BrazeApi(seed=seed, registry=self._registry, cache=self._cache,
                             canvases=lambda: self.canvases, canvas_cache=self._canvas_cache,
                             workspace=lambda: self.workspace, keys=self._keys, limits=limits,
                             today=self.today, inclusive=ending_at_inclusive)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._stop_lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------ settings

    @property
    def latency(self) -> float:
        """Seconds added to every response."""
        return self._config.latency

    @latency.setter
    def latency(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {value}")
        self._config.latency = float(value)

    @property
    def fault_rate(self) -> float:
        """Probability that a request meets a fault."""
        return self._config.fault_rate

    @fault_rate.setter
    def fault_rate(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, got {value}")
        self._config.fault_rate = float(value)

    @property
    def faults(self) -> tuple[str, ...]:
        """The fault kinds drawn from (see ``FAULT_KINDS``)."""
        return self._config.faults

    @faults.setter
    def faults(self, value: Sequence[str]) -> None:
        if isinstance(value, str):
            value = (value,)
        unknown = sorted(set(value) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; choose from {list(FAULT_KINDS)}")
        self._config.faults = tuple(value)

    @property
    def slow_seconds(self) -> float:
        """Delay of the ``"slow"`` fault."""
        return self._config.slow_seconds

    @slow_seconds.setter
    def slow_seconds(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"slow_seconds must be >= 0, got {value}")
        self._config.slow_seconds = float(value)

    # ------------------------------------------------------------------ keys, data

    def key_with(self, *permissions: str) -> str:
        """Mint a key holding only these permissions (see ``PERMISSIONS``).

        A key without ``campaigns.details`` (e.g. ``sb.key_with("campaigns.data_series",
        "campaigns.list")``) gets its data and a 403 from ``/campaigns/details``, as a real
        key with partial permissions does.

        Examples:
            >>> sb = Sandbox()
            >>> sb.key_with("campaigns.list") != sb.api_key
            True
        """
        unknown = sorted(set(permissions) - set(PERMISSIONS))
        if unknown:
            raise ValueError(f"unknown permissions {unknown}; choose from {list(PERMISSIONS)}")
        with self._keys_lock:
            key = _key(self.seed, len(self._keys))
            self._keys[key] = frozenset(permissions)
        return key

    @property
    def canvases(self) -> list[Canvas]:
        """The Canvases (:class:`Canvas` descriptors), in catalogue order."""
        with self._lazy_lock:
            if self._canvases is None:
                self._canvases = list(build_canvases(self.seed, self.today, self._n_canvases))
            return list(self._canvases)

    @property
    def canvas_ids(self) -> list[str]:
        """The Canvases' ids, in catalogue order."""
        return [c.id for c in self.canvases]

    @property
    def workspace(self) -> Workspace:
        """The workspace series: apps, custom events, products, segments, values per day."""
        with self._lazy_lock:
            if self._workspace is None:
                self._workspace = Workspace(self.seed, self.today, self._registry.all,
                                            self._cache, self.canvases, self._canvas_cache,
                                            n_events=self._n_events, n_segments=self._n_segments)
            return self._workspace

    @property
    def catalogue(self) -> list[Campaign]:
        """The campaigns (:class:`Campaign` descriptors, current names), in catalogue order."""
        return self._registry.all()

    def campaign(self, campaign_id: str) -> Campaign:
        """The descriptor of one campaign (with its current name).

        Raises:
            KeyError: No such campaign in the catalogue.
        """
        campaign = self._registry.get(campaign_id)
        if campaign is None:
            raise KeyError(f"no campaign {campaign_id!r} in this sandbox's catalogue")
        return campaign

    def canvas(self, canvas_id: str) -> Canvas:
        """The descriptor of one Canvas.

        Raises:
            KeyError: No such Canvas.
        """
        for canvas in self.canvases:
            if canvas.id == canvas_id:
                return canvas
        raise KeyError(f"no Canvas {canvas_id!r} in this sandbox's catalogue")

    def truth(self, campaign_id: str) -> CampaignTruth:
        """Ground truth of a campaign: served days, sends, cohorts, every conversion batch.

        Re-simulates the campaign with events recorded (a few to tens of milliseconds);
        the served data is identical. ``truth(cid).conversion_probability(variation_key,
        event=0)`` is the true per-recipient conversion probability.
        """
        return truth_of(self.campaign(campaign_id), self.seed, self.today)

    def canvas_truth(self, canvas_id: str) -> CanvasTruth:
        """Ground truth of a Canvas: its days as simulated, entries, conversion batches.

        Examples:
            >>> sb = Sandbox(seed=0, today=dt.date(2025, 6, 30))
            >>> truth = sb.canvas_truth(sb.canvas_ids[0])
            >>> sum(truth.entries().values()) > 0
            True
        """
        return self._canvas_cache.get(self.canvas(canvas_id))

    @property
    def app_ids(self) -> list[str]:
        """The workspace's app ids (the ``app_id`` filter of the series)."""
        return [a.id for a in self.workspace.apps]

    def send_ids(self, campaign_id: str) -> dict[str, dt.date]:
        """The send ids of an API campaign (one per send day), with their send dates.

        ``/sends/data_series`` answers for each of them, with the days of the send's life
        that fall in the last ``SEND_RETENTION_DAYS`` (14) days up to today: older sends
        give no days.

        Examples:
            >>> sb = Sandbox(seed=0, today=dt.date(2025, 6, 30))
            >>> digest = next(c for c in sb.catalogue if c.name == "Daily Digest (API)")
            >>> max(sb.send_ids(digest.id).values())
            datetime.date(2025, 6, 30)
        """
        return send_ids(self.seed, self.campaign(campaign_id))

    def rename_campaign(self, campaign_id: str, new_name: str | None = None, *,
                        variations: Mapping[str, str] | None = None) -> Campaign:
        """Rename a campaign while serving (thread-safe); returns the new descriptor.

        ``/campaigns/details`` and ``/campaigns/list`` show the new name at once, and the
        campaign's ``last_edited`` moves to the sandbox's today (the clock's time of day),
        so ``last_edit.time[gt]`` finds it. Variation renames (keyed by API id or current
        name) also change the ``variation_name`` that ``data_series`` serves.

        Args:
            campaign_id: The campaign.
            new_name: Its new name (None keeps it).
            variations: New variation names, by variation API id or current name.

        Raises:
            KeyError: No such campaign.
            ValueError: A variation that the campaign does not have.

        Examples:
            >>> sb = Sandbox(seed=0, today=dt.date(2025, 6, 30))
            >>> sb.rename_campaign(sb.campaign_ids[0], "Weekly Newsletter (2025)").name
            'Weekly Newsletter (2025)'
            >>> sb.handle_request("/campaigns/details", {"campaign_id": sb.campaign_ids[0]})[1]["name"]
            'Weekly Newsletter (2025)'
        """
        campaign = self.campaign(campaign_id)
        renames = dict(variations or {})
        known = {v.api_id for v in campaign.variations} | {v.name for v in campaign.variations}
        unknown = sorted(set(renames) - known)
        if unknown:
            raise ValueError(f"campaign {campaign.name!r} has no variation {unknown}")
        seconds = self._clock() % 86_400
        edited = (dt.datetime(self.today.year, self.today.month, self.today.day,
                              tzinfo=dt.timezone.utc) + dt.timedelta(seconds=int(seconds)))
        return self._registry.rename(campaign_id, new_name, renames, edited)

    @property
    def rate_limits(self) -> dict[str, tuple[int, int]]:
        """The budgets per family: ``{family: (requests, window seconds)}``.

        ``family_of(path)`` says which family a path spends from.
        """
        return {"data_series": (self.rate_limit, DEFAULT_LIMITS["data_series"][1]),
                "default": (self.hourly_limit, DEFAULT_LIMITS["default"][1]),
                "small": (self.small_hourly_limit, DEFAULT_LIMITS["small"][1])}

    def handle_request(self, path: str, params: Mapping[str, object] | None = None, *,
                       key: str | None = None, method: str = "GET") -> tuple[int, dict[str, Any]]:
        """Answer one request in process, without HTTP: ``(status, decoded JSON body)``.

        The same answer the server gives (keys, permissions, rate limits, parameters,
        bodies), without latency or faults; counted in ``stats``. Fast enough for
        coverage tests over hundreds of seeds: with ``catalogue="experiments"`` a sandbox
        and a 30-day body of an experiment campaign take a few milliseconds.

        Args:
            path: The endpoint, e.g. ``"/campaigns/data_series"``.
            params: Query parameters; values are sent as ``str(value)``.
            key: The API key (default: ``api_key``, every permission).
            method: The HTTP method.

        Examples:
            >>> sb = Sandbox(seed=7, today=dt.date(2025, 6, 30), catalogue="experiments")
            >>> status, body = sb.handle_request("/campaigns/data_series",
            ...     {"campaign_id": sb.campaign_ids[0], "length": 30, "ending_at": "2025-06-20"})
            >>> status, len(body["data"])
            (200, 30)
        """
        query = {name: str(value) for name, value in (params or {}).items()}
        self._stats.request(path)
        reply = self._app.handle(method.upper(), path, query,
                                 f"Bearer {self.api_key if key is None else key}")
        self._stats.response(reply.status, reply.status == 200)
        body: dict[str, Any] = json.loads(reply.body)
        return reply.status, body

    def warm(self, campaign_ids: Sequence[str] | None = None) -> None:
        """Simulate campaigns now rather than on their first request (for benchmarks)."""
        for cid in self.campaign_ids if campaign_ids is None else campaign_ids:
            self._cache.get(self.campaign(cid))

    @property
    def stats(self) -> SandboxStats:
        """A snapshot of the counters (thread-safe)."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters."""
        self._stats.reset()

    # ------------------------------------------------------------------ serving

    def _bind(self) -> _Server:
        if self._closed:
            raise RuntimeError("this sandbox was closed; create a new one")
        if self._server is None:
            self._server = _Server((self.host, self._port), self._app, self._config,
                                   self._stats)
        return self._server

    @property
    def port(self) -> int:
        """The port listened on (after ``start()``)."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started: call start() or use `with`")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (after ``start()``)."""
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while serving (``start()`` or ``serve_forever()``)."""
        return self._serving.is_set()

    def start(self) -> Sandbox:
        """Serve in a background thread; returns self. Starting twice does nothing."""
        if self.running:
            return self
        server = self._bind()
        self._serving.set()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"braze-sandbox:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; open connections are dropped. Idempotent.

        Works from another thread for a foreground ``serve_forever()`` too.
        """
        with self._stop_lock:
            server, self._server = self._server, None
            self._closed = True
            if server is None:
                return
            if self._serving.is_set():
                server.shutdown()
                self._serving.clear()
            if self._thread is not None:
                self._thread.join(timeout=5)
                self._thread = None
            server.drop_connections()
            server.server_close()

    close = stop

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def banner(self) -> str:
        """The text ``serve_forever`` prints: what this is, its today, its URL and key."""
        reading = "inclusive (D-N+1..D)" if self.ending_at_inclusive else "exclusive (D-N..D-1)"
        real = dt.datetime.now(dt.timezone.utc).date()
        lag = (real - self.today).days
        if lag > 0:
            when = (f"  TODAY:    {self.today} (simulated), {lag} day(s) before the real date "
                    f"{real} (UTC).\n            Nothing happens after it: ask for days ending "
                    f"on or before {self.today} (ending_at={self.today}).\n")
        elif lag < 0:
            when = f"  TODAY:    {self.today} (simulated), {-lag} day(s) after the real date {real} (UTC).\n"
        else:
            when = f"  TODAY:    {self.today} (simulated; the real date, UTC). Nothing happens after it.\n"
        return (
            "braze_frames sandbox: a local SIMULATOR of Braze's REST API. "
            "Its numbers are simulated, not real data.\n"
            f"{when}"
            f"  URL:      {self.url}\n"
            f"  API key:  {self.api_key}  (every permission)\n"
            f"  seed {self.seed}, {len(self.campaign_ids)} campaigns, {len(self.canvases)} Canvases, "
            f"{len(self.workspace.apps)} apps, {len(self.workspace.events)} custom events, "
            f"{len(self.workspace.segments)} segments; ending_at read {reading}\n"
            f"  export BRAZE_REST_ENDPOINT={self.url} BRAZE_API_KEY={self.api_key}\n"
            "Stop with Ctrl-C."
        )

    def serve_forever(self, *, file: TextIO | None = None) -> None:
        """Serve in this thread, printing the banner first, until Ctrl-C or ``stop()``.

        Args:
            file: Where the banner goes (default: standard output).
        """
        server = self._bind()
        print(self.banner(), file=file or sys.stdout, flush=True)
        self._serving.set()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a user stops a foreground server.
        finally:
            self._serving.clear()
            self.stop()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return (f"Sandbox(seed={self.seed}, today={self.today}, "
                f"campaigns={len(self.campaign_ids)}, canvases={len(self.canvases)}, {where})")
