"""SPEC section 10: rates and reconcile run where the data is, lazily.

On ``polars.scan_parquet`` (a file and a hive-partitioned dataset) and on a DuckDB
relation, each verb returns the same lazy type and, once collected, the same rows as the
eager polars call. PySpark has its own file behind the ``spark`` marker (test_spark.py).
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from _support_frames import assert_same, tidy

from braze_frames.verbs.pivot import pivot
from braze_frames.verbs.rates import PERIODS, rates
from braze_frames.verbs.reconcile import reconcile

BYS = [("campaign_id", "channel", "variation"), ("campaign_id",), ()]


def _rows() -> list[tuple[object, ...]]:
    rng = random.Random(7)
    metrics = {
        ("all", None): ["unique_recipients", "revenue", "conversions", "conversions_by_send_time",
                        "conversions4", "conversions4_by_send_time"],
        ("email", "e1"): ["sent", "delivered", "opens", "unique_opens", "unique_clicks", "bounces"],
        ("ios_push", "p1"): ["sent", "bounces", "direct_opens", "total_opens", "conversions",
                             "conversions_by_send_time", "unique_recipients"],
        ("ios_push", "cg"): ["enrolled", "unique_recipients", "conversions",
                             "conversions_by_send_time"],
        ("webhook", "w1"): ["sent", "errors"],
    }
    rows = []
    for campaign in ("c1", "c2", "c/3 odd=id"):
        for i in range(40):
            day = dt.date(2024, 6, 20) + dt.timedelta(days=i)
            for (channel, variation), names in metrics.items():
                for metric in names:
                    if rng.random() < 0.1:
                        continue  # some days lack some metrics
                    name = "Control Group" if variation == "cg" else None
                    value = float(rng.randint(0, 200))
                    rows.append((campaign, day, channel, variation, name, metric, value))
    return rows


@pytest.fixture(scope="module")
def eager() -> pl.DataFrame:
    frame: pl.DataFrame = tidy(_rows())
    return frame


@pytest.fixture(scope="module")
def parquet_file(eager: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lazy") / "tidy.parquet"
    eager.with_columns(pl.col(pl.Categorical).cast(pl.String)).write_parquet(path)
    return path


@pytest.fixture(scope="module")
def hive_root(eager: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hive")
    eager.with_columns(pl.col(pl.Categorical).cast(pl.String)).write_parquet(
        root, partition_by=["campaign_id"]
    )
    return root


def _scan_hive(root: Path) -> pl.LazyFrame:
    # Partition columns come last from a hive scan; the verbs do not mind the order.
    return pl.scan_parquet(
        root / "**" / "*.parquet", hive_partitioning=True, hive_schema={"campaign_id": pl.String}
    )


def _verbs() -> list[tuple[str, Any]]:
    cases: list[tuple[str, Any]] = [
        (f"rates-{p}-{len(by)}", lambda df, p=p, by=by: rates(df, p, by))
        for p in PERIODS
        for by in BYS
    ]
    cases.append(("reconcile", reconcile))
    cases.append(("reconcile-summary", lambda df: reconcile(df, summary=True, window_days=3)))
    return cases


VERBS = _verbs()


@pytest.mark.parametrize(("name", "verb"), VERBS, ids=[n for n, _ in VERBS])
def test_polars_scan_parquet_equals_eager(
    eager: pl.DataFrame, parquet_file: Path, hive_root: Path, name: str, verb: Any
) -> None:
    expected = verb(eager)
    for lazy in (pl.scan_parquet(parquet_file), _scan_hive(hive_root)):
        got = verb(lazy)
        assert isinstance(got, pl.LazyFrame), name
        assert_same(got, expected)


@pytest.mark.parametrize(("name", "verb"), VERBS, ids=[n for n, _ in VERBS])
def test_duckdb_relation_equals_eager(
    eager: pl.DataFrame, parquet_file: Path, name: str, verb: Any
) -> None:
    con = duckdb.connect()
    try:
        relation = con.read_parquet(str(parquet_file))
        got = verb(relation)
        assert isinstance(got, duckdb.DuckDBPyRelation), name
        assert_same(got, verb(eager))
    finally:
        con.close()


def test_duckdb_plans_on_one_connection_keep_their_own_inputs(eager: pl.DataFrame, tmp_path: Path) -> None:
    # Each plan's SQL reads views of names of its own: built before either runs, two plans
    # on one connection (two inputs) still give their own answers. With one name for all,
    # DuckDB 1.x read the later input in the earlier plan, or failed on a view reading itself.
    other = eager.filter(pl.col("campaign_id") == "c2").with_columns(pl.col("value") * 2)
    paths = []
    for i, frame in enumerate((eager, other)):
        paths.append(tmp_path / f"t{i}.parquet")
        frame.with_columns(pl.col(pl.Categorical).cast(pl.String)).write_parquet(paths[-1])
    con = duckdb.connect()
    try:
        for verb in (lambda df: rates(df, "month"), lambda df: rates(df, "total", ("channel",)),
                     lambda df: reconcile(df, summary=True, window_days=3)):
            first, second = (verb(con.read_parquet(str(p))) for p in paths)
            assert_same(second, verb(other))
            assert_same(first, verb(eager))
    finally:
        con.close()


def test_the_library_s_own_partitioned_store(eager: pl.DataFrame, tmp_path: Path) -> None:
    """The SPEC 10 story end to end: write_parquet(partition_by=True), scan, compute."""
    from braze_frames.storage.parquet import write_parquet

    root = write_parquet(eager, tmp_path / "store", partition_by=True)
    glob = f"{root}/**/*.parquet"
    # Partitioned by month alone (SPEC 7): campaign_id is a column of the files.
    lazy = pl.scan_parquet(glob, hive_partitioning=True, hive_schema={"month": pl.String})
    assert_same(rates(lazy, "month", ("campaign_id",)), rates(eager, "month", ("campaign_id",)))
    con = duckdb.connect()
    try:
        relation = con.sql(
            f"SELECT * FROM read_parquet('{glob}', hive_partitioning=true, "
            "hive_types={'month': VARCHAR})"
        )
        assert_same(reconcile(relation, summary=True), reconcile(eager, summary=True))
    finally:
        con.close()


def test_pivot_stays_lazy(eager: pl.DataFrame, parquet_file: Path) -> None:
    got = pivot(pl.scan_parquet(parquet_file))
    assert isinstance(got, pl.LazyFrame)
    assert_same(got, pivot(eager))
    con = duckdb.connect()
    try:
        relation = pivot(con.read_parquet(str(parquet_file)), layout="channels")
        assert_same(relation, pivot(eager, layout="channels"))
    finally:
        con.close()


def test_polars_rates_run_nothing_until_collect(eager: pl.DataFrame, parquet_file: Path) -> None:
    # On polars, keeping every key over weeks and longer, even the metric names are read
    # inside collect (from the one pass): nothing touches the rows at the call.
    batches: list[int] = []

    def counted(frame: pl.DataFrame) -> pl.DataFrame:
        batches.append(frame.height)
        return frame

    source = pl.scan_parquet(parquet_file)
    watched = source.map_batches(counted, schema=source.collect_schema())
    for period in ("week", "month", "total"):
        got = rates(watched, period)
        assert batches == [], period
        assert_same(got, rates(eager, period))
        assert sum(batches) >= eager.height, period
        batches.clear()


def test_polars_rates_refuse_a_rate_without_its_metrics_at_collect(
    eager: pl.DataFrame, parquet_file: Path
) -> None:
    # The frame has no unsubscribes: eager frames are refused at the call, polars plans
    # (which read the metric names inside collect) at collect, with the same message.
    with pytest.raises(ValueError, match="lacks the metrics of rate 'unsubscribe_rate'") as eager_error:
        rates(eager, "month", rates=["unsubscribe_rate"])
    plan = rates(pl.scan_parquet(parquet_file), "month", rates=["unsubscribe_rate"])
    with pytest.raises(ValueError, match="lacks the metrics of rate 'unsubscribe_rate'") as lazy_error:
        plan.collect()
    assert str(lazy_error.value) == str(eager_error.value)
