"""Canvas frames on disk: Parquet files and datasets, and the Canvas table of a sync store.

A store keeps Canvases apart from campaigns (``_canvas/``: its own manifest and month
partitions), in Parquet and in Delta, with the same incremental plan, crash safety and
lock. Expected rows come from ``fetch_canvas_series`` over the same range (itself checked
against the served bodies in ``test_canvas``) and from the sandbox's calendar.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.dataset as pads
import pytest
from _support_http import RecordedRequest, Reply, ScriptedServer
from polars.testing import assert_frame_equal

import braze_frames as bf
from braze_frames._errors import DataRepairWarning
from braze_frames._tables import CANVAS_TABLE
from braze_frames._tidy import CANVAS_POLARS_SCHEMA
from braze_frames.sandbox import Sandbox
from braze_frames.storage import delta as delta_store
from braze_frames.storage.lock import StoreLockedError, _store_lock
from braze_frames.storage.store import MANIFEST_NAME

T = dt.date(2025, 6, 30)
KEYS = list(CANVAS_TABLE.key_columns)


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=T) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[bf.BrazeClient]:
    with bf.BrazeClient(sandbox.api_key, sandbox.url) as c, warnings.catch_warnings():
        warnings.simplefilter("ignore", DataRepairWarning)  # Canvas 0 sends two emails in a step
        yield c


@pytest.fixture(scope="module")
def canvas_frame(sandbox: Sandbox) -> pl.DataFrame:
    with bf.BrazeClient(sandbox.api_key, sandbox.url) as c, warnings.catch_warnings():
        warnings.simplefilter("ignore", DataRepairWarning)
        frame: pl.DataFrame = bf.fetch_canvas_series(sandbox.canvas_ids[:2], start=T - days(45), end=T,
                                                     client=c)
    return frame


def canonical(frame: Any) -> pl.DataFrame:
    if not isinstance(frame, pl.DataFrame):
        frame = pl.from_pandas(frame).with_columns(pl.col("date").cast(pl.Date))
    return frame.with_columns(pl.col(c).cast(pl.String) for c in CANVAS_TABLE.string_columns) \
        .select(CANVAS_TABLE.columns).sort(KEYS, nulls_last=False)


# --- Parquet files ------------------------------------------------------------------------


def test_both_backends_write_the_same_canvas_file(tmp_path: Path, canvas_frame: pl.DataFrame) -> None:
    from_polars = bf.write_parquet(canvas_frame, tmp_path / "p.parquet")
    from_pandas = bf.write_parquet(canvas_frame.to_pandas(), tmp_path / "d.parquet")
    import pyarrow.parquet as pq

    a, b = pq.read_table(from_polars), pq.read_table(from_pandas)
    assert a.schema.remove_metadata() == b.schema.remove_metadata()
    assert a.equals(b)
    meta = bf.parquet_metadata(from_polars)
    assert meta["kind"] == "canvas"
    assert meta["canvas_ids"] == sorted(canvas_frame["canvas_id"].cast(pl.String).unique())
    back = bf.read_parquet(from_polars)
    assert back.schema == pl.Schema(CANVAS_POLARS_SCHEMA)
    assert_frame_equal(canonical(back), canonical(canvas_frame))
    pandas_back = bf.read_parquet(from_pandas, backend="pandas")
    assert {str(t) for c, t in pandas_back.dtypes.items() if c not in ("date", "value")} == {"category"}
    assert_frame_equal(canonical(pandas_back), canonical(canvas_frame))


def test_a_partitioned_canvas_dataset_reads_back(tmp_path: Path, canvas_frame: pl.DataFrame) -> None:
    root = bf.write_parquet(canvas_frame, tmp_path / "ds", partition_by=True)
    months = sorted(p.name for p in Path(root).glob("month=*"))
    assert months == sorted({f"month={d:%Y-%m}" for d in canvas_frame["date"]})
    back = bf.read_parquet(root)
    assert back.columns == list(bf.CANVAS_COLUMNS)
    assert_frame_equal(canonical(back), canonical(canvas_frame))
    scanned = pl.scan_parquet(f"{root}/month=*/*.parquet", hive_partitioning=True).collect()
    assert scanned.height == canvas_frame.height


def test_a_tidy_kind_is_refused_for_a_canvas_frame(tmp_path: Path, canvas_frame: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="kind='tidy' needs exactly the columns"):
        bf.write_parquet(canvas_frame, tmp_path / "x.parquet", kind="tidy")
    with pytest.raises(ValueError, match="canvas_id, date, channel, metric must never be null"):
        bf.write_parquet(canvas_frame.with_columns(pl.lit(None, pl.String).alias("metric")),
                         tmp_path / "y.parquet")


# --- the store ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "delta"])
def test_canvases_live_apart_from_campaigns(tmp_path: Path, sandbox: Sandbox, client: bf.BrazeClient,
                                           fmt: str) -> None:
    store = tmp_path / "store"
    first, last = T - days(60), T - days(1)
    campaigns = bf.sync(store, sandbox.campaign_ids[:1], start=first, end=last, client=client,
                        format=fmt)  # type: ignore[arg-type]
    before = bf.read_store(store)
    ids = sandbox.canvas_ids[:2]
    report = bf.sync(store, canvases=ids, start=first, end=last, client=client,
                     format=fmt)  # type: ignore[arg-type]
    assert (report.campaigns, report.canvases) == (0, 2)
    assert report.days_fetched == 2 * 60
    assert "Canvas-days" in str(report)
    # The campaign table did not move; the Canvas table is what a fetch gives.
    assert_frame_equal(canonical_tidy(bf.read_store(store)), canonical_tidy(before))
    expected = bf.fetch_canvas_series(ids, start=first, end=last, client=client)
    got = bf.read_store(store, table="canvas")
    assert got.schema == pl.Schema(CANVAS_POLARS_SCHEMA)
    assert_frame_equal(canonical(got), canonical(expected))
    lazy = bf.read_store(store, table="canvas", lazy=True)
    assert isinstance(lazy, pl.LazyFrame)
    assert_frame_equal(canonical(lazy.collect()), canonical(expected))
    assert_frame_equal(canonical(bf.read_store(store, table="canvas", backend="pandas")),
                       canonical(expected))
    folder = store / "_canvas"
    if fmt == "parquet":
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        assert sorted(p.name for p in folder.glob("month=*")) == ["month=2025-05", "month=2025-06"]
        # The root dataset stays the campaigns': readers of the root skip _canvas/.
        root_files = pads.dataset(store, format="parquet", partitioning="hive").files
        assert root_files and not any("/_canvas/" in f for f in root_files)
        assert bf.read_parquet(store).columns == list(bf.TIDY_COLUMNS)
    else:
        manifest = delta_store.manifest_json(folder, "canvases")
        assert delta_store.is_delta(folder)
    records = manifest["canvases"]
    assert set(records) == set(ids)
    welcome = records[ids[0]]
    assert (welcome["first"], welcome["last"]) == (first.isoformat(), last.isoformat())
    assert welcome["name"] == sandbox.canvas(ids[0]).name
    assert welcome["steps"] == {s.id: s.name for s in sandbox.canvas(ids[0]).steps}
    assert welcome["variants"] == {v.id: v.name for v in sandbox.canvas(ids[0]).variants}
    assert campaigns.canvases == 0


def canonical_tidy(frame: pl.DataFrame) -> pl.DataFrame:
    strings = [c for c in bf.TIDY_COLUMNS if c not in ("date", "value")]
    return frame.with_columns(pl.col(c).cast(pl.String) for c in strings).sort(
        ["campaign_id", "date", "channel", "variation", "metric"], nulls_last=False)


def test_a_second_sync_fetches_the_lookback_and_new_days(tmp_path: Path, sandbox: Sandbox,
                                                          client: bf.BrazeClient) -> None:
    store = tmp_path / "store"
    cid = sandbox.canvas_ids[1]
    bf.sync(store, canvases=cid, start=T - days(89), end=T - days(30), client=client)
    again = bf.sync(store, canvases=cid, end=T - days(20), lookback_days=7, client=client)
    assert again.days_fetched == 7 + 10
    # A sync that names nothing brings every table the store holds up to date: here, the
    # Canvas (no campaign, since the store holds none).
    plain = bf.sync(store, end=T - days(20), lookback_days=3, client=client)
    assert (plain.campaigns, plain.canvases, plain.days_fetched) == (0, 1, 3)
    got = bf.read_store(store, table="canvas")
    expected = bf.fetch_canvas_series(cid, start=T - days(89), end=T - days(20), client=client)
    assert_frame_equal(canonical(got), canonical(expected))
    assert bf.read_store(store).height == 0  # the root holds no campaign
    with pytest.raises(ValueError, match="the first sync of Canvas"):
        bf.sync(store, canvases=sandbox.canvas_ids[0], client=client)


def test_read_store_of_a_table_the_store_lacks(tmp_path: Path, sandbox: Sandbox,
                                              client: bf.BrazeClient) -> None:
    store = tmp_path / "store"
    bf.sync(store, sandbox.campaign_ids[:1], start=T - days(5), end=T - days(1), client=client)
    with pytest.raises(FileNotFoundError, match="holds no canvas table"):
        bf.read_store(store, table="canvas")
    with pytest.raises(ValueError, match="table must be"):
        bf.read_store(store, table="segments")


def test_failed_canvas_windows_are_not_certified_and_are_retried(tmp_path: Path, sandbox: Sandbox) -> None:
    store = tmp_path / "store"
    good, bad = sandbox.canvas_ids[1], sandbox.canvas_ids[5]
    failing = {"on": True}

    def proxy(request: RecordedRequest) -> Reply:
        if failing["on"] and request.query.get("canvas_id") == bad and request.path == "/canvas/data_series":
            return Reply.json({"message": "Invalid canvas_id"}, 400)
        status, body = sandbox.handle_request(request.path, request.query)
        return Reply.json(body, status)

    with ScriptedServer(handler=proxy) as server, \
            bf.BrazeClient(sandbox.api_key, server.url, sleep=lambda s: None) as client:
        report = bf.sync(store, canvases=[good, bad], start=T - days(30), end=T - days(10),
                         client=client, on_error="collect")
        records = json.loads((store / "_canvas" / MANIFEST_NAME).read_text())["canvases"]
        assert report.failures and {f.campaign_id for f in report.failures} == {bad}
        assert records[good]["last"] == (T - days(10)).isoformat()
        assert records[bad]["first"] is None
        failing["on"] = False
        retry = bf.sync(store, canvases=[good, bad], end=T - days(10), lookback_days=0, client=client)
        assert retry.ok
        assert retry.days_fetched == 21  # the failed Canvas's days; the other's are certified
        got = bf.read_store(store, table="canvas")
        expected = bf.fetch_canvas_series([good, bad], start=T - days(30), end=T - days(10),
                                          client=client)
    assert_frame_equal(canonical(got), canonical(expected))


def test_one_lock_for_every_table(tmp_path: Path, sandbox: Sandbox, client: bf.BrazeClient) -> None:
    store = tmp_path / "store"
    store.mkdir()
    with _store_lock(store), pytest.raises(StoreLockedError):
        bf.sync(store, canvases=sandbox.canvas_ids[1], start=T - days(3), end=T, client=client)
