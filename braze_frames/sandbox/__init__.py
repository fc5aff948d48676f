"""A local simulator of Braze's REST API: the demo's, the notebooks', the tests' backend.

It is a simulator and says so: every number comes from a seeded simulation (see
``_simulate``), internally consistent but not real data. It serves
``GET /campaigns/data_series``, ``/campaigns/list`` and ``/campaigns/details`` with Braze's
shapes and oddities (SPEC sections 2 and 9), Bearer keys with permissions, rate-limit headers
and 429s, and on request latency and faults.

Choices where Braze is silent or unknown, all documented here once:

- ``data_series`` returns the days of the window that fall in the campaign's served life,
  ``first_sent .. min(last_sent + conversion window, today)``: days after the last send carry
  zero sends and the conversions still arriving. A campaign never sent returns ``data: []``.
- ``ending_at``'s date is read as written, in whatever offset it carries; the window is
  ``D-N .. D-1`` (exclusive, as recorded from Braze) or ``D-N+1 .. D`` with
  ``ending_at_inclusive=True``.
- Unknown ``campaign_id`` is a 400 (``"Invalid campaign_id: ..."``), like a bad parameter.
- One rate-limit budget per key covers the three endpoints; windows are aligned minutes.

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
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TextIO

from ._catalogue import Campaign, Variation, build_catalogue
from ._server import (
    _DEFAULT_RATE_LIMIT,
    ALL_FAULTS,
    FAULT_KINDS,
    PERMISSIONS,
    FaultConfig,
    SandboxStats,
    _App,
    _RateLimiter,
    _Server,
    _Stats,
)
from ._simulate import CampaignTruth, ConversionBatch, SeriesCache, truth_of

__all__ = [
    "ALL_FAULTS",
    "FAULT_KINDS",
    "PERMISSIONS",
    "Campaign",
    "CampaignTruth",
    "ConversionBatch",
    "Sandbox",
    "SandboxStats",
    "Variation",
]


def _key(seed: int, n: int) -> str:
    rng = random.Random(f"braze-sandbox:{seed}:key:{n}")
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Sandbox:
    """A local simulator of Braze's REST API. It is a simulator: numbers are simulated.

    Args:
        seed: Seeds the catalogue, the simulation and the keys; the data depends only on
            ``(seed, today)``.
        host: Interface to listen on.
        port: Port; 0 picks a free one (read it from ``url`` after ``start()``).
        today: The simulated today (default: the current UTC date). Campaigns span about two
            years up to it; ``ending_at`` defaults to it; later conversions do not exist yet.
        n_campaigns: None serves the 20 curated campaigns; fewer keeps the first ones; more
            appends synthetic campaigns (benchmarks use 200-1000).
        latency: Seconds added to every response.
        fault_rate: Probability that a request meets a fault, drawn from its own seeded RNG
            (the data never changes with it).
        faults: Which faults to draw from, uniformly: see ``FAULT_KINDS``. ``"500"`` and
            ``"503"`` answer JSON, ``"502"`` and ``"504"`` a gateway's HTML page, ``"html"``
            a 503 HTML maintenance page, ``"html200"`` an HTML page with status 200,
            ``"truncate"`` announces the full Content-Length then sends half the body and
            closes, ``"reset"`` closes the connection (TCP reset) without answering,
            ``"slow"`` waits ``slow_seconds`` before an intact answer.
        rate_limit: Requests per minute per key (default 50,000, Braze's); fixed windows
            aligned on minute boundaries.
        ending_at_inclusive: Read ``ending_at`` inclusive (``D-N+1..D``) instead of
            exclusive (``D-N..D-1``, Braze's recorded behaviour).
        slow_seconds: The delay of the ``"slow"`` fault.
        clock: Wall clock for rate-limit windows (tests inject one to avoid waiting).

    Attributes:
        seed, today, host, ending_at_inclusive, rate_limit: As given (``rate_limit``
            resolved to a number).
        api_key: A key holding every permission.
        catalogue: The campaigns (:class:`Campaign` descriptors), in catalogue order.
        campaign_ids: Their ids, in the same order.
        latency, fault_rate, faults, slow_seconds: As given; may be changed while serving.

    Examples:
        >>> sb = Sandbox(seed=1, today=dt.date(2025, 6, 30))
        >>> len(sb.campaign_ids), sb.catalogue[2].name
        (20, 'Cart Abandonment Push')
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
        latency: float = 0.0,
        fault_rate: float = 0.0,
        faults: Sequence[str] = ALL_FAULTS,
        rate_limit: int | None = None,
        ending_at_inclusive: bool = False,
        slow_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if n_campaigns is not None and n_campaigns < 0:
            raise ValueError(f"n_campaigns must be None or >= 0, got {n_campaigns}")
        if rate_limit is not None and rate_limit < 1:
            raise ValueError(f"rate_limit must be None or a positive number, got {rate_limit}")
        if isinstance(today, dt.datetime):
            raise TypeError("today must be a datetime.date, not a datetime; use .date()")
        self.seed = seed
        self.host = host
        self._port = port
        self.today = today if today is not None else dt.datetime.now(dt.timezone.utc).date()
        self.ending_at_inclusive = ending_at_inclusive
        self.rate_limit = _DEFAULT_RATE_LIMIT if rate_limit is None else rate_limit
        self.catalogue: list[Campaign] = list(build_catalogue(seed, self.today, n_campaigns))
        self.campaign_ids: list[str] = [c.id for c in self.catalogue]
        self._by_id = {c.id: c for c in self.catalogue}
        self.api_key = _key(seed, 0)
        self._keys: dict[str, frozenset[str]] = {self.api_key: frozenset(PERMISSIONS)}
        self._keys_lock = threading.Lock()
        self._stats = _Stats()
        self._cache = SeriesCache(seed, self.today)
        self._config = FaultConfig(latency=0.0, fault_rate=0.0, faults=(), slow_seconds=0.0,
                                   rng=random.Random(f"braze-sandbox:{seed}:faults"))
        self.latency = latency
        self.fault_rate = fault_rate
        self.faults = faults
        self.slow_seconds = slow_seconds
        self._app = _App(catalogue=self.catalogue, cache=self._cache, keys=self._keys,
                         limiter=_RateLimiter(self.rate_limit, clock), today=self.today,
                         inclusive=ending_at_inclusive, stats=self._stats)
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

    def campaign(self, campaign_id: str) -> Campaign:
        """The descriptor of one campaign.

        Raises:
            KeyError: No such campaign in the catalogue.
        """
        try:
            return self._by_id[campaign_id]
        except KeyError:
            raise KeyError(f"no campaign {campaign_id!r} in this sandbox's catalogue") from None

    def truth(self, campaign_id: str) -> CampaignTruth:
        """Ground truth of a campaign: served days, sends, every conversion batch.

        Re-simulates the campaign with events recorded (a few to tens of milliseconds);
        the served data is identical.
        """
        return truth_of(self.campaign(campaign_id), self.seed, self.today)

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
            self._server = _Server((self.host, self._port), self._app, self._config)
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
        """The text ``serve_forever`` prints: what this is, its URL and key."""
        reading = "inclusive (D-N+1..D)" if self.ending_at_inclusive else "exclusive (D-N..D-1)"
        return (
            "braze_frames sandbox: a local SIMULATOR of Braze's REST API. "
            "Its numbers are simulated, not real data.\n"
            f"  URL:      {self.url}\n"
            f"  API key:  {self.api_key}  (every permission)\n"
            f"  seed {self.seed}, today {self.today}, {len(self.catalogue)} campaigns, "
            f"ending_at read {reading}\n"
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
                f"campaigns={len(self.catalogue)}, {where})")
