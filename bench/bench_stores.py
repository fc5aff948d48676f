"""Where the store lives: a two-year, 50-campaign sync into S3 and Delta, against a local folder.

Each round syncs the same campaigns and days from the sandbox (warmed once, no latency)
into a fresh store of each kind, interleaved (local Parquet, S3 Parquet, local Delta,
S3 Delta, ...): a first sync of the whole range, then a look-back sync (the 30 days Braze
restates), as a daily job would run. The S3 server is moto's server mode on 127.0.0.1 in
a child process (the tests' ``_support_s3``): a real S3 protocol over HTTP, so the ratio
counts every request and byte, though not a real network's latency.

Also the bytes per row on disk: the hive Parquet store (one file per month), the Delta
table as a sync leaves it (one set of files per batch commit), and after
``optimize.compact()``.

Usage: ``python bench/bench_stores.py [--quick]`` (or through ``bench/run.py``).
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _timing import interleaved, ratio


def _size(path: Path, pattern: str = "**/*.parquet") -> int:
    return sum(p.stat().st_size for p in path.glob(pattern) if p.is_file())


def run(quick: bool = False) -> dict[str, Any]:
    from _support_s3 import running_s3

    import braze_frames as bf
    from braze_frames.sandbox import Sandbox

    n_campaigns, n_days, repeats = (10, 200, 2) if quick else (50, 730, 3)
    today = dt.date(2026, 6, 30)
    start = today - dt.timedelta(days=n_days - 1)
    work = Path(tempfile.mkdtemp(prefix="bench-stores-"))
    counter = iter(range(10_000))
    rows: dict[str, int] = {}
    with running_s3() as s3, Sandbox(seed=0, today=today, n_campaigns=n_campaigns) as sb, \
            bf.BrazeClient(sb.api_key, sb.url) as client:
        ids = sb.campaign_ids[:n_campaigns]
        sb.warm(ids)
        bucket = s3.bucket()

        def job(kind: str) -> Callable[[], None]:
            def go() -> None:
                n = next(counter)
                fmt = "delta" if "delta" in kind else "parquet"
                if kind.startswith("s3"):
                    store: str = f"s3://{bucket}/{kind}-{n}"
                    options: dict[str, str] | None = s3.options
                else:
                    store, options = str(work / f"{kind}-{n}"), None
                bf.sync(store, ids, start=start, end=today, client=client, format=fmt,
                        storage_options=options, progress=False)
                report = bf.sync(store, ids, end=today, client=client, format=fmt,
                                 storage_options=options, progress=False)
                rows[kind] = report.rows_written
            return go

        kinds = ("local parquet", "s3 parquet", "local delta", "s3 delta")
        jobs = {k: job(k.replace(" ", "-")) for k in kinds}
        for go in jobs.values():  # warm-up: imports, the client's window reading
            go()
        timings = interleaved(jobs, repeats)

        # Bytes per row, on one more store of each local kind.
        parquet, delta = work / "size-parquet", work / "size-delta"
        bf.sync(parquet, ids, start=start, end=today, client=client, progress=False)
        bf.sync(delta, ids, start=start, end=today, client=client, format="delta", progress=False)
        total = bf.read_store(parquet).height
        from deltalake import DeltaTable

        table = DeltaTable(str(delta))
        files_before = len(table.file_uris())
        delta_bytes = _size(delta)  # every file a commit made (all still referenced)
        table.optimize.compact()
        table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        table = DeltaTable(str(delta))
        result = {
            "campaigns": n_campaigns,
            "days": n_days,
            "rows": total,
            "s3 parquet / local parquet": ratio(timings["s3 parquet"], timings["local parquet"]),
            "local delta / local parquet": ratio(timings["local delta"], timings["local parquet"]),
            "s3 delta / s3 parquet": ratio(timings["s3 delta"], timings["s3 parquet"]),
            "seconds (best)": {k: round(t.best, 2) for k, t in timings.items()},
            "parquet B/row": _size(parquet) / total,
            "parquet files": len(list(parquet.glob("month=*/*.parquet"))),
            "delta B/row (as synced)": delta_bytes / total,
            "delta files (as synced)": files_before,
            "delta B/row (after optimize + vacuum)": _size(delta) / total,
            "delta files (after optimize)": len(table.file_uris()),
        }
    shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run("--quick" in sys.argv), indent=1))
