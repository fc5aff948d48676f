"""Build the tidy frame, once, from the parser's columns; its dtypes per backend.

The parser (``_parse``) knows no dataframe library; this module is the one place that turns
its plain columns into a polars frame (and, on request, pandas).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import polars as pl

from ._schema import SERIES_COLUMNS, TIDY_COLUMNS
from ._tables import CANVAS_COLUMNS

if TYPE_CHECKING:
    from .endpoints._columns import EncodedColumns
    from .endpoints.canvas import CanvasColumns
    from .endpoints.parse import ParsedColumns
    from .endpoints.series import SeriesColumns

__all__ = [
    "CANVAS_POLARS_SCHEMA",
    "HOUR_DTYPE",
    "POLARS_SCHEMA",
    "SERIES_POLARS_SCHEMA",
    "Backend",
    "canvas_frame_from_parsed",
    "check_backend",
    "empty_canvas",
    "empty_tidy",
    "frame_from_parsed",
    "from_records",
    "series_frame",
    "to_backend",
]

Backend = Literal["polars", "pandas"]
_BACKENDS = ("polars", "pandas")

#: The tidy table's polars dtypes (SPEC section 3). Categorical keeps the repeated key
#: strings at 4 bytes a row; pandas gets ``category`` and ``datetime64``.
POLARS_SCHEMA: dict[str, Any] = {
    "campaign_id": pl.Categorical(),
    "campaign_name": pl.Categorical(),
    "date": pl.Date(),
    "channel": pl.Categorical(),
    "variation": pl.Categorical(),
    "variation_name": pl.Categorical(),
    "metric": pl.Categorical(),
    "value": pl.Float64(),
}

#: The Canvas table's polars dtypes (SPEC section 12), as the campaign table's: Categorical
#: keys and names, a Date, a Float64.
CANVAS_POLARS_SCHEMA: dict[str, Any] = {
    c: pl.Date() if c == "date" else pl.Float64() if c == "value" else pl.Categorical()
    for c in CANVAS_COLUMNS
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


def empty_canvas() -> pl.DataFrame:
    """An empty Canvas frame with the right dtypes."""
    return pl.DataFrame(schema=CANVAS_POLARS_SCHEMA)


def frame_from_parsed(parsed: ParsedColumns) -> pl.DataFrame:
    """Build the polars tidy frame from the parser's encoded columns (see ``_parse``).

    Only ``value`` crosses from Python one item per row. The keys are put together per
    segment (its day's campaign id and date, its shape's channel, variation, name and
    list of metrics), then one ``explode`` of the metric lists makes the rows.
    """
    if not parsed.n_rows:
        return empty_tidy()
    cat = pl.Categorical()
    shapes = pl.DataFrame(
        {
            "channel": parsed.shape_channel,
            "variation": parsed.shape_variation,
            "variation_name": parsed.shape_variation_name,
        },
        schema={"channel": cat, "variation": cat, "variation_name": cat},
    )
    days = _days(("campaign_id", "campaign_name"), parsed.day_campaign_id, parsed.campaign_names,
                 parsed.day_date)
    return _expand(parsed, days, shapes)


def canvas_frame_from_parsed(parsed: CanvasColumns) -> pl.DataFrame:
    """Build the polars Canvas frame (``CANVAS_COLUMNS``) from the Canvas parser's columns."""
    if not parsed.n_rows:
        return empty_canvas()
    cat = pl.Categorical()
    keys = ("variant", "variant_name", "step", "step_name", "channel")
    shapes = pl.DataFrame(
        {
            "variant": parsed.shape_variant,
            "variant_name": parsed.shape_variant_name,
            "step": parsed.shape_step,
            "step_name": parsed.shape_step_name,
            "channel": parsed.shape_channel,
        },
        schema=dict.fromkeys(keys, cat),
    )
    days = _days(("canvas_id", "canvas_name"), parsed.day_canvas_id, parsed.canvas_names,
                 parsed.day_date)
    return _expand(parsed, days, shapes)


def _days(columns: tuple[str, str], ids: list[str], names: dict[str, str], dates: list[int]) -> pl.DataFrame:
    """One row per parsed day: its object's id and name, its date (days since the epoch)."""
    key, name = columns
    cat = pl.Categorical()
    return pl.DataFrame({key: ids, name: [names.get(i) for i in ids], "date": dates},
                        schema={key: cat, name: cat, "date": pl.Int32()})


def _expand(parsed: EncodedColumns, days: pl.DataFrame, shapes: pl.DataFrame) -> pl.DataFrame:
    """Rows from a parser's encoded columns: its days' and shapes' keys, then metric and value.

    ``days`` has one row per parsed day (``date`` as days since the epoch), ``shapes`` one
    row per shape; each segment takes its day's row and its shape's, and one ``explode``
    of the shape's metric list makes the rows.
    """
    u32 = pl.UInt32()
    names, codes, starts = parsed.metric_names, parsed.layout_codes, parsed.layout_start
    lengths = parsed.layout_len
    layouts = pl.Series(
        [[names[c] for c in codes[start:start + n]] for start, n in zip(starts, lengths, strict=True)],
        dtype=pl.List(pl.Categorical()),
    )
    shapes = shapes.with_columns(metric=layouts.gather(pl.Series(parsed.shape_layout, dtype=u32)))
    days = days.with_columns(pl.col("date").cast(pl.Date()))
    # Segments per day, from the running totals the parser keeps. A day without rows
    # repeats its index 0 times; polars versions that explode [] to a null are covered.
    day_end = pl.Series(parsed.day_end, dtype=u32)
    day_segs = day_end - day_end.shift(1, fill_value=0)
    seg_day = pl.int_range(0, len(day_end), dtype=u32, eager=True).repeat_by(day_segs).explode().drop_nulls()
    segments: pl.DataFrame = pl.concat(
        [days[seg_day], shapes[pl.Series(parsed.seg_shape, dtype=u32)]], how="horizontal"
    )
    # Segments never have an empty metric list (the parser makes none), so explode adds
    # no null row.
    return segments.explode("metric").with_columns(pl.Series("value", parsed.values, dtype=pl.Float64()))


def from_records(
    records: Sequence[Sequence[Any]] | Sequence[dict[str, Any]], backend: Backend = "polars"
) -> Any:
    """Build a tidy frame from rows; for docs, tests and users with their own data.

    Args:
        records: Rows as tuples in ``TIDY_COLUMNS`` order, or dicts keyed by column.
            ``date`` may be a ``datetime.date`` or an ISO string. A tuple of seven leaves
            out ``campaign_name`` (null), and so may a dict.
        backend: ``"polars"`` or ``"pandas"``.

    Examples:
        >>> from_records([("c1", "2024-07-01", "email", "v1", None, "sent", 10.0)]).shape
        (1, 8)
        >>> from_records([("c1", "Welcome", "2024-07-01", "email", "v1", "A", "sent", 10.0)]).row(0)
        ('c1', 'Welcome', datetime.date(2024, 7, 1), 'email', 'v1', 'A', 'sent', 10.0)
    """
    rows: list[tuple[Any, ...]] = []
    short = len(TIDY_COLUMNS) - 1  # without campaign_name
    for rec in records:
        if isinstance(rec, dict):
            row = tuple(rec.get(c) if c == "campaign_name" else rec[c] for c in TIDY_COLUMNS)
        else:
            row = tuple(rec)
            if len(row) == short:
                row = (row[0], None, *row[1:])
        if len(row) != len(TIDY_COLUMNS):
            msg = (f"a tidy record has {len(TIDY_COLUMNS)} fields {TIDY_COLUMNS} (or {short}, "
                   f"without campaign_name), got {len(row)}: {row!r}")
            raise ValueError(msg)
        day = row[2]
        if isinstance(day, str):
            day = dt.date.fromisoformat(day)
        elif isinstance(day, dt.datetime):
            day = day.date()
        rows.append((*row[:2], day, *row[3:7], None if row[7] is None else float(row[7])))
    frame = pl.DataFrame(rows, schema=POLARS_SCHEMA, orient="row")
    return to_backend(frame, backend)


#: The series table's polars dtypes (SPEC section 14); ``date`` is a Date, or
#: :data:`HOUR_DTYPE` for hourly series.
SERIES_POLARS_SCHEMA: dict[str, Any] = {
    "metric": pl.Categorical(),
    "key": pl.Categorical(),
    "key_name": pl.Categorical(),
    "app_id": pl.Categorical(),
    "date": pl.Date(),
    "value": pl.Float64(),
}
#: An hourly series' ``date``: the hour, in UTC.
HOUR_DTYPE: Final = pl.Datetime("us", "UTC")


def series_frame(columns: SeriesColumns, *, app_id: str | None, hourly: bool = False) -> pl.DataFrame:
    """Build the polars series table from the series parser's columns.

    Args:
        columns: What ``endpoints.series.parse_series`` appended.
        app_id: The ``app_id`` filter of the fetch (null: all apps).
        hourly: The points are hours (``date`` a UTC Datetime) rather than days.

    Examples:
        >>> from braze_frames.endpoints.series import SERIES_KINDS, SeriesColumns, parse_series
        >>> cols = SeriesColumns()
        >>> parse_series(cols, SERIES_KINDS["dau"], None, None, {dt.date(2025, 6, 1): {"dau": 5}})
        >>> series_frame(cols, app_id=None).row(0)
        ('dau', None, None, None, datetime.date(2025, 6, 1), 5.0)
    """
    schema = dict(SERIES_POLARS_SCHEMA, date=HOUR_DTYPE if hourly else pl.Date())
    if not columns.n_rows:
        return pl.DataFrame(schema=schema)
    cat = pl.Categorical()
    series = pl.DataFrame(
        {"metric": columns.series_metric, "key": columns.series_key,
         "key_name": columns.series_key_name},
        schema={"metric": cat, "key": cat, "key_name": cat},
    )
    time = pl.Series("date", columns.row_time, dtype=pl.Int64() if hourly else pl.Int32())
    return series[pl.Series(columns.row_series, dtype=pl.UInt32())].with_columns(
        pl.lit(app_id, pl.String()).cast(cat).alias("app_id"),
        time.cast(schema["date"]),
        pl.Series("value", columns.values, dtype=pl.Float64()),
    ).select(SERIES_COLUMNS)
