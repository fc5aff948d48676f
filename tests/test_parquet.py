"""Parquet files and hive datasets: one schema for both backends, atomic, exact read-back."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal as pl_assert_equal

import braze_frames
from braze_frames._schema import KEY_COLUMNS, TIDY_COLUMNS
from braze_frames._tidy import POLARS_SCHEMA, empty_tidy, from_records, to_backend
from braze_frames.storage import files as _files
from braze_frames.storage.arrow import METADATA_KEY, SCHEMA_VERSION, TIDY_ARROW_SCHEMA
from braze_frames.storage.dataset import hive_escape
from braze_frames.storage.parquet import (
    parquet_metadata,
    read_parquet,
    write_csv,
    write_parquet,
)

AWKWARD_IDS = ["a/b=c %d", "caf\u00e9-\u65e5\u672c", "x+y?#&", "plain-id"]

ROWS: list[tuple[Any, ...]] = [
    ("a/b=c %d", "2024-06-30", "all", None, None, "unique_recipients", 120.0),
    ("a/b=c %d", "2024-07-01", "all", None, None, "revenue", 12.5),
    ("a/b=c %d", "2024-07-01", "email", "v1", "Variant 1", "sent", 100.0),
    ("a/b=c %d", "2024-07-01", "email", "v1", "Variant 1", "opens", 40.0),
    ("a/b=c %d", "2024-07-01", "email", "ctl", None, "enrolled", 7.0),
    ("caf\u00e9-\u65e5\u672c", "2024-07-02", "ios_push", "p1", None, "sent", 50.0),
    ("caf\u00e9-\u65e5\u672c", "2024-08-01", "ios_push", "p1", None, "direct_opens", 0.0),
    ("plain-id", "2024-08-15", "webhook", "w1", "Hook", "errors", 3.0),
]


def tidy(backend: str, rows: list[tuple[Any, ...]] = ROWS) -> Any:
    return from_records(rows, backend)


def assert_same(got: Any, expected: Any, *, category_order: bool = True) -> None:
    """Frames equal in values, dtypes and column order (pandas or polars).

    A dataset reads back in partition order, so pandas categories come in another order:
    ``category_order=False`` compares the values only.
    """
    if isinstance(expected, pl.DataFrame):
        assert isinstance(got, pl.DataFrame)
        assert got.schema == expected.schema
        pl_assert_equal(got, expected)
    else:
        import pandas as pd

        assert isinstance(got, pd.DataFrame)
        assert list(got.dtypes) == list(expected.dtypes)
        pd.testing.assert_frame_equal(
            got.reset_index(drop=True), expected.reset_index(drop=True), check_categorical=category_order
        )


def by_key(frame: Any, keys: tuple[str, ...] = KEY_COLUMNS) -> Any:
    """Sort a frame by the given columns (row order of a dataset is by partition)."""
    if isinstance(frame, pl.DataFrame):
        return frame.sort([pl.col(k).cast(pl.String) if frame.schema[k] == pl.Categorical else pl.col(k)
                           for k in keys], maintain_order=True)
    return frame.sort_values(
        list(keys), kind="stable", key=lambda s: s.astype("str") if s.dtype == "category" else s
    ).reset_index(drop=True)


def arrow_back(path: Path) -> pa.Table:
    return pq.read_table(path)


def meta_without_time(path: Path) -> dict[str, Any]:
    meta = json.loads(pq.read_schema(path).metadata[METADATA_KEY.encode()])
    meta.pop("written_at")
    return meta


def no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


# --- single files ----------------------------------------------------------------------


def test_round_trip_is_identity(backend: str, tmp_path: Path) -> None:
    df = tidy(backend)
    out = write_parquet(df, tmp_path / "out.parquet")
    assert out == tmp_path / "out.parquet"
    assert_same(read_parquet(out, backend=backend), df)


def test_round_trip_of_an_empty_frame(backend: str, tmp_path: Path) -> None:
    df = to_backend(empty_tidy(), backend)  # type: ignore[arg-type]
    out = write_parquet(df, tmp_path / "empty.parquet")
    back = read_parquet(out, backend=backend)
    assert_same(back, df)
    meta = parquet_metadata(out)
    assert meta["rows"] == 0
    assert meta["campaign_ids"] == []
    assert meta["date_range"] is None


def test_read_back_dtypes_are_the_tidy_dtypes(tmp_path: Path) -> None:
    out = write_parquet(tidy("pandas"), tmp_path / "p.parquet")
    assert read_parquet(out).schema == pl.Schema(POLARS_SCHEMA)
    expected = to_backend(tidy("polars"), "pandas")
    back = read_parquet(out, backend="pandas")
    assert list(back.columns) == list(TIDY_COLUMNS)
    assert [str(t) for t in back.dtypes] == [str(t) for t in expected.dtypes]
    assert str(back["date"].dtype) == "datetime64[ms]"


def test_pandas_and_polars_write_the_same_schema_and_rows(tmp_path: Path) -> None:
    a = write_parquet(tidy("polars"), tmp_path / "polars.parquet")
    b = write_parquet(tidy("pandas"), tmp_path / "pandas.parquet")
    ta, tb = arrow_back(a), arrow_back(b)
    assert ta.schema.remove_metadata() == tb.schema.remove_metadata()
    assert ta.schema.remove_metadata() == TIDY_ARROW_SCHEMA
    assert ta.equals(tb)
    assert meta_without_time(a) == meta_without_time(b)
    assert set(ta.schema.metadata) == {METADATA_KEY.encode()}  # no "pandas" entry


awkward_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=6
)
tidy_row = st.tuples(
    st.sampled_from(AWKWARD_IDS) | awkward_text,
    st.dates(dt.date(2023, 1, 1), dt.date(2025, 12, 31)),
    st.sampled_from(["all", "email", "ios_push", "sms"]),
    st.none() | awkward_text,
    st.none() | awkward_text,
    st.sampled_from(["sent", "opens", "conversions", "revenue"]) | awkward_text,
    st.none() | st.floats(allow_nan=False, allow_infinity=False),
)


@given(rows=st.lists(tidy_row, max_size=12))
def test_both_backends_give_identical_files_and_round_trip(tmp_path_factory: Any, rows: list[Any]) -> None:
    tmp = tmp_path_factory.mktemp("hyp")
    files = {b: write_parquet(tidy(b, rows), tmp / f"{b}.parquet") for b in ("polars", "pandas")}
    ta, tb = arrow_back(files["polars"]), arrow_back(files["pandas"])
    assert ta.schema.remove_metadata() == tb.schema.remove_metadata()
    assert ta.equals(tb)
    for b, path in files.items():
        assert_same(read_parquet(path, backend=b), tidy(b, rows))


def test_nan_values_are_written_as_null(tmp_path: Path) -> None:
    df = tidy("polars").with_columns(value=pl.Series([float("nan"), *range(len(ROWS) - 1)], dtype=pl.Float64))
    out = write_parquet(df, tmp_path / "nan.parquet")
    assert arrow_back(out)["value"].null_count == 1
    assert read_parquet(out)["value"][0] is None


def test_metadata_content(backend: str, tmp_path: Path) -> None:
    before = dt.datetime.now(dt.timezone.utc)
    out = write_parquet(tidy(backend), tmp_path / "m.parquet", metadata={"source": "test", "n": 3})
    meta = parquet_metadata(out)
    assert meta["library"] == "braze_frames"
    assert meta["version"] == braze_frames.__version__
    assert meta["schema_version"] == SCHEMA_VERSION
    assert meta["kind"] == "tidy"
    assert meta["columns"] == list(TIDY_COLUMNS)
    assert meta["campaign_ids"] == sorted({r[0] for r in ROWS})
    assert meta["date_range"] == {"min": "2024-06-30", "max": "2024-08-15"}
    assert meta["rows"] == len(ROWS)
    assert meta["partitioning"] is None
    assert meta["user"] == {"source": "test", "n": 3}
    written = dt.datetime.fromisoformat(meta["written_at"])
    assert written.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(seconds=1) <= written <= dt.datetime.now(dt.timezone.utc)


def test_metadata_must_be_json(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="JSON"):
        write_parquet(tidy("polars"), tmp_path / "x.parquet", metadata={"when": object()})


def test_parquet_metadata_of_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "foreign.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(path)
    with pytest.raises(ValueError, match="not written by braze_frames"):
        parquet_metadata(path)
    with pytest.raises(FileNotFoundError):
        parquet_metadata(tmp_path / "missing.parquet")


def test_a_foreign_tidy_file_reads_back_with_tidy_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "foreign.parquet"
    tidy("polars").with_columns(pl.col(pl.Categorical).cast(pl.String)).write_parquet(path)
    assert_same(read_parquet(path), tidy("polars"))


def test_lazyframe_arrow_table_and_narwhals_inputs(tmp_path: Path) -> None:
    import narwhals.stable.v2 as nw

    df = tidy("polars")
    expected = arrow_back(write_parquet(df, tmp_path / "ref.parquet"))
    for i, source in enumerate([df.lazy(), df.to_arrow(), nw.from_native(df)]):
        out = write_parquet(source, tmp_path / f"{i}.parquet")
        assert arrow_back(out).equals(expected)


# --- atomicity -------------------------------------------------------------------------


def make_writer_crash(
    monkeypatch: pytest.MonkeyPatch, *, rows_per_batch: int, fail_on_call: int
) -> list[int]:
    """pyarrow's writer writes some batches, then fails as a full disk or a kill would."""
    monkeypatch.setattr(_files, "_ROW_GROUP_ROWS", rows_per_batch)
    original = pq.ParquetWriter.write_table
    calls: list[int] = []

    def write_table(self: Any, table: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(table.num_rows)
        if len(calls) == fail_on_call:
            raise OSError("simulated crash mid-write")
        original(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", write_table)
    return calls


def test_a_crash_keeps_the_old_file(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.parquet"
    old = tidy(backend, ROWS[:2])
    write_parquet(old, path)
    before = path.read_bytes()
    calls = make_writer_crash(monkeypatch, rows_per_batch=2, fail_on_call=2)
    with pytest.raises(OSError, match="simulated crash"):
        write_parquet(tidy(backend), path)
    assert calls == [2, 2]  # it died after the first batch was written
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.parquet"]
    monkeypatch.undo()
    assert_same(read_parquet(path, backend=backend), old)


def test_a_crash_on_a_new_file_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_writer_crash(monkeypatch, rows_per_batch=2, fail_on_call=2)
    with pytest.raises(OSError, match="simulated crash"):
        write_parquet(tidy("polars"), tmp_path / "new.parquet")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("layout", [True, ("campaign_id", "month")])
def test_a_crash_in_a_dataset_keeps_each_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: Any
) -> None:
    root = write_parquet(tidy("polars"), tmp_path / "ds", partition_by=layout)
    before = {p: p.read_bytes() for p in root.rglob("*.parquet")}
    # Partitions are written in key order: 2024-06 (1 row), then 2024-07 (4 or 5 rows).
    make_writer_crash(monkeypatch, rows_per_batch=1, fail_on_call=3)
    monkeypatch.setattr(_files, "_DATASET_ROW_GROUP_ROWS", 1)
    changed = tidy("polars").with_columns(value=pl.col("value") + 1)
    with pytest.raises(OSError, match="simulated crash"):
        write_parquet(changed, root, partition_by=layout)
    monkeypatch.undo()
    assert no_temp_files(root)
    after = {p: p.read_bytes() for p in root.rglob("*.parquet")}
    assert after.keys() == before.keys()
    first = (root / "month=2024-06" if layout is True
             else root / "campaign_id=a%2Fb%3Dc%20%25d" / "month=2024-06") / "part-0.parquet"
    assert pq.read_table(first)["value"].to_pylist() == [121.0]  # replaced whole
    assert [p for p in after if after[p] != before[p]] == [first]  # the others untouched


def test_files_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    out = write_parquet(tidy("polars"), tmp_path / "perm.parquet")
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_existing_error_for_a_file(tmp_path: Path) -> None:
    path = write_parquet(tidy("polars"), tmp_path / "x.parquet")
    with pytest.raises(FileExistsError, match="existing='error'"):
        write_parquet(tidy("polars"), path, existing="error")
    write_parquet(tidy("polars", ROWS[:1]), path)  # the default replaces it
    assert parquet_metadata(path)["rows"] == 1


# --- partitioned datasets --------------------------------------------------------------


def test_the_default_layout_is_one_file_per_month_sorted_by_campaign_then_date(tmp_path: Path) -> None:
    shuffled = tidy("polars").reverse()
    root = write_parquet(shuffled, tmp_path / "ds", partition_by=True)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))
    assert files == ["month=2024-06/part-0.parquet", "month=2024-07/part-0.parquet",
                     "month=2024-08/part-0.parquet"]
    july = pq.ParquetFile(root / files[1]).read()  # the file alone: no partition column from its path
    assert july.schema.names == list(TIDY_COLUMNS)  # campaign_id is in the files
    keys = list(zip(july["campaign_id"].to_pylist(), july["date"].to_pylist(), strict=True))
    assert keys == sorted(keys)
    # Rows of one campaign and day keep their order (a stable sort).
    assert july["metric"].to_pylist()[:3] == ["enrolled", "opens", "sent"]
    meta = parquet_metadata(root)
    assert meta["partitioning"]["columns"] == ["month"]
    assert meta["files"] == 3


def test_row_group_statistics_let_readers_skip_campaigns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_files, "_DATASET_ROW_GROUP_ROWS", 2)
    rows = [(f"c{i}", "2024-07-01", "email", "v", None, "sent", float(i)) for i in range(6)]
    root = write_parquet(tidy("polars", rows[::-1]), tmp_path / "ds", partition_by=True)
    meta = pq.ParquetFile(root / "month=2024-07" / "part-0.parquet").metadata
    assert meta.num_row_groups == 3
    stats = [meta.row_group(i).column(0).statistics for i in range(3)]
    assert [(s.min, s.max) for s in stats] == [("c0", "c1"), ("c2", "c3"), ("c4", "c5")]
    got = read_parquet(root, filters=[("campaign_id", "=", "c4")])
    assert got["value"].to_list() == [4.0]


def test_pyarrow_hive_escaping_differs_from_ours_for_non_ascii() -> None:
    # Why write_dataset's partitioning is not used: it percent-encodes UTF-8 bytes, which
    # Spark decodes one byte per character.
    part = ds.partitioning(pa.schema([("campaign_id", pa.string())]), flavor="hive")
    assert part.format(ds.field("campaign_id") == "caf\u00e9")[0] == "campaign_id=caf%C3%A9"
    assert hive_escape("caf\u00e9") == "caf\u00e9"


def test_dataset_layout_and_escaping(tmp_path: Path) -> None:
    root = write_parquet(tidy("polars"), tmp_path / "ds", partition_by=("campaign_id", "month"))
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))
    assert files == [
        "campaign_id=a%2Fb%3Dc%20%25d/month=2024-06/part-0.parquet",
        "campaign_id=a%2Fb%3Dc%20%25d/month=2024-07/part-0.parquet",
        "campaign_id=caf\u00e9-\u65e5\u672c/month=2024-07/part-0.parquet",
        "campaign_id=caf\u00e9-\u65e5\u672c/month=2024-08/part-0.parquet",
        "campaign_id=plain-id/month=2024-08/part-0.parquet",
    ]
    assert (root / "_common_metadata").is_file()
    # Partition columns live in the paths only.
    schema = pq.read_schema(root / files[0])
    assert schema.names == ["campaign_name", "date", "channel", "variation", "variation_name", "metric",
                            "value"]
    meta = parquet_metadata(root / files[0])
    assert meta["campaign_ids"] == ["a/b=c %d"]
    assert meta["partitioning"]["columns"] == ["campaign_id", "month"]


def test_dataset_round_trip(backend: str, tmp_path: Path) -> None:
    df = tidy(backend)
    root = write_parquet(df, tmp_path / "ds", partition_by=True)
    back = read_parquet(root, backend=backend)
    assert_same(by_key(back), by_key(df), category_order=False)
    meta = parquet_metadata(root)
    assert meta["rows"] == len(ROWS)
    assert meta["files"] == 3
    assert meta["campaign_ids"] == sorted({r[0] for r in ROWS})
    assert meta["date_range"] == {"min": "2024-06-30", "max": "2024-08-15"}


def test_reading_one_partition_directory_keeps_its_keys(tmp_path: Path) -> None:
    root = write_parquet(tidy("polars"), tmp_path / "ds", partition_by=("campaign_id", "month"))
    got = read_parquet(root / "campaign_id=a%2Fb%3Dc%20%25d")
    expected = tidy("polars").filter(pl.col("campaign_id") == "a/b=c %d")
    assert_same(by_key(got), by_key(expected), category_order=False)
    got = read_parquet(root / "campaign_id=a%2Fb%3Dc%20%25d" / "month=2024-07")
    assert got["campaign_id"].unique().to_list() == ["a/b=c %d"]
    assert got.height == 4


def test_dataset_from_both_backends_is_the_same(tmp_path: Path) -> None:
    a = write_parquet(tidy("polars"), tmp_path / "a", partition_by=True)
    b = write_parquet(tidy("pandas"), tmp_path / "b", partition_by=True)
    files = sorted(p.relative_to(a) for p in a.rglob("*.parquet"))
    assert files == sorted(p.relative_to(b) for p in b.rglob("*.parquet"))
    for f in files:
        assert arrow_back(a / f).equals(arrow_back(b / f))
        assert arrow_back(a / f).schema.remove_metadata() == arrow_back(b / f).schema.remove_metadata()


def test_dataset_read_by_polars_scan_parquet(tmp_path: Path) -> None:
    root = write_parquet(tidy("polars"), tmp_path / "ds", partition_by=True)
    scanned = pl.scan_parquet(root / "**/*.parquet", hive_partitioning=True).collect()
    assert scanned.schema["campaign_id"] == pl.Categorical  # a dictionary column of the files
    assert scanned.schema["month"] == pl.String
    assert scanned.schema["date"] == pl.Date
    assert scanned.schema["value"] == pl.Float64
    expected = tidy("polars").with_columns(month=pl.col("date").dt.strftime("%Y-%m"))
    got = scanned.select(expected.columns).cast(expected.schema)  # type: ignore[arg-type]
    assert_same(by_key(got), by_key(expected), category_order=False)


def test_dataset_read_by_duckdb(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    root = write_parquet(tidy("pandas"), tmp_path / "ds", partition_by=True)
    rel = duckdb.sql(f"SELECT * FROM read_parquet('{root}/**/*.parquet', hive_partitioning=true)")
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    assert types == {
        "campaign_name": "VARCHAR", "date": "DATE", "channel": "VARCHAR", "variation": "VARCHAR",
        "variation_name": "VARCHAR",
        "metric": "VARCHAR", "value": "DOUBLE", "campaign_id": "VARCHAR", "month": "VARCHAR",
    }
    got = sorted(rel.select("campaign_id, date, channel, variation, variation_name, metric, value, month")
                 .fetchall(), key=repr)
    expected = sorted(
        ((r[0], dt.date.fromisoformat(r[1]), *r[2:], r[1][:7]) for r in ROWS), key=repr
    )
    assert got == expected


def test_dataset_read_by_pyarrow_dataset(tmp_path: Path) -> None:
    root = write_parquet(tidy("polars"), tmp_path / "ds", partition_by=True)
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    assert sorted(set(table["campaign_id"].to_pylist())) == sorted({r[0] for r in ROWS})
    assert table.num_rows == len(ROWS)


def test_numeric_looking_ids_stay_strings(backend: str, tmp_path: Path) -> None:
    rows = [("123", "2024-07-01", "email", "v", None, "sent", 1.0),
            ("0042", "2024-07-01", "email", "v", None, "sent", 2.0)]
    root = write_parquet(tidy(backend, rows), tmp_path / "ds", partition_by=("campaign_id", "month"))
    back = read_parquet(root, backend=backend)
    assert_same(by_key(back), by_key(tidy(backend, rows)), category_order=False)
    scanned = pl.scan_parquet(root / "**/*.parquet", hive_partitioning=True,
                              hive_schema={"campaign_id": pl.String, "month": pl.String}).collect()
    assert sorted(scanned["campaign_id"].to_list()) == ["0042", "123"]


def test_existing_partitions_are_replaced_and_others_kept(tmp_path: Path) -> None:
    layout = ("campaign_id", "month")
    root = write_parquet(tidy("polars"), tmp_path / "ds", partition_by=layout)
    stray = root / "campaign_id=plain-id" / "month=2024-08" / "part-1.parquet"
    pq.write_table(pq.read_table(root / "campaign_id=plain-id" / "month=2024-08" / "part-0.parquet"), stray)
    update = [("plain-id", "2024-08-20", "webhook", "w1", "Hook", "errors", 9.0)]
    write_parquet(tidy("polars", update), root, partition_by=layout)
    back = read_parquet(root)
    plain = back.filter(pl.col("campaign_id") == "plain-id")
    assert sorted(plain["value"].to_list()) == [3.0, 9.0]  # the stray file is still read
    assert back.height == len(ROWS) + 1
    write_parquet(tidy("polars", update), root, partition_by=layout, existing="delete_matching")
    assert not stray.exists()
    back = read_parquet(root)
    assert back.filter(pl.col("campaign_id") == "plain-id")["value"].to_list() == [9.0]
    assert back.height == len(ROWS)
    with pytest.raises(FileExistsError, match="not empty"):
        write_parquet(tidy("polars"), root, partition_by=layout, existing="error")


def test_a_dataset_refuses_another_layout(tmp_path: Path) -> None:
    root = write_parquet(tidy("polars"), tmp_path / "ds", partition_by=True)
    with pytest.raises(ValueError, match="another directory"):
        write_parquet(tidy("polars"), root, partition_by=["campaign_id"])
    wide = pl.DataFrame({"campaign_id": ["c"], "date": [dt.date(2024, 7, 1)], "x": [1.0]})
    with pytest.raises(ValueError, match="another directory"):
        write_parquet(wide, root, partition_by=True)


def test_empty_dataset_round_trip(backend: str, tmp_path: Path) -> None:
    df = to_backend(empty_tidy(), backend)  # type: ignore[arg-type]
    root = write_parquet(df, tmp_path / "ds", partition_by=True)
    assert not list(root.rglob("*.parquet"))
    assert_same(read_parquet(root, backend=backend), df)
    assert parquet_metadata(root)["files"] == 0


def test_partition_by_other_columns_with_types_and_nulls(backend: str, tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "campaign_id": pl.Series(["c1", "c1", "c2", "c2"], dtype=pl.Categorical()),
        "date": [dt.date(2024, 7, 1), dt.date(2024, 7, 2), dt.date(2024, 7, 1), dt.date(2024, 7, 3)],
        "flag": [True, False, None, True],
        "bucket": pl.Series([1, 2, 2, 3], dtype=pl.Int32),
        "label": ["a/b", None, "x", "y"],
        "value": [1.0, 2.0, None, 4.0],
    })
    df = frame if backend == "polars" else frame.to_pandas()
    root = write_parquet(df, tmp_path / "ds", partition_by=["flag", "bucket", "label", "date"])
    assert (root / "flag=__HIVE_DEFAULT_PARTITION__").is_dir()
    back = read_parquet(root, backend="polars")
    expected = read_parquet(write_parquet(df, tmp_path / "one.parquet"), backend="polars")
    keys = ("campaign_id", "date")
    assert_same(by_key(back, keys), by_key(expected, keys), category_order=False)
    assert back.schema["bucket"] == pl.Int32


def test_partition_errors(tmp_path: Path) -> None:
    df = tidy("polars")
    with pytest.raises(ValueError, match="no such column"):
        write_parquet(df, tmp_path / "a", partition_by=["nope"])
    with pytest.raises(TypeError, match="of type double"):
        write_parquet(df, tmp_path / "b", partition_by=["value"])
    with pytest.raises(ValueError, match="partition_by"):
        write_parquet(df, tmp_path / "c", partition_by=[])
    no_date = pl.DataFrame({"campaign_id": ["c"], "metric": ["open_rate"], "value": [0.5],
                            "numerator": [1.0], "denominator": [2.0]})
    with pytest.raises(ValueError, match="no 'date' column"):
        write_parquet(no_date, tmp_path / "d", partition_by=True)
    with pytest.raises(ValueError, match="empty string"):
        write_parquet(tidy("polars", [("", "2024-07-01", "all", None, None, "x", 1.0)]),
                      tmp_path / "e", partition_by=("campaign_id", "month"))
    file = write_parquet(df, tmp_path / "f.parquet")
    with pytest.raises(NotADirectoryError):
        write_parquet(df, file, partition_by=True)
    with pytest.raises(IsADirectoryError, match="partition_by"):
        write_parquet(df, tmp_path)


def test_read_with_filters_and_columns(backend: str, tmp_path: Path) -> None:
    df = tidy("polars")
    root = write_parquet(df, tmp_path / "ds", partition_by=True)
    file = write_parquet(df, tmp_path / "one.parquet")
    for source in (root, file):
        got = read_parquet(source, backend="polars", filters=[("campaign_id", "=", "a/b=c %d")])
        assert_same(by_key(got), by_key(df.filter(pl.col("campaign_id") == "a/b=c %d")), category_order=False)
        got = read_parquet(source, filters=ds.field("date") >= dt.date(2024, 8, 1),
                           columns=["metric", "campaign_id", "value"], backend=backend)
        assert list(got.columns) == ["metric", "campaign_id", "value"]
        assert sorted(got["value"].to_list()) == [0.0, 3.0]
    month = read_parquet(root, filters=[("month", "=", "2024-07")], columns=["month", "value"])
    assert month["month"].unique().to_list() == ["2024-07"]
    with pytest.raises(ValueError, match="no column"):
        read_parquet(file, columns=["nope"])
    with pytest.raises(TypeError, match="filters"):
        read_parquet(file, filters="campaign_id = 'x'")


def test_hive_escape_examples() -> None:
    assert hive_escape("a/b=c %d") == "a%2Fb%3Dc%20%25d"
    assert hive_escape("x+y?#&*:") == "x%2By%3F%23%26%2A%3A"
    assert hive_escape("caf\u00e9-\u65e5\u672c_1.0~") == "caf\u00e9-\u65e5\u672c_1.0~"
    assert hive_escape("tab\tnl\n") == "tab%09nl%0A"


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1))
def test_hive_escape_is_undone_by_url_decoding(value: str) -> None:
    escaped = hive_escape(value)
    assert urllib.parse.unquote(escaped) == value
    assert not set("/=% \\:?#\"'*") & set(escaped.replace("%", ""))


# --- derived frames --------------------------------------------------------------------


def wide_polars() -> pl.DataFrame:
    return pl.DataFrame({
        "campaign_id": pl.Series(["c1", "c1", "c2"], dtype=pl.Categorical()),
        "date": [dt.date(2024, 7, 1), dt.date(2024, 7, 2), dt.date(2024, 8, 1)],
        "channel": pl.Series(["email", "email", "all"], dtype=pl.Categorical()),
        "variation": pl.Series(["v1", "v1", None], dtype=pl.Categorical()),
        "note": ["x", None, "z"],
        "sent": [10.0, 20.0, None],
        "opens": [1.0, None, 3.0],
        "days": pl.Series([1, 2, 3], dtype=pl.Int64),
    })


def test_derived_frame_round_trip(backend: str, tmp_path: Path) -> None:
    df = wide_polars() if backend == "polars" else wide_polars().to_pandas()
    out = write_parquet(df, tmp_path / "wide.parquet")
    assert parquet_metadata(out)["kind"] == "pivot"
    assert_same(read_parquet(out, backend=backend), df)
    root = write_parquet(df, tmp_path / "wide", partition_by=True)
    assert_same(by_key(read_parquet(root, backend=backend), ("campaign_id", "date")), df)


def test_derived_frames_have_one_schema_whatever_the_backend(tmp_path: Path) -> None:
    a = arrow_back(write_parquet(wide_polars(), tmp_path / "a.parquet"))
    b = arrow_back(write_parquet(wide_polars().to_pandas(), tmp_path / "b.parquet"))
    assert a.schema.remove_metadata() == b.schema.remove_metadata()
    assert a.equals(b)
    assert a.schema.field("campaign_id").type == pa.string()
    assert a.schema.field("note").type == pa.string()
    assert a.schema.field("date").type == pa.date32()
    assert meta_without_time(tmp_path / "a.parquet") == meta_without_time(tmp_path / "b.parquet")


@pytest.mark.parametrize(
    ("columns", "kind"),
    [
        (["campaign_id", "channel", "variation", "metric", "value", "numerator", "denominator"], "rates"),
        (["campaign_id", "channel", "variation", "event", "date", "by_conversion_date",
          "by_send_date", "difference", "cumulative_difference"], "reconcile"),
        (["campaign_id", "date", "channel", "variation", "sent"], "pivot"),
        (["a", "b"], "frame"),
        (list(reversed(TIDY_COLUMNS)), "frame"),
    ],
)
def test_kind_is_detected(tmp_path: Path, columns: list[str], kind: str) -> None:
    frame = pl.DataFrame({c: ["1"] if c != "date" else [dt.date(2024, 7, 1)] for c in columns})
    out = write_parquet(frame, tmp_path / "k.parquet")
    assert parquet_metadata(out)["kind"] == kind
    assert read_parquet(out).columns == columns
    out = write_parquet(frame, tmp_path / "k2.parquet", kind="frame")
    assert parquet_metadata(out)["kind"] == "frame"


def test_kind_argument_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly the columns"):
        write_parquet(pl.DataFrame({"a": [1]}), tmp_path / "x.parquet", kind="tidy")
    with pytest.raises(ValueError, match="kind must be"):
        write_parquet(pl.DataFrame({"a": [1]}), tmp_path / "x.parquet", kind="wide")  # type: ignore[arg-type]


def test_pandas_strings_and_dates_match_polars(tmp_path: Path) -> None:
    import pandas as pd

    pdf = pd.DataFrame({
        "date": pd.to_datetime(["2024-07-01", "2024-07-02"]).astype("datetime64[ns]"),
        "name": pd.Series(["a", None], dtype="object"),
        "cat": pd.Categorical(["a", None]),
        "when": pd.to_datetime(["2024-07-01 10:00", "2024-07-02 00:00"]),
    })
    table = arrow_back(write_parquet(pdf, tmp_path / "p.parquet"))
    assert table.schema.field("date").type == pa.date32()
    assert table.schema.field("name").type == pa.string()
    assert table.schema.field("cat").type == pa.string()
    assert pa.types.is_timestamp(table.schema.field("when").type)  # not all midnight: kept
    back = read_parquet(tmp_path / "p.parquet")
    assert back.schema["cat"] == pl.Categorical


def test_nested_columns_get_one_type(tmp_path: Path) -> None:
    frame = pl.DataFrame({"tags": [["a", "b"], [], None], "meta": [{"k": "x"}, {"k": None}, None]})
    a = arrow_back(write_parquet(frame, tmp_path / "a.parquet"))
    assert a.schema.field("tags").type == pa.list_(pa.string())
    assert a.schema.field("meta").type == pa.struct([("k", pa.string())])
    assert_same(read_parquet(tmp_path / "a.parquet"), frame)


# --- secrets, errors, CSV --------------------------------------------------------------


def test_the_api_key_never_reaches_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "canary-key-5f1d2c3b4a"
    monkeypatch.setenv("BRAZE_API_KEY", canary)
    write_parquet(tidy("pandas"), tmp_path / "a.parquet", metadata={"note": "hello"})
    write_parquet(tidy("polars"), tmp_path / "ds", partition_by=True)
    write_csv(tidy("polars"), tmp_path / "a.csv")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 6
    for path in files:
        assert canary.encode() not in path.read_bytes(), path
    with pytest.raises(ValueError, match="API key"):
        write_parquet(tidy("polars"), tmp_path / "b.parquet", metadata={"key": canary})
    assert not (tmp_path / "b.parquet").exists()


def test_bad_inputs_get_clear_errors(tmp_path: Path) -> None:
    import pandas as pd

    with pytest.raises(TypeError, match="pandas or polars DataFrame"):
        write_parquet([("c1", "2024-07-01")], tmp_path / "x.parquet")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_parquet(tidy("polars"), tmp_path / "missing" / "x.parquet")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_parquet(tidy("polars"), tmp_path / "missing" / "ds", partition_by=True)
    with pytest.raises(ValueError, match="existing"):
        write_parquet(tidy("polars"), tmp_path / "x.parquet", existing="append")  # type: ignore[arg-type]
    null_id = tidy("polars").with_columns(campaign_id=pl.lit(None, dtype=pl.Categorical()))
    with pytest.raises(ValueError, match="'campaign_id' has 8 null"):
        write_parquet(null_id, tmp_path / "x.parquet")
    with pytest.raises(TypeError, match="'value' must be numeric"):
        write_parquet(tidy("polars").with_columns(value=pl.lit("1")), tmp_path / "x.parquet")
    with pytest.raises(TypeError, match="'metric' must hold strings"):
        write_parquet(tidy("polars").with_columns(metric=pl.lit(1)), tmp_path / "x.parquet")
    pdf = tidy("pandas")
    pdf["date"] = pdf["date"] + pd.Timedelta(hours=3)
    with pytest.raises(ValueError, match="times of day"):
        write_parquet(pdf, tmp_path / "x.parquet")
    with pytest.raises(TypeError, match="time zone"):
        write_parquet(tidy("polars").with_columns(pl.col("date").cast(pl.Datetime("ms", "UTC"))),
                      tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="reset_index"):
        write_parquet(tidy("pandas").set_index("campaign_id"), tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="duplicate column"):
        write_parquet(pd.DataFrame([[1, 2]], columns=["a", "a"]), tmp_path / "x.parquet")
    with pytest.raises(FileNotFoundError):
        read_parquet(tmp_path / "nothing.parquet")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(FileNotFoundError, match="no Parquet files"):
        read_parquet(tmp_path / "emptydir")
    with pytest.raises(ValueError, match="backend"):
        read_parquet(tmp_path / "x.parquet", backend="spark")  # type: ignore[arg-type]
    assert not (tmp_path / "x.parquet").exists()


def test_a_filtered_pandas_frame_is_written_without_its_index(tmp_path: Path) -> None:
    pdf = tidy("pandas")
    part = pdf[pdf["metric"] == "sent"]
    assert list(part.index) != list(range(len(part)))
    back = read_parquet(write_parquet(part, tmp_path / "x.parquet"), backend="pandas")
    assert back["value"].tolist() == part["value"].tolist()


def test_write_csv(backend: str, tmp_path: Path) -> None:
    out = write_csv(tidy(backend), tmp_path / "out.csv")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(TIDY_COLUMNS)
    assert lines[1] == "a/b=c %d,,2024-06-30,all,,,unique_recipients,120.0"
    assert len(lines) == len(ROWS) + 1
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    other = "pandas" if backend == "polars" else "polars"
    assert out.read_bytes() == write_csv(tidy(other), tmp_path / "other.csv").read_bytes()
    with pytest.raises(FileNotFoundError):
        write_csv(tidy(backend), tmp_path / "missing" / "out.csv")


def test_the_module_does_not_import_pandas() -> None:
    code = "import sys, braze_frames.storage.parquet; assert 'pandas' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- size and Spark --------------------------------------------------------------------


def realistic_tidy(n_rows: int, seed: int = 0) -> pl.DataFrame:
    """A fetch-shaped tidy frame: campaigns x days x (totals, two variants, control)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    segments = [
        ("all", None, None, ["unique_recipients", "revenue", "conversions", "conversions_by_send_time",
                             "conversions1", "conversions1_by_send_time"]),
        ("email", "v1", "Variant 1", ["sent", "opens", "unique_opens", "clicks", "unique_clicks",
                                       "unsubscribes", "bounces", "delivered", "reported_spam",
                                       "machine_open"]),
        ("email", "v2", "Variant 2", ["sent", "opens", "unique_opens", "clicks", "unique_clicks",
                                       "unsubscribes", "bounces", "delivered", "reported_spam",
                                       "machine_open"]),
        ("email", "ctl", "Control Group", ["enrolled", "conversions", "conversions_by_send_time",
                                           "unique_recipients"]),
    ]
    per_day = sum(len(s[3]) for s in segments)
    days = 365
    n_campaigns = n_rows // (per_day * days) + 1
    seg = pl.DataFrame({
        "channel": [s[0] for s in segments], "variation": [s[1] for s in segments],
        "variation_name": [s[2] for s in segments], "metric": [s[3] for s in segments],
    }).explode("metric")
    ids = [f"{rng.integers(0, 2**62):016x}-{i:04d}-4a1b-9c2d-{rng.integers(0, 2**40):012x}"
           for i in range(n_campaigns)]
    grid = (pl.DataFrame({"campaign_id": ids})
            .join(pl.DataFrame({"date": pl.date_range(dt.date(2024, 1, 1), dt.date(2024, 12, 30),
                                                      eager=True)}), how="cross")
            .join(seg, how="cross").head(n_rows))
    size = rng.lognormal(8, 1.5, grid.height)
    value = np.floor(size * rng.uniform(0.01, 1.0, grid.height))
    revenue = (grid["metric"] == "revenue").to_numpy()
    value[revenue] = np.round(size[revenue] * rng.uniform(0, 3, int(revenue.sum())), 2)
    grid = grid.with_columns(
        variation=pl.when(pl.col("variation").is_not_null())
        .then(pl.col("campaign_id").str.slice(0, 8) + "-" + pl.col("variation")),
        value=pl.Series(value),
    )
    return grid.select(TIDY_COLUMNS).cast(POLARS_SCHEMA)  # type: ignore[arg-type]


@pytest.mark.slow
def test_bytes_per_row_of_a_realistic_frame(tmp_path: Path) -> None:
    df = realistic_tidy(2_000_000)
    out = write_parquet(df, tmp_path / "big.parquet")
    per_row = out.stat().st_size / df.height
    root = write_parquet(df, tmp_path / "big", partition_by=True)
    files = list(root.rglob("*.parquet"))
    ds_per_row = sum(f.stat().st_size for f in files) / df.height
    print(f"\n{df.height} rows: one file {per_row:.2f} B/row; "
          f"dataset of {len(files)} files {ds_per_row:.2f} B/row")
    assert per_row < 4  # a regression guard, not a target
    assert_same(read_parquet(out), df)


@pytest.mark.slow
@pytest.mark.spark
def test_dataset_read_by_spark(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    root = write_parquet(tidy("polars"), tmp_path / "ds", partition_by=True)
    spark = (SparkSession.builder.master("local[1]").appName("braze_frames-test")
             .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
             .config("spark.ui.enabled", "false").getOrCreate())
    try:
        frame = spark.read.option("basePath", str(root)).parquet(str(root))
        types = dict(frame.dtypes)
        assert types["campaign_id"] == "string"
        assert types["month"] == "string"
        assert types["date"] == "date"
        assert types["value"] == "double"
        got = sorted((tuple(r[c] for c in TIDY_COLUMNS) for r in frame.collect()), key=repr)
    finally:
        spark.stop()
    expected = sorted(((r[0], dt.date.fromisoformat(r[1]), *r[2:]) for r in ROWS), key=repr)
    assert got == expected
