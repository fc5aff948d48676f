"""Benchmark of the verbs where the data lives: a store written by the library, three engines.

Issue 16 / SPEC 10. A tidy history of ``--rows`` rows (default 20M: 500 campaigns x 730
days, each campaign a random subset of every channel's entries) is written with
``write_parquet(..., partition_by=True)``, the library's store layout as it is on this
branch, and read as it is by

- polars lazy (``pl.scan_parquet`` with hive partitioning),
- DuckDB (``read_parquet`` with hive partitioning, a relation),
- Spark local[2] (``spark.read.parquet``).

On each engine, in a process of its own, three queries run interleaved (floor, rates,
reconcile, floor, ...; best of ``--repeat`` rounds), each collected to Arrow in the driver:

- the **floor**: one ``group_by(campaign_id, channel, variation, month, metric).sum(value)``
  over the same store, written in the engine's own API;
- ``bf.rates(source, period="month")``;
- ``bf.reconcile(source, summary=True)``, and its daily detail alone (the one pass over
  the data, without the mean lag's fit per series).

Reported: seconds, each verb as a ratio to its engine's floor, the files and rows per file,
and the peak resident memory of the engine's process and its children (the JVM for
Spark), sampled every 10 ms. Targets (issue 16): within 3x of the floor on polars lazy and
DuckDB, within 4x on Spark.

Run: ``python bench/bench_engines.py`` (20M rows; the store is kept in ``--store`` and
reused when its row count matches), ``--rows 2000000`` for a quick look,
``--engines polars,duckdb`` to skip Spark (``pip install pyspark``; Java 17).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

ENGINES = ("polars", "duckdb", "spark")
TARGETS = {"polars": 3.0, "duckdb": 3.0, "spark": 4.0}
DAYS = 730


# ------------------------------------------------------------------------------- the store


def make_history(n_rows: int, seed: int = 0, days: int = DAYS) -> pl.DataFrame:
    """About ``n_rows`` tidy rows: campaigns x days, each campaign some channels' entries.

    Every campaign has the day-level ``"all"`` rows and five of the nine other channel
    blocks of ``bench_verbs.template()`` (control groups and per-variation conversions
    included), so about 55 rows a campaign-day, as in issue 16's store.
    """
    from bench_verbs import template

    from braze_frames._tidy import POLARS_SCHEMA

    tpl = pl.DataFrame(
        template(), schema={"channel": pl.String, "variation": pl.String, "variation_name": pl.String,
                            "metric": pl.String}, orient="row",
    )
    blocks = sorted(set(tpl.get_column("channel").to_list()) - {"all"})
    rng = np.random.default_rng(seed)
    start = dt.date(2023, 7, 1)
    dates = pl.DataFrame({"date": pl.date_range(start, start + dt.timedelta(days=days - 1), eager=True)})
    campaigns = []
    per_day = 0
    while per_day * days < n_rows:
        chosen = ["all", *rng.choice(blocks, size=5, replace=False).tolist()]
        rows = tpl.filter(pl.col("channel").is_in(chosen))
        per_day += rows.height
        i = len(campaigns)
        campaigns.append(
            dates.join(rows, how="cross").with_columns(
                pl.lit(f"cmp-{i:05d}").alias("campaign_id"), pl.lit(f"Campaign {i}").alias("campaign_name")
            )
        )
    frame = pl.concat(campaigns)
    values = np.floor(1000 * np.random.default_rng(seed + 1).random(frame.height) ** 3)
    frame = frame.with_columns(pl.Series("value", values))
    return frame.select(list(POLARS_SCHEMA)).cast(POLARS_SCHEMA)


def build_store(root: Path, n_rows: int, layout: str = "default") -> dict[str, Any]:
    """Write (or reuse) the store; describe its files.

    ``layout="default"`` is ``partition_by=True``, the library's layout on this branch;
    ``"month"`` is ``partition_by=["month"]``, the month-alone layout of SPEC 7 (version 2)
    as this branch's writer makes it (without the sorting and row-group sizing SPEC 7 adds).
    """
    from braze_frames.storage.parquet import write_parquet

    marker = root / "_bench_rows"
    if not (marker.exists() and marker.read_text() == str(n_rows)):
        frame = make_history(n_rows)
        started = time.perf_counter()
        write_parquet(frame, root, partition_by=True if layout == "default" else ["month"])
        written = time.perf_counter() - started
        marker.write_text(str(n_rows))
        (root / "_bench_write_seconds").write_text(f"{written:.1f}")
    files = sorted(p for p in root.rglob("*.parquet") if not p.name.startswith((".", "_")))
    counts = [pl.scan_parquet(p, hive_partitioning=False).select(pl.len()).collect().item() for p in files]
    sizes = [p.stat().st_size for p in files]
    layout = sorted({str(p.parent.relative_to(root)).split("=")[0] for p in files})
    return {
        "rows": int(sum(counts)),
        "files": len(files),
        "rows_per_file_median": int(np.median(counts)),
        "rows_per_file_mean": int(np.mean(counts)),
        "bytes_per_file_median": int(np.median(sizes)),
        "partition_levels": [p.split("=")[0] for p in str(files[0].parent.relative_to(root)).split(os.sep)],
        "layout_first_level": layout,
        "write_seconds": float((root / "_bench_write_seconds").read_text())
        if (root / "_bench_write_seconds").exists() else None,
    }


# ------------------------------------------------------------------------------- engines


def _partitions(root: Path) -> list[str]:
    """The hive partition columns of the store, from its first data file's path."""
    first = next(p for p in root.rglob("*.parquet") if not p.name.startswith((".", "_")))
    return [part.split("=")[0] for part in first.parent.relative_to(root).parts]


def _polars(root: Path) -> dict[str, Any]:
    import braze_frames as bf

    schema = dict.fromkeys(_partitions(root), pl.String)

    def source() -> pl.LazyFrame:
        return pl.scan_parquet(root / "**" / "*.parquet", hive_partitioning=True, hive_schema=schema)

    keys = ["campaign_id", "channel", "variation", "month", "metric"]
    return {
        "floor": lambda: source().group_by(keys).agg(pl.col("value").sum()).collect().to_arrow(),
        "rates_month": lambda: bf.rates(source(), "month").collect().to_arrow(),
        "reconcile_summary": lambda: bf.reconcile(source(), summary=True).collect().to_arrow(),
        "reconcile_detail": lambda: bf.reconcile(source()).collect().to_arrow(),
    }


def _duckdb(root: Path) -> dict[str, Any]:
    import duckdb

    import braze_frames as bf

    con = duckdb.connect()
    glob = f"{root}/**/*.parquet"
    types = ", ".join(f"'{c}': VARCHAR" for c in _partitions(root))
    read = f"read_parquet('{glob}', hive_partitioning=true, hive_types={{{types}}})"

    def source() -> Any:
        return con.sql(f"SELECT * FROM {read}")

    floor = (f"SELECT campaign_id, channel, variation, month, metric, sum(value) AS value FROM {read} "
             "GROUP BY ALL")
    return {
        "floor": lambda: con.sql(floor).to_arrow_table(),
        "rates_month": lambda: bf.rates(source(), "month").to_arrow_table(),
        "reconcile_summary": lambda: bf.reconcile(source(), summary=True).to_arrow_table(),
        "reconcile_detail": lambda: bf.reconcile(source()).to_arrow_table(),
    }


def _spark(root: Path) -> dict[str, Any]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F  # noqa: N812

    import braze_frames as bf

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("braze_frames-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "6g")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")

    def source() -> Any:
        return spark.read.parquet(str(root))

    keys = ["campaign_id", "channel", "variation", "month", "metric"]
    return {
        "floor": lambda: source().groupBy(*keys).agg(F.sum("value").alias("value")).toArrow(),
        "rates_month": lambda: bf.rates(source(), "month").toArrow(),
        "reconcile_summary": lambda: bf.reconcile(source(), summary=True).toArrow(),
        "reconcile_detail": lambda: bf.reconcile(source()).toArrow(),
    }


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (the JVM is Spark's child)."""
    total = 0
    todo = [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * page
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def _child(engine: str, root: str, repeat: int) -> dict[str, Any]:
    """One engine, in this process: interleaved rounds, then the peak memory."""
    import warnings

    warnings.simplefilter("ignore")
    make = {"polars": _polars, "duckdb": _duckdb, "spark": _spark}[engine]
    candidates = make(Path(root))
    peak = {"value": _tree_rss(os.getpid())}
    base = peak["value"]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["value"] = max(peak["value"], _tree_rss(os.getpid()))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # One untimed floor first: file listings, caches and (on Spark) the JIT warm up on it.
    candidates["floor"]()
    seconds: dict[str, list[float]] = {name: [] for name in candidates}
    rows: dict[str, int] = {}
    for _ in range(repeat):
        for name, run in candidates.items():
            started = time.perf_counter()
            table = run()
            seconds[name].append(time.perf_counter() - started)
            rows[name] = table.num_rows
            del table
    done.set()
    sampler.join()
    return {"seconds": seconds, "result_rows": rows, "peak_rss_mb": round(peak["value"] / 1e6),
            "start_rss_mb": round(base / 1e6)}


def run(n_rows: int = 20_000_000, engines: tuple[str, ...] = ENGINES, repeat: int = 3,
        store: Path | None = None, layout: str = "default") -> dict[str, Any]:
    """Build or reuse the store, then measure every engine in a process of its own."""
    import polars as pl_

    root = store or Path(os.environ.get("TMPDIR", "/tmp")) / f"braze-bench-store-{n_rows}-{layout}"
    root.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"store": build_store(root, n_rows, layout), "engines": {},
                              "polars": pl_.__version__,
                              "cpus": os.cpu_count(), "load_average_start": os.getloadavg()[0]}
    for engine in engines:
        out = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--child", engine, str(root), str(repeat)],
            capture_output=True, text=True, check=False,
        )
        if out.returncode:
            report["engines"][engine] = {"error": out.stderr.strip().splitlines()[-5:]}
            continue
        measured = json.loads(out.stdout.strip().splitlines()[-1])
        best = {k: min(v) for k, v in measured["seconds"].items()}
        measured["best_seconds"] = {k: round(v, 2) for k, v in best.items()}
        measured["ratio_to_floor"] = {
            k: round(v / best["floor"], 2) for k, v in best.items() if k != "floor"
        }
        measured["target"] = TARGETS[engine]
        report["engines"][engine] = measured
    report["load_average_end"] = os.getloadavg()[0]
    return report


def _print(report: dict[str, Any]) -> None:
    s = report["store"]
    print(f"store: {s['rows']:,} rows in {s['files']:,} files (median {s['rows_per_file_median']:,} rows, "
          f"{s['bytes_per_file_median'] / 1e3:.0f} kB a file), partitioned by {s['partition_levels']}; "
          f"load average {report['load_average_start']:.1f} -> {report['load_average_end']:.1f}")
    print(f"{'engine':8s} {'floor s':>8s} {'rates s':>8s} {'ratio':>6s} {'recon s':>8s} {'ratio':>6s} "
          f"{'detail s':>8s} {'ratio':>6s} {'target':>6s} {'peak MB':>8s}")
    for engine, m in report["engines"].items():
        if "error" in m:
            print(f"{engine:8s} failed: {m['error']}")
            continue
        b, r = m["best_seconds"], m["ratio_to_floor"]
        print(f"{engine:8s} {b['floor']:8.2f} {b['rates_month']:8.2f} {r['rates_month']:6.2f} "
              f"{b['reconcile_summary']:8.2f} {r['reconcile_summary']:6.2f} "
              f"{b['reconcile_detail']:8.2f} {r['reconcile_detail']:6.2f} {m['target']:6.1f} "
              f"{m['peak_rss_mb']:8d}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--layout", choices=("default", "month"), default="default",
                        help="partition_by=True (default) or ['month'] (SPEC 7, version 2)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.rows, tuple(args.engines.split(",")), args.repeat, args.store, args.layout)
    print(json.dumps(result, indent=2) if args.json else "", end="")
    _print(result)
