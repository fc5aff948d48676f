"""The frame built from parsed columns: dtypes, losslessness, pandas and polars agree."""

from __future__ import annotations

import math
import warnings
from typing import Any

import polars as pl
from hypothesis import given
from test_parse import days_st, numeric_leaves, string_numbers

from braze_frames._schema import KEY_COLUMNS, TIDY_COLUMNS
from braze_frames._tidy import POLARS_SCHEMA, frame_from_parsed, to_backend
from braze_frames.endpoints.parse import collect_days, parse_days


def build(data: list[dict[str, Any]]) -> pl.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return frame_from_parsed(parse_days("c1", collect_days({"data": data})))


@given(days_st)
def test_frame_is_lossless_unique_and_typed(data: list[dict[str, Any]]) -> None:
    df = build(data)
    assert df.columns == list(TIDY_COLUMNS)
    assert dict(df.schema) == POLARS_SCHEMA
    assert df.select(KEY_COLUMNS).is_duplicated().sum() == 0
    assert df["value"].null_count() == 0
    last = {d["time"]: d for d in data}
    expected = sum(numeric_leaves(d) + string_numbers(d) for d in last.values())
    assert math.isclose(float(df["value"].sum()), expected, rel_tol=1e-9, abs_tol=1e-6)


@given(days_st)
def test_pandas_and_polars_agree(data: list[dict[str, Any]]) -> None:
    df = build(data)
    pdf = to_backend(df, "pandas")
    assert list(pdf.columns) == df.columns
    assert all(str(pdf[c].dtype) == "category" for c in TIDY_COLUMNS if c not in ("date", "value"))
    back = pl.from_pandas(pdf).with_columns(pl.col("date").cast(pl.Date)).cast(POLARS_SCHEMA)
    assert back.equals(df)
