"""Tidy-frame factories and hypothesis strategies for the verb tests.

``tidy(rows, backend)`` builds a frame from rows; ``tidy_rows()`` draws random tidy rows
with unique keys over a few campaigns, channels (documented, unknown and ``"all"``),
variations (a control group included) and dates that cross a week and a month boundary.
``to_polars`` and ``assert_same`` compare frames of any backend with NaN and null alike.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import polars as pl
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from braze_frames._schema import TIDY_COLUMNS
from braze_frames._tidy import from_records

Row = tuple[Any, ...]

#: Channel -> the metrics drawn for it (schema, extras, conversions, an unknown one).
CHANNEL_METRICS: dict[str, tuple[str, ...]] = {
    "all": ("unique_recipients", "revenue", "conversions", "conversions_by_send_time",
            "conversions1", "conversions1_by_send_time", "conversions4",
            "conversions4_by_send_time"),
    "email": ("sent", "delivered", "opens", "unique_opens", "clicks", "unique_clicks",
              "bounces", "unsubscribes", "reported_spam", "machine_open"),
    "ios_push": ("sent", "bounces", "direct_opens", "total_opens", "unique_recipients",
                 "enrolled", "conversions", "conversions_by_send_time", "revenue"),
    "web_push": ("sent", "bounces", "direct_opens", "total_opens"),
    "sms": ("sent", "delivered", "delivery_failed", "rejected", "clicks", "opt_out"),
    "webhook": ("sent", "errors", "conversions", "conversions_by_send_time"),
    "brand_new_channel": ("sent", "brand_new_metric"),
}
VARIATIONS: dict[str | None, str | None] = {"v1": "Variant 1", "v2": None, "cg": "Control Group"}
#: Ten days from Friday 2024-06-28: a week boundary (Mon 07-01) and a month boundary.
DATES = [dt.date(2024, 6, 28) + dt.timedelta(days=i) for i in range(10)]


def tidy(rows: Sequence[Row], backend: str = "polars") -> Any:
    """A tidy frame of the given backend (pandas: category columns, datetime64[ms])."""
    return from_records(list(rows), backend)  # type: ignore[arg-type]


@st.composite
def tidy_rows(draw: st.DrawFn, *, max_rows: int = 60, null_values: bool = False) -> list[Row]:
    """Random tidy rows with unique keys; values are whole numbers (sums stay exact)."""
    channel = st.sampled_from(sorted(CHANNEL_METRICS))

    @st.composite
    def row(d: st.DrawFn) -> Row:
        ch = d(channel)
        variation = None if ch == "all" else d(st.sampled_from(sorted(VARIATIONS, key=str)))
        name = VARIATIONS.get(variation)
        value: float | None = float(d(st.integers(0, 50)))
        if null_values and d(st.integers(0, 9)) == 0:
            value = None
        return (
            d(st.sampled_from(["c1", "c2"])),
            d(st.sampled_from(DATES)),
            ch,
            variation,
            name,
            d(st.sampled_from(CHANNEL_METRICS[ch])),
            value,
        )

    return draw(
        st.lists(row(), max_size=max_rows, unique_by=lambda r: (r[0], r[1], r[2], r[3], r[5]))
    )


def to_polars(native: Any) -> pl.DataFrame:
    """Any result (pandas, polars eager or lazy, DuckDB) as a comparable polars frame.

    Strings instead of categoricals, Date instead of datetime64, NaN as null.
    """
    if isinstance(native, pl.LazyFrame):
        native = native.collect()
    elif not isinstance(native, pl.DataFrame):
        # A DuckDB relation has .pl(); anything else here is pandas.
        native = native.pl() if hasattr(native, "pl") else pl.from_pandas(native)
    frame: pl.DataFrame = native
    return frame.with_columns(
        pl.col(pl.Categorical, pl.Enum).cast(pl.String),
        pl.col(pl.Datetime).cast(pl.Date),
        pl.col(pl.Float64).fill_nan(None),
        pl.col(pl.Int32, pl.UInt32, pl.Int64, pl.UInt64).cast(pl.Int64),
    )


def assert_same(left: Any, right: Any, *, sort: Sequence[str] | None = None) -> None:
    """Equal content whatever the backends (after optional sorting), floats to 1e-9."""
    a, b = to_polars(left), to_polars(right)
    if sort is not None:
        a = a.sort(sort, nulls_last=False)
        b = b.sort(sort, nulls_last=False)
    assert_frame_equal(a, b, check_dtypes=False, abs_tol=1e-9, rel_tol=1e-9)


def tidy_sorted(native: Any) -> pl.DataFrame:
    """A tidy frame as polars, sorted by every key."""
    return to_polars(native).select(TIDY_COLUMNS).sort(
        ["campaign_id", "date", "channel", "variation", "metric"], nulls_last=False
    )


def records(native: Any) -> list[dict[str, Any]]:
    """Rows as dicts with NaN turned into None (for hand-computed expectations)."""
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in rec.items()}
        for rec in to_polars(native).to_dicts()
    ]


def one(native: Any, **where: Any) -> dict[str, Any]:
    """The single row whose columns equal ``where`` (None matches null)."""
    found = [r for r in records(native) if all(r.get(k) == v for k, v in where.items())]
    assert len(found) == 1, (where, found)
    return found[0]
