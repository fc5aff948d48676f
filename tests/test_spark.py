"""SPEC section 10 on PySpark: the verbs on a store read as it is, local[2], and no work before collect.

Behind the ``spark`` marker (and ``slow``: the JVM takes a while to start), so the default run
skips it: ``pytest -m spark tests/test_spark.py``. It needs ``pip install pyspark`` and Java 17.

The store is written by the library (``write_parquet(..., partition_by=True)``) and read
with ``spark.read.parquet`` as it is. Each verb must give, once collected, the rows the eager
polars call gives; and before collect it may run at most the one small query SPEC 10 allows
(the (channel, metric) pairs for ``pivot`` and ``rates``, the small per-day series for
``reconcile(summary=True)``), counted with Spark's status tracker.
"""

from __future__ import annotations

import importlib.util
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from _support_frames import assert_same
from test_lazy import _rows

from braze_frames._tidy import from_records
from braze_frames.verbs.pivot import pivot
from braze_frames.verbs.rates import rates
from braze_frames.verbs.reconcile import reconcile

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark not installed"),
    pytest.mark.skipif(shutil.which("java") is None, reason="no Java for Spark"),
    # PySpark warns about pandas 3 on import; nothing here goes through its pandas layer.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    import os

    from pyspark.sql import SparkSession

    # Local mode only: keep Spark's driver on the loopback interface.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("braze_frames-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        # Ids that look like numbers stay strings, as the store's docs say.
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # Adaptive execution runs one query as a job per shuffle stage; off, one query is
        # one job, so that the status tracker's count below is a count of queries.
        .config("spark.sql.adaptive.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def eager() -> pl.DataFrame:
    frame: pl.DataFrame = from_records(_rows())
    return frame


@pytest.fixture(scope="module")
def store(eager: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from braze_frames.storage.parquet import write_parquet

    root: Path = write_parquet(eager, tmp_path_factory.mktemp("spark") / "store", partition_by=True)
    return root


@pytest.fixture(scope="module")
def sdf(spark: Any, store: Path) -> Any:
    return spark.read.parquet(str(store))


def jobs_during(spark: Any, call: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``call`` and count the Spark jobs it started (status tracker, by job group)."""
    context = spark.sparkContext
    group = f"braze-frames-{uuid.uuid4()}"
    context.setJobGroup(group, "a verb before collect")
    try:
        result = call()
    finally:
        context.setJobGroup("after", "collect")
    return result, len(context.statusTracker().getJobIdsForGroup(group))


def collected(native: Any) -> pl.DataFrame:
    frame = pl.from_arrow(native.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def test_the_store_reads_as_it_is(sdf: Any, eager: pl.DataFrame) -> None:
    assert {"campaign_id", "month", "metric", "value"} <= set(sdf.columns)
    assert sdf.count() == eager.height


@pytest.mark.parametrize("layout", ["metrics", "channels"])
def test_pivot(spark: Any, sdf: Any, eager: pl.DataFrame, layout: str) -> None:
    out, jobs = jobs_during(spark, lambda: pivot(sdf, layout=layout))  # type: ignore[arg-type]
    assert jobs <= 1  # the (channel, metric) pairs that name the columns
    assert_same(collected(out), pivot(eager, layout=layout))  # type: ignore[arg-type]


@pytest.mark.parametrize(("period", "by"), [
    ("day", ("campaign_id", "channel", "variation")),
    ("week", ("campaign_id", "channel", "variation")),
    ("month", ("campaign_id",)),
    ("total", ("campaign_id", "variation")),
    ("month", ()),
])
def test_rates(spark: Any, sdf: Any, eager: pl.DataFrame, period: str, by: tuple[str, ...]) -> None:
    out, jobs = jobs_during(spark, lambda: rates(sdf, period, by))  # type: ignore[arg-type]
    assert jobs <= 1  # the (channel, metric) pairs: the plan itself runs at collect
    assert_same(collected(out), rates(eager, period, by))  # type: ignore[arg-type]


def test_reconcile(spark: Any, sdf: Any, eager: pl.DataFrame) -> None:
    detail, jobs = jobs_during(spark, lambda: reconcile(sdf))
    assert jobs == 0  # a plan: nothing runs before collect
    assert_same(collected(detail), reconcile(eager))
    summary, jobs = jobs_during(spark, lambda: reconcile(sdf, summary=True, window_days=3))
    assert jobs <= 1  # the per-day series, collected for the mean lag (SPEC 10)
    assert_same(collected(summary), reconcile(eager, summary=True, window_days=3))
