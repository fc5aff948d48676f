"""Canvas at scale: 50 Canvases x 365 days against the sandbox, and the parse of their bodies.

Three measurements:

* **Latency-bound.** ``fetch_canvas_series`` of 50 Canvases over 365 days: 27 windows of at
  most 14 days each, 1,350 requests, from a sandbox (in its own process, TCP_NODELAY, as
  ``bench_fetch``) that adds 50 ms to every response, with ``max_concurrency=16`` (and the
  client's default, 8). Compared with the ideal, requests x latency / concurrency. The
  sandbox's own default latency is 0, where the ideal is 0: that run gives the throughput
  the client and the sandbox reach on this machine, in requests a second.
* **Budget.** The Canvas endpoints share Braze's 250,000 requests an hour with the lists and
  details: the share of that hour one such fetch spends (its data requests, plus one
  ``/canvas/details`` per Canvas with ``names=True``).
* **Parse.** The same bodies (decoded bytes, in process) through ``orjson.loads`` +
  ``collect_canvas_days`` + ``parse_canvas_days`` + ``canvas_frame_from_parsed``, against
  ``orjson.loads`` alone, interleaved: the Canvas parser's cost as a ratio.

Run alone: ``python bench/bench_canvas.py [--quick]``; ``python bench/run.py --only canvas``.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved, ratio
from bench_fetch import LATENCY, TODAY, sandbox_process

from braze_frames import BrazeClient, DataRepairWarning, fetch_canvas_series
from braze_frames._tidy import canvas_frame_from_parsed
from braze_frames.endpoints.canvas import CanvasColumns, collect_canvas_days, parse_canvas_days
from braze_frames.endpoints.windows import plan_windows
from braze_frames.sandbox import Sandbox

N_CANVASES = 50
DAYS = 365
#: Braze's default limit for the Canvas endpoints, shared with the lists and details.
HOURLY_BUDGET = 250_000
CURATED = 7  # the sandbox's curated Canvases come first; the synthetic ones follow


def _fetch_run(n: int, days: int, latency: float, concurrency: int) -> dict[str, Any]:
    first = TODAY - dt.timedelta(days=days - 1)
    with sandbox_process(n_campaigns=1, latency=latency, n_canvases=CURATED + n) as sb, \
            BrazeClient(sb.api_key, sb.url, max_concurrency=concurrency) as client, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", DataRepairWarning)
        ids = sb.canvas_ids[CURATED:CURATED + n]
        # One request first, as any client that has fetched before: it learns how the server
        # reads ending_at for this endpoint, then asks for exact 14-day windows.
        fetch_canvas_series(ids[0], length=3, ending_at=TODAY - dt.timedelta(days=30), client=client,
                            progress=False, names=False)
        sb.reset_stats()
        before = client.stats.requests
        cpu = time.process_time()
        server_cpu = sb.cpu_seconds()
        started = time.perf_counter()
        frame = fetch_canvas_series(ids, start=first, end=TODAY, client=client, progress=False,
                                    names=False)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
        server_cpu = sb.cpu_seconds() - server_cpu
        sent = client.stats.requests - before
        reading = client.window_readings["/canvas/data_series"]
    planned = len(plan_windows(first, TODAY, reading, max_length=14)) * n
    ideal = sent * latency / concurrency
    return {
        "canvases": n,
        "days": days,
        "latency_ms": round(latency * 1000),
        "max_concurrency": concurrency,
        "requests": sent,
        "requests_planned": planned,
        "rows": frame.height,
        "wall_s": round(wall, 3),
        "ideal_s": round(ideal, 3),
        "x_ideal": round(wall / ideal, 3) if ideal else None,
        "requests_per_s": round(sent / wall, 1),
        "client_cpu_s": round(cpu, 2),
        "sandbox_cpu_s": round(server_cpu, 2),
    }


def _bodies(n: int, days: int) -> tuple[list[str], list[list[bytes]]]:
    """The bodies a fetch receives (exclusive reading, exact 14-day windows), as bytes."""
    sb = Sandbox(seed=0, today=TODAY, n_canvases=CURATED + n)
    ids = sb.canvas_ids[CURATED:CURATED + n]
    first = TODAY - dt.timedelta(days=days - 1)
    windows = plan_windows(first, TODAY, "exclusive", max_length=14)
    flags = {"include_variant_breakdown": "true", "include_step_breakdown": "true",
             "include_deleted_step_data": "true"}
    bodies = [[orjson.dumps(sb.handle_request("/canvas/data_series", {
        "canvas_id": cid, "length": w.length, "ending_at": w.ending_at_param, **flags})[1])
        for w in windows] for cid in ids]
    return ids, bodies


def _parse(ids: list[str], bodies: list[list[bytes]]) -> int:
    parsed = CanvasColumns()
    for cid, blobs in zip(ids, bodies, strict=True):
        days: dict[dt.date, Any] = {}
        name = None
        for blob in blobs:
            _, name = collect_canvas_days(orjson.loads(blob), cid, into=days, parsed=parsed)
        parse_canvas_days(cid, days, into=parsed, canvas_name=name)
    return canvas_frame_from_parsed(parsed).height


def _decode(bodies: list[list[bytes]]) -> None:
    for blobs in bodies:
        for blob in blobs:
            orjson.loads(blob)


def parse_ratio(n: int, days: int, repeats: int) -> dict[str, Any]:
    ids, bodies = _bodies(n, days)
    size = sum(len(b) for blobs in bodies for b in blobs)
    rows = _parse(ids, bodies)
    t = interleaved({"decode": lambda: _decode(bodies), "parse": lambda: _parse(ids, bodies)}, repeats)
    r = ratio(t["parse"], t["decode"])
    return {
        "json_mb": round(size / 1e6, 1),
        "rows": rows,
        "decode_best_s": round(t["decode"].best, 3),
        "parse_best_s": round(t["parse"].best, 3),
        "ratio_vs_orjson": round(r["best"], 2),
        "ratio_vs_orjson_median": round(r["median"], 2),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Every measurement (``quick``: 10 Canvases, fewer repeats)."""
    n = 10 if quick else N_CANVASES
    fast = _fetch_run(n, DAYS, LATENCY, 16)
    default = _fetch_run(n, DAYS, LATENCY, 8)
    unpaced = _fetch_run(n, DAYS, 0.0, 8)
    with_names = fast["requests"] + n  # one /canvas/details per Canvas
    parse = parse_ratio(n, DAYS, 3 if quick else 5)
    results = [
        {"case": f"{n} Canvases x {DAYS} days, {LATENCY * 1000:.0f} ms, max_concurrency 16",
         "best_s": fast["wall_s"], "value": fast["x_ideal"], "unit": "x ideal",
         "vs": f"ideal {fast['ideal_s']} s", "target": "<= 1.25", "ok": (fast["x_ideal"] or 0) <= 1.25},
        {"case": f"{n} Canvases x {DAYS} days, {LATENCY * 1000:.0f} ms, max_concurrency 8 (default)",
         "best_s": default["wall_s"], "value": default["x_ideal"], "unit": "x ideal",
         "vs": f"ideal {default['ideal_s']} s", "target": "<= 1.25",
         "ok": (default["x_ideal"] or 0) <= 1.25},
        {"case": "same, sandbox's default latency (0 ms): throughput", "best_s": unpaced["wall_s"],
         "value": unpaced["requests_per_s"], "unit": "requests/s"},
        {"case": "bytes -> Canvas frame vs orjson.loads of the same bytes", "best_s": parse["parse_best_s"],
         "value": parse["ratio_vs_orjson"], "unit": "x orjson", "vs": "orjson.loads"},
    ]
    return {
        "benchmark": "Canvas: 14-day windows against the sandbox, budget share, parse",
        "data": {"canvases": n, "days": DAYS, "requests": fast["requests"], "rows": fast["rows"]},
        "results": results,
        "latency_16": fast,
        "latency_8": default,
        "latency_0": unpaced,
        "budget": {
            "hourly_budget": HOURLY_BUDGET,
            "data_requests": fast["requests"],
            "with_names": with_names,
            "share_of_hour": round(fast["requests"] / HOURLY_BUDGET, 5),
            "share_of_hour_with_names": round(with_names / HOURLY_BUDGET, 5),
            "fetches_per_hour": HOURLY_BUDGET // with_names,
        },
        "parse": parse,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
