"""Stores where data teams keep data: S3 (a real S3 protocol server), Delta Lake, old layouts.

S3 runs through moto's server mode on 127.0.0.1 (``_support_s3``), reached with boto3 and
pyarrow as a bucket would be: never a mock of a client library.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from _support_s3 import S3, running_s3
from polars.testing import assert_frame_equal

from braze_frames import BrazeClient
from braze_frames._schema import KEY_COLUMNS, TIDY_COLUMNS
from braze_frames._tidy import from_records
from braze_frames.sandbox import Sandbox
from braze_frames.storage import delta as delta_store
from braze_frames.storage.fs import ObjectPath, as_path
from braze_frames.storage.lock import StoreLockedError, _ObjectLock, _store_lock
from braze_frames.storage.parquet import parquet_metadata, read_parquet, write_parquet
from braze_frames.storage.store import MANIFEST_NAME, read_store, sync

T = dt.date(2026, 6, 30)
ACTIVE = (0, 2, 7)


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).cast(pl.String) for c in TIDY_COLUMNS
                              if c not in ("date", "value")).select(TIDY_COLUMNS).sort(list(KEY_COLUMNS))


def assert_same_rows(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert_frame_equal(canonical(got), canonical(expected))


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3]:
    with running_s3() as server:
        yield server


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=T) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[BrazeClient]:
    with BrazeClient(sandbox.api_key, sandbox.url) as c:
        yield c


@pytest.fixture(scope="module")
def ids(sandbox: Sandbox) -> list[str]:
    return [sandbox.campaign_ids[i] for i in ACTIVE]


ROWS = [
    ("a/b=c %d", "2024-06-30", "all", None, None, "unique_recipients", 120.0),
    ("a/b=c %d", "2024-07-01", "email", "v1", "Variant 1", "sent", 100.0),
    ("caf\u00e9", "2024-07-02", "ios_push", "p1", None, "sent", 50.0),
    ("plain-id", "2024-08-15", "webhook", "w1", "Hook", "errors", 3.0),
]


# --- URIs --------------------------------------------------------------------------------


def test_uris_name_local_paths_and_object_stores() -> None:
    assert as_path("file:///tmp/a%20b") == Path("/tmp/a b")
    assert as_path(Path("x")) == Path("x")
    s3 = as_path("s3://bucket/some/prefix/", {"AWS_REGION": "eu-west-1", "aws_allow_http": True})
    assert isinstance(s3, ObjectPath)
    assert (str(s3), s3.bucket, s3.object_key) == ("s3://bucket/some/prefix", "bucket", "some/prefix")
    assert s3.options == {"aws_region": "eu-west-1", "aws_allow_http": "true"}
    assert "secret" not in repr(as_path("s3://b/k", {"aws_secret_access_key": "secret"}))
    with pytest.raises(ValueError, match="unknown scheme 'ftp'"):
        as_path("ftp://host/x")
    with pytest.raises(ValueError, match="names no bucket"):
        as_path("s3:///key")
    with pytest.raises(TypeError, match="storage_options"):
        as_path("s3://b/k", ["aws_region"])  # type: ignore[arg-type]


def test_parquet_files_and_datasets_on_s3(s3_server: S3, tmp_path: Path) -> None:
    bucket = s3_server.bucket()
    opts = s3_server.options
    df = from_records(ROWS)
    out = write_parquet(df, f"s3://{bucket}/one/data.parquet", storage_options=opts)
    assert str(out) == f"s3://{bucket}/one/data.parquet"
    assert read_parquet(out, storage_options=opts).equals(df)
    assert parquet_metadata(str(out), storage_options=opts)["rows"] == len(ROWS)

    root = write_parquet(df, f"s3://{bucket}/ds", partition_by=True, storage_options=opts)
    assert s3_server.keys(bucket, "ds/") == [
        "ds/_common_metadata", "ds/month=2024-06/part-0.parquet", "ds/month=2024-07/part-0.parquet",
        "ds/month=2024-08/part-0.parquet"]
    local = write_parquet(df, tmp_path / "ds", partition_by=True)
    assert_same_rows(read_parquet(str(root), storage_options=opts), read_parquet(local))
    # The bytes on S3 are the bytes of the local dataset, but for the write time.
    assert parquet_metadata(str(root), storage_options=opts)["files"] == 3
    # Readers as they are: polars straight from the bucket.
    scanned = pl.scan_parquet(f"s3://{bucket}/ds/**/*.parquet", hive_partitioning=True,
                              storage_options=opts).collect()
    assert scanned.height == len(ROWS)
    # Other layouts, with ids escaped the hive way.
    keyed = write_parquet(df, f"s3://{bucket}/keyed", partition_by=("campaign_id", "month"),
                          storage_options=opts)
    assert "keyed/campaign_id=a%2Fb%3Dc%20%25d/month=2024-06/part-0.parquet" in s3_server.keys(bucket)
    assert_same_rows(read_parquet(str(keyed), storage_options=opts), df)


def test_a_failed_write_on_s3_leaves_the_old_object(s3_server: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    bucket = s3_server.bucket()
    opts = s3_server.options
    uri = f"s3://{bucket}/data.parquet"
    write_parquet(from_records(ROWS[:1]), uri, storage_options=opts)
    before = s3_server.client().get_object(Bucket=bucket, Key="data.parquet")["Body"].read()
    original = pq.ParquetWriter.write_table
    calls: list[int] = []

    def failing(self: Any, table: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(table.num_rows)
        if len(calls) == 2:
            raise OSError("simulated crash mid-write")
        original(self, table, *args, **kwargs)

    monkeypatch.setattr("braze_frames.storage.files._ROW_GROUP_ROWS", 1)
    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    with pytest.raises(OSError, match="simulated crash"):
        write_parquet(from_records(ROWS), uri, storage_options=opts)
    monkeypatch.undo()
    assert s3_server.client().get_object(Bucket=bucket, Key="data.parquet")["Body"].read() == before
    monkeypatch.setattr("braze_frames.storage.files._ROW_GROUP_ROWS", 1)
    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    calls.clear()
    with pytest.raises(OSError, match="simulated crash"):
        write_parquet(from_records(ROWS), f"s3://{bucket}/new.parquet", storage_options=opts)
    assert s3_server.keys(bucket) == ["data.parquet"]


# --- sync on S3 --------------------------------------------------------------------------


def test_sync_twice_on_s3_equals_a_local_store(
    s3_server: S3, tmp_path: Path, client: BrazeClient, ids: list[str]
) -> None:
    bucket = s3_server.bucket()
    opts = s3_server.options
    uri = f"s3://{bucket}/braze"
    local = tmp_path / "local"
    for store, options in ((uri, opts), (local, None)):
        first = sync(store, ids, start=T - days(150), end=T - days(40), client=client,
                     storage_options=options)
        again = sync(store, ids, end=T, client=client, storage_options=options)
        assert (first.days_fetched, again.days_fetched) == (3 * 111, 3 * 70)
    assert str(first.store) == str(local)
    got = read_store(uri, storage_options=opts)
    assert_same_rows(got, read_store(local))
    assert_same_rows(read_store(uri, lazy=True, storage_options=opts).collect(), got)
    keys = s3_server.keys(bucket, "braze/")
    assert "braze/_braze_sync.json" in keys
    assert "braze/_braze_sync.lock" not in keys  # released
    assert all(k.startswith(("braze/month=", "braze/_")) for k in keys)
    body = s3_server.client().get_object(Bucket=bucket, Key="braze/_braze_sync.json")["Body"].read()
    manifest = json.loads(body)
    expected = json.loads((local / MANIFEST_NAME).read_text())

    def untimed(m: dict[str, Any]) -> dict[str, Any]:  # the two stores synced seconds apart
        campaigns = {cid: {k: v for k, v in r.items() if k != "synced_at"}
                     for cid, r in m["campaigns"].items()}
        return {k: v for k, v in m.items() if k != "updated_at"} | {"campaigns": campaigns}

    assert untimed(manifest) == untimed(expected)


def lock_body(owner: str, seconds: float) -> bytes:
    return json.dumps({"library": "braze_frames", "owner": owner, "seconds": seconds}).encode()


def test_a_second_writer_is_refused_by_a_live_lock(
    s3_server: S3, client: BrazeClient, ids: list[str]
) -> None:
    bucket = s3_server.bucket()
    root = as_path(f"s3://{bucket}/store", s3_server.options)
    assert isinstance(root, ObjectPath)
    with _store_lock(root) as lease:
        held = r"another sync holds the lock on s3://.*:\d+:\w+, until 20"
        with pytest.raises(StoreLockedError, match=held) as err:
            sync(str(root), ids[0], start=T - days(3), end=T, client=client,
                 storage_options=s3_server.options)
        assert isinstance(err.value, RuntimeError)
        assert "expires" in str(err.value)
        lease.check()  # still ours
    assert client.stats.requests == 0
    assert s3_server.keys(bucket) == []  # released, nothing written


def test_an_expired_lock_is_taken_over(s3_server: S3, client: BrazeClient, ids: list[str]) -> None:
    bucket = s3_server.bucket()
    s3_server.client().put_object(Bucket=bucket, Key="store/_braze_sync.lock",
                                  Body=lock_body("dead-host:1:0", 0))
    report = sync(f"s3://{bucket}/store", ids[0], start=T - days(3), end=T, client=client,
                  storage_options=s3_server.options)
    assert report.days_fetched == 4
    assert "store/_braze_sync.lock" not in s3_server.keys(bucket)


def test_the_lock_is_renewed_and_a_takeover_is_noticed(s3_server: S3) -> None:
    bucket = s3_server.bucket()
    root = as_path(f"s3://{bucket}/store", s3_server.options)
    assert isinstance(root, ObjectPath)
    lock = _ObjectLock(root / "_braze_sync.lock", seconds=1.5)
    lock.acquire()
    try:
        time.sleep(2.2)  # longer than the expiry: only renewals keep it live
        other = _ObjectLock(root / "_braze_sync.lock", seconds=1.5)
        with pytest.raises(StoreLockedError):
            other.acquire()
        lock.lease.check()
        # Another writer overwrites it (as a takeover would): the holder notices and stops.
        s3_server.client().put_object(Bucket=bucket, Key="store/_braze_sync.lock",
                                      Body=lock_body("thief:2:0", 60))
        deadline = time.monotonic() + 5
        while lock.lease.lost is None and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(StoreLockedError, match="lost the lock"):
            lock.lease.check()
    finally:
        lock.release()
    # Not ours any more: left for its new holder.
    assert "store/_braze_sync.lock" in s3_server.keys(bucket)
    assert not [t for t in threading.enumerate() if t.name == "braze-sync-lock"]


def test_local_lock_refuses_a_second_writer(tmp_path: Path, client: BrazeClient) -> None:
    with _store_lock(tmp_path) as lease:
        with pytest.raises(StoreLockedError, match="another sync is running"):
            sync(tmp_path, "c1", start=T, client=client)
        lease.check()
    sync(tmp_path, "c1", start=T, client=client, on_error="collect")  # free again


# --- Delta -------------------------------------------------------------------------------


def test_delta_store_equals_the_parquet_store_for_every_reader(
    tmp_path: Path, client: BrazeClient, ids: list[str]
) -> None:
    duckdb = pytest.importorskip("duckdb")
    deltalake = pytest.importorskip("deltalake")
    parquet, delta = tmp_path / "parquet", tmp_path / "delta"
    for store, fmt in ((parquet, "parquet"), (delta, "delta")):
        sync(store, ids, start=T - days(120), end=T - days(30), client=client, format=fmt)
        report = sync(store, ids, end=T, client=client, format=fmt)
        assert report.days_fetched == 3 * 60
    expected = read_store(parquet)
    assert_same_rows(read_store(delta), expected)
    assert read_store(delta).schema == expected.schema
    assert_same_rows(read_store(delta, lazy=True).collect(), expected)
    scanned = pl.scan_delta(str(delta)).collect()
    assert_same_rows(scanned.drop("month"), expected)
    dataset = deltalake.DeltaTable(str(delta)).to_pyarrow_dataset()  # noqa: F841 - DuckDB reads it by name
    rel = duckdb.sql("SELECT * EXCLUDE (month) FROM dataset")
    from_duckdb = rel.pl()
    assert isinstance(from_duckdb, pl.DataFrame)
    assert_same_rows(from_duckdb, expected)
    # The manifest rides in the commits; it certifies what a Parquet store's does.
    ours = delta_store.manifest_json(delta)["campaigns"]
    theirs = json.loads((parquet / MANIFEST_NAME).read_text())["campaigns"]
    strip = {"synced_at"}
    assert {c: {k: v for k, v in r.items() if k not in strip} for c, r in ours.items()} == \
        {c: {k: v for k, v in r.items() if k not in strip} for c, r in theirs.items()}
    history = deltalake.DeltaTable(str(delta)).history()
    assert all(delta_store.MANIFEST_KEY in h for h in history if h.get("operation") == "WRITE")
    # A store keeps its format.
    with pytest.raises(ValueError, match="format='delta'"):
        sync(delta, ids, end=T, client=client)
    with pytest.raises(ValueError, match="format='parquet'"):
        sync(parquet, ids, end=T, client=client, format="delta")


def test_delta_replaces_restated_days_rather_than_merging(tmp_path: Path) -> None:
    from test_sync import restating

    d1 = dt.date(2025, 3, 3)
    store = tmp_path / "delta"
    with restating(d1) as server, BrazeClient("k" * 32, server.url) as client:
        sync(store, ["c1", "c2"], start=d1 - days(40), end=d1, client=client, format="delta",
             lookback_days=10)
        server.as_of = d1 + days(4)
        server.gone = {d1 - days(2)}  # Braze no longer reports this day
        sync(store, ["c1", "c2"], end=d1 + days(4), client=client, format="delta", lookback_days=10)
        fresh = read_store(store)
    c1 = fresh.filter(pl.col("campaign_id") == "c1", pl.col("metric") == "conversions")
    got = dict(zip(c1["date"].to_list(), c1["value"].to_list(), strict=True))
    assert d1 - days(2) not in got
    assert got[d1] == 5
    assert fresh.select(KEY_COLUMNS).is_duplicated().sum() == 0


def test_delta_on_s3(s3_server: S3, client: BrazeClient, ids: list[str], tmp_path: Path) -> None:
    pytest.importorskip("deltalake")
    bucket = s3_server.bucket()
    uri = f"s3://{bucket}/delta"
    opts = s3_server.options
    sync(uri, ids[:2], start=T - days(40), end=T, client=client, format="delta", storage_options=opts)
    sync(tmp_path / "p", ids[:2], start=T - days(40), end=T, client=client)
    assert_same_rows(read_store(uri, storage_options=opts), read_store(tmp_path / "p"))
    assert_same_rows(pl.scan_delta(uri, storage_options=opts).collect().drop("month"),
                     read_store(tmp_path / "p"))
    assert any(k.startswith("delta/_delta_log/") for k in s3_server.keys(bucket))


# --- the layout of version 1 -------------------------------------------------------------


def test_a_campaign_by_month_store_is_read_then_migrated(
    tmp_path: Path, client: BrazeClient, ids: list[str]
) -> None:
    store = tmp_path / "store"
    reference = tmp_path / "reference"
    sync(reference, ids, start=T - days(90), end=T - days(20), client=client)
    rows = read_store(reference)
    # What version 1 wrote: campaign x month, a version-1 manifest.
    write_parquet(rows, store, partition_by=("campaign_id", "month"))
    v1 = json.loads((reference / MANIFEST_NAME).read_text())
    v1["version"] = 1
    del v1["layout"]
    (store / MANIFEST_NAME).write_text(json.dumps(v1))
    assert_same_rows(read_store(store), rows)
    assert_same_rows(read_store(store, lazy=True).collect(), rows)

    report = sync(store, ids, end=T - days(20), client=client, lookback_days=5)
    assert report.days_fetched == 3 * 5
    assert not list(store.glob("campaign_id=*"))
    assert sorted(p.parent.name for p in store.rglob("*.parquet")) == [
        "month=2026-04", "month=2026-05", "month=2026-06"]
    assert json.loads((store / MANIFEST_NAME).read_text())["layout"] == "month"
    assert_same_rows(read_store(store), rows)
    assert parquet_metadata(store)["partitioning"]["columns"] == ["month"]


def test_a_migration_cut_short_is_finished_by_the_next_sync(
    tmp_path: Path, client: BrazeClient, ids: list[str]
) -> None:
    store = tmp_path / "store"
    sync(tmp_path / "ref", ids[:1], start=T - days(60), end=T - days(20), client=client)
    rows = read_store(tmp_path / "ref")
    write_parquet(rows, store, partition_by=("campaign_id", "month"))
    # Killed after the month files were written, before the manifest said so: both layouts
    # are on disk; readers read the old one, and the next sync redoes the migration.
    write_parquet(rows, tmp_path / "months", partition_by=True)
    for f in (tmp_path / "months").glob("month=*"):
        f.rename(store / f.name)
    assert_same_rows(read_store(store), rows)
    sync(store, ids[:1], start=T - days(60), end=T - days(20), client=client)
    assert not list(store.glob("campaign_id=*"))
    assert_same_rows(read_store(store), rows)
