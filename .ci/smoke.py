"""A plain install runs every verb (issue 14): no extras, no pandas, the sandbox only.

Run by .ci/run in a fresh venv made with ``python -m venv`` and ``pip install .`` (no
extras), from outside the checkout so that the installed package is the one imported.
Exits non-zero on the first thing that fails.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import pathlib
import sys
import tempfile

import braze_frames as bf
from braze_frames.sandbox import Sandbox

here = pathlib.Path(bf.__file__).resolve()
assert "site-packages" in here.parts, f"imported {here}, not the installed package"
for extra in ("pandas", "matplotlib", "boto3", "deltalake", "duckdb"):
    # The point of the job: nothing an extra brings is there.
    assert importlib.util.find_spec(extra) is None, f"{extra} is installed: this venv is not plain"

with Sandbox(seed=0) as sb, bf.BrazeClient(sb.api_key, sb.url) as client:
    ids = sb.campaign_ids[:4]
    df = bf.fetch_data_series(ids, length=60, client=client)
    assert df.height > 0, "the sandbox gave no rows"
    wide = bf.pivot(df)
    rates = bf.rates(df, period="month")
    summary = bf.reconcile(df, summary=True)
    detail = df.braze.reconcile()
    done = ["fetch", "pivot", "rates", "reconcile"]
    trial = next(c for c in sb.campaign_ids if sb.campaign(c).name == "Checkout Reminder Experiment")
    readout = bf.experiment(bf.fetch_data_series(trial, length=60, client=client))
    assert readout.height == 3 and readout.get_column("p_value").null_count() == 1
    canvas = bf.fetch_canvas_series(sb.canvas_ids[1], length=28, client=client)
    assert bf.rates(canvas, period="total").height > 0 and bf.reconcile(canvas, summary=True).height > 0
    kpis = bf.fetch_series(["dau", "mau"], length=60, client=client)
    assert bf.rates(kpis, period="month").height > 0
    done += ["experiment", "Canvas", "workspace series"]
    with tempfile.TemporaryDirectory() as tmp:
        out = bf.write_parquet(df, f"{tmp}/df.parquet")
        assert bf.read_parquet(out).equals(df)
        root = bf.write_parquet(df, f"{tmp}/ds", partition_by=True)
        assert bf.read_parquet(root).height == df.height
        bf.write_parquet(rates, f"{tmp}/rates.parquet")
        start = sb.today - dt.timedelta(days=20)
        report = bf.sync(f"{tmp}/store", ids[:2], start=start, end=sb.today, client=client)
        assert bf.read_store(f"{tmp}/store").height == report.rows_written > 0
        done.append("parquet and sync")
print(f"plain install OK ({sys.version.split()[0]}): {', '.join(done)}; "
      f"{df.height} rows, {wide.height} wide rows, {rates.height} rates, {summary.height} summary rows, "
      f"{detail.height} reconcile rows")
