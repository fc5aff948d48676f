"""Benchmark of the verbs (pivot, rates, reconcile) on a large tidy frame.

Three paths side by side, in one run, on the same rows:

- ``polars``: our function on a polars DataFrame;
- ``ours_pandas``: the same function on the pandas version of the frame;
- ``hand_pandas``: a straightforward hand-written pandas version (pivot / groupby /
  unstack), producing the same table.

Targets: polars >= 3x faster than hand pandas; ours on pandas <= 1.3x hand pandas; peak
memory (resident set growth during the call) <= 2x the input frame's size.

The frame is built directly (vectorised), not parsed from JSON, so that 5M rows take a
second: 12 channels' worth of entries per campaign-day, every documented channel's schema,
email extras, a control group with ``enrolled``, per-variation conversions, and the day
level ``"all"`` rows with four conversion events.

Run: ``python bench/bench_verbs.py`` (5M rows) or ``python bench/bench_verbs.py --quick``.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import gc
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from braze_frames._schema import CHANNEL_SCHEMAS, PUSH_CHANNELS
from braze_frames._tidy import POLARS_SCHEMA
from braze_frames.verbs.pivot import pivot
from braze_frames.verbs.rates import rates
from braze_frames.verbs.reconcile import reconcile

_CONVERSIONS = [f"conversions{k}" for k in ("", "1", "2", "3")]
_CONVERSIONS += [f"{c}_by_send_time" for c in _CONVERSIONS]
_ALL = ["unique_recipients", "revenue", *_CONVERSIONS]
_PER_VARIATION = ["unique_recipients", "revenue", "conversions", "conversions_by_send_time"]
_KEYS5 = ["campaign_id", "date", "channel", "variation", "variation_name"]


def template() -> list[tuple[str, str | None, str | None, str]]:
    """One campaign-day's (channel, variation, variation_name, metric) rows."""
    rows: list[tuple[str, str | None, str | None, str]] = [("all", None, None, m) for m in _ALL]
    for channel in ("email", "ios_push", "android_push", "web_push", "sms", "whats_app",
                    "content_cards", "in_app_message", "webhook"):
        metrics = list(CHANNEL_SCHEMAS[channel])
        if channel == "email":
            metrics.append("machine_open")
        if channel in ("ios_push", "webhook"):
            metrics += _PER_VARIATION
        for v in ("1", "2") if channel in ("email", "ios_push") else ("1",):
            rows += [(channel, f"{channel}-v{v}", f"Variant {v}", m) for m in metrics]
    rows += [("ios_push", "ios_push-cg", "Control Group", m) for m in ("enrolled", *_PER_VARIATION)]
    return rows


def make_tidy(n_rows: int, seed: int = 0, days: int = 365) -> pl.DataFrame:
    """A tidy polars frame of ``n_rows`` rows (campaigns x days x the template)."""
    tpl = pl.DataFrame(
        template(),
        schema={"channel": pl.String, "variation": pl.String, "variation_name": pl.String,
                "metric": pl.String},
        orient="row",
    )
    n_campaigns = -(-n_rows // (len(tpl) * days))
    start = dt.date(2024, 1, 1)
    grid = pl.DataFrame({
        "campaign_id": [f"cmp-{i:05d}" for i in range(n_campaigns)],
        "campaign_name": [f"Campaign {i}" for i in range(n_campaigns)],
    }).join(
        pl.DataFrame({"date": pl.date_range(start, start + dt.timedelta(days=days - 1), eager=True)}),
        how="cross",
    )
    frame = grid.join(tpl, how="cross").head(n_rows)
    rng = np.random.default_rng(seed)
    values = np.floor(1000 * rng.random(len(frame)) ** 3)
    return frame.with_columns(pl.Series("value", values)).select(list(POLARS_SCHEMA)).cast(POLARS_SCHEMA)


# --------------------------------------------------------------------- hand-written pandas


def hand_pivot(pdf: Any) -> Any:
    """What people write: one column per metric."""
    return pdf.pivot(index=_KEYS5, columns="metric", values="value").reset_index()


_PUSH = sorted(PUSH_CHANNELS)
_INFLUENCED = ["ios_push", "android_push", "kindle_push", "apple_push"]
_IN_APP = ["in_app_message", "trigger_in_app_message"]


_KEYS6 = ["campaign_id", "campaign_name", "channel", "variation", "variation_name", "date"]
_EMAIL_RATES = (("delivery_rate", "delivered", "sent"), ("bounce_rate", "bounces", "sent"),
                ("open_rate", "opens", "delivered"), ("unique_open_rate", "unique_opens", "delivered"),
                ("click_rate", "clicks", "delivered"), ("unique_click_rate", "unique_clicks", "delivered"),
                ("click_to_open_rate", "unique_clicks", "unique_opens"),
                ("unsubscribe_rate", "unsubscribes", "delivered"), ("spam_rate", "reported_spam", "sent"))
_SMS_RATES = (("delivery_rate", "delivered", "sent"), ("failure_rate", "delivery_failed", "sent"),
              ("rejection_rate", "rejected", "sent"), ("click_rate", "clicks", "delivered"),
              ("opt_out_rate", "opt_out", "delivered"))
_WHATS_APP_RATES = (("delivery_rate", "delivered", "sent"), ("read_rate", "read", "sent"),
                    ("failure_rate", "failed", "sent"))
_CARD_RATES = (("click_rate", "total_clicks", "total_impressions"),
               ("unique_click_rate", "unique_clicks", "unique_impressions"),
               ("dismissal_rate", "total_dismissals", "total_impressions"),
               ("unique_dismissal_rate", "unique_dismissals", "unique_impressions"))
_IN_APP_RATES = (("click_rate", "clicks", "impressions"), ("first_button_click_rate", "first_button_clicks",
                                                             "impressions"),
                 ("second_button_click_rate", "second_button_clicks", "impressions"))


def hand_rates(pdf: Any, period: str) -> Any:
    """Braze's rates by hand, as SPEC 5 has them: wide per day, masks, then sums per period.

    What a careful pandas user writes: one row per (campaign, channel, variation, day)
    with a column per metric; control groups found per variation; for each rate, the days
    where every term is present summed per period; ``complete`` against the frame's dates.
    """
    import pandas as pd

    wide = pdf.set_index([*_KEYS6, "metric"])["value"].unstack("metric")
    index = wide.index.to_frame(index=False)
    channel = index["channel"].astype(str).to_numpy()

    def col(name: str) -> Any:
        return wide[name].to_numpy() if name in wide else np.full(len(wide), np.nan)

    # Control: a variation with enrolled and none of its channel's schema metrics, anywhere.
    schema = np.zeros(len(wide), dtype=bool)
    for ch in np.unique(channel):
        rows = channel == ch
        present = [m for m in CHANNEL_SCHEMAS.get(ch, ()) if m in wide]
        if present:
            schema[rows] = wide.loc[rows, present].notna().to_numpy().any(axis=1)
    flags = pd.DataFrame({"e": ~np.isnan(col("enrolled")), "s": schema})
    unit = [index["campaign_id"], index["channel"], index["variation"]]
    anywhere = flags.groupby(unit, observed=True, dropna=False).transform("any")
    control = (anywhere["e"] & ~anywhere["s"]).to_numpy() & (channel != "all")

    date = index["date"]
    if period == "week":
        index["period"] = date - pd.to_timedelta(date.dt.day_of_week, unit="D")
    elif period == "month":
        index["period"] = date.dt.to_period("M").dt.start_time.astype(date.dtype)
    keys = ["campaign_id", "campaign_name", "channel", "variation", "variation_name"]
    group = [*keys, *(["period"] if period != "total" else [])]
    parts = []

    def add(name: str, channels: Any, num: Any, den: Any, terms: Any, numerators: Any,
            enrolled_den: bool = False) -> None:
        applies = np.isin(channel, channels) if channels is not None else np.ones(len(wide), dtype=bool)
        present = np.logical_and.reduce([~np.isnan(t) for t in terms])
        if enrolled_den:
            enrolled = col("enrolled")
            den = np.where(control, enrolled, den)
            as_control = np.logical_and.reduce([~np.isnan(t) for t in (*numerators, enrolled)])
            present = np.where(control, as_control, present)
        has = applies & np.logical_or.reduce([~np.isnan(t) for t in numerators])
        ok = applies & present
        frame = index.loc[has, group].assign(
            n=np.where(ok, num, 0.0)[has], d=np.where(ok, den, 0.0)[has], days=ok[has].astype(np.int64)
        )
        summed = frame.groupby(group, observed=True, dropna=False, sort=False).sum()
        parts.append(summed.assign(metric=name))

    for name, num, den in _EMAIL_RATES:
        add(name, ["email"], col(num), col(den), (col(num), col(den)), (col(num),))
    sent, bounces = col("sent"), col("bounces")
    delivered = sent - bounces
    add("bounce_rate", _PUSH, bounces, sent, (bounces, sent), (bounces,))
    add("delivery_rate", _PUSH, delivered, sent, (sent, bounces), (sent, bounces))
    for name, opens in (("direct_open_rate", "direct_opens"), ("total_open_rate", "total_opens")):
        add(name, _PUSH, col(opens), delivered, (col(opens), sent, bounces), (col(opens),))
    total, direct = col("total_opens"), col("direct_opens")
    add("influenced_open_rate", _INFLUENCED, total - direct, delivered, (total, direct, sent, bounces),
        (total, direct))
    for channels, table in ((["sms"], _SMS_RATES), (["whats_app"], _WHATS_APP_RATES),
                            (["content_cards"], _CARD_RATES), (_IN_APP, _IN_APP_RATES)):
        for name, num, den in table:
            add(name, channels, col(num), col(den), (col(num), col(den)), (col(num),))
    add("error_rate", ["webhook"], col("errors"), sent, (col("errors"), sent), (col("errors"),))
    recipients = col("unique_recipients")
    for k in ("", "1", "2", "3"):
        for prefix, metric in (("", f"conversions{k}"), ("cohort_", f"conversions{k}_by_send_time")):
            c = col(metric)
            add(f"{prefix}conversion_rate{k}", None, c, recipients, (c, recipients), (c,), enrolled_den=True)
    revenue = col("revenue")
    add("revenue_per_recipient", None, revenue, recipients, (revenue, recipients), (revenue,),
        enrolled_den=True)

    out = pd.concat(parts).reset_index()
    entered = out["days"] > 0
    out["numerator"] = out["n"].where(entered)
    out["denominator"] = out["d"].where(entered)
    out["value"] = out["numerator"] / out["denominator"].where(out["denominator"] != 0)
    if period in ("week", "month"):
        after = date.max() + pd.Timedelta(days=1)
        next_start = (after - pd.Timedelta(days=after.day_of_week) if period == "week"
                      else after.to_period("M").start_time)
        out["complete"] = (out["period"] >= date.min()) & (out["period"] < next_start)
    else:
        out["complete"] = True
    out = out.rename(columns={"period": "date"})
    return out.drop(columns=["n", "d"])


def hand_reconcile(pdf: Any) -> Any:
    """Both conversion attributions side by side with a running difference, by hand."""
    conv = pdf[pdf["metric"].str.startswith("conversions")]
    metric = conv["metric"]
    side = np.where(metric.str.endswith("_by_send_time"), "by_send_date", "by_conversion_date")
    event = metric.str.removesuffix("_by_send_time")
    keys = ["campaign_id", "campaign_name", "channel", "variation", "variation_name", "event", "date"]
    wide = (
        conv.assign(event=event, side=side)
        .set_index([*keys, "side"])["value"]
        .unstack("side")
        .sort_index()
    )
    wide["difference"] = wide["by_conversion_date"] - wide["by_send_date"]
    group = wide["difference"].fillna(0).groupby(level=[0, 1, 2, 3, 4, 5], dropna=False, observed=True)
    wide["cumulative_difference"] = group.cumsum()
    return wide.reset_index()


# ----------------------------------------------------------------------------- measuring

PATHS = ("polars", "ours_pandas", "hand_pandas")
VERBS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "pivot": (pivot, hand_pivot),
    "rates_total": (lambda d: rates(d, "total"), lambda d: hand_rates(d, "total")),
    "rates_week": (lambda d: rates(d, "week"), lambda d: hand_rates(d, "week")),
    "reconcile": (reconcile, hand_reconcile),
}


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


class _Sampler(threading.Thread):
    """Samples the resident set every millisecond until stopped; keeps the maximum."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _rss()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.001)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return max(self.peak, _rss())


def timing(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best wall time and best CPU time (all threads) over ``repeat`` runs."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
        del result
    return wall, cpu


def peak_growth(fn: Callable[[], Any]) -> int:
    """Peak growth of the resident set during one call, sampled every millisecond.

    Run it where freed memory goes straight back to the OS (see ``_ALLOCATORS``), or
    the call reuses pages freed earlier and the growth reads low.
    """
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
    base = _rss()
    sampler = _Sampler()
    sampler.start()
    result = fn()
    peak = sampler.stop()
    del result
    return peak - base


#: For the memory runs only: allocators that return freed memory to the OS at once
#: (polars' jemalloc, pyarrow's pool), so the resident set tracks live memory.
_ALLOCATORS = {
    "_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0",
    "ARROW_DEFAULT_MEMORY_POOL": "system",
}


def _child(verb: str, path: str, n_rows: int, repeat: int, mode: str) -> dict[str, float]:
    """One (verb, path) measurement in a process of its own: ``time`` or ``memory``."""
    libc = _libc()
    if libc is not None and mode == "memory":
        # M_MMAP_THRESHOLD: large buffers always come from (and go back to) mmap.
        libc.mallopt(-3, 1 << 17)
    frame: Any = make_tidy(n_rows)
    if path != "polars":
        frame = frame.to_pandas()
    size = frame.estimated_size() if path == "polars" else int(frame.memory_usage(deep=True).sum())
    ours, hand = VERBS[verb]
    fn = hand if path == "hand_pandas" else ours
    if mode == "memory":
        # Warm up on a small frame first: imports (pyarrow, ~25 MB of libraries) and caches
        # made once per process are not part of what a call costs.
        small: Any = make_tidy(20_000)
        fn(small if path == "polars" else small.to_pandas())
        del small
        return {"peak_bytes": peak_growth(lambda: fn(frame)), "input_bytes": size}
    wall, cpu = timing(lambda: fn(frame), repeat)
    return {"seconds": wall, "cpu_seconds": cpu, "input_bytes": size}


def _spawn(verb: str, path: str, n_rows: int, repeat: int, mode: str) -> dict[str, float]:
    env = {**os.environ, **(_ALLOCATORS if mode == "memory" else {})}
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", verb, path, str(n_rows),
         str(repeat), mode],
        capture_output=True, text=True, check=True, env=env,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def check_same_tables(n_rows: int = 60_000) -> None:
    """The hand-written pandas must give our tables (else the ratios compare different work)."""
    from polars.testing import assert_frame_equal

    frame = make_tidy(n_rows, days=40)
    pdf = frame.to_pandas()

    def plain(native: Any, keys: list[str]) -> pl.DataFrame:
        out = native if isinstance(native, pl.DataFrame) else pl.from_pandas(native)
        out = out.with_columns(pl.col(pl.Categorical).cast(pl.String), pl.col(pl.Datetime).cast(pl.Date))
        return out.sort(keys, nulls_last=False)

    for period in ("total", "week"):
        ours = rates(frame, period)
        keys = [c for c in ours.columns if c in ("campaign_id", "date", "channel", "variation", "metric")]
        hand = plain(hand_rates(pdf, period), keys).select(ours.columns)
        assert_frame_equal(plain(ours, keys), hand, check_dtypes=False, abs_tol=1e-9)
    ours_detail = reconcile(frame)
    keys = ["campaign_id", "channel", "variation", "event", "date"]
    hand_detail = plain(hand_reconcile(pdf), keys).select(ours_detail.columns)
    assert_frame_equal(plain(ours_detail, keys), hand_detail, check_dtypes=False, abs_tol=1e-9)


def run(n_rows: int = 5_000_000, quick: bool = False, repeat: int = 3) -> dict[str, Any]:
    """Time every verb on the three paths and report ratios against the targets.

    Each (verb, path) runs in fresh Python processes on an identical frame: ``repeat``
    interleaved rounds of timing (best of two calls each, best round kept; wall and CPU
    time), then one for the memory (peak growth of the resident set with allocators that
    hand memory back at once).

    Returns:
        ``{"rows", "input_mb", "load_average", "verbs": {verb: {path: {"seconds",
        "cpu_seconds", "peak_mb"}}}, "ratios": {verb: {...}}}``.
    """
    import pandas as pd

    if quick:
        n_rows = min(n_rows, 500_000)
    check_same_tables()
    report: dict[str, Any] = {
        "rows": n_rows, "input_mb": {}, "pandas": pd.__version__, "polars": pl.__version__,
        "cpus": os.cpu_count(), "load_average": os.getloadavg()[0], "verbs": {}, "ratios": {},
    }
    for verb in VERBS:
        got: dict[str, dict[str, float]] = {}
        # Rounds interleave the paths (polars, ours_pandas, hand_pandas, polars, ...) so
        # that a burst of load on this shared machine hits every path alike; each path
        # keeps its best round. Quick runs time one round and skip the memory processes.
        for _ in range(1 if quick else repeat):
            for path in PATHS:
                timed = _spawn(verb, path, n_rows, 1 if quick else 2, "time")
                if path not in got or timed["seconds"] < got[path]["seconds"]:
                    got[path] = timed
        if not quick:
            for path in PATHS:
                got[path] |= _spawn(verb, path, n_rows, 1, "memory")
        if not quick:
            report["input_mb"] = {
                "polars": round(got["polars"]["input_bytes"] / 1e6, 1),
                "pandas": round(got["hand_pandas"]["input_bytes"] / 1e6, 1),
            }
        report["verbs"][verb] = {
            path: {
                "seconds": round(m["seconds"], 3),
                "cpu_seconds": round(m["cpu_seconds"], 3),
                "peak_mb": round(m["peak_bytes"] / 1e6, 1) if "peak_bytes" in m else None,
            }
            for path, m in got.items()
        }
        hand = got["hand_pandas"]
        report["ratios"][verb] = {
            "polars_speedup_vs_hand": round(hand["seconds"] / got["polars"]["seconds"], 2),
            "ours_pandas_vs_hand": round(got["ours_pandas"]["seconds"] / hand["seconds"], 2),
            "ours_pandas_vs_hand_cpu": round(
                got["ours_pandas"]["cpu_seconds"] / hand["cpu_seconds"], 2
            ),
            **{
                f"{path}_peak_vs_input": round(m["peak_bytes"] / m["input_bytes"], 2)
                for path, m in got.items()
                if "peak_bytes" in m
            },
        }
    report["load_average_end"] = os.getloadavg()[0]
    return report


def _print(report: dict[str, Any]) -> None:
    print(f"{report['rows']:,} tidy rows; input {report['input_mb']} MB; "
          f"polars {report['polars']}, pandas {report['pandas']}, {report['cpus']} CPUs, "
          f"load average {report['load_average']:.1f} -> {report['load_average_end']:.1f}")
    print(f"{'verb':12s} {'path':12s} {'wall s':>8s} {'cpu s':>8s} {'peak MB':>8s}")
    for verb, paths in report["verbs"].items():
        for path, m in paths.items():
            peak = "-" if m["peak_mb"] is None else f"{m['peak_mb']:.0f}"
            print(f"{verb:12s} {path:12s} {m['seconds']:8.2f} {m['cpu_seconds']:8.2f} {peak:>8s}")
    print("\nratios (targets: polars speedup >= 3, ours_pandas/hand <= 1.3, peak/input <= 2)")
    for verb, r in report["ratios"].items():
        print(f"{verb:12s} " + "  ".join(f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _verb, _path, _rows, _repeat, _mode = sys.argv[2:7]
        print(json.dumps(_child(_verb, _path, int(_rows), int(_repeat), _mode)))
    else:
        _print(run(quick="--quick" in sys.argv))
