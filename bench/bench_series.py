"""The workspace series at scale: 12 series x 3 years plus 200 custom events x 1 year.

What bounds a fetch of the workspace series is Braze's budgets, not the client: the
purchase series (with ``/events/list`` and ``/purchases/product_list``) share 1,000 requests
an hour, the other series Braze's default 250,000 an hour. The benchmark fetches

* 12 series over 3 years (1,095 days; 11 windows each): ``dau``, ``mau``, ``new_users``,
  ``uninstalls``, ``sessions``, ``revenue`` and ``purchase_quantity`` (totals), and
  ``segment_size`` of the sandbox's first five segments, in one ``fetch_series`` call;
* 200 custom events over 1 year (4 windows each, after one ``/events/list`` page), in a
  second call run at the same time on the same client (one limiter, one pool),

from a sandbox served by another process (its own GIL), and compares the wall time with
the ideal the budgets set.

Scaling: at Braze's real budgets this workload fits in the hour (23 small-budget requests
of 1,000), so to make the small budget bind, as it does for a workspace with many products,
it is scaled to **10 requests an hour**, and both clocks (the sandbox's and the client's,
injected; the client's waits are divided alike) run **120 times fast**, so a budget hour
lasts 30 s: the 23 small requests need two resets, a floor of one minute. The client may
wait out a whole (simulated) hour (``max_wait=3600``). The default budget stays 250,000 an
hour. ``--quick``: 12 series x 1 year and 50 events x 90 days (9 small requests), a budget
of 4 an hour lasting 5 s (two resets, a floor of 10 s).

The ideal is the larger of two floors: the budget's, ``(ceil(small / 10) - 1)`` hours (the
resets a client must wait for, however it paces), and the work's, the wall time of the same
fetch from a sandbox without the small budget (measured in the same run, just before). The
ratio wall / ideal says what pacing costs beyond the waits that cannot be avoided: the
limiter spreads a low budget over the time to its reset rather than bursting into 429s.

Run ``python bench/bench_series.py [--quick]`` or ``python bench/run.py --only series``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fetch import TODAY, sandbox_process

from braze_frames import BrazeClient, fetch_series

HOUR = 3600.0
TWELVE = ["dau", "mau", "new_users", "uninstalls", "sessions", "revenue", "purchase_quantity",
          "segment_size"]  # with five segments: 12 series
SMALL_PATHS = ("/events/list", "/purchases/product_list", "/purchases/revenue_series",
               "/purchases/quantity_series")


class ScaledClock:
    """Wall-clock seconds running ``scale`` times fast from an hour boundary at ``t0``."""

    def __init__(self, base: float, scale: float) -> None:
        self.base, self.scale, self.t0 = base, scale, time.time()

    def now(self) -> float:
        return self.base + (time.time() - self.t0) * self.scale

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds / self.scale)


def _workload(client: BrazeClient, *, years: int, events_days: int) -> dict[str, Any]:
    """The two fetches, side by side on one client; their rows and their wall time."""
    end = TODAY - dt.timedelta(days=1)
    out: dict[str, Any] = {}

    def twelve() -> None:
        out["twelve"] = fetch_series(TWELVE, start=end - dt.timedelta(days=365 * years - 1), end=end,
                                     client=client, progress=False)

    def events() -> None:
        out["events"] = fetch_series("events", length=events_days, ending_at=end, client=client,
                                     progress=False)

    started = time.perf_counter()
    threads = [threading.Thread(target=f) for f in (twelve, events)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["wall_s"] = time.perf_counter() - started
    return out


def _run_case(*, small_limit: int | None, scale: float, years: int, n_events: int,
              events_days: int) -> dict[str, Any]:
    options: dict[str, Any] = {"n_events": n_events, "n_segments": 5}
    if small_limit is not None:
        options["small_hourly_limit"] = small_limit
    with sandbox_process(n_campaigns=None, latency=0.0, options=options) as sb:
        base = math.floor(time.time() / HOUR) * HOUR + 10 * HOUR  # a fresh hour, far from now
        clock = ScaledClock(base, scale)
        sb.set_clock(clock.t0, base, scale)
        with BrazeClient(sb.api_key, sb.url, clock=clock.now, sleep=clock.sleep, max_wait=HOUR,
                         max_concurrency=8) as client:
            result = _workload(client, years=years, events_days=events_days)
        stats = sb.stats()
    by_path = stats["by_path"]
    small = sum(by_path.get(p, 0) for p in SMALL_PATHS)
    rows = len(result["twelve"]) + len(result["events"])
    series = result["twelve"].select("metric", "key").n_unique()
    events = result["events"]["key"].n_unique()
    return {"wall_s": result["wall_s"], "requests": stats["requests"], "small_requests": small,
            "rate_limited": stats["rate_limited"], "rows": rows, "series": series,
            "events": events}


def run(quick: bool = False) -> dict[str, Any]:
    """Both cases, and the wall time against the ideal."""
    # The small budget is scaled so that it binds: two resets to wait for, either way.
    scale, limit = (720.0, 4) if quick else (120.0, 10)
    years, n_events, events_days = (1, 50, 90) if quick else (3, 200, 365)
    free = _run_case(small_limit=None, scale=scale, years=years, n_events=n_events,
                     events_days=events_days)
    paced = _run_case(small_limit=limit, scale=scale, years=years, n_events=n_events,
                      events_days=events_days)
    hour_s = HOUR / scale
    resets = math.ceil(paced["small_requests"] / limit) - 1
    budget_floor = resets * hour_s
    ideal = max(budget_floor, free["wall_s"])
    return {
        "benchmark": (f"12 series x {years} year(s) + {n_events} events x {events_days} days; small "
                      f"budget {limit}/hour, clocks x{scale:g} (an hour lasts {hour_s:g} s)"),
        "results": [
            {"case": "without the small budget (the work alone)", "best_s": round(free["wall_s"], 2),
             "value": free["requests"], "unit": "requests"},
            {"case": f"small budget {limit}/hour, paced", "best_s": round(paced["wall_s"], 2),
             "value": paced["requests"], "unit": "requests", "vs": "ideal",
             "ratio": round(paced["wall_s"] / ideal, 2), "target": "<= 1.25",
             "ok": paced["wall_s"] / ideal <= 1.25 and paced["rate_limited"] == 0},
        ],
        "budgets": {
            "small": {"requests": paced["small_requests"], "limit_per_hour": limit,
                      "resets_waited": resets, "floor_s": round(budget_floor, 2)},
            "default": {"requests": paced["requests"] - paced["small_requests"],
                        "limit_per_hour": 250_000, "resets_waited": 0,
                        "floor_s": round(free["wall_s"], 2)},
        },
        "ideal_s": round(ideal, 2),
        "rate_limited": paced["rate_limited"],
        "data": {"rows": paced["rows"], "series": paced["series"], "events": paced["events"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
