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
    """Build the polars tidy frame from the parser's run-length encoded columns.

    Key columns arrive once per variation entry with a row count; only ``metric`` and
    ``value`` arrive per row, so the key strings are expanded inside polars.
    """
    if not parsed.metric:
        return empty_tidy()
    seg = pl.DataFrame(
        {
            "campaign_id": parsed.seg_campaign_id,
            "date": parsed.seg_date,
            "channel": parsed.seg_channel,
            "variation": parsed.seg_variation,
            "variation_name": parsed.seg_variation_name,
        },
        schema={k: POLARS_SCHEMA[k] for k in TIDY_COLUMNS[:5]},
    )
    index = pl.Series(range(len(parsed.seg_count)), dtype=pl.UInt32)
    counts = pl.Series(parsed.seg_count, dtype=pl.UInt32)
    rows = pl.select(index.repeat_by(counts).explode()).to_series()
    keys = seg[rows]
    return keys.with_columns(
        pl.Series("metric", parsed.metric, dtype=pl.Categorical()),
        pl.Series("value", parsed.value, dtype=pl.Float64(), strict=False),
    )


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
