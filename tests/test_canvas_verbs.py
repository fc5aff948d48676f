"""The verbs on Canvas frames: validate, pivot, unpivot, on every backend (SPEC section 12).

Numbers are checked against plain Python over the tidy rows, never against the verbs' own
earlier output.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

import braze_frames as bf
from braze_frames._errors import DataRepairWarning
from braze_frames._tables import CANVAS_TABLE, base_channel
from braze_frames.sandbox import Sandbox
from braze_frames.verbs._common import tidy_lazy

TODAY = dt.date(2025, 6, 30)
WIDE = list(CANVAS_TABLE.wide_index)


@pytest.fixture(scope="module")
def canvas() -> Iterator[pl.DataFrame]:
    with Sandbox(seed=0, today=TODAY) as sb, bf.BrazeClient(sb.api_key, sb.url) as client, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", DataRepairWarning)
        yield bf.fetch_canvas_series(sb.canvas_ids[:3], start=TODAY - dt.timedelta(days=40),
                                     end=TODAY - dt.timedelta(days=25), client=client)


def as_backend(frame: pl.DataFrame, backend: str) -> Any:
    return frame.to_pandas() if backend == "pandas" else frame


def to_polars(frame: Any) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    out = pl.from_pandas(frame)
    return out.with_columns(pl.col("date").cast(pl.Date)) if "date" in out.columns else out


def plain_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String)).to_dicts()


@pytest.mark.parametrize("kind", ["polars", "pandas", "lazy"])
def test_validate_knows_the_canvas_table(canvas: pl.DataFrame, kind: str) -> None:
    frame: Any = canvas.lazy() if kind == "lazy" else as_backend(canvas, kind)
    assert bf.validate(frame) is frame
    doubled: Any = pl.concat([canvas, canvas.head(3)])
    doubled = doubled.lazy() if kind == "lazy" else as_backend(doubled, kind)
    with pytest.raises(bf.TidyFrameError, match=r"3 duplicated keys \(canvas_id, date, variant, step"):
        bf.validate(doubled)


def test_validate_names_what_is_wrong_with_a_canvas_frame(canvas: pl.DataFrame) -> None:
    with pytest.raises(bf.TidyFrameError, match="missing column: step_name") as info:
        bf.validate(canvas.drop("step_name"))
    assert "fetch_canvas_series" in str(info.value)
    with pytest.raises(bf.TidyFrameError, match="value has dtype"):
        bf.validate(canvas.with_columns(pl.col("value").cast(pl.Int64)))
    # A verb that takes campaign frames only says which frame it got.
    with pytest.raises(bf.TidyFrameError, match="this is a canvas frame"):
        tidy_lazy(canvas)


@pytest.mark.parametrize("backend", ["polars", "pandas"])
def test_pivot_one_row_per_canvas_date_variant_step_channel(canvas: pl.DataFrame, backend: str) -> None:
    wide = to_polars(bf.pivot(as_backend(canvas, backend)))
    assert wide.columns[: len(WIDE)] == WIDE
    metrics = wide.columns[len(WIDE):]
    # Every tidy value sits in its cell, computed here from the rows themselves.
    cells: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
    for row in plain_rows(canvas):
        cells[tuple(row[c] for c in WIDE)][row["metric"]] = row["value"]
    assert wide.height == len(cells)
    for row in wide.iter_rows(named=True):
        expected = cells[tuple(row[c] for c in WIDE)]
        assert {m: row[m] for m in metrics if row[m] is not None} == expected
    # Entries come first among the totals; each conversion event is next to its twin.
    assert metrics.index("entries") < metrics.index("revenue") < metrics.index("conversions")
    assert metrics.index("conversions_by_entry_time") == metrics.index("conversions") + 1
    assert wide.select(WIDE).is_duplicated().sum() == 0


@pytest.mark.parametrize("backend", ["polars", "pandas"])
def test_unpivot_gives_the_canvas_frame_back(canvas: pl.DataFrame, backend: str) -> None:
    back = to_polars(bf.unpivot(bf.pivot(as_backend(canvas, backend))))
    assert back.columns == list(bf.CANVAS_COLUMNS)
    keys = list(CANVAS_TABLE.key_columns)
    expected = canvas.with_columns(pl.col(pl.Categorical).cast(pl.String)).sort(keys, nulls_last=False)
    got = back.with_columns(pl.col(pl.Categorical).cast(pl.String)).sort(keys, nulls_last=False)
    assert got.equals(expected)


def test_pivot_works_lazily(canvas: pl.DataFrame) -> None:
    lazy = bf.pivot(canvas.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(bf.pivot(canvas))


@pytest.mark.parametrize("backend", ["polars", "pandas"])
def test_channels_layout_totals_and_messages_over_steps(canvas: pl.DataFrame, backend: str) -> None:
    wide = to_polars(bf.pivot(as_backend(canvas, backend), layout="channels"))
    assert wide.columns[:3] == ["canvas_id", "canvas_name", "date"]
    expected: dict[tuple[str, dt.date, str], float] = defaultdict(float)
    for row in plain_rows(canvas):
        if row["channel"] == "all" and (row["variant"] or row["step"]):
            continue  # variants and steps count the Canvas's entries and conversions again
        expected[(row["canvas_id"], row["date"], f"{base_channel(row['channel'])}__{row['metric']}")] += \
            row["value"]
    got = {(r["canvas_id"], r["date"], c): r[c] for r in wide.iter_rows(named=True)
           for c in wide.columns[3:] if r[c] is not None}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value)
    assert "email#2__sent" not in wide.columns
    assert wide.columns.index("all__entries") < wide.columns.index("email__sent")


def test_the_accessor_on_canvas_frames(canvas: pl.DataFrame) -> None:
    assert canvas.braze.validate() is canvas
    assert canvas.braze.pivot().equals(bf.pivot(canvas))
    pandas = canvas.to_pandas()
    assert pandas.braze.validate() is pandas
    assert to_polars(pandas.braze.pivot(layout="channels")).equals(bf.pivot(canvas, layout="channels"))
