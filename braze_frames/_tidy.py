"""Build the tidy frame, once, from the parser's columns; its dtypes per backend.

The parser (``_parse``) knows no dataframe library; this module is the one place that turns
its plain columns into a polars frame (and, on request, pandas).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from ._schema import TIDY_COLUMNS

if TYPE_CHECKING:
    from ._parse import ParsedColumns

__all__ = [
    "POLARS_SCHEMA",
    "Backend",
    "check_backend",
    "empty_tidy",
    "frame_from_parsed",
    "from_records",
    "to_backend",
]

Backend = Literal["polars", "pandas"]
_BACKENDS = ("polars", "pandas")

#: The tidy table's polars dtypes (SPEC section 3). Categorical keeps the repeated key
#: strings at 4 bytes a row; pandas gets ``category`` and ``datetime64``.
POLARS_SCHEMA: dict[str, Any] = {
    "campaign_id": pl.Categorical(),
    "date": pl.Date(),
    "channel": pl.Categorical(),
    "variation": pl.Categorical(),
    "variation_name": pl.Categorical(),
    "metric": pl.Categorical(),
    "value": pl.Float64(),
}


def check_backend(backend: object) -> Backend:
    """Validate a ``backend`` argument."""
    if backend not in _BACKENDS:
        msg = f"backend must be 'polars' or 'pandas', not {backend!r}"
        raise ValueError(msg)
    return backend  # type: ignore[return-value]


def to_backend(frame: pl.DataFrame, backend: Backend) -> Any:
    """Return a polars tidy frame as the requested backend's frame."""
    if check_backend(backend) == "polars":
        return frame
    try:
        import pandas  # noqa: F401
    except ImportError as exc:
        msg = "backend='pandas' needs pandas: pip install 'braze-frames[pandas]'"
        raise ImportError(msg) from exc
    return frame.to_pandas()


def empty_tidy() -> pl.DataFrame:
    """An empty tidy frame with the right dtypes."""
    return pl.DataFrame(schema=POLARS_SCHEMA)


def frame_from_parsed(parsed: ParsedColumns) -> pl.DataFrame:
    """Build the polars tidy frame from the parser's encoded columns (see ``_parse``).

    Only ``value`` crosses from Python one item per row. Keys are gathered in polars:
    per row its segment, per segment its day (campaign id, date) and shape (channel,
    variation, name, layout), per row its metric from the layout's codes.
    """
    n_rows = parsed.n_rows
    if not n_rows:
        return empty_tidy()
    u32 = pl.UInt32()
    cat = pl.Categorical()
    days = pl.DataFrame(
        {"campaign_id": parsed.day_campaign_id, "date": parsed.day_date},
        schema={"campaign_id": cat, "date": pl.Int32()},
    ).with_columns(pl.col("date").cast(pl.Date()))
    shapes = pl.DataFrame(
        {
            "channel": parsed.shape_channel,
            "variation": parsed.shape_variation,
            "variation_name": parsed.shape_variation_name,
        },
        schema={"channel": cat, "variation": cat, "variation_name": cat},
    )
    layout = pl.Series(parsed.shape_layout, dtype=u32)
    seg_shape = pl.Series(parsed.seg_shape, dtype=u32)
    seg_layout = layout.gather(seg_shape)
    seg_len = pl.Series(parsed.layout_len, dtype=u32).gather(seg_layout)
    # Segments per day, from the running totals the parser keeps.
    day_end = pl.Series(parsed.day_end, dtype=u32)
    day_segs = day_end - day_end.shift(1, fill_value=0)
    n_days = len(day_end)
    seg_day = _repeat_index(n_days, day_segs)
    row_seg = _repeat_index(len(seg_shape), seg_len)
    # The row's metric code sits at (its layout's start + its place in the segment); its
    # place is its row number minus the row where its segment starts.
    seg_first_row = seg_len.cum_sum() - seg_len
    seg_base = pl.Series(parsed.layout_start, dtype=pl.Int64()).gather(seg_layout) - seg_first_row
    code_at = (pl.int_range(0, n_rows, dtype=pl.Int64(), eager=True) + seg_base.gather(row_seg)).cast(u32)
    code_names = pl.Series(parsed.metric_names, dtype=cat)
    metric = code_names.gather(pl.Series(parsed.layout_codes, dtype=u32).gather(code_at))
    row_day = seg_day.gather(row_seg)
    row_shape = seg_shape.gather(row_seg)
    day_rows = days[row_day]
    shape_rows = shapes[row_shape]
    return pl.DataFrame(
        [
            day_rows.get_column("campaign_id"),
            day_rows.get_column("date"),
            shape_rows.get_column("channel"),
            shape_rows.get_column("variation"),
            shape_rows.get_column("variation_name"),
            metric.alias("metric"),
            pl.Series("value", parsed.values, dtype=pl.Float64()),
        ]
    )


def _repeat_index(n: int, counts: pl.Series) -> pl.Series:
    """``[0]*counts[0] + [1]*counts[1] + ...`` as a UInt32 series."""
    index = pl.int_range(0, n, dtype=pl.UInt32(), eager=True)
    return index.repeat_by(counts).explode()


def from_records(
    records: Sequence[Sequence[Any]] | Sequence[dict[str, Any]], backend: Backend = "polars"
) -> Any:
    """Build a tidy frame from rows; for docs, tests and users with their own data.

    Args:
        records: Rows as tuples in ``TIDY_COLUMNS`` order, or dicts keyed by column.
            ``date`` may be a ``datetime.date`` or an ISO string.
        backend: ``"polars"`` or ``"pandas"``.

    Examples:
        >>> from_records([("c1", "2024-07-01", "email", "v1", None, "sent", 10.0)]).shape
        (1, 7)
    """
    rows: list[tuple[Any, ...]] = []
    for rec in records:
        row = tuple(rec[c] for c in TIDY_COLUMNS) if isinstance(rec, dict) else tuple(rec)
        if len(row) != len(TIDY_COLUMNS):
            msg = f"a tidy record has {len(TIDY_COLUMNS)} fields {TIDY_COLUMNS}, got {len(row)}: {row!r}"
            raise ValueError(msg)
        day = row[1]
        if isinstance(day, str):
            day = dt.date.fromisoformat(day)
        elif isinstance(day, dt.datetime):
            day = day.date()
        rows.append((*row[:1], day, *row[2:6], None if row[6] is None else float(row[6])))
    frame = pl.DataFrame(rows, schema=POLARS_SCHEMA, orient="row")
    return to_backend(frame, backend)
