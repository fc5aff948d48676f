"""How well ``reconcile(summary=True)``'s mean lag recovers the sandbox's true lag (issue 10 item 1).

The issue's measurement, repeated: over ``--seeds`` sandbox seeds x ``--campaigns``
campaigns, windows of the served data that start after the campaign's first send (the
case the first estimator got wrong: 21% within 0.25 day, 40% negative, worst -22.7 days).
Each window goes through the library's own parser and ``bf.reconcile(summary=True)`` with
the campaign's conversion window and the sandbox's today (``as_of``); the estimate for the
day-level primary event is compared with the simulated lag distribution's mean
(``Campaign.mean_lag_days``).

Reported: how many windows get an estimate (the rest are null: the data cannot pin the
lag down), how many estimates are within 0.25 day (and 0.5) of the truth, how many are
negative, the worst error; split by the campaign's sending pattern (daily sends or
weekly blasts).

Run: ``python bench/bench_lag.py`` (20 seeds x 60 campaigns, a few minutes) or
``--seeds 3 --campaigns 20`` for a quick look. No HTTP: the served day objects come from
``Sandbox.truth`` and go through ``endpoints.parse`` as a fetch's would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from collections import Counter
from typing import Any

import polars as pl

from braze_frames._tidy import frame_from_parsed
from braze_frames.endpoints.parse import ParsedColumns, parse_days
from braze_frames.sandbox import Sandbox
from braze_frames.verbs.reconcile import reconcile

TODAY = dt.date(2025, 6, 30)


def windows_of(
    dates: list[dt.date], first_sent: dt.date, rng: random.Random, n: int
) -> list[tuple[int, int]]:
    """``n`` windows [a, b] (indices into ``dates``) of 45 to 150 days starting after the first send."""
    starts = [i for i, d in enumerate(dates) if d > first_sent]
    found = []
    for _ in range(n):
        if len(starts) < 45:
            break
        a = rng.choice(starts[: len(starts) - 44])
        b = min(len(dates) - 1, a + rng.randint(44, 149))
        found.append((a, b))
    return found


def measure(seeds: int, campaigns: int, per_campaign: int) -> dict[str, Any]:
    rng = random.Random(2026)
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for seed in range(seeds):
        sb = Sandbox(seed=seed, today=TODAY, n_campaigns=campaigns)
        for campaign in sb.catalogue:
            if campaign.first_sent is None:
                continue
            truth = sb.truth(campaign.id)
            dates = list(truth.dates)
            for a, b in windows_of(dates, campaign.first_sent, rng, per_campaign):
                parsed = ParsedColumns()
                parse_days(campaign.id, {d: truth.days[d] for d in dates[a : b + 1]}, into=parsed)
                frame = frame_from_parsed(parsed)
                summary = reconcile(frame, summary=True, window_days=campaign.conversion_window_days,
                                    as_of=TODAY)
                row = summary.filter((pl.col("channel") == "all") & (pl.col("event") == "conversions"))
                if row.is_empty():
                    continue
                estimate = row.get_column("mean_lag_days").item()
                rows.append({
                    "seed": seed, "campaign": campaign.name, "cadence": campaign.cadence,
                    "window_days": campaign.conversion_window_days, "days": b - a + 1,
                    "truth": campaign.mean_lag_days, "estimate": estimate,
                })
    return {"windows": rows, "seconds": round(time.perf_counter() - started, 1)}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def stats(subset: list[dict[str, Any]]) -> dict[str, Any]:
        estimated = [r for r in subset if r["estimate"] is not None]
        errors = [r["estimate"] - r["truth"] for r in estimated]
        n = len(subset)
        return {
            "windows": n,
            "estimated": len(estimated),
            "estimated_share": round(len(estimated) / n, 3) if n else None,
            "within_0.25_of_estimated": round(sum(abs(e) <= 0.25 for e in errors) / len(errors), 3)
            if errors else None,
            "within_0.25_of_all": round(sum(abs(e) <= 0.25 for e in errors) / n, 3) if n else None,
            "null_or_within_0.5": round((n - len(errors) + sum(abs(e) <= 0.5 for e in errors)) / n, 3)
            if n else None,
            "negative": sum(r["estimate"] < 0 for r in estimated),
            "worst_error": round(max(errors, key=abs), 3) if errors else None,
        }

    by_cadence = Counter(r["cadence"] for r in rows)
    return {
        "all": stats(rows),
        **{f"cadence={c}": stats([r for r in rows if r["cadence"] == c]) for c in sorted(by_cadence)},
        **{f"window<=7={w}": stats([r for r in rows if (r["window_days"] <= 7) == w]) for w in (True, False)},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--campaigns", type=int, default=60)
    parser.add_argument("--windows", type=int, default=2, help="windows per campaign")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.seeds, args.campaigns, args.windows)
    summary = summarise(result["windows"])
    if args.json:
        print(json.dumps({"summary": summary, "seconds": result["seconds"]}, indent=2))
        sys.exit(0)
    print(f"{len(result['windows'])} windows in {result['seconds']} s")
    for name, s in summary.items():
        print(f"{name:22s} " + "  ".join(f"{k}={v}" for k, v in s.items()))
