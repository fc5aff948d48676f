"""``validate``: is this a tidy braze frame (SPEC section 3), or a tidy Canvas frame (12)?"""

from __future__ import annotations

from typing import Final

import narwhals.stable.v2 as nw
from narwhals.typing import IntoFrameT

from .._errors import TidyFrameError
from .._tables import table_of
from ._common import schema_error, schema_problems, sorted_strings, wrap
from .series import is_series, validate_series

__all__ = ["validate"]

#: Shown in ``failure_cases``; more would not help anyone read the error.
_MAX_FAILURE_CASES: Final = 100


def validate(df: IntoFrameT) -> IntoFrameT:
    """Check that a frame is a tidy braze frame and return it unchanged.

    Both tables are known, told apart by their id column: a campaign frame
    (``TIDY_COLUMNS``; key campaign_id, date, channel, variation, metric) and a Canvas frame
    (``CANVAS_COLUMNS``; key canvas_id, date, variant, step, channel, metric). Checks, in
    this order: the table's exact columns in order (naming missing and unexpected ones),
    their dtypes (the key and name columns String or Categorical, ``date`` Date or
    Datetime, ``value`` Float64), and that no key appears twice. On a lazy frame the key
    check runs one query. A frame of sends (``fetch_send_series``) is the campaign table
    with ``send_id`` in its key; a workspace series frame (``fetch_series``) is checked
    against its own table, ``SERIES_COLUMNS`` (``verbs.series.validate_series``).

    Args:
        df: A pandas or polars DataFrame, a polars LazyFrame, or any narwhals frame.

    Returns:
        ``df`` itself, when it is valid.

    Raises:
        TidyFrameError: Naming every problem found; for duplicated keys its
            ``failure_cases`` holds them, with their ``count``.

    Examples:
        >>> from braze_frames._tidy import from_records
        >>> row = ("c1", "2024-07-01", "email", "v1", None, "sent", 10.0)
        >>> validate(from_records([row])).shape
        (1, 8)
        >>> validate(from_records([row, row]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        braze_frames._errors.TidyFrameError: not a tidy braze frame: 1 duplicated key ...
        >>> import datetime as dt
        >>> import polars as pl
        >>> from braze_frames._tidy import CANVAS_POLARS_SCHEMA
        >>> canvas = pl.DataFrame([("k1", None, dt.date(2025, 6, 1), None, None, "s1", "Email",
        ...                         "email", "sent", 3.0)], schema=CANVAS_POLARS_SCHEMA, orient="row")
        >>> validate(canvas).shape
        (1, 10)
    """
    frame = wrap(df)
    schema = frame.collect_schema()
    if is_series(schema):
        return validate_series(df)
    table = table_of(schema.names())
    problems = schema_problems(schema, exact=True, table=table)
    if problems:
        raise schema_error(problems, table)
    keys = table.key_columns
    dups = (
        frame.lazy()
        .group_by(*keys)
        .agg(nw.len().alias("count"))
        .filter(nw.col("count") > 1)
        .collect()
    )
    if len(dups):
        cases = sorted_strings(dups, table.string_columns, keys)
        n = len(cases)
        problem = f"{n} duplicated key{'s' if n != 1 else ''} ({', '.join(keys)})"
        raise TidyFrameError(
            f"not a tidy braze frame: {problem}; see .failure_cases",
            problems=[problem],
            failure_cases=cases.head(_MAX_FAILURE_CASES).to_native(),
            n_failure_cases=n,
            hint=(
                f"keep one row per key, e.g. df.unique(subset={list(keys)}, keep='last') in "
                f"polars or df.drop_duplicates(subset={list(keys)}, keep='last') in pandas, "
                "or sum them with a group_by."
            ),
        )
    return df
