"""Fetch at scale: latency-bound and budget-bound fetching, and the memory of a large result.

Three measurements (issue "Many campaigns, long histories"):

* **Latency-bound.** 1,000 campaign-windows (200 campaigns x 500 days, five 100-day windows
  each) from a sandbox that adds 50 ms to every response, with ``fetch_data_series`` and a
  client of ``max_concurrency=16``. Compared with the ideal (requests x latency /
  concurrency; target <= 1.25x) and with a sequential loop of plain ``requests.get`` calls
  for the same windows (target >= 10x slower than the library). The loop is timed on a
  sample of 100 of the windows and extrapolated to all of them; it only decodes the JSON, it
  builds no table.
* **Budget-bound.** A sandbox limited to 600 requests a minute: the client must use >= 90%
  of the budget with no failed request; the sandbox counts the 429s it answered. The
  sandbox's and the client's clocks are aligned so that the first rate-limit window starts
  when the fetch does (a fetch starting mid-window could spend a whole budget in a fraction
  of a minute and look faster than the budget). Two windows: 1,200 requests, two minutes.
  ``--quick`` uses 300 a minute and runs both clocks twelve times fast, so a window lasts
  5 s: 600 requests in about 10 s.
* **Memory.** Bytes per row of a 3M-row (quick: 1M) tidy polars frame (``estimated_size``), built by the
  library's parser from realistic bodies (``bench/_data.py``), with the SPEC's dtypes and, for
  comparison, plain strings and narrower categoricals.

Each sandbox runs in its own process, so its CPU does not share the client's GIL.

The sandbox's handler writes the headers and the body of a response in two ``send`` calls
without ``TCP_NODELAY``; Nagle's algorithm then holds the body until the client acknowledges
the headers, and the client delays that acknowledgement (about 40 ms on Linux): every
response takes ~90 ms instead of 50. The latency-bound run is measured both with the sandbox
as it ships and with ``TCP_NODELAY`` set on its handler (``disable_nagle_algorithm``), which
is what a real server does; the target applies to the latter.

Run ``python bench/bench_fetch.py [--quick] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import requests
import requests.adapters

from braze_frames import BrazeClient, fetch_data_series
from braze_frames.endpoints.windows import Window, plan_windows

TODAY = dt.date(2026, 6, 30)
LATENCY = 0.05
CONCURRENCY = 16
DAYS = 500  # five 100-day windows per campaign
SEQUENTIAL_SAMPLE = 100

SERVER = r"""
import datetime as dt, json, sys, time
from braze_frames.sandbox import Sandbox

config = json.loads(sys.argv[1])
if config["nodelay"]:
    from braze_frames.sandbox._server import _Handler
    _Handler.disable_nagle_algorithm = True  # TCP_NODELAY on every accepted connection

clock_state = {"t0": None, "base": 0.0, "scale": 1.0}


def clock():
    now = time.time()
    if clock_state["t0"] is None:
        return now
    return clock_state["base"] + (now - clock_state["t0"]) * clock_state["scale"]


sandbox = Sandbox(seed=0, today=dt.date.fromisoformat(config["today"]),
                  n_campaigns=config["n_campaigns"], latency=config["latency"],
                  rate_limit=config["rate_limit"], clock=clock,
                  n_canvases=config.get("n_canvases"), **config.get("options", {}))
sandbox.warm()
for canvas_id in sandbox.canvas_ids if config.get("n_canvases") else ():
    sandbox.canvas_truth(canvas_id)  # simulated now, not on the first request
sandbox.start()
print(json.dumps({"url": sandbox.url, "key": sandbox.api_key, "ids": sandbox.campaign_ids,
                  "canvas_ids": sandbox.canvas_ids if config.get("n_canvases") else []}),
      flush=True)
for line in sys.stdin:
    command = json.loads(line)
    if command["op"] == "stats":
        s = sandbox.stats
        answer = {"requests": s.requests, "rate_limited": s.rate_limited,
                  "by_status": {str(k): v for k, v in s.by_status.items()},
                  "by_path": dict(s.by_path)}
    elif command["op"] == "reset":
        sandbox.reset_stats()
        answer = {}
    elif command["op"] == "cpu":
        answer = {"cpu_s": time.process_time()}
    elif command["op"] == "clock":
        clock_state.update(t0=command["t0"], base=command["base"], scale=command["scale"])
        answer = {}
    print(json.dumps(answer), flush=True)
sandbox.stop()
"""


class SandboxProcess:
    """A sandbox served by another Python process, driven over its stdin and stdout."""

    def __init__(self, *, n_campaigns: int | None, latency: float, rate_limit: int | None = None,
                 nodelay: bool = True, options: dict[str, Any] | None = None,
                 n_canvases: int | None = None) -> None:
        # options: more Sandbox arguments (bench_series: small_hourly_limit, n_events...).
        config = {"today": str(TODAY), "n_campaigns": n_campaigns, "latency": latency,
                  "rate_limit": rate_limit, "nodelay": nodelay, "options": options or {},
                  "n_canvases": n_canvases}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        hello = self._read()
        self.url: str = hello["url"]
        self.api_key: str = hello["key"]
        self.campaign_ids: list[str] = hello["ids"]
        self.canvas_ids: list[str] = hello["canvas_ids"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox process ended (exit code {self.proc.wait()})")
        answer = json.loads(line)
        assert isinstance(answer, dict)
        return answer

    def _ask(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def stats(self) -> dict[str, Any]:
        return self._ask(op="stats")

    def cpu_seconds(self) -> float:
        return float(self._ask(op="cpu")["cpu_s"])

    def reset_stats(self) -> None:
        self._ask(op="reset")

    def set_clock(self, t0: float, base: float, scale: float) -> None:
        self._ask(op="clock", t0=t0, base=base, scale=scale)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextmanager
def sandbox_process(**kwargs: Any) -> Iterator[SandboxProcess]:
    sandbox = SandboxProcess(**kwargs)
    try:
        yield sandbox
    finally:
        sandbox.close()


# --- latency-bound -------------------------------------------------------------------------


def _latency_run(n_campaigns: int, *, nodelay: bool, sequential: bool) -> dict[str, Any]:
    first = TODAY - dt.timedelta(days=DAYS - 1)
    with sandbox_process(n_campaigns=n_campaigns, latency=LATENCY, nodelay=nodelay) as sb, \
            BrazeClient(sb.api_key, sb.url, max_concurrency=CONCURRENCY) as client:
        ids = sb.campaign_ids[:n_campaigns]
        # One request first, as any client that has fetched before: it learns how the
        # server reads ending_at and then asks for exact 100-day windows.
        fetch_data_series(ids[0], length=7, ending_at=TODAY - dt.timedelta(days=30), client=client,
                          progress=False, names=False)
        assert client.window_reading is not None
        sb.reset_stats()
        before = client.stats.requests
        server_cpu = sb.cpu_seconds()
        cpu = time.process_time()
        started = time.perf_counter()
        # names=False: the data requests alone, as the figures in bench/README.md measure.
        frame = fetch_data_series(ids, start=first, end=TODAY, client=client, progress=False,
                                  names=False)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
        server_cpu = sb.cpu_seconds() - server_cpu
        sent = client.stats.requests - before
        server = sb.stats()
        ideal = sent * LATENCY / CONCURRENCY
        result: dict[str, Any] = {
            "requests": sent,
            "server_requests": server["requests"],
            "rows": frame.height,
            "wall_s": round(wall, 3),
            "ideal_s": round(ideal, 3),
            "x_ideal": round(wall / ideal, 3),
            "requests_per_s": round(sent / wall, 1),
            "client_cpu_s": round(cpu, 2),
            "sandbox_cpu_s": round(server_cpu, 2),
            "load_average_after": _load(),
        }
        reading = client.window_reading or "exclusive"
        windows = [(cid, w) for cid in ids for w in plan_windows(first, TODAY, reading)]
        headers = {"Authorization": f"Bearer {sb.api_key}"}
        if sequential:
            # The floor this machine allows right now: the same requests, 16 threads, one
            # session, JSON decoded, no table built.
            session = requests.Session()
            session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))

            def get(item: tuple[str, Window], via: Any = session) -> None:
                """One plain request, decoded; ``via`` is the session or the module."""
                cid, window = item
                response = via.get(
                    f"{sb.url}/campaigns/data_series", headers=headers, timeout=30,
                    params={"campaign_id": cid, "length": window.length,
                            "ending_at": window.ending_at_param},
                )
                response.raise_for_status()
                response.json()

            started = time.perf_counter()
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                list(pool.map(get, windows))
            raw = time.perf_counter() - started
            session.close()
            result["plain_threads"] = {
                "wall_s": round(raw, 3),
                "x_ideal": round(raw / ideal, 3),
                "note": "the same requests from 16 threads with requests.Session, JSON decoded, "
                        "no table: what this machine allows at the moment",
            }
            sample = windows[:: max(1, len(windows) // SEQUENTIAL_SAMPLE)][:SEQUENTIAL_SAMPLE]
            started = time.perf_counter()
            for item in sample:
                get(item, requests)  # a new connection each time, as a naive loop does
            per_request = (time.perf_counter() - started) / len(sample)
            extrapolated = per_request * len(windows)
            result["sequential"] = {
                "sampled_requests": len(sample),
                "per_request_ms": round(per_request * 1000, 1),
                "extrapolated_s": round(extrapolated, 2),
                "speedup": round(extrapolated / wall, 1),
            }
    return result


def latency_bound(quick: bool = False) -> dict[str, Any]:
    """1,000 campaign-windows at 50 ms each, 16 at a time; the sandbox with and without TCP_NODELAY."""
    n_campaigns = 1000 // (DAYS // 100)
    result: dict[str, Any] = {
        "workload": f"{n_campaigns} campaigns x {DAYS} days = {n_campaigns * DAYS // 100} "
                    f"windows of 100 days; latency {LATENCY * 1000:.0f} ms; "
                    f"max_concurrency {CONCURRENCY}",
        "targets": {"x_ideal": "<= 1.25", "speedup_vs_sequential": ">= 10"},
        "tcp_nodelay": _latency_run(n_campaigns, nodelay=True, sequential=True),
    }
    if not quick:  # the shipped sandbox sets TCP_NODELAY itself now; full runs check it
        result["as_shipped"] = _latency_run(n_campaigns, nodelay=False, sequential=False)
    return result


# --- budget-bound --------------------------------------------------------------------------


def budget_bound(quick: bool = False) -> dict[str, Any]:
    """Fetch as fast as a 600/minute budget allows (300/minute, 12x clock with ``quick``)."""
    rate, scale = (300, 12.0) if quick else (600, 1.0)
    windows = 2
    wanted = rate * windows
    n_campaigns = wanted // (DAYS // 100)
    first = TODAY - dt.timedelta(days=DAYS - 1)
    with sandbox_process(n_campaigns=n_campaigns, latency=LATENCY, rate_limit=rate) as sb:
        # Learn the reading of ending_at with a client on the real clock (a previous window).
        with BrazeClient(sb.api_key, sb.url) as probe:
            fetch_data_series(sb.campaign_ids[0], length=7, ending_at=TODAY - dt.timedelta(days=30),
                              client=probe, progress=False, names=False)
            reading = probe.window_reading
            assert reading is not None
        t0 = time.time()
        base = float((int(t0) // 60 + 1) * 60)  # a window boundary, on both clocks

        def clock() -> float:
            return base + (time.time() - t0) * scale

        def sleep(seconds: float) -> None:
            time.sleep(seconds / scale)

        sb.set_clock(t0, base, scale)
        sb.reset_stats()
        with BrazeClient(sb.api_key, sb.url, max_concurrency=CONCURRENCY, clock=clock,
                         sleep=sleep) as client:
            client.window_reading = reading
            started = time.perf_counter()
            result = fetch_data_series(sb.campaign_ids[:n_campaigns], start=first, end=TODAY,
                                       client=client, on_error="collect", progress=False,
                                       names=False)
            wall = time.perf_counter() - started
            stats = client.stats.as_dict()
        server = sb.stats()
    ok = int(server["by_status"].get("200", 0))
    minutes = wall * scale / 60
    per_minute = ok / minutes
    return {
        "workload": f"{n_campaigns} campaigns x {DAYS} days = {wanted} requests; budget {rate}"
                    f"/minute; {windows} windows"
                    + (f"; clocks {scale:g}x fast (a window lasts {60 / scale:.0f} s)" if scale != 1
                       else ""),
        "target": ">= 90% of the budget, no failed request",
        "requests_ok": ok,
        "failed_fetches": len(result.failures),
        "rate_limited_429": server["rate_limited"],
        "client_retries": int(stats["retries"]),
        "client_wait_s_summed_over_threads": round(stats["wait_seconds"] / scale, 1),
        "wall_s": round(wall, 1),
        "sandbox_minutes": round(minutes, 3),
        "requests_per_minute": round(per_minute, 1),
        "share_of_budget": round(per_minute / rate, 3),
    }


# --- memory --------------------------------------------------------------------------------


def memory(rows: int = 3_000_000) -> dict[str, Any]:
    """Bytes per row of a ~3M-row tidy frame built by the library's parser."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _data

    from braze_frames._tidy import frame_from_parsed
    from braze_frames.endpoints.parse import collect_days, parse_days

    days = 100
    parsed = None
    k = 0
    while parsed is None or parsed.n_rows < rows:
        parsed = parse_days(_data.campaign_id(k), collect_days(_data.body(k, days)), into=parsed)
        k += 1
    frame = frame_from_parsed(parsed)
    n = frame.height
    columns = {c: round(frame[c].estimated_size() / n, 3) for c in frame.columns}
    as_strings = frame.with_columns(pl.col(c).cast(pl.String) for c in
                                    ("campaign_id", "channel", "variation", "variation_name", "metric"))
    narrow = frame.with_columns(
        pl.col("channel").cast(pl.Categorical(pl.Categories("bench_channel", physical=pl.UInt8()))),
        pl.col("metric").cast(pl.Categorical(pl.Categories("bench_metric", physical=pl.UInt16()))),
    )
    pandas_bytes = None
    try:
        pandas_frame = frame.to_pandas()
        pandas_bytes = round(int(pandas_frame.memory_usage(deep=True).sum()) / n, 2)
    except ImportError:
        pass
    return {
        "workload": f"{k} campaigns x {days} days of bench/_data.py bodies",
        "rows": n,
        "target": "<= 30 bytes/row",
        "bytes_per_row": round(frame.estimated_size() / n, 2),
        "by_column": columns,
        "bytes_per_row_strings": round(as_strings.estimated_size() / n, 2),
        "bytes_per_row_uint8_channel_uint16_metric": round(narrow.estimated_size() / n, 2),
        "pandas_bytes_per_row": pandas_bytes,
        "note": "SPEC dtypes: 5 Categorical (UInt32 codes, 4 B each) + Date (4 B) + Float64 (8 B) "
                "= 32 B, plus validity bitmaps (1/8 B) on the nullable variation columns; "
                "estimated_size does not count the category strings, kept once in polars' "
                "global categories",
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Every measurement; ``quick`` shortens the budget-bound run (see the module docstring)."""
    started = time.perf_counter()
    report: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "polars": pl.__version__, "load_average": _load()},
    }
    report["latency_bound"] = latency_bound(quick)
    report["budget_bound"] = budget_bound(quick)
    # Bytes per row settle long before 3M rows; quick runs measure 1M.
    report["memory"] = memory(1_000_000 if quick else 3_000_000)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def summary(report: dict[str, Any]) -> str:
    lat, nodelay, shipped = report["latency_bound"], report["latency_bound"]["tcp_nodelay"], \
        report["latency_bound"]["as_shipped"]
    budget, mem = report["budget_bound"], report["memory"]
    lines = [
        f"latency-bound ({lat['workload']}):",
        f"  sandbox with TCP_NODELAY: {nodelay['requests']} requests in {nodelay['wall_s']} s, "
        f"{nodelay['x_ideal']}x the ideal {nodelay['ideal_s']} s (target <= 1.25); sequential "
        f"requests.get: {nodelay['sequential']['per_request_ms']} ms/request, "
        f"~{nodelay['sequential']['extrapolated_s']} s extrapolated from "
        f"{nodelay['sequential']['sampled_requests']}: {nodelay['sequential']['speedup']}x faster "
        "(target >= 10)",
        f"  plain requests from 16 threads (this machine's floor now): "
        f"{nodelay['plain_threads']['x_ideal']}x the ideal; client CPU {nodelay['client_cpu_s']} s, "
        f"sandbox CPU {nodelay['sandbox_cpu_s']} s, load average {nodelay['load_average_after']}",
        f"  sandbox as shipped (Nagle + delayed ACK): {shipped['wall_s']} s, "
        f"{shipped['x_ideal']}x the ideal"
        + (f"; sequential {shipped['sequential']['per_request_ms']} ms/request, "
           f"{shipped['sequential']['speedup']}x" if "sequential" in shipped else ""),
        f"budget-bound ({budget['workload']}): {budget['requests_per_minute']}/minute = "
        f"{budget['share_of_budget'] * 100:.1f}% of the budget (target >= 90%), "
        f"{budget['failed_fetches']} failed, {budget['rate_limited_429']} 429s seen, "
        f"{budget['wall_s']} s",
        f"memory ({mem['rows']:,} rows): {mem['bytes_per_row']} B/row with the SPEC dtypes "
        f"(target <= 30; floor 32); strings {mem['bytes_per_row_strings']} B/row; UInt8 channel + "
        f"UInt16 metric {mem['bytes_per_row_uint8_channel_uint16_metric']} B/row; pandas "
        f"{mem['pandas_bytes_per_row']} B/row",
        f"total {report['seconds']} s ({report['mode']} mode)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter runs (~25 s)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    report = run(quick=args.quick)
    text = json.dumps(report, indent=2)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(text)
    print(summary(report))


if __name__ == "__main__":
    main()
