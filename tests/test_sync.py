"""The incremental store: what a sync fetches, how it upserts, what it certifies, who reads it."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from braze_frames import BrazeAPIError, BrazeClient, FetchFailedWarning
from braze_frames._schema import KEY_COLUMNS, TIDY_COLUMNS
from braze_frames._tidy import POLARS_SCHEMA
from braze_frames.fetch import campaign_details, fetch_data_series
from braze_frames.sandbox import Sandbox
from braze_frames.storage import store as sync_module
from braze_frames.storage.manifest import _Record
from braze_frames.storage.plan import _plan
from braze_frames.storage.store import (
    MANIFEST_NAME,
    SyncReport,
    SyncWarning,
    read_store,
    sync,
)

T = dt.date(2026, 6, 30)  # the sandbox's today: the tests do not depend on the real date
DAY = dt.timedelta(days=1)
# Campaigns active over T-400..T (curated positions 0, 2, 7: email, ios_push + control, webhook).
ACTIVE = (0, 2, 7)


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in key order, keys as strings: two stores compare equal when they hold the same rows."""
    return frame.with_columns(pl.col(c).cast(pl.String) for c in TIDY_COLUMNS
                              if c not in ("date", "value")).sort(list(KEY_COLUMNS))


def assert_same_rows(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert_frame_equal(canonical(got), canonical(expected))


def manifest(store: Path) -> dict[str, Any]:
    data = json.loads((store / MANIFEST_NAME).read_text())
    assert isinstance(data, dict)
    return data


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


# --- against the sandbox -------------------------------------------------------------------


def test_incremental_sync_fetches_only_missing_and_lookback_days(
    tmp_path: Path, client: BrazeClient, ids: list[str]
) -> None:
    store = tmp_path / "store"
    first = sync(store, ids, start=T - days(150), end=T - days(40), client=client)
    assert first.campaigns == 3
    assert first.days_fetched == 3 * 111
    assert first.rows_written == read_store(store).height > 0
    assert first.failures == []

    before = client.stats.requests
    second = sync(store, ids, end=T, client=client, lookback_days=30)
    # 30 days looked back from the last day held (T-40) plus the 40 new ones: one request
    # each, and one details request each (every sync refreshes the names, SPEC 4).
    assert second.days_fetched == 3 * (30 + 40)
    assert second.requests == client.stats.requests - before == 3 + 3
    records = manifest(store)["campaigns"]
    assert {records[c]["first"] for c in ids} == {str(T - days(150))}
    assert {records[c]["last"] for c in ids} == {str(T)}

    got = read_store(store)
    assert got.select(KEY_COLUMNS).is_duplicated().sum() == 0
    expected = fetch_data_series(ids, start=T - days(150), end=T, client=client)
    assert_same_rows(got, expected)


def test_rerun_is_idempotent_and_rewrites_nothing_unchanged(
    tmp_path: Path, client: BrazeClient, ids: list[str]
) -> None:
    store = tmp_path / "store"
    sync(store, ids[:2], start=T - days(70), end=T, client=client)
    once = read_store(store)
    files = {p: p.stat().st_mtime_ns for p in store.rglob("*.parquet")}
    again = sync(store, ids[:2], end=T, client=client)
    assert again.days_fetched == 2 * 30
    assert again.partitions_rewritten == 0  # the sandbox restated nothing
    assert {p: p.stat().st_mtime_ns for p in store.rglob("*.parquet")} == files
    assert_frame_equal(read_store(store), once)


def test_backfill_with_an_earlier_start_and_a_past_end(
    tmp_path: Path, client: BrazeClient, ids: list[str]
) -> None:
    store = tmp_path / "store"
    sync(store, ids[0], start=T - days(100), end=T - days(80), client=client)
    report = sync(store, ids[0], start=T - days(200), end=T - days(80), client=client, lookback_days=5)
    # The 100 days before the first one held, and the 5 last days held.
    assert report.days_fetched == 100 + 5
    record = manifest(store)["campaigns"][ids[0]]
    assert (record["start"], record["first"], record["last"]) == (
        str(T - days(200)), str(T - days(200)), str(T - days(80)))
    expected = fetch_data_series(ids[0], start=T - days(200), end=T - days(80), client=client)
    assert_same_rows(read_store(store), expected)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """One or two campaigns a batch, so several batches are fetched and written in turn."""
    monkeypatch.setattr(sync_module, "_MIN_BATCH", 2)
    monkeypatch.setattr(sync_module, "_BATCH_PER_THREAD", 0)


@pytest.mark.usefixtures("small_batches")
def test_batches_are_fetched_while_the_last_one_is_written(
    tmp_path: Path, client: BrazeClient, ids: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    report = sync(store, ids, start=T - days(180), end=T, client=client, progress=True)
    assert report.campaigns == 3
    assert "braze sync" in capsys.readouterr().err  # one bar over the campaigns
    expected = fetch_data_series(ids, start=T - days(180), end=T, client=client)
    assert_same_rows(read_store(store), expected)


@pytest.mark.usefixtures("small_batches")
def test_a_failure_stops_the_sync_after_writing_what_was_fetched(
    tmp_path: Path, client: BrazeClient, ids: list[str]
) -> None:
    store = tmp_path / "store"
    unknown = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(BrazeAPIError, match="campaign_id"):
        sync(store, [ids[0], ids[1], unknown], start=T - days(150), end=T, client=client)
    records = manifest(store)["campaigns"]
    assert records[ids[0]]["last"] == records[ids[1]]["last"] == str(T)
    assert records[unknown] == {"start": str(T - days(150)), "first": None, "last": None,
                                "synced_at": None}
    expected = fetch_data_series(ids[:2], start=T - days(150), end=T, client=client)
    assert_same_rows(read_store(store), expected)


def test_first_sync_needs_start_before_any_request(
    tmp_path: Path, client: BrazeClient, ids: list[str]
) -> None:
    with pytest.raises(ValueError, match=r"first sync of .* needs start="):
        sync(tmp_path / "store", ids, client=client)
    with pytest.raises(ValueError, match="every campaign"):
        sync(tmp_path / "store", None, client=client)
    assert client.stats.requests == 0
    sync(tmp_path / "store", ids[0], start=T - days(3), end=T, client=client)
    with pytest.raises(ValueError, match=ids[1]):
        sync(tmp_path / "store", ids[:2], end=T, client=client)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"start": "2026-02-01", "end": "2026-01-01"}, ValueError),
        ({"start": "2026-01-01", "lookback_days": -1}, ValueError),
        ({"start": "2026-01-01", "lookback_days": 1.5}, TypeError),
        ({"start": "2026-01-01", "on_error": "ignore"}, ValueError),
        ({"start": "someday"}, ValueError),
    ],
)
def test_bad_arguments(tmp_path: Path, client: BrazeClient, kwargs: dict[str, Any],
                       error: type[Exception]) -> None:
    with pytest.raises(error):
        sync(tmp_path / "store", "c1", client=client, **kwargs)
    assert client.stats.requests == 0


def test_failed_windows_are_not_certified_and_are_retried(tmp_path: Path, ids: list[str]) -> None:
    store = tmp_path / "store"
    with Sandbox(seed=0, today=T, faults=["500"]) as sb, \
            BrazeClient(sb.api_key, sb.url, max_retries=0, max_concurrency=1) as client:
        # The names first (the client caches them): the faults are aimed at the data.
        campaign_details(ids, client=client)
        sb.fault_rate = 0.5
        report = sync(store, ids, start=T - days(400), end=T, client=client, on_error="collect")
        assert report.failures, "the seeded faults fail some requests"
        assert report.days_fetched < 3 * 401
        records = manifest(store)["campaigns"]
        for failure in report.failures:
            record = records[failure.campaign_id]
            assert record["start"] == str(T - days(400))
            if record["first"] is not None:
                # Certified days never include a failed one.
                held = (dt.date.fromisoformat(record["first"]), dt.date.fromisoformat(record["last"]))
                assert failure.last < held[0] or failure.first > held[1]
        assert read_store(store).select(KEY_COLUMNS).is_duplicated().sum() == 0

        sb.fault_rate = 0.0
        retry = sync(store, ids, end=T, client=client, on_error="collect")  # no start= needed
        assert retry.ok
        expected = fetch_data_series(ids, start=T - days(400), end=T, client=client)
        assert_same_rows(read_store(store), expected)
        assert {r["first"] for r in manifest(store)["campaigns"].values()} == {str(T - days(400))}


def test_on_error_warn_and_raise(tmp_path: Path, ids: list[str]) -> None:
    with Sandbox(seed=0, today=T, fault_rate=1.0, faults=["500"]) as sb, \
            BrazeClient(sb.api_key, sb.url, max_retries=0) as client:
        with pytest.warns(FetchFailedWarning, match="next sync retries them"):
            report = sync(tmp_path / "a", ids[0], start=T - days(10), end=T, client=client,
                          on_error="warn")
        assert not report.ok
        assert report.days_fetched == 0
        assert "failed" in str(report)
        with pytest.raises(BrazeAPIError):
            sync(tmp_path / "b", ids[0], start=T - days(10), end=T, client=client)
        # Nothing certified, the store readable and empty, the start remembered.
        assert manifest(tmp_path / "b")["campaigns"][ids[0]] == {
            "start": str(T - days(10)), "first": None, "last": None, "synced_at": None}
        assert read_store(tmp_path / "b").height == 0


def test_the_api_key_is_in_no_file_of_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                ids: list[str]) -> None:
    store = tmp_path / "store"
    with Sandbox(seed=0, today=T) as sb:
        canary = sb.key_with("campaigns.data_series", "campaigns.list")
        monkeypatch.setenv("BRAZE_API_KEY", canary)
        monkeypatch.setenv("BRAZE_REST_ENDPOINT", sb.url)
        # The client comes from the environment; None means every listed campaign, archived
        # ones included, and those new to the store start where it starts. Without the
        # details permission, each is synced over the whole range, and a warning says so.
        with pytest.warns(SyncWarning, match=r"no /campaigns/details for 1 campaign"):
            sync(store, ids[:1], start=T - days(20), end=T - days(10))
        with pytest.warns(SyncWarning, match=r"no /campaigns/details for \d+ campaign"):
            report = sync(store, None, end=T)
    listed = {c.id for c in sb.catalogue}
    records = manifest(store)["campaigns"]
    assert set(records) == listed | {ids[0]}
    assert report.campaigns == len(listed | {ids[0]})
    assert {(r["start"], r["first"], r["last"]) for r in records.values()} == {
        (str(T - days(20)), str(T - days(20)), str(T))}
    files = [p for p in store.rglob("*") if p.is_file()]
    assert any(p.name == MANIFEST_NAME for p in files)
    assert any(p.suffix == ".parquet" for p in files)
    for path in files:
        data = path.read_bytes()
        for form in (canary, canary.upper(), canary.replace("-", "")):
            assert form.encode() not in data, path


def test_read_store_on_both_backends(tmp_path: Path, client: BrazeClient, ids: list[str],
                                     backend: str) -> None:
    store = tmp_path / "store"
    sync(store, ids[:2], start=T - days(40), end=T, client=client)
    frame = read_store(store, backend=backend)
    expected = fetch_data_series(ids[:2], start=T - days(40), end=T, client=client, backend=backend)
    assert list(frame.columns) == list(TIDY_COLUMNS)
    if backend == "polars":
        assert dict(frame.schema) == POLARS_SCHEMA
        assert_same_rows(frame, expected)
    else:
        assert [str(t) for t in frame.dtypes] == [str(t) for t in expected.dtypes]
        assert len(frame) == len(expected)
        assert frame["value"].sum() == pytest.approx(expected["value"].sum())


def test_lazy_read_and_other_readers(tmp_path: Path, client: BrazeClient, ids: list[str]) -> None:
    duckdb = pytest.importorskip("duckdb")
    store = tmp_path / "store"
    sync(store, ids, start=T - days(70), end=T, client=client)
    eager = read_store(store)

    lazy = read_store(store, lazy=True)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema() == pl.Schema({**POLARS_SCHEMA, "campaign_id": pl.String()})
    assert_same_rows(lazy.collect(), eager)
    query = lazy.filter(pl.col("campaign_id") == ids[1], pl.col("date") >= T - days(5))
    assert_same_rows(query.collect(),
                     eager.filter(pl.col("campaign_id") == ids[1], pl.col("date") >= T - days(5)))
    # The filters reach the scan, which skips row groups by their statistics (the files
    # are sorted by campaign then date), past the join of the latest names.
    plan = query.explain()
    scan = plan[plan.index("Parquet SCAN"):]
    assert f'SELECTION: (col("campaign_id") == "{ids[1]}")' in scan.split("RIGHT PLAN")[0]
    assert sorted(p.parent.name for p in store.rglob("*.parquet")) == [
        "month=2026-04", "month=2026-05", "month=2026-06"]

    # The manifest, the lock and _common_metadata are not data files for any glob reader.
    scan = pl.scan_parquet(store / "**" / "*.parquet", hive_partitioning=True).collect()
    assert scan.height == eager.height
    assert set(scan.columns) == {*TIDY_COLUMNS, "month"}
    [(n, total, campaigns)] = duckdb.sql(
        f"SELECT count(*), sum(value), count(DISTINCT campaign_id) "
        f"FROM read_parquet('{store}/**/*.parquet', hive_partitioning=true)"
    ).fetchall()
    assert (n, campaigns) == (eager.height, 3)
    assert total == pytest.approx(eager["value"].sum())


def test_read_store_edge_cases(tmp_path: Path, client: BrazeClient, sandbox: Sandbox) -> None:
    with pytest.raises(FileNotFoundError, match="no store"):
        read_store(tmp_path / "nothing")
    never_sent = sandbox.campaign_ids[16]
    report = sync(tmp_path / "empty", never_sent, start=T - days(5), end=T, client=client)
    assert (report.days_fetched, report.rows_written, report.partitions_rewritten) == (6, 0, 0)
    assert read_store(tmp_path / "empty").height == 0
    assert read_store(tmp_path / "empty", lazy=True).collect().schema == pl.Schema(
        {**POLARS_SCHEMA, "campaign_id": pl.String()})
    with pytest.raises(ValueError, match="lazy"):
        read_store(tmp_path / "empty", backend="pandas", lazy=True)
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(NotADirectoryError):
        sync(file, never_sent, start=T, client=client)


def test_leftover_temporary_files_are_ignored_then_removed(
    tmp_path: Path, client: BrazeClient, ids: list[str]
) -> None:
    store = tmp_path / "store"
    sync(store, ids[0], start=T - days(10), end=T, client=client)
    month = next(store.glob("month=*"))
    junk = [month / ".part-0.parquet.0123456789ab.tmp", store / f".{MANIFEST_NAME}.ba9876543210.tmp"]
    for path in junk:
        path.write_bytes(b"PAR1 half a file")  # what a kill during a write leaves
    assert read_store(store).height == read_store(store, lazy=True).collect().height > 0
    sync(store, ids[0], end=T, client=client)
    assert not any(path.exists() for path in junk)


def test_a_second_sync_on_the_same_store_is_refused(tmp_path: Path, client: BrazeClient) -> None:
    fcntl = pytest.importorskip("fcntl")
    store = tmp_path / "store"
    store.mkdir()
    fd = os.open(store / "_braze_sync.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RuntimeError, match="another sync"):
            sync(store, "c1", start=T, client=client)
    finally:
        os.close(fd)


def test_an_unreadable_manifest_is_an_error(tmp_path: Path, client: BrazeClient) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / MANIFEST_NAME).write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="delete it"):
        sync(store, "c1", start=T, client=client)


# --- restatement, against a server whose recent days change --------------------------------


@dataclass
class Restating:
    """Serves ``data_series`` as of a date: a day's conversions grow for a week after it.

    ``ending_at`` is read exclusively, as recorded from Braze; days after ``as_of`` do not
    exist yet; ``gone`` days come back empty. Every request's days are recorded.
    """

    as_of: dt.date
    gone: set[dt.date] = field(default_factory=set)
    served: list[tuple[str, dt.date, dt.date]] = field(default_factory=list)
    url: str = ""
    #: ``/campaigns/list`` and ``/campaigns/details``: id -> details body (``archived`` says
    #: whether the list shows it without include_archived).
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)

    def answer(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        if path == "/campaigns/list":
            every = query.get("include_archived") == "true"
            listed = [{"id": cid, "name": d.get("name")} for cid, d in self.campaigns.items()
                      if every or not d.get("archived")]
            return {"message": "success", "campaigns": listed if query.get("page", "0") == "0" else []}
        if path == "/campaigns/details":  # names, read by sync and by fetch by default
            cid = query["campaign_id"]
            return {"message": "success", **self.campaigns.get(cid, {"name": f"Campaign {cid}"})}
        return self.body(query["campaign_id"], int(query["length"]),
                         dt.date.fromisoformat(query["ending_at"][:10]))

    def conversions(self, day: dt.date) -> int:
        return min((self.as_of - day).days + 1, 7)

    def body(self, cid: str, length: int, ending_at: dt.date) -> dict[str, Any]:
        first, last = ending_at - days(length), ending_at - DAY
        self.served.append((cid, first, last))
        data = []
        for i in range(length):
            day = first + days(i)
            if day > self.as_of or day in self.gone:
                continue
            sent = 100 + day.toordinal() % 50
            entry: dict[str, Any] = {"variation_api_id": "v1", "sent": sent, "opens": sent // 2}
            name = self.campaigns.get(cid, {}).get("messages", {}).get("v1", {}).get("name")
            if name is not None:
                entry["variation_name"] = name
            data.append({
                "time": day.isoformat(),
                "conversions": self.conversions(day),
                "messages": {"email": [entry]},
            })
        return {"message": "success", "data": data}

    def requested_days(self, cid: str) -> set[dt.date]:
        return {a + days(i) for c, a, b in self.served if c == cid for i in range((b - a).days + 1)}


@contextmanager
def restating(as_of: dt.date) -> Iterator[Restating]:
    state = Restating(as_of)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            with lock:
                body = state.answer(url.path, query)
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def conversions_by_day(store: Path, cid: str) -> dict[dt.date, float]:
    rows = read_store(store).filter(pl.col("campaign_id") == cid, pl.col("metric") == "conversions")
    return dict(zip(rows["date"].to_list(), rows["value"].to_list(), strict=True))


def test_restated_days_are_replaced_and_settled_days_are_not_fetched(tmp_path: Path) -> None:
    d1, d2 = dt.date(2025, 3, 3), dt.date(2025, 3, 8)
    store = tmp_path / "store"
    with restating(d1) as server, BrazeClient("k" * 32, server.url) as client:
        sync(store, ["c1", "c2"], start=d1 - days(60), end=d1, client=client, lookback_days=10)
        assert conversions_by_day(store, "c1")[d1] == 1
        server.as_of = d2
        server.gone = {d1 - days(2)}  # restated to nothing
        server.served.clear()
        report = sync(store, ["c1", "c2"], end=d2, client=client, lookback_days=10)
        asked = server.requested_days("c1")
        fresh = fetch_data_series(["c1", "c2"], start=d1 - days(60), end=d2, client=client)
    # Only the 10 days looked back and the new days were asked for.
    assert asked == {d1 - days(9) + days(i) for i in range(15)}
    assert report.days_fetched == 2 * 15
    got = conversions_by_day(store, "c1")
    assert got[d1] == 6  # one conversion on D1, six by D2
    assert got[d1 - days(1)] == 7
    assert d1 - days(2) not in got
    assert got[d2] == 1
    assert_same_rows(read_store(store), fresh)


def test_a_lookback_shorter_than_the_restatement_leaves_stale_days(tmp_path: Path) -> None:
    d1 = dt.date(2025, 3, 3)
    store = tmp_path / "store"
    with restating(d1) as server, BrazeClient("k" * 32, server.url) as client:
        sync(store, "c1", start=d1 - days(20), end=d1, client=client, lookback_days=2)
        server.as_of = d1 + days(3)
        sync(store, "c1", end=d1 + days(3), client=client, lookback_days=2)
    got = conversions_by_day(store, "c1")
    assert got[d1] == 4  # re-read
    assert got[d1 - days(2)] == 3  # not re-read: fetched as of D1, it has 6 by now


def test_month_partitions_are_replaced_whole(tmp_path: Path) -> None:
    d1 = dt.date(2025, 3, 3)
    store = tmp_path / "store"
    with restating(d1) as server, BrazeClient("k" * 32, server.url) as client:
        report = sync(store, "a/b c", start=dt.date(2025, 1, 30), end=d1, client=client)
    assert report.partitions_rewritten == 3
    months = sorted(p.parent.name for p in store.rglob("*.parquet"))
    assert months == ["month=2025-01", "month=2025-02", "month=2025-03"]
    assert read_store(store)["campaign_id"].unique().to_list() == ["a/b c"]


# --- names, archived campaigns, details without first_sent (SPEC 4) ----------------------


def details(name: str, first: dt.date | None, last: dt.date | None, *, archived: bool = False,
            variation: str = "Variant A") -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "archived": archived,
                            "messages": {"v1": {"channel": "email", "name": variation}},
                            "conversion_behaviors": [{"type": "Makes Any Purchase", "window": 86_400}]}
    if first is not None:
        body["first_sent"] = f"{first.isoformat()}T09:00:00+00:00"
    if last is not None:
        body["last_sent"] = f"{last.isoformat()}T17:00:00+00:00"
    return body


def test_sync_of_every_campaign_includes_archived_ones_and_names_what_it_skips(tmp_path: Path) -> None:
    d1 = dt.date(2025, 3, 31)
    start = d1 - days(59)
    with restating(d1) as server, BrazeClient("k" * 32, server.url) as client:
        server.campaigns = {
            "live": details("Live", start - days(100), None),
            "archived": details("Old Promo", start - days(30), start + days(9), archived=True),
            "no-dates": details("Dateless", None, None),  # as some clients' fixtures are
            "long-gone": details("Ended", start - days(400), start - days(300), archived=True),
            "future": details("Not yet", d1 + days(10), None),
        }
        with pytest.warns(SyncWarning, match=r"2 campaign\(s\) skipped.*long-gone") as caught:
            report = sync(tmp_path / "all", None, start=start, end=d1, client=client)
        server.served.clear()
        with pytest.warns(SyncWarning, match=r"3 campaign\(s\) skipped.*archived"):
            opted = sync(tmp_path / "active", None, start=start, end=d1, client=client,
                         include_archived=False)
    assert len(caught) == 1
    assert report.campaigns == 3
    assert set(report.skipped) == {"long-gone", "future"}
    assert "outside" in report.skipped["long-gone"]
    assert "skipped" in str(report)
    got = read_store(tmp_path / "all")
    held = got.group_by("campaign_id").agg(pl.col("date").min().alias("a"), pl.col("date").max().alias("b"))
    spans = {r["campaign_id"]: (r["a"], r["b"]) for r in held.iter_rows(named=True)}
    assert spans["live"] == (start, d1)
    # The archived campaign over its active days (last send plus its 1-day window).
    assert spans["archived"] == (start, start + days(10))
    assert spans["no-dates"] == (start, d1)  # no first_sent: the whole range, not skipped
    assert set(opted.skipped) == {"archived", "long-gone", "future"}
    assert opted.skipped["archived"] == "archived (include_archived=False)"
    assert {c for c, _, _ in server.served} == {"live", "no-dates"}


def test_names_are_kept_beside_the_data_and_a_rename_shows_on_every_day(tmp_path: Path) -> None:
    d1 = dt.date(2025, 3, 31)
    store = tmp_path / "store"
    with restating(d1) as server, BrazeClient("k" * 32, server.url) as client:
        server.campaigns = {"c1": details("Spring Sale", d1 - days(200), None)}
        sync(store, None, start=d1 - days(40), end=d1, client=client)
        before = {p: p.stat().st_mtime_ns for p in store.rglob("*.parquet")}
        first = read_store(store)
        server.campaigns = {"c1": details("Spring Sale 2025", d1 - days(200), None, variation="Hero")}
        sync(store, None, end=d1, client=client, lookback_days=3)
    assert first["campaign_name"].unique().to_list() == ["Spring Sale"]
    got = read_store(store)
    assert got["campaign_name"].unique().to_list() == ["Spring Sale 2025"]
    emails = got.filter(pl.col("channel") == "email")
    assert emails["variation_name"].unique().to_list() == ["Hero"]
    # History was not rewritten for the rename: the old month is the same file.
    old_month = store / "month=2025-02" / "part-0.parquet"
    assert old_month.stat().st_mtime_ns == before[old_month]
    record = manifest(store)["campaigns"]["c1"]
    assert (record["name"], record["variations"]) == ("Spring Sale 2025", {"v1": "Hero"})
    lazy = read_store(store, lazy=True).collect()
    assert lazy["campaign_name"].unique().to_list() == ["Spring Sale 2025"]
    assert read_store(store, backend="pandas")["campaign_name"].astype(str).unique().tolist() == [
        "Spring Sale 2025"]


# --- planning, pure -----------------------------------------------------------------------


def at(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 6, tzinfo=dt.timezone.utc)


D = dt.date(2025, 6, 30)


@pytest.mark.parametrize(
    ("record", "start", "end", "lookback", "expected"),
    [
        # New: start..end.
        (None, D - days(9), D, 30, ((D - days(9), D),)),
        (_Record(start=D - days(9)), None, D, 30, ((D - days(9), D),)),
        # Synced up to its sync day: the lookback counts back from it.
        (_Record(D - days(99), D - days(99), D - days(7), at(D - days(7))), None, D, 30,
         ((D - days(36), D),)),
        # Synced long after its last day: counted back from the last day.
        (_Record(D - days(99), D - days(99), D - days(50), at(D)), None, D - days(50), 5,
         ((D - days(54), D - days(50)),)),
        # No lookback, nothing new: nothing to fetch.
        (_Record(D - days(9), D - days(9), D, at(D)), None, D, 0, ()),
        # An earlier start: the days before the first held, then the recent ones.
        (_Record(D - days(99), D - days(99), D, at(D)), D - days(199), D, 10,
         ((D - days(199), D - days(100)), (D - days(9), D))),
        # The two touch: one interval.
        (_Record(D - days(9), D - days(9), D, at(D)), D - days(19), D, 30, ((D - days(19), D),)),
        # A lookback longer than what is held starts at the first day held.
        (_Record(D - days(20), D - days(5), D, at(D)), None, D + days(2), 30,
         ((D - days(20), D + days(2)),)),
        (_Record(D - days(5), D - days(5), D, at(D)), None, D + days(2), 30, ((D - days(5), D + days(2)),)),
    ],
)
def test_plan(record: _Record | None, start: dt.date | None, end: dt.date, lookback: int,
              expected: tuple[tuple[dt.date, dt.date], ...]) -> None:
    plan = _plan(record, start, end, lookback)
    assert plan is not None
    assert plan.intervals == expected


def test_plan_needs_a_start() -> None:
    assert _plan(None, None, D, 30) is None
    assert _plan(_Record(), None, D, 30) is None


def test_report_text() -> None:
    text = str(SyncReport(Path("s"), campaigns=2, days_fetched=60, rows_written=900,
                          partitions_rewritten=4, requests=2, seconds=0.5))
    assert text.startswith("synced 2 campaigns into s: 60 campaign-days fetched in 2 request(s)")
