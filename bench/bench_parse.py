"""Tidy conversion: response bytes to the finished polars frame, against ``orjson.loads``.

The production path is what ``fetch_data_series`` runs on the bodies it receives:
``orjson.loads`` + ``collect_days`` per response, ``parse_days`` per campaign, then
``frame_from_parsed`` once. It is timed against, on the same bytes and in the same process:

- ``orjson.loads`` alone (the floor: no pure-Python parser can beat the decoder), keeping
  the bodies as the production path does (*batch*), and dropping each one at once
  (*stream*, the production path parsing each body as it arrives);
- a naive pandas conversion, written as a user would (``json_normalize`` + ``melt``),
  decoding with ``orjson`` too so that the gap is not the JSON decoder's;
- a plain Python loop into polars with no validation at all (a reference point).

Run alone: ``python bench/bench_parse.py [--quick]``.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import bodies_bytes, campaign_id
from _timing import interleaved, ratio

from braze_frames._tidy import POLARS_SCHEMA, frame_from_parsed
from braze_frames.endpoints.parse import ParsedColumns, collect_days, parse_days

TARGET_DECODE_RATIO = 1.2
TARGET_PANDAS_SPEEDUP = 5.0


def production_batch(blobs: list[bytes], ids: list[str]) -> pl.DataFrame:
    """What ``api._fetch`` does: collect every response's days, then parse each campaign."""
    parsed = ParsedColumns()
    days = {cid: collect_days(orjson.loads(blob), parsed=parsed)
            for cid, blob in zip(ids, blobs, strict=True)}
    for cid in ids:
        parse_days(cid, days.pop(cid), into=parsed)
    return frame_from_parsed(parsed)


def production_stream(blobs: list[bytes], ids: list[str]) -> pl.DataFrame:
    """Each body parsed as it arrives and dropped (one window per campaign)."""
    parsed = ParsedColumns()
    for cid, blob in zip(ids, blobs, strict=True):
        parse_days(cid, collect_days(orjson.loads(blob), parsed=parsed), into=parsed)
    return frame_from_parsed(parsed)


def decode_batch(blobs: list[bytes]) -> list[Any]:
    """``orjson.loads`` of every body, all kept (as the batch path keeps them)."""
    return [orjson.loads(blob) for blob in blobs]


def decode_stream(blobs: list[bytes]) -> None:
    """``orjson.loads`` of every body, each dropped at once."""
    for blob in blobs:
        orjson.loads(blob)


def naive_pandas(blobs: list[bytes], ids: list[str]) -> Any:
    """A user's conversion: records per variation entry, ``json_normalize``, ``melt``."""
    import pandas as pd

    records = []
    for cid, blob in zip(ids, blobs, strict=True):
        for day in orjson.loads(blob)["data"]:
            totals = {k: v for k, v in day.items() if k != "messages"}
            records.append({"campaign_id": cid, "channel": "all", **totals})
            for channel, entries in (day.get("messages") or {}).items():
                records.extend({"campaign_id": cid, "time": day["time"], "channel": channel, **entry}
                               for entry in entries or [])
    wide = pd.json_normalize(records)
    ids_ = ["campaign_id", "time", "channel", "variation_api_id", "variation_name"]
    tidy = wide.melt(id_vars=ids_, var_name="metric", value_name="value").dropna(subset=["value"])
    tidy["date"] = pd.to_datetime(tidy.pop("time"))
    tidy["variation"] = tidy["variation_api_id"].fillna(tidy["variation_name"])
    return tidy.drop(columns="variation_api_id")


def plain_loop(blobs: list[bytes], ids: list[str]) -> pl.DataFrame:
    """Eight lists filled row by row, then one polars frame; no validation, no repairs."""
    cols: list[list[Any]] = [[] for _ in POLARS_SCHEMA]
    cid_a, cname_a, date_a, ch_a, var_a, name_a, metric_a, value_a = (c.append for c in cols)
    for cid, blob in zip(ids, blobs, strict=True):
        for day in orjson.loads(blob)["data"]:
            date = dt.date.fromisoformat(day["time"])
            rows = [("all", None, None, day)]
            for channel, entries in (day.get("messages") or {}).items():
                for entry in entries or []:
                    var = entry.get("variation_api_id") or entry.get("variation_name")
                    rows.append((channel, var, entry.get("variation_name"), entry))
            for channel, var, name, obj in rows:
                for key, val in obj.items():
                    if val is None or key in ("time", "messages", "variation_api_id", "variation_name"):
                        continue
                    cid_a(cid)
                    cname_a(None)
                    date_a(date)
                    ch_a(channel)
                    var_a(var)
                    name_a(name)
                    metric_a(key)
                    value_a(val)
    return pl.DataFrame(dict(zip(POLARS_SCHEMA, cols, strict=True)), schema=POLARS_SCHEMA)


def phases(blobs: list[bytes], ids: list[str]) -> dict[str, float]:
    """Seconds of each phase of one batch run (decode+collect, parse, frame)."""
    parsed = ParsedColumns()
    t0 = time.perf_counter()
    days = {cid: collect_days(orjson.loads(blob), parsed=parsed)
            for cid, blob in zip(ids, blobs, strict=True)}
    t1 = time.perf_counter()
    for cid in ids:
        parse_days(cid, days.pop(cid), into=parsed)
    t2 = time.perf_counter()
    frame_from_parsed(parsed)
    t3 = time.perf_counter()
    return {"decode+collect_days": t1 - t0, "parse_days": t2 - t1, "frame_from_parsed": t3 - t2}


def run(quick: bool = False) -> dict[str, Any]:
    """Time the tidy conversion; see the module docstring."""
    n_campaigns = 40 if quick else 200
    repeats = 3 if quick else 7
    blobs = bodies_bytes(n_campaigns)
    ids = [campaign_id(k) for k in range(n_campaigns)]
    frame = production_batch(blobs, ids)
    n_rows = frame.height
    size = sum(map(len, blobs))
    del frame
    candidates: dict[str, Callable[[], Any]] = {
        "decode_batch": lambda: decode_batch(blobs),
        "production_batch": lambda: production_batch(blobs, ids),
        "decode_stream": lambda: decode_stream(blobs),
        "production_stream": lambda: production_stream(blobs, ids),
        "plain_loop": lambda: plain_loop(blobs, ids),
        "naive_pandas": lambda: naive_pandas(blobs, ids),
    }
    t = interleaved(candidates, repeats, only_once=frozenset({"naive_pandas", "plain_loop"}))
    phase = phases(blobs, ids)
    batch = ratio(t["production_batch"], t["decode_batch"])
    stream = ratio(t["production_stream"], t["decode_stream"])
    pandas_speedup = t["naive_pandas"].best / t["production_batch"].best
    results = [
        _row("orjson.loads, bodies kept (baseline)", t["decode_batch"], None),
        _row("braze_frames bytes -> tidy frame, batch (as api._fetch)", t["production_batch"],
             t["decode_batch"], target=f"<= {TARGET_DECODE_RATIO}x decode",
             ok=batch["best"] <= TARGET_DECODE_RATIO),
        _row("orjson.loads, each body dropped (baseline)", t["decode_stream"], None),
        _row("braze_frames bytes -> tidy frame, parse as bodies arrive", t["production_stream"],
             t["decode_stream"], target=f"<= {TARGET_DECODE_RATIO}x decode",
             ok=stream["best"] <= TARGET_DECODE_RATIO),
        _row("plain Python loop into polars, no validation (reference)", t["plain_loop"], t["decode_batch"]),
        _row("naive pandas json_normalize + melt", t["naive_pandas"], t["production_batch"],
             target=f">= {TARGET_PANDAS_SPEEDUP:g}x slower than braze_frames",
             ok=pandas_speedup >= TARGET_PANDAS_SPEEDUP),
    ]
    return {
        "benchmark": "tidy conversion (bytes -> polars frame)",
        "data": {"campaigns": n_campaigns, "days": 100, "json_mb": round(size / 1e6, 1), "rows": n_rows,
                 "json_bytes_per_row": round(size / n_rows, 1), "repeats": repeats},
        "results": results,
        "phases_seconds": {k: round(v, 3) for k, v in phase.items()},
        "summary": {"decode_ratio_batch": round(batch["best"], 2),
                    "decode_ratio_stream": round(stream["best"], 2),
                    "pandas_speedup": round(pandas_speedup, 1)},
    }


def _row(
    case: str, timing: Any, base: Any, *, target: str | None = None, ok: bool | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {"case": case, "best_s": round(timing.best, 3), "median_s": round(timing.median, 3)}
    if base is not None:
        r = ratio(timing, base)
        row |= {"vs": base.name, "ratio": round(r["best"], 2), "ratio_median": round(r["median"], 2)}
    if target is not None:
        row |= {"target": target, "ok": ok}
    return row


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
