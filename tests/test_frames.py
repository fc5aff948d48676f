"""validate, pivot and unpivot on both backends, lazily, and differentially."""

from __future__ import annotations

import datetime as dt
import pickle

import pandas as pd
import polars as pl
import pytest
from _support_frames import assert_same, records, tidy, tidy_rows, tidy_sorted, to_polars
from hypothesis import given

from braze_frames import TidyFrameError
from braze_frames._errors import BrazeError
from braze_frames._schema import CHANNEL_SCHEMAS, TIDY_COLUMNS
from braze_frames._tidy import empty_tidy
from braze_frames.verbs.pivot import pivot, unpivot
from braze_frames.verbs.validate import validate

ROWS = [
    ("c1", "2024-07-01", "all", None, None, "conversions", 3.0),
    ("c1", "2024-07-01", "all", None, None, "unique_recipients", 30.0),
    ("c1", "2024-07-01", "email", "e1", None, "opens", 5.0),
    ("c1", "2024-07-01", "email", "e1", None, "sent", 10.0),
    ("c1", "2024-07-01", "email", "e1", None, "zz_new_metric", 1.0),
    ("c1", "2024-07-01", "ios_push", "p1", "Push A", "sent", 20.0),
    ("c1", "2024-07-01", "ios_push", "p1", "Push A", "carousel_slide_1_x_click", 2.0),
    ("c1", "2024-07-01", "ios_push", "p2", "Push B", "sent", 7.0),
    ("c1", "2024-07-01", "ios_push", "cg", "Control Group", "enrolled", 4.0),
    ("c0", "2024-07-02", "ios_push", "p1", "Push A", "sent", 1.0),
]


# ----------------------------------------------------------------------------- validate


def test_validate_returns_the_frame_itself(backend: str) -> None:
    df = tidy(ROWS, backend)
    assert validate(df) is df


def test_validate_accepts_string_columns_and_all_null_variations() -> None:
    df = tidy(ROWS).with_columns(pl.col(pl.Categorical).cast(pl.String))
    assert validate(df) is df
    nulls = pl.DataFrame(
        {"campaign_id": ["c"], "campaign_name": [None], "date": [dt.date(2024, 1, 1)], "channel": ["all"],
         "variation": [None], "variation_name": [None], "metric": ["revenue"], "value": [1.0]}
    )
    assert nulls.schema["variation"] == pl.Null
    assert validate(nulls) is nulls


def test_validate_names_missing_extra_and_misordered_columns(backend: str) -> None:
    df = tidy(ROWS, backend)
    with pytest.raises(TidyFrameError, match="missing column: value") as info:
        validate(nw_drop(df, "value"))
    assert info.value.problems == ("missing column: value",)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, BrazeError)
    assert "Hint:" in str(info.value)

    extra = df.with_columns(pl.lit(1).alias("x")) if backend == "polars" else df.assign(x=1)
    with pytest.raises(TidyFrameError, match="unexpected column: x"):
        validate(extra)
    reordered = df[list(reversed(TIDY_COLUMNS))]
    with pytest.raises(TidyFrameError, match="out of order"):
        validate(reordered)


def nw_drop(df: object, column: str) -> object:
    if isinstance(df, pl.DataFrame):
        return df.drop(column)
    assert isinstance(df, pd.DataFrame)
    return df.drop(columns=[column])


def test_validate_names_wrong_dtypes(backend: str) -> None:
    df = to_polars(tidy(ROWS, backend)).with_columns(
        pl.col("value").cast(pl.Int64), pl.lit(1, pl.Int8).alias("metric")
    )
    native = df if backend == "polars" else df.to_pandas()
    with pytest.raises(TidyFrameError) as info:
        validate(native)
    text = str(info.value)
    assert "value has dtype Int64, expected Float64" in text
    assert "metric has dtype Int8" in text
    assert len(info.value.problems) == 2


def test_validate_reports_duplicate_keys_with_failure_cases(backend: str) -> None:
    rows = [*ROWS, ROWS[0], ROWS[0], ROWS[5]]
    df = tidy(rows, backend)
    with pytest.raises(TidyFrameError, match="2 duplicated keys") as info:
        validate(df)
    err = info.value
    assert err.n_failure_cases == 2
    assert type(err.failure_cases) is type(df)
    cases = records(err.failure_cases)
    assert [(c["channel"], c["metric"], c["count"]) for c in cases] == [
        ("all", "conversions", 3),
        ("ios_push", "sent", 2),
    ]
    assert "drop_duplicates" in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert again.problems == err.problems
    assert str(again) == str(err)


def test_validate_runs_on_lazy_frames() -> None:
    lazy = tidy([*ROWS, ROWS[1]]).lazy()
    with pytest.raises(TidyFrameError, match="1 duplicated key"):
        validate(lazy)
    ok = tidy(ROWS).lazy()
    assert validate(ok) is ok


def test_validate_accepts_empty_frames() -> None:
    assert validate(empty_tidy()).shape == (0, 8)


# -------------------------------------------------------------------------------- pivot


def test_pivot_columns_follow_the_schemas_then_extras_then_conversions(backend: str) -> None:
    wide = pivot(tidy(ROWS, backend))
    columns = list(wide.columns)
    email = list(CHANNEL_SCHEMAS["email"])
    push_only = [m for m in CHANNEL_SCHEMAS["ios_push"] if m not in email]
    assert columns == [
        "campaign_id", "campaign_name", "date", "channel", "variation", "variation_name",
        *email, *push_only, "unique_recipients", "enrolled", "conversions",
        "carousel_slide_1_x_click", "zz_new_metric",
    ]


def test_pivot_rows_sorted_and_values_in_place(backend: str) -> None:
    wide = records(pivot(tidy(ROWS, backend)))
    keys = [(r["campaign_id"], str(r["date"]), r["channel"], r["variation"]) for r in wide]
    assert keys == [
        ("c0", "2024-07-02", "ios_push", "p1"),
        ("c1", "2024-07-01", "all", None),
        ("c1", "2024-07-01", "email", "e1"),
        ("c1", "2024-07-01", "ios_push", "cg"),
        ("c1", "2024-07-01", "ios_push", "p1"),
        ("c1", "2024-07-01", "ios_push", "p2"),
    ]
    control = wide[3]
    assert control["variation_name"] == "Control Group"
    assert control["enrolled"] == 4.0
    assert control["sent"] is None  # absent, not zero
    assert wide[2]["delivered"] is None  # a schema column nobody reported
    assert wide[1]["conversions"] == 3.0


def test_pivot_returns_string_keys(backend: str) -> None:
    wide = pivot(tidy(ROWS, backend))
    if backend == "polars":
        assert wide.schema["channel"] == pl.String
        assert wide.schema["date"] == pl.Date
    else:
        assert isinstance(wide, pd.DataFrame)
        assert pd.api.types.is_string_dtype(wide["channel"])
        assert wide.index.tolist() == list(range(len(wide)))


def test_pivot_channels_layout_sums_variations(backend: str) -> None:
    wide = pivot(tidy(ROWS, backend), layout="channels")
    columns = list(wide.columns)
    assert columns[:5] == ["campaign_id", "campaign_name", "date", "all__unique_recipients",
                           "all__conversions"]
    assert "ios_push__sent" in columns
    assert "email__reported_spam" in columns  # the whole schema, as in layout="metrics"
    rows = records(wide)
    assert [(r["campaign_id"], str(r["date"])) for r in rows] == [
        ("c0", "2024-07-02"), ("c1", "2024-07-01")
    ]
    assert rows[1]["ios_push__sent"] == 27.0
    assert rows[0]["ios_push__enrolled"] is None
    assert rows[0]["email__sent"] is None


def test_pivot_rejects_unknown_layouts() -> None:
    with pytest.raises(ValueError, match="layout must be one of"):
        pivot(tidy(ROWS), layout="wide")  # type: ignore[arg-type]


def test_pivot_lazy_matches_eager() -> None:
    df = tidy(ROWS)
    for layout in ("metrics", "channels"):
        lazy = pivot(df.lazy(), layout=layout)  # type: ignore[arg-type]
        assert isinstance(lazy, pl.LazyFrame)
        assert_same(lazy, pivot(df, layout=layout))  # type: ignore[arg-type]


def test_pivot_and_unpivot_of_an_empty_frame(backend: str) -> None:
    empty = tidy([], backend)
    wide = pivot(empty)
    assert list(wide.columns) == ["campaign_id", "campaign_name", "date", "channel", "variation",
                                  "variation_name"]
    assert len(unpivot(wide)) == 0
    assert list(unpivot(wide).columns) == list(TIDY_COLUMNS)


# ------------------------------------------------------------------------------ unpivot


def test_unpivot_inverts_pivot(backend: str) -> None:
    df = tidy(ROWS, backend)
    back = unpivot(pivot(df))
    assert type(back) is type(df)
    assert list(back.columns) == list(TIDY_COLUMNS)
    assert_same(back, tidy_sorted(df))


def test_unpivot_refuses_the_channels_layout_and_text_metrics() -> None:
    df = tidy(ROWS)
    with pytest.raises(ValueError, match="cannot be turned back"):
        unpivot(pivot(df, layout="channels"))
    with pytest.raises(ValueError, match="not numeric"):
        unpivot(pivot(df).with_columns(pl.lit("x").alias("sent")))


@given(rows=tidy_rows())
def test_pivot_unpivot_round_trip_is_identity(rows: list[tuple[object, ...]]) -> None:
    for backend in ("polars", "pandas"):
        df = tidy(rows, backend)
        assert_same(unpivot(pivot(df)), tidy_sorted(df))


@pytest.mark.parametrize("backend", ["pandas", "polars"])
def test_pivot_with_a_single_metric_column(backend: str) -> None:
    # Found by hypothesis in CI: one metric over several groups made a 2-D numpy block
    # that polars read as one Array column, not one Float64 column.
    rows = [
        ("c1", dt.date(2024, 6, day), "brand_new_channel", "cg", "Control Group", "sent", value)
        for day, value in ((28, None), (29, 2.0), (30, None))
    ]
    wide = pl.from_pandas(pivot(tidy(rows, "pandas"))) if backend == "pandas" else pivot(tidy(rows))
    assert wide.columns[-1] == "sent"
    assert wide.schema["sent"] == pl.Float64
    assert wide.get_column("sent").to_list() == [None, 2.0, None]


@given(rows=tidy_rows(null_values=True))
def test_pivot_pandas_equals_polars(rows: list[tuple[object, ...]]) -> None:
    for layout in ("metrics", "channels"):
        assert_same(
            pivot(tidy(rows, "pandas"), layout=layout),  # type: ignore[arg-type]
            pivot(tidy(rows, "polars"), layout=layout),  # type: ignore[arg-type]
        )


def test_pandas_sorts_lexically_whatever_the_category_order() -> None:
    df = tidy(ROWS, "pandas")
    for column in ("campaign_id", "channel", "variation"):
        cats = df[column].cat.categories
        df[column] = df[column].cat.set_categories(sorted(cats, reverse=True))
    assert_same(pivot(df), pivot(tidy(ROWS)))
    assert_same(unpivot(pivot(df)), unpivot(pivot(tidy(ROWS))))


@pytest.mark.parametrize("dtype", [pl.Categorical(), pl.Enum(["b", "a", "c", "unused"])])
def test_lexical_ranks_follow_string_order_on_long_columns(dtype: pl.DataType) -> None:
    # Long columns rank through every category of the dtype, short ones through the
    # categories present: both must order like the strings, nulls first.
    from braze_frames.verbs._fast import lexical_ranks

    values = ["c", None, "a", "b", "a"]
    known = len(pl.Series(["a"], dtype=pl.Categorical()).dtype.categories.to_series())  # type: ignore[attr-defined]
    for repeat in (1, 8 * (known + 8)):
        s = pl.Series(values * repeat, dtype=dtype)
        ranked = lexical_ranks(s, 10**9)
        assert ranked is not None
        ranks, size = ranked
        assert int(ranks.max()) < size
        order = sorted(range(len(values)), key=lambda i: (values[i] is not None, values[i] or ""))
        got = sorted(range(len(values)), key=lambda i: (int(ranks[i]), i))
        assert got == order
