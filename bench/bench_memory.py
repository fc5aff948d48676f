"""Memory and disk: bytes per row of the tidy frame in polars, and in a Parquet file.

In memory: ``estimated_size() / height`` of the frame ``fetch_data_series`` returns (SPEC
dtypes: Categorical keys, Date, Float64), against, in the same run, the same rows with
plain String keys (what a row-by-row loop gives), and with ``pl.Enum`` keys (an
alternative, not the SPEC's dtypes). On disk: the file ``braze_frames.write_parquet``
writes (zstd, dictionary-encoded keys), as the rows come and sorted by series, against the
response JSON's own bytes per row.

Run alone: ``python bench/bench_memory.py [--quick]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import bodies_bytes, campaign_id
from bench_parse import production_batch

TARGET_PARQUET_BYTES_PER_ROW = 4.0
KEYS = ["campaign_id", "channel", "variation", "variation_name", "metric"]
#: Rows of one series (campaign, channel, variation, metric) next to each other, in date
#: order: the keys compress to a few runs and neighbouring values are alike.
SERIES_ORDER = ["campaign_id", "channel", "variation", "metric", "date"]


def with_enum_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """The same frame with ``pl.Enum`` key columns (categories: the values present, sorted)."""
    return frame.with_columns(
        pl.col(k).cast(pl.Enum(sorted(frame[k].drop_nulls().cast(pl.String).unique().to_list())))
        for k in KEYS
    )


def parquet_size(frame: pl.DataFrame, directory: Path, name: str) -> int:
    """Bytes of the file ``braze_frames.write_parquet`` writes for ``frame``."""
    from braze_frames.storage.parquet import write_parquet

    path = write_parquet(frame, directory / f"{name}.parquet")
    return path.stat().st_size


def run(quick: bool = False) -> dict[str, Any]:
    """Measure; see the module docstring."""
    n_campaigns = 40 if quick else 200
    blobs = bodies_bytes(n_campaigns)
    json_bytes = sum(map(len, blobs))
    frame = production_batch(blobs, [campaign_id(k) for k in range(n_campaigns)])
    del blobs
    rows = frame.height
    spec = frame.estimated_size() / rows
    strings = frame.with_columns(pl.col(KEYS).cast(pl.String)).estimated_size() / rows
    enum = with_enum_keys(frame).estimated_size() / rows
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        as_is = parquet_size(frame, directory, "as_is") / rows
        by_series = parquet_size(frame.sort(SERIES_ORDER), directory, "by_series") / rows
    json_per_row = json_bytes / rows
    target = f"<= {TARGET_PARQUET_BYTES_PER_ROW:g} B/row"
    return {
        "benchmark": "bytes per row (memory, Parquet)",
        "data": {"campaigns": n_campaigns, "rows": rows, "json_bytes_per_row": round(json_per_row, 1)},
        "results": [
            {"case": "in memory, String keys (baseline)", "value": round(strings, 1), "unit": "B/row"},
            {"case": "in memory, SPEC dtypes (Categorical keys)", "value": round(spec, 1), "unit": "B/row",
             "vs": "String keys", "ratio": round(spec / strings, 2)},
            {"case": "in memory, pl.Enum keys (alternative)", "value": round(enum, 1), "unit": "B/row",
             "vs": "String keys", "ratio": round(enum / strings, 2)},
            {"case": "response JSON (baseline)", "value": round(json_per_row, 1), "unit": "B/row"},
            {"case": "Parquet (write_parquet), rows as fetched", "value": round(as_is, 2), "unit": "B/row",
             "vs": "JSON", "ratio": round(as_is / json_per_row, 3),
             "target": target, "ok": as_is <= TARGET_PARQUET_BYTES_PER_ROW},
            {"case": "Parquet (write_parquet), sorted by series", "value": round(by_series, 2),
             "unit": "B/row", "vs": "JSON", "ratio": round(by_series / json_per_row, 3),
             "target": target, "ok": by_series <= TARGET_PARQUET_BYTES_PER_ROW},
        ],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
