"""The workspace series in a sync store (``sync(..., series=...)``; SPEC sections 13 and 14).

The store keeps them apart (``_series/``: their own manifest and month partitions), per
series kind, with the same incremental plan as campaigns. Expected rows come from
``fetch_series`` over the same range (itself checked against the served bodies in
``test_series``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from _support_http import RecordedRequest, Reply, ScriptedServer
from polars.testing import assert_frame_equal

import braze_frames as bf
from braze_frames import cli
from braze_frames._tables import SERIES_TABLE
from braze_frames.sandbox import Sandbox
from braze_frames.storage import delta as delta_store
from braze_frames.storage.store import MANIFEST_NAME

T = dt.date(2025, 6, 30)
KINDS = ["dau", "mau", "events"]


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=T) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[bf.BrazeClient]:
    with bf.BrazeClient(sandbox.api_key, sandbox.url) as c:
        yield c


def canonical(frame: Any) -> pl.DataFrame:
    if not isinstance(frame, pl.DataFrame):
        frame = pl.from_pandas(frame).with_columns(pl.col("date").cast(pl.Date))
    return frame.with_columns(pl.col(c).cast(pl.String) for c in SERIES_TABLE.string_columns) \
        .select(SERIES_TABLE.columns).sort(list(SERIES_TABLE.key_columns), nulls_last=False)


@pytest.mark.parametrize("fmt", ["parquet", "delta"])
def test_series_live_apart_and_equal_a_fetch(tmp_path: Path, sandbox: Sandbox, client: bf.BrazeClient,
                                             fmt: str) -> None:
    store = tmp_path / "store"
    first, last = T - days(60), T - days(1)
    bf.sync(store, sandbox.campaign_ids[:1], start=first, end=last, client=client,
            format=fmt)  # type: ignore[arg-type]
    campaigns = bf.read_store(store)
    report = bf.sync(store, series=KINDS, start=first, end=last, client=client,
                     format=fmt)  # type: ignore[arg-type]
    assert (report.campaigns, report.canvases, report.series) == (0, 0, 3)
    assert report.days_fetched == 3 * 60
    assert str(report).startswith("synced 0 campaigns and 3 series into")
    assert "series-days" in str(report)
    expected = bf.fetch_series(KINDS, start=first, end=last, client=client)
    got = bf.read_store(store, table="series")
    assert set(got.get_column("metric").cast(pl.String)) == set(KINDS)
    assert got.filter(pl.col("metric") == "events").get_column("key").n_unique() > 1  # every event
    assert_frame_equal(canonical(got), canonical(expected))
    assert_frame_equal(canonical(bf.read_store(store, table="series", lazy=True).collect()),
                       canonical(expected))
    assert_frame_equal(canonical(bf.read_store(store, table="series", backend="pandas")),
                       canonical(expected))
    # The campaigns did not move.
    assert bf.read_store(store).equals(campaigns)
    folder = store / "_series"
    if fmt == "parquet":
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        assert bf.read_parquet(store).columns == list(bf.TIDY_COLUMNS)
    else:
        manifest = delta_store.manifest_json(folder, "series")
    records = manifest["series"]
    assert set(records) == set(KINDS)
    assert (records["dau"]["first"], records["dau"]["last"]) == (first.isoformat(), last.isoformat())


def test_a_second_sync_fetches_the_lookback_and_new_days(tmp_path: Path, sandbox: Sandbox,
                                                          client: bf.BrazeClient) -> None:
    store = tmp_path / "store"
    bf.sync(store, series=["dau", "sessions"], start=T - days(89), end=T - days(30), client=client)
    again = bf.sync(store, series="dau", end=T - days(20), lookback_days=7, client=client)
    assert (again.series, again.days_fetched) == (1, 7 + 10)
    # A sync that names nothing brings every table the store holds up to date.
    plain = bf.sync(store, end=T - days(20), lookback_days=3, client=client)
    assert (plain.campaigns, plain.series, plain.days_fetched) == (0, 2, 3 + 13)
    got = bf.read_store(store, table="series")
    expected = bf.fetch_series(["dau", "sessions"], start=T - days(89), end=T - days(20), client=client)
    assert_frame_equal(canonical(got), canonical(expected))
    # Rates read the stored series as a fetched one: stickiness needs mau, which is not there.
    assert bf.rates(got, period="total", rates=["sessions_per_dau"]).height >= 1


def test_failed_keys_leave_their_kind_uncertified(tmp_path: Path, sandbox: Sandbox) -> None:
    store = tmp_path / "store"
    failing = {"on": True}

    def proxy(request: RecordedRequest) -> Reply:
        if failing["on"] and request.path == "/events/data_series":
            return Reply.json({"message": "Internal error"}, 400)
        status, body = sandbox.handle_request(request.path, request.query)
        return Reply.json(body, status)

    with ScriptedServer(handler=proxy) as server, \
            bf.BrazeClient(sandbox.api_key, server.url, sleep=lambda s: None) as client:
        report = bf.sync(store, series=["dau", "events"], start=T - days(30), end=T - days(10),
                         client=client, on_error="collect")
        records = json.loads((store / "_series" / MANIFEST_NAME).read_text())["series"]
        assert report.failures and {f.campaign_id for f in report.failures} == {"events"}
        assert records["dau"]["last"] == (T - days(10)).isoformat()
        assert records["events"]["first"] is None
        failing["on"] = False
        retry = bf.sync(store, series=["dau", "events"], end=T - days(10), lookback_days=0, client=client)
        assert retry.ok
        assert retry.days_fetched == 21  # the events' days; dau's are certified
        got = bf.read_store(store, table="series")
        expected = bf.fetch_series(["dau", "events"], start=T - days(30), end=T - days(10), client=client)
    assert_frame_equal(canonical(got), canonical(expected))


def test_unknown_kinds_are_refused_before_any_request(tmp_path: Path, client: bf.BrazeClient) -> None:
    before = client.stats.requests
    with pytest.raises(ValueError, match=r"unknown series kind\(s\) \['daus'\]: sync takes"):
        bf.sync(tmp_path / "store", series=["dau", "daus"], start=T - days(3), end=T, client=client)
    with pytest.raises(ValueError, match="series is empty"):
        bf.sync(tmp_path / "store", series=[], start=T - days(3), end=T, client=client)
    assert client.stats.requests == before


def test_the_cli_syncs_series(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                              sandbox: Sandbox, tmp_path: Path) -> None:
    store = tmp_path / "store"
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    monkeypatch.setenv("BRAZE_REST_ENDPOINT", sandbox.url)
    capsys.readouterr()
    code = cli.run(["sync", str(store), "--series", "dau,mau", "--start", "2025-05-01",
                    "--end", "2025-05-10"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(f"synced 0 campaigns and 2 series into {store}: 20 series-days fetched")
    assert set(bf.read_store(store, table="series").get_column("metric").cast(pl.String)) == {"dau", "mau"}
    code = cli.run(["sync", str(store), "--series", "nope", "--start", "2025-05-01"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "unknown series kind" in err
